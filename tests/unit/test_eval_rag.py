"""`inhouse eval rag` pieces with a scripted model: question-set validation, scores, the verifier on HaluEval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.evals.rag import read_rag_set, run_rag, verifier_balanced_accuracy
from inhouse.ingest import ingest
from inhouse.models.chat import ScriptedChat
from inhouse.store import SQLiteStore
from inhouse.types import Principal

STAFF = Principal("acme", "kim", ("staff",))


@pytest.mark.parametrize("content,message", [
    ('{"question": "a", "answers": ["x"]}\nnot json\n', "qs.jsonl:2: not JSON"),
    ('{"answers": ["x"]}\n', 'qs.jsonl:1: needs a non-empty "question"'),
    ('{"question": "q", "answers": "x"}\n', '"answers" must be a list of non-empty strings'),
    ('{"question": "q", "answers": [""]}\n', '"answers" must be a list of non-empty strings'),
    ("\n\n", "no questions in the file"),
])
def test_bad_question_sets_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture, content: str,
                                               message: str):
    qs = tmp_path / "qs.jsonl"
    qs.write_text(content, "utf-8")
    assert main(["eval", "rag", "--set", str(qs), "--tenant", "acme"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_set(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main(["eval", "rag", "--set", str(tmp_path / "none.jsonl"), "--tenant", "acme"]) == 3
    assert "no such question set" in capsys.readouterr().err


def test_scores_over_a_scripted_model(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = tmp_path / "kb"
    d.mkdir()
    (d / "반품.md").write_text("# 반품 정책\n\n상품 수령 후 14일 이내에 반품할 수 있습니다.\n", "utf-8")
    (d / "remote.md").write_text("# Remote work\n\nThe equipment stipend is 500,000 won per year.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    qs = tmp_path / "qs.jsonl"
    qs.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"question": "반품 기간은 며칠인가요?", "answers": ["14일"]},
        {"question": "What is the equipment stipend?", "answers": ["500,000"]},
        {"question": "회사의 작년 영업이익은 얼마인가요?", "answers": []},
    ]) + "\n", "utf-8")
    items = read_rag_set(qs)
    # The first draft is supported; the second invents an amount (rejected, nothing left → extractive quote);
    # the third question is refused by the relevance gate before any generation.
    chat = ScriptedChat().enqueue("반품은 상품 수령 후 14일 이내에 가능합니다 [1].",
                                  "The equipment stipend is 900,000 won per year [1].")
    r = run_rag(store, STAFF, items, settings, chat, None)
    assert len(chat.calls) == 2 and r["n"] == 3 and (r["n_answerable"], r["n_unanswerable"]) == (2, 1)
    s = r["scores"]
    assert s["answer_recall"] == 1.0  # the rejected claim's place is taken by a quote holding the gold amount
    assert s["abstention_answerable"] == 0.0 and s["abstention_unanswerable"] == 1.0
    assert s["claims_rejected"] == pytest.approx(1 / 3)  # 1 of 3 claims: 2 drafts' claims + 1 quote
    assert [row["mode"] for row in r["rows"]] == ["generated", "extractive", "abstained"]


def test_verifier_balanced_accuracy(tmp_path: Path):
    assert verifier_balanced_accuracy(tmp_path, 10, 0.6) is None  # data absent → not reported
    (tmp_path / "halu").mkdir()
    rows = [{"knowledge": "The Eiffel Tower is in Paris and was finished in 1889.", "question": "q",
             "right_answer": "The Eiffel Tower was finished in 1889.",
             "hallucinated_answer": "It was finished in 1925."},
            {"knowledge": "Seoul is the capital of South Korea.", "question": "q",
             "right_answer": "Seoul is the capital.", "hallucinated_answer": "Busan is the capital."}]
    (tmp_path / "halu" / "halueval_qa_oneturn_hotpot.json").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")
    v = verifier_balanced_accuracy(tmp_path, 10, 0.6)
    assert v is not None and v["n"] == 4 and 0.5 <= v["verifier_halueval"] <= 1.0


def test_answers_compare_in_squad_normal_form():
    from inhouse.evals.rag import contains_answer

    assert contains_answer("The 2001 ABC logo was black and yellow[1].", ["black-and-yellow"])
    assert contains_answer("It represents a comb jelly[1].", ["comb jelly."])
    assert contains_answer("반품은 14 일 이내[1]", ["14일"])
    assert contains_answer("The Tsui Gallery", ["the Tsui gallery"])
    # A citation marker is no answer, and neither is a different word.
    assert not contains_answer("It was founded in 1990 [2].", ["2"])
    assert not contains_answer("a trade union", ["trade unions"])
