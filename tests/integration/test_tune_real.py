"""`inhouse tune data` on the real path: the packaged 0.5B GGUF writes and checks questions about the sample
handbook through the CLI. Checks structure, not wording (a small model's questions vary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.answer.prompt import NOT_FOUND
from inhouse.cli.main import main
from inhouse.tune.data import load_examples

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = {"kept", "no answer span", "no question", "answer in question", "wrong language", "answered otherwise",
            "retrieval missed", "sentence not shown", "below the gate"}


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_tune_data_with_the_real_model(inhouse_home: Path, capsys):
    assert main(["ingest", str(ROOT / "samples" / "handbook"), "--tenant", "acme", "--json"]) == 0
    capsys.readouterr()
    assert main(["tune", "data", "--tenant", "acme", "--model", "qwen2.5-coder-0.5b", "--limit", "2",
                 "--max-attempts", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 1 <= report["attempts"] <= 6 and set(report["rejected"]) <= OUTCOMES
    out = Path(report["out"])
    rows = [json.loads(x) for x in (out / "attempts.jsonl").read_text("utf-8").splitlines()]
    assert all(r["outcome"] in OUTCOMES and r["generator"] == "qwen2.5-coder-0.5b" for r in rows)
    asked = [r for r in rows if r.get("question")]
    assert asked, "the model wrote no question at all"
    for e in load_examples(out / "examples.jsonl"):
        assert e["target"] == NOT_FOUND or e["target"].endswith(f"[{e['gold_n']}].")
        assert e["messages"][-1]["content"].endswith(e["question"])
