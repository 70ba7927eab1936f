"""bench/answers_oracle.py: the recorded drafts with the truth as the verifier, the pipeline's gate and fallback."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "answers_oracle", Path(__file__).resolve().parents[2] / "bench" / "answers_oracle.py")
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

SOURCES = ["여의도 시범아파트의 규모는 1790세대와 24개동이다.", "힐탑아파트는 1967년에 지어졌다."]


def _row(draft="", raw_found=False, mode="generated", question="여의도 시범아파트의 규모는 몇 세대인가?",
         sources=SOURCES, found=False, abstained=False, follow_up=""):
    return {"draft": draft, "raw_found": raw_found, "mode": mode, "question": question, "sources": sources,
            "answers": ["1790세대"], "found": found, "abstained": abstained, "follow_up": follow_up,
            "gold_in_sources": any("1790세대" in s for s in sources)}


def test_a_right_draft_is_kept_and_a_wrong_one_falls_back_to_the_quote():
    assert oracle.oracle_outcome(_row("1790세대입니다 [1].", raw_found=True), 0.7) == "right"
    # The wrong draft is refused; the sentence covering the question is quoted, and holds the answer.
    assert oracle.oracle_outcome(_row("24세대입니다 [1]."), 0.7) == "right"
    # Without the gold sentence, the quote (if any) is wrong or nothing is quoted.
    assert oracle.oracle_outcome(_row("24세대입니다 [1].", sources=SOURCES[1:]), 0.7) == "abstained"
    # A gold string in a draft written without its paragraph is luck, not an answer to keep.
    assert oracle.oracle_outcome(_row("1790세대 [1].", raw_found=True, sources=SOURCES[1:]), 0.7) == "abstained"


def test_a_recorded_follow_up_counts_when_right():
    row = _row("[1]", question="How many households?", sources=["The complex has 1790세대 in 24 buildings."],
               follow_up="It has 1790세대 [1].")
    assert oracle.oracle_outcome(row, 0.99) == "right"
    assert oracle.oracle_outcome(row | {"follow_up": "It has 24 buildings [1]."}, 0.99) == "abstained"


def test_the_gate_and_an_open_questions_not_found_draft_abstain():
    assert oracle.oracle_outcome(_row("1790세대 [1]", raw_found=True, mode="abstained (relevance gate)"),
                                 0.7) == "abstained"
    assert oracle.oracle_outcome(_row("NOT_FOUND"), 0.7) == "abstained"


def test_rates_baseline_is_the_pipelines_own():
    rows = [_row(found=True), _row(abstained=True), _row()]
    assert oracle.rates(rows, None) == {"n": 3, "answer_recall": 0.333, "abstention": 0.333, "wrong": 1}
