"""The server with the real packaged Qwen2.5-Coder-0.5B in llama.cpp, through the official openai client.

Checks structure, not wording (a small model's phrasing varies): a streamed grounded answer whose
citations point at the documents, or the honest refusal; and plain chat streaming tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.answer import ABSTAIN
from inhouse.models.chat import LlamaCppChat
from tests.e2e.test_server import Live, running
from tests.helpers import PACKAGED


@pytest.fixture(scope="module")
def model(packaged_gguf: Path) -> LlamaCppChat:
    return LlamaCppChat(packaged_gguf, name=PACKAGED, n_ctx=2048, n_threads=2)


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path, model: LlamaCppChat) -> Iterator[Live]:
    with running(inhouse_home, tmp_path, chat=model) as lv:
        yield lv


def test_real_model_through_the_openai_client(live: Live):
    client = live.client()
    assert "qwen2.5-coder-0.5b" in [m.id for m in client.models.list()]
    stream = client.chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": "반품 기간은 며칠인가요?"}], stream=True,
        max_tokens=80)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    info = chunks[-1].model_extra["inhouse"]
    assert info["model"] == "qwen2.5-coder-0.5b" and text.startswith(info["answer"])
    if info["abstained"]:
        assert info["answer"] == ABSTAIN["ko"]
    else:
        assert info["citations"] and {c["doc_path"] for c in info["citations"]} <= {"반품.md", "remote.md"}
        assert "[1]" in text or "[2]" in text
    plain = client.chat.completions.create(
        model="qwen2.5-coder-0.5b", messages=[{"role": "user", "content": "Say OK."}], stream=True, max_tokens=8)
    pieces = [c.choices[0].delta.content for c in plain if c.choices[0].delta.content]
    assert pieces and "".join(pieces).strip()
    assert live.srv.metrics.tokens > 0
