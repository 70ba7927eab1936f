"""`inhouse eval` commands that need no model: tasks, an empty board, bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.evals import EvalStore


def test_tasks_reports_missing_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    monkeypatch.setenv("INHOUSE_EVAL_DATA", str(tmp_path))
    assert main(["eval", "tasks", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data_dir"] == str(tmp_path)
    rows = {r["task"]: r for r in out["tasks"]}
    assert not rows["arc_easy"]["found"] and "INHOUSE_EVAL_DATA" in rows["arc_easy"]["note"]
    assert rows["kobest_copa"]["language"] == "ko" and rows["arc_easy"]["version"] == 1


def test_run_with_missing_data_fails_before_loading_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture):
    monkeypatch.setenv("INHOUSE_EVAL_DATA", str(tmp_path))
    code = main(["eval", "run", "--model", "no-such-model", "--tasks", "arc_easy"])
    err = capsys.readouterr().err
    assert code == 3 and err.startswith("error: evaluation data") and "Traceback" not in err
    assert main(["eval", "run", "--model", "x", "--tasks", "arc_easy", "--limit", "0"]) == 2
    assert "--limit must be a positive number" in capsys.readouterr().err
    assert main(["eval", "run", "--model", "x", "--preset", "open_llm_v2"]) == 2
    assert "unknown preset 'open_llm_v2'" in capsys.readouterr().err
    assert main(["eval", "run", "--model", "x"]) == 2
    assert "no tasks given" in capsys.readouterr().err


def test_board_empty_and_averages(inhouse_home: Path, capsys: pytest.CaptureFixture):
    assert main(["eval", "board", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"models": []}
    store = EvalStore()
    for task, shots, metric, value in [("arc_challenge", 25, "acc_norm", 0.3), ("hellaswag", 10, "acc_norm", 0.5),
                                       ("truthfulqa_mc2", 0, "mc2", 0.4), ("mmlu", 5, "acc", 0.6),
                                       ("kobest_copa", 0, "acc", 0.7), ("kobest_boolq", 0, "acc", 0.5)]:
        store.record("r1", "m", "abc", "Q4_K_M", task, 1, {metric: value, f"{metric}_stderr": 0.01}, 100, metric,
                     {"fewshot": shots, "seed": 1234, "limit": 100})
    store.record("r2", "m2", "def", "Q8_0", "hellaswag", 1, {"acc_norm": 0.9}, 10, "acc_norm",
                 {"fewshot": 0, "seed": 1234, "limit": 10})
    store.close()
    assert main(["eval", "board", "--json"]) == 0
    models = {m["model"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert models["m"]["open_llm_v1"] == pytest.approx(0.45) and models["m"]["korean"] == pytest.approx(0.6)
    assert models["m2"]["open_llm_v1"] is None and "hellaswag 10-shot acc_norm" in models["m2"]["open_llm_v1_missing"]
    assert main(["eval", "board"]) == 0
    table = capsys.readouterr().out
    assert "InHouse leaderboard" in table and "45.0" in table
