"""`inhouse eval rag` end to end: the sample handbook, its question set, the real packaged 0.5B model.

Checks structure, not wording: every question is answered or refused, the scores are rates over the
right counts, the verifier's HaluEval accuracy is reported, and the run lands on the leaderboard.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main
from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "samples" / "handbook"


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_eval_rag_on_the_sample_handbook(inhouse_home: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INHOUSE_EVAL_DATA", str(SHARED_DATA))
    assert main(["ingest", str(HANDBOOK / "policies"), str(HANDBOOK / "faq"), "--tenant", "acme", "--json"]) == 0
    capsys.readouterr()
    code = main(["eval", "rag", "--model", "qwen2.5-coder-0.5b", "--set", str(ROOT / "samples" / "rag_eval.jsonl"),
                 "--tenant", "acme", "--groups", "staff", "--halueval", "100", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    scores = out["results"]["rag:rag_eval"]
    assert out["model"] == "qwen2.5-coder-0.5b" and scores["n"] == 7
    assert (out["n_answerable"], out["n_unanswerable"]) == (5, 2)
    for m in ("answer_recall", "abstention_answerable", "abstention_unanswerable"):
        assert 0.0 <= scores[m] <= 1.0
    assert scores["abstention_unanswerable"] == 1.0  # nothing in the handbook about revenue or profit
    assert all(r["abstained"] or r["answer"] for r in out["rows"])
    if (SHARED_DATA / "halu").is_dir():
        assert out["results"]["verifier_halueval"]["n"] == 200
        assert out["results"]["verifier_halueval"]["balanced_accuracy"] > 0.7
    assert main(["eval", "board", "--json"]) == 0
    board = json.loads(capsys.readouterr().out)["models"]
    assert board[0]["model"] == "qwen2.5-coder-0.5b" and "rag:rag_eval" in board[0]["tasks"]
    assert board[0]["tasks"]["rag:rag_eval"]["primary"] == "answer_recall"
