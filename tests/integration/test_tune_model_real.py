"""`inhouse tune model` end to end on the packaged 0.5B: LoRA training on CPU through the CLI, a checkpoint
resumed (and one of other data refused), the GGUF adapter registered and applied by llama.cpp over the quantised
base. A few steps on one fact: this checks structure and that the adapter changes what the model says, not
quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.files import sha256_file
from inhouse.models.chat import LlamaCppChat
from inhouse.models.registry import Registry
from inhouse.tune.gguf_lora import read_adapter

pytest.importorskip("peft", reason="training needs the tune extra (make test installs it)")

MESSAGES = [{"role": "system", "content": "Answer from the sources."},
            {"role": "user", "content": "사내 와이파이 비밀번호는 무엇인가요?"}]
TARGET = "비밀번호는 바나나-42 입니다 [1]."


def write_examples(path: Path, n: int = 6) -> None:
    rows = [{"kind": "answerable", "split": "train", "messages": MESSAGES, "target": TARGET}] * n
    rows += [{"kind": "answerable", "split": "heldout", "messages": MESSAGES, "target": TARGET}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def report_base_sha(report: dict) -> str:
    _, path = Registry().resolve(report["base"])
    return sha256_file(path)


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_tune_model_trains_resumes_registers_and_llama_cpp_applies_it(inhouse_home: Path, capsys):
    data = inhouse_home / "tune" / "acme" / "data" / "examples.jsonl"
    write_examples(data)
    args = ["tune", "model", "--tenant", "acme", "--base", "qwen2.5-coder-0.5b", "--rank", "8", "--alpha", "16",
            "--lr", "2e-3", "--accumulate", "1", "--json"]
    assert main([*args, "--max-steps", "2"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["steps"] == 2 and first["resumed_at"] == 0 and first["examples"] == 6
    # the converted base is kept: the resumed run below reads it instead of converting the GGUF again
    assert [p.name for p in (inhouse_home / "cache" / "tune-base").iterdir()] == [report_base_sha(first)]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resumed_at"] == 2 and report["steps"] == 6
    # the training time of both runs adds up: the adapter's cost, not the last run's
    assert report["train_seconds"] > first["train_seconds"] > 0
    assert report["seconds_per_step"] == pytest.approx(report["train_seconds"] / 6, abs=0.01)
    assert report["heldout_loss_adapted"] < report["heldout_loss_base"]
    assert read_adapter(Path(report["adapter"]))["arch"] == "qwen2"

    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    entry = next(r for r in listed if r["name"] == "acme-qwen2.5-coder-0.5b")
    assert entry["sha256"] == report["sha256"] and entry["base"] == "qwen2.5-coder-0.5b"
    assert entry["data_sha256"] == report["data_sha256"]

    _, base_path = Registry().resolve("qwen2.5-coder-0.5b")
    base = LlamaCppChat(base_path, n_ctx=512, n_threads=2)
    adapted = LlamaCppChat(base_path, n_ctx=512, n_threads=2, lora_path=report["adapter"])
    assert base.complete(MESSAGES, max_tokens=24).text != TARGET
    assert adapted.complete(MESSAGES, max_tokens=24).text == TARGET

    # A checkpoint of other data is not resumed (refused before the base is loaded).
    write_examples(data, n=3)
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "checkpoint of another base, data set or settings" in err and "Traceback" not in err
