"""A LoRA adapter on the real packaged Qwen2.5-Coder-0.5B: it changes what the model writes, and `inhouse ask`
and the server answer with it when it is chosen (explicitly, or as the tenant's own), under the name
"base+adapter". The adapter is random (`random_adapter`), so wording is not checked, only which model spoke."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.models.chat import LlamaCppChat
from inhouse.models.registry import Registry
from tests.e2e.test_server import Live, running
from tests.helpers import random_adapter

ROOT = Path(__file__).resolve().parents[2]
MODEL = "qwen2.5-coder-0.5b"
ADAPTED = f"{MODEL}+rand"
FIXED = [{"role": "user", "content": "Name one colour of the rainbow. One word."}]


@pytest.fixture(scope="module")
def gguf(packaged_gguf: Path) -> Path:
    return packaged_gguf


@pytest.fixture(scope="module")
def lora(gguf: Path, tmp_path_factory) -> Path:
    # Factors of scale 0.05: the model still writes sentences, but not the base's.
    return random_adapter(tmp_path_factory.mktemp("lora") / "rand.gguf", gguf, seed=0, scale=0.05)


@pytest.fixture(scope="module")
def replies(gguf: Path, lora: Path) -> dict[str, str]:
    """The fixed prompt's greedy reply from the base and from the adapted model, in this process."""
    base = LlamaCppChat(gguf, name=MODEL, n_ctx=2048, n_threads=2)
    adapted = LlamaCppChat(gguf, name=MODEL, n_ctx=2048, n_threads=2, lora_path=lora, adapter="rand")
    return {MODEL: base.complete(FIXED, max_tokens=12).text, ADAPTED: adapted.complete(FIXED, max_tokens=12).text}


@pytest.fixture
def registered(inhouse_home: Path, gguf: Path, lora: Path) -> Registry:
    reg = Registry()
    reg.add(gguf, MODEL)  # the module's assembled file, registered under its packaged name (pinned hash)
    reg.add_adapter(lora, "rand", MODEL, {"tenant": "acme"})
    return reg


def test_the_adapter_changes_the_reply(replies: dict[str, str]):
    assert replies[MODEL].strip() and replies[ADAPTED].strip()
    assert replies[ADAPTED] != replies[MODEL]


def test_ask_answers_with_the_chosen_adapter(registered: Registry, capsys: pytest.CaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch):
    for name, value in {"EMBEDDER": "hash", "N_THREADS": "2", "N_CTX": "2048", "JUDGE": "false"}.items():
        monkeypatch.setenv(f"INHOUSE_{name}", value)
    assert main(["ingest", str(ROOT / "samples" / "handbook"), "--tenant", "acme", "--json"]) == 0
    capsys.readouterr()
    question = "What is the equipment stipend for remote work?"
    short = ["--max-tokens", "16"]  # which model spoke is checked, not what it said
    assert main(["ask", question, "--tenant", "acme", "--adapter", "rand", *short, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == ADAPTED
    monkeypatch.setenv("INHOUSE_TENANT_ADAPTERS", "acme=rand")  # the tenant's own, unless told otherwise
    assert main(["ask", question, "--tenant", "acme", *short, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == ADAPTED
    assert main(["ask", question, "--tenant", "acme", "--model", MODEL, "--adapter", "", *short, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == MODEL


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path, registered: Registry) -> Iterator[Live]:
    settings = Settings(embedder="hash", model=MODEL, tenant_adapters="acme=rand", n_threads=2, n_ctx=2048,
                        judge=False)
    with running(inhouse_home, tmp_path, settings=settings) as lv:
        yield lv


def test_the_server_answers_each_tenant_with_its_model(live: Live, replies: dict[str, str]):
    acme, globex = live.client("kim"), live.client("eve")
    assert ADAPTED in [m.id for m in acme.models.list()]
    assert MODEL in [m.id for m in globex.models.list()]
    assert ADAPTED not in [m.id for m in globex.models.list()]
    # Plain chat: each tenant's model writes what that model writes in-process.
    r = acme.chat.completions.create(model=ADAPTED, messages=FIXED, max_tokens=12)
    assert r.choices[0].message.content == replies[ADAPTED] and r.model == ADAPTED
    r = globex.chat.completions.create(model=MODEL, messages=FIXED, max_tokens=12)
    assert r.choices[0].message.content == replies[MODEL]
    with pytest.raises(Exception, match="no model 'qwen2.5-coder-0.5b'"):
        acme.chat.completions.create(model=MODEL, messages=FIXED, max_tokens=4)
    # A grounded answer says which model wrote it; the models are made once and reused.
    made = dict(live.srv._chats)
    assert set(made) == {(MODEL, "rand"), (MODEL, None)}
    stream = acme.chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": "What is the equipment stipend?"}], stream=True,
        max_tokens=60)
    chunks = list(stream)
    assert chunks[-1].model_extra["inhouse"]["model"] == ADAPTED
    assert live.srv._chats == made and live.srv._chats[(MODEL, "rand")] is made[(MODEL, "rand")]
