"""`inhouse tune data`: spans, question round trips, RAFT examples, document splits, resuming, PII."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from inhouse.answer.prompt import NOT_FOUND, SYSTEM_PROMPT
from inhouse.config import Settings
from inhouse.errors import InputError, NotFoundError
from inhouse.ingest import ingest
from inhouse.protocols import ChatModel, Reply
from inhouse.store import SQLiteStore
from inhouse.text.analyze import analyze
from inhouse.tune import data as tune_data
from inhouse.tune.spans import english_spans, korean_spans, pick_span

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "samples" / "handbook"


class ClozeWriter:
    """A question writer for exact tests: the sentence with its blank replaced by a question word; asked to
    answer, it gives back what the blank hid.

    Stands in for the local model where the test checks what surrounds it (tests/integration covers the real
    model)."""

    name = "cloze"

    def __init__(self, broken_every: int = 0) -> None:
        self.calls = self.questions = 0
        self.seen: list[list[dict[str, str]]] = []
        self.blanked: dict[str, str] = {}  # question -> the blanked sentence it was written from
        self.broken_every = broken_every

    reports_logprobs = False
    supports_json_schema = False

    def twin(self) -> None:
        return None

    def complete(self, messages: Sequence[dict[str, str]], **kwargs) -> Reply:
        text = "".join(self._write(messages))
        return Reply(text, len(text.split()))

    def _write(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        self.calls += 1
        self.seen.append(list(messages))
        turn = messages[-1]["content"]
        sentence = re.search(r"Sentence: (.*)", turn).group(1)
        if messages[0]["content"] == tune_data.CHECK_SYSTEM:
            question = re.search(r"Question: (.*)", turn).group(1)
            before, after = self.blanked[question].split(tune_data.BLANK)
            yield sentence[len(before):len(sentence) - len(after)]
            return
        self.questions += 1
        if self.broken_every and self.questions % self.broken_every == 0:
            yield f"Question: {sentence}"  # copies the blank
            return
        word = "무엇" if re.search("[가-힣]", sentence) else "what"
        question = sentence.replace(tune_data.BLANK, word).rstrip(".") + "?"
        self.blanked[question] = sentence
        yield "Question: " + question


@pytest.fixture
def kb(store: SQLiteStore, settings: Settings) -> SQLiteStore:
    ingest(store, settings, [HANDBOOK], tenant="acme", groups=("staff",))
    return store


def test_the_test_writer_is_a_chat_model():
    assert isinstance(ClozeWriter(), ChatModel)


def test_korean_spans_are_quantities_names_and_noun_runs():
    s = "연회비는 500,000원이며 가족카드는 1만 원입니다."
    spans = korean_spans(analyze([s])[0], 0, len(s))
    assert [x.text for x in spans if x.kind == "quantity"] == ["500,000원", "1만 원"]
    s = "고객은 상품 수령 후 14일 이내에 반품을 신청할 수 있다."
    spans = korean_spans(analyze([s])[0], 0, len(s))
    assert ("14일", "quantity") in [(x.text, x.kind) for x in spans]
    assert all(s[x.start:x.end] == x.text for x in spans)
    assert pick_span(spans, random.Random(0)).text == "14일"  # a quantity before nouns


def test_english_spans_skip_the_capitalised_first_word():
    s = "Receipts must be submitted to the Finance Office within 30 days of the trip."
    spans = english_spans(s)
    assert ("30 days", "quantity") in [(x.text, x.kind) for x in spans]
    assert ("Finance Office", "name") in [(x.text, x.kind) for x in spans]
    assert not any(x.text.startswith("Receipts") for x in spans)
    assert english_spans("Call [PHONE] today.") == []  # masked PII is never an answer


def test_statements_are_sentences_list_items_or_record_lines():
    text = "반품은 14일 안에 한다. 교환은\n7일 안에 한다.\n- 침구류는 반품할 수 없다\n- 가구는 설치 후 불가"
    assert tune_data.units(text) == [
        "반품은 14일 안에 한다.", "교환은 7일 안에 한다.", "침구류는 반품할 수 없다", "가구는 설치 후 불가"]
    assert tune_data.units("sku: SF-301\nname: Sofa\nprice: 890000") == ["sku: SF-301", "name: Sofa", "price: 890000"]


def test_clean_question_and_cite():
    assert tune_data.clean_question('\n질문: "반품 기간은 며칠인가요?"\nextra') == "반품 기간은 며칠인가요?"
    assert tune_data.cite("반품은 14일 이내에 신청한다.", 2) == "반품은 14일 이내에 신청한다 [2]."
    assert tune_data.cite("Returns take 14 days", 1) == "Returns take 14 days [1]."


def test_documents_not_questions_are_split():
    splits = {p: tune_data.split_of("acme", p, 0.3, 0) for p in (f"doc{i}.md" for i in range(200))}
    assert 40 <= sum(v == "heldout" for v in splits.values()) <= 80
    assert splits == {p: tune_data.split_of("acme", p, 0.3, 0) for p in splits}  # deterministic
    assert tune_data.split_of("acme", "doc1.md", 0.0, 0) == "train"


def test_examples_are_the_answer_prompt_with_cited_or_refusal_targets(kb, settings, tmp_path):
    writer = ClozeWriter()
    report = tune_data.build(kb, "acme", settings, writer, tmp_path / "out", limit=8, holdout=0.3, seed=1)
    asked = report.attempts - report.rejected.get("no answer span", 0)
    assert report.kept == 8 and asked + report.kept <= writer.calls <= 2 * asked
    examples = tune_data.load_examples(tmp_path / "out" / "examples.jsonl")
    answerable = [e for e in examples if e["kind"] == "answerable"]
    assert len(answerable) == 8
    for e in answerable:
        assert e["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
        user = e["messages"][-1]["content"]
        assert user.endswith(f"Question: {e['question']}")
        # The gold source is shown with the sentence the target copies, and the target cites it.
        assert f"[{e['gold_n']}] " in user and e["sentence"] in " ".join(user.split())
        assert e["target"].endswith(f"[{e['gold_n']}].") and e["answer"] in e["target"]
        assert e["answer"] not in e["question"]
        assert e["source"]["chunk_id"] in [s["chunk_id"] for s in e["sources"]]
    for e in (e for e in examples if e["kind"] == "unanswerable"):
        assert e["target"] == NOT_FOUND and e["gold_n"] is None
        assert e["source"]["doc_path"] not in [s["doc_path"] for s in e["sources"]]  # distractors only
    # One document, one split: every question of a document is on the same side.
    by_doc: dict[str, set[str]] = {}
    for e in examples:
        by_doc.setdefault(e["source"]["doc_path"], set()).add(e["split"])
    assert all(len(v) == 1 for v in by_doc.values())
    assert {"train/answerable"} <= set(report.examples)


def test_round_trip_rejects_questions_that_give_the_answer_away(kb, settings, tmp_path):
    report = tune_data.build(kb, "acme", settings, ClozeWriter(broken_every=2), tmp_path / "out", limit=4)
    assert report.rejected.get("answer in question", 0) >= 1
    rows = [json.loads(x) for x in (tmp_path / "out" / "attempts.jsonl").read_text("utf-8").splitlines()]
    assert all(r["outcome"] != "kept" or r["answer"] not in r["question"] for r in rows)


def test_an_interrupted_run_resumes_without_asking_again(kb, settings, tmp_path):
    out = tmp_path / "out"
    first = ClozeWriter()
    tune_data.build(kb, "acme", settings, first, out, limit=3)
    # A crash mid-line leaves a partial last line: it is dropped, and the run goes on from there.
    with (out / "attempts.jsonl").open("ab") as f:
        f.write(b'{"chunk_id": 99999, "outc')
    second = ClozeWriter()
    report = tune_data.build(kb, "acme", settings, second, out, limit=5)
    assert report.kept == 5 and report.resumed >= 3
    kept_chunks = [e["source"]["chunk_id"] for e in tune_data.load_examples(out / "examples.jsonl")
                   if e["kind"] == "answerable"]
    assert len(kept_chunks) == len(set(kept_chunks)) == 5
    assert second.calls <= first.calls + 8  # only the new chunks were asked about
    assert all(json.loads(x) for x in (out / "attempts.jsonl").read_text("utf-8").splitlines())


def test_pii_never_reaches_the_writer_or_the_examples(store, settings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "contacts.md").write_text(
        "# 연락처\n\n고객센터 담당자 김민수의 전화번호는 010-2345-6789이며 평일 9시부터 18시까지 상담한다.\n\n"
        "반품 접수는 고객센터에서 상품 수령 후 14일 이내에 받는다.\n", "utf-8")
    ingest(store, settings, [docs], tenant="acme")
    writer = ClozeWriter()
    tune_data.build(store, "acme", settings, writer, tmp_path / "out", limit=2)
    assert writer.calls and not any("010-2345-6789" in m["content"] for call in writer.seen for m in call)
    text = "".join((tmp_path / "out" / f).read_text("utf-8") for f in ("attempts.jsonl", "examples.jsonl"))
    assert "010-2345-6789" not in text and "[PHONE]" in text


def test_bad_input_is_refused_clearly(store, kb, settings, tmp_path):
    with pytest.raises(NotFoundError, match="no documents"):
        tune_data.build(store, "nobody", settings, ClozeWriter(), tmp_path / "a")
    with pytest.raises(InputError, match="--holdout"):
        tune_data.build(kb, "acme", settings, ClozeWriter(), tmp_path / "a", holdout=1.5)
    tune_data.build(kb, "acme", settings, ClozeWriter(), tmp_path / "b", limit=1)
    ingest(kb, settings, [HANDBOOK / "hr"], tenant="other")
    with pytest.raises(InputError, match="another --out"):
        tune_data.build(kb, "other", settings, ClozeWriter(), tmp_path / "b", limit=1)
