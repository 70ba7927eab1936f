"""The real path: the packaged Qwen2.5-Coder-0.5B GGUF in llama.cpp, real Kiwi, real e5-small.

Checks structure and verifier behaviour, not wording: a small model's phrasing varies.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from inhouse.answer import ABSTAIN, AnswerPolicy, answer_question, judge_for
from inhouse.config import Settings
from inhouse.ingest import embed_pending, ingest
from inhouse.models.chat import LlamaCppChat
from inhouse.models.embedders import load_embedder
from inhouse.store import SQLiteStore
from inhouse.types import Principal
from tests.helpers import PACKAGED

STAFF = Principal("acme", "kim", ("staff",))


@pytest.fixture(scope="module")
def model(packaged_gguf: Path) -> LlamaCppChat:
    return LlamaCppChat(packaged_gguf, name=PACKAGED, n_ctx=2048)


@pytest.fixture(scope="module")
def judge_model(model: LlamaCppChat) -> LlamaCppChat:
    """The judge `inhouse ask` uses: a second instance of the same GGUF."""
    twin = judge_for(model, Settings())
    assert isinstance(twin, LlamaCppChat) and twin is not model and twin.path == model.path
    return twin


@pytest.fixture
def kb(tmp_path: Path, store: SQLiteStore):
    settings = Settings()
    d = tmp_path / "kb"
    d.mkdir()
    (d / "반품.md").write_text(
        "# 반품 정책\n\n## 반품 기간\n\n상품 수령 후 14일 이내에 반품할 수 있습니다. 단순 변심의 경우 왕복 배송비 "
        "6,000원은 고객이 부담합니다.\n", "utf-8")
    (d / "remote.md").write_text("# Remote work\n\nThe equipment stipend is 500,000 won per year.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    embedder = load_embedder("e5-small")
    embed_pending(store, embedder)
    return store, settings, embedder


def test_streams_text(model: LlamaCppChat):
    pieces: list[str] = []
    reply = model.complete([{"role": "user", "content": "Say OK."}], max_tokens=8, on_piece=pieces.append)
    assert pieces and "".join(pieces) == reply.text and reply.text.strip()
    # generated on every core unless told otherwise (llama-cpp-python alone would use half of them)
    assert model.n_threads == os.cpu_count() == model._llm.context_params.n_threads


def test_a_reply_is_the_same_on_one_thread(model: LlamaCppChat):
    messages = [{"role": "user", "content": "Count from 1 to 10, separated by spaces."}]
    one = LlamaCppChat(model.path, name=PACKAGED, n_ctx=512, n_threads=1)
    assert one.complete(messages, max_tokens=12).text == model.complete(messages, max_tokens=12).text


def test_greedy_reply_reports_its_token_logprobs_and_is_unchanged_by_it(model: LlamaCppChat):
    messages = [{"role": "user", "content": "반품 기간은 14일입니다. 반품 기간은 며칠인가요? 한 문장으로 답하세요."}]
    first = model.complete(messages, max_tokens=24)
    assert first.text and 1 <= len(first.logprobs) == first.tokens <= 24
    # a sure model is sure of some tokens
    assert all(lp <= 0.0 for lp in first.logprobs) and max(first.logprobs) > -0.5
    # Reading the logits changes nothing: the same greedy reply again. (Its log-probabilities move a little: the
    # prompt now comes from the KV cache but for its last token, which llama.cpp evaluates in a batch of one.)
    again = model.complete(messages, max_tokens=24)
    assert (again.text, again.tokens, again.finish) == (first.text, first.tokens, first.finish)
    assert again.logprobs == pytest.approx(first.logprobs, abs=0.2)
    sampled = model.complete(messages, max_tokens=4, temperature=0.7)
    assert sampled.logprobs == () and 1 <= sampled.tokens <= 4  # sampled tokens are not the most likely ones


def test_a_subclass_constraint_runs_before_each_chosen_token(model: LlamaCppChat, monkeypatch):
    """`_constraints` (the hook of bench/adapt_model.py's format control) can rule tokens out; the log-probabilities
    then describe the tokens still allowed."""
    messages = [{"role": "user", "content": "Say OK."}]
    free = model.complete(messages, max_tokens=4)
    first = model.tokenize(free.text)[0]
    calls = []

    def ban(_ids, logits):
        calls.append(1)
        logits[first] = -np.inf
        return logits

    monkeypatch.setattr(model, "_constraints", lambda: [ban])
    constrained = model.complete(messages, max_tokens=4)
    assert len(calls) == constrained.tokens == len(constrained.logprobs)
    assert model.tokenize(constrained.text)[:1] != [first]


@pytest.mark.parametrize("question,lang", [("반품 기간은 며칠인가요?", "ko"), ("What is the equipment stipend?", "en")])
def test_answerable_question_is_answered_with_verified_citations(kb, model, judge_model, question, lang):
    store, settings, embedder = kb
    a = answer_question(store, STAFF, question, settings, model, embedder, judge_model=judge_model,
                        policy=AnswerPolicy(max_tokens=120))
    js = a.to_json()
    assert js["timings"]["total_s"] > 0 and js["model"] == "qwen2.5-coder-0.5b"
    if a.abstained:  # allowed, but then it must be the honest refusal in the question's language
        assert js["answer"] == ABSTAIN[lang]
        return
    assert js["citations"], js
    kept = [c for c in js["claims"] if c["kept"]]
    assert kept and all(c["verdict"] == "supported" and c["chunk_ids"] for c in kept)
    if a.mode == "generated":  # the model's own claims were judged (a quote is not)
        assert all("judged" in c["reason"] for c in kept)
    assert ("14" in js["answer"]) if lang == "ko" else ("500,000" in js["answer"])


def test_unanswerable_question_is_refused(kb, model):
    store, settings, embedder = kb
    a = answer_question(store, STAFF, "회사의 작년 영업이익은 얼마인가요?", settings, model, embedder)
    assert a.abstained and a.answer == ABSTAIN["ko"]
