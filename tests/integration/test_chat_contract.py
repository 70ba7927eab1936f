"""The contract every `ChatModel` must pass (inhouse.protocols).

Backends: ScriptedChat, the red team's WorstCaseChat, the server's GatedChat (around a ScriptedChat),
LlamaCppChat on the packaged Qwen2.5-Coder-0.5B GGUF, alone and with a (small, random) LoRA adapter, and
OpenAICompatChat and an EnginePool over it against llama-cpp-python's own
server (`python -m llama_cpp.server`) on loopback, serving the same GGUF from a child process started once
for this module under the egress lock. Replies are short, so the module takes a few minutes on 2 busy cores at most.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from inhouse.errors import InputError
from inhouse.models.chat import LlamaCppChat, OpenAICompatChat, ScriptedChat
from inhouse.models.pool import EnginePool
from inhouse.protocols import ChatModel, Reply
from inhouse.redteam.answers import WorstCaseChat
from inhouse.server.generation import GatedChat
from inhouse.server.metrics import Metrics
from inhouse.server.queue import GenerationQueue
from tests.helpers import LlamaServer, random_adapter

ROOT = Path(__file__).resolve().parents[2]
MODEL = "qwen2.5-coder-0.5b"
# One thread each: on a busy machine with few cores, llama.cpp's threads wait for each other (3-10x slower).
THREADS = 1
COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by spaces. Reply with the numbers only."}]
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
JSON_ASK = [{"role": "user", "content": "Reply with a JSON object whose field name is a color."}]


def _scripted() -> ScriptedChat:
    """A script long enough for any test here: the numbers, each word one token at log-probability -0.1."""
    text = " ".join(str(i) for i in range(1, 21))
    return ScriptedChat("scripted", [text] * 20, [[-0.1] * 20] * 20)


@pytest.fixture(scope="module")
def gguf(packaged_gguf: Path) -> Path:
    return packaged_gguf


@pytest.fixture(scope="module")
def in_process(gguf: Path) -> LlamaCppChat:
    return LlamaCppChat(gguf, name=MODEL, n_ctx=1024, n_threads=THREADS)


@pytest.fixture(scope="module")
def adapted(gguf: Path, tmp_path_factory) -> LlamaCppChat:
    """The same GGUF with a random adapter on every layer's q and v projections: small enough (factors of
    scale 0.02) that the model still counts and greets, large enough to move its log-probabilities."""
    lora = random_adapter(tmp_path_factory.mktemp("lora") / "random.gguf", gguf, seed=0, scale=0.02)
    return LlamaCppChat(gguf, name=MODEL, n_ctx=1024, n_threads=THREADS, lora_path=lora, adapter="random")


@pytest.fixture(scope="module")
def served(gguf: Path, tmp_path_factory) -> Iterator[str]:
    """The base URL of a llama.cpp server on loopback for the module's tests."""
    server = LlamaServer(gguf, MODEL, tmp_path_factory.mktemp("llama-server") / "server.log", threads=THREADS)
    try:
        yield server.start().url
    finally:
        server.stop()


@pytest.fixture
def gated() -> Iterator[GatedChat]:
    ticket = GenerationQueue().admit("acme")
    yield GatedChat(_scripted(), ticket, Metrics())
    ticket.finish()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], ChatModel]] = {
    "scripted": lambda request: _scripted(),
    "worst-case": lambda request: WorstCaseChat(),
    "gated": lambda request: request.getfixturevalue("gated"),
    "llama.cpp": lambda request: request.getfixturevalue("in_process"),
    "llama.cpp+lora": lambda request: request.getfixturevalue("adapted"),
    "openai-compat": lambda request: OpenAICompatChat(request.getfixturevalue("served"), MODEL),
    "engine-pool": lambda request: EnginePool("pool", [request.getfixturevalue("served")], MODEL, engine="openai"),
}


@pytest.fixture(params=list(BACKENDS))
def model(request) -> ChatModel:
    return BACKENDS[request.param](request)


def test_is_a_chat_model_with_its_capabilities_declared(model: ChatModel):
    assert isinstance(model, ChatModel) and isinstance(model.name, str) and model.name
    assert isinstance(model.reports_logprobs, bool) and isinstance(model.supports_json_schema, bool)
    twin = model.twin()
    assert twin is None or (isinstance(twin, ChatModel) and twin.name == model.name)
    if getattr(model, "adapter", None):  # an adapted model says so, and its twin (the judge) carries it too
        assert model.name == f"{MODEL}+{model.adapter}" and twin.lora_path == model.lora_path


def test_a_reply_streams_its_text_and_counts_its_tokens(model: ChatModel):
    pieces: list[str] = []
    reply = model.complete(HELLO, max_tokens=48, on_piece=pieces.append)
    assert isinstance(reply, Reply) and reply.text.strip() and "".join(pieces) == reply.text
    assert all(pieces) and 0 < reply.tokens <= 48 and reply.finish in ("stop", "length")


def test_max_tokens_cuts_the_reply(model: ChatModel):
    reply = model.complete(COUNT, max_tokens=3)
    assert reply.text and 0 < reply.tokens <= 3 and reply.finish == "length"
    whole = model.complete(HELLO, max_tokens=200)
    assert whole.finish == "stop" and whole.tokens < 200


def test_the_reply_ends_before_the_first_stop_string(model: ChatModel):
    full = model.complete(COUNT, max_tokens=16).text
    stop = full.split()[3]  # the fourth word: its first occurrence is where the reply ends
    reply = model.complete(COUNT, max_tokens=16, stop=[stop, "never written"])
    assert reply.text == full[: full.index(stop)] and reply.finish == "stop"


def test_greedy_replies_are_deterministic(model: ChatModel):
    first, again = model.complete(COUNT, max_tokens=12), model.complete(COUNT, max_tokens=12)
    assert (again.text, again.tokens, again.finish) == (first.text, first.tokens, first.finish)
    # llama.cpp evaluates a prompt served from its KV cache differently (the last token alone): close, not equal.
    assert again.logprobs == pytest.approx(first.logprobs, abs=0.2)


def test_logprobs_are_reported_where_declared_one_per_token(model: ChatModel):
    reply = model.complete(COUNT, max_tokens=8)
    if model.reports_logprobs:
        assert len(reply.logprobs) == reply.tokens > 0 and all(lp <= 0.0 for lp in reply.logprobs)
    else:
        assert reply.logprobs == ()


def test_an_exception_from_on_piece_stops_the_reply_and_the_model_answers_again(model: ChatModel):
    seen: list[str] = []

    class Enough(Exception):
        pass

    def second_piece_raises(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            raise Enough()

    expected = model.complete(COUNT, max_tokens=6)
    with pytest.raises(Enough):
        model.complete(COUNT, max_tokens=6, on_piece=second_piece_raises)
    assert len(seen) == 2  # nothing written after the exception
    assert model.complete(COUNT, max_tokens=6).text == expected.text


def test_json_schema_is_honoured_or_refused(model: ChatModel):
    if not model.supports_json_schema:
        with pytest.raises(InputError, match="JSON schema"):
            model.complete(JSON_ASK, max_tokens=32, json_schema=SCHEMA)
        return
    reply = model.complete(JSON_ASK, max_tokens=48, json_schema=SCHEMA)
    assert isinstance(json.loads(reply.text)["name"], str)


def test_the_served_model_writes_what_the_model_in_process_writes(in_process: LlamaCppChat, served: str):
    """One GGUF, greedy decoding: the same reply through the server. In Korean with log-probabilities left
    unasked: llama-cpp-python's server drops the bytes of syllables split across tokens when asked for them."""
    http = OpenAICompatChat(served, MODEL)
    # A few tokens: the server computes every prompt position's logits, so a near tie much later may differ.
    local, remote = in_process.complete(COUNT, max_tokens=12), http.complete(COUNT, max_tokens=12)
    assert remote.text == local.text and remote.finish == local.finish
    # Where both report them, the log-probabilities agree (the server counts no end token: none at "length").
    assert remote.logprobs == pytest.approx(local.logprobs, abs=0.05)
    korean = [{"role": "user", "content": "반품 기간은 14일입니다. 반품 기간은 며칠인가요? 한 문장으로 답하세요."}]
    assert OpenAICompatChat(served, MODEL, logprobs=False).complete(korean, max_tokens=12).text == \
        in_process.complete(korean, max_tokens=12).text
