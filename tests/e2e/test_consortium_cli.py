"""`inhouse consortium`: add partners' files (real tokenizer), see the decisions, report shares twice the same,
withdraw, export, check the filter; clear errors that change nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from inhouse.cli.main import main

REVIEWS = ["배우들의 연기가 정말 좋았고 음악도 장면마다 잘 어울렸다. 특히 마지막 장면의 여운이 오래 남아서 "
           "극장을 나와서도 한참을 생각했다. 다시 보고 싶은 영화.",
           "각본이 엉성해서 후반부로 갈수록 지루했고 결말도 허무했다. 추천하지 않습니다.",
           "아이와 함께 봤는데 아이가 무서워해서 중간에 나왔습니다. 어린이는 피하세요.",
           "좋아요"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _csv(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "stars"])
        w.writerows([i, t, 5] for i, t in enumerate(texts))
    return path


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_add_report_withdraw_export_check(capsys, tmp_path: Path, inhouse_home: Path):
    press = _csv(tmp_path / "press.csv", REVIEWS)
    shop = _csv(tmp_path / "shop.csv", [REVIEWS[0].replace(" ", ""), REVIEWS[1].replace("지루했고", "너무나 지루했고"),
                                        "배송이 빨라서 좋았고 포장도 꼼꼼했습니다. 다음에도 이 가게에서 살게요."])
    code, out, _ = run(capsys, "consortium", "add", "--partner", "press", str(press), "--model",
                       "qwen2.5-coder-0.5b", "--json")
    added = json.loads(out)["contributions"][0]
    assert code == 0 and (added["kept"], added["filtered"]) == (3, 1) and added["tokens"] > 30
    assert (inhouse_home / "consortium").stat().st_mode & 0o077 == 0
    code, out, _ = run(capsys, "consortium", "add", "--partner", "shop", str(shop), "--model",
                       "qwen2.5-coder-0.5b", "--json")
    second = json.loads(out)["contributions"][0]
    assert (second["kept"], second["duplicate"], second["near-duplicate"]) == (1, 1, 1)
    code, out, _ = run(capsys, "consortium", "texts", str(second["id"]), "--json")
    reasons = [t["reason"] for t in json.loads(out)["texts"]]
    assert reasons[0].startswith("the same text as text 1") and "near-duplicate of text 2" in reasons[1]

    args = ("consortium", "report", "--period", "2099-12", "--revenue", "1000000", "--json")
    _, first_report, _ = run(capsys, *args)
    _, again, _ = run(capsys, *args)
    assert first_report == again  # bit-identical from the same ledger
    shares = {p["partner"]: p["revenue"] for p in json.loads(first_report)["partners"]}
    assert sum(shares.values()) == 1_000_000 and shares["press"] > shares["shop"] > 0

    code, out, _ = run(capsys, "consortium", "check", "답변: " + REVIEWS[0], "--json")
    assert code == 0 and json.loads(out)["blocked"] is True
    code, out, _ = run(capsys, "consortium", "check", "반품은 14일 안에 신청하세요.", "--json")
    assert json.loads(out)["blocked"] is False

    code, out, _ = run(capsys, "consortium", "withdraw", "--partner", "press", "--json")
    assert code == 0 and json.loads(out)["withdrawn"][0]["texts"] == 3
    _, out, _ = run(capsys, *args)
    report = json.loads(out)
    assert {p["partner"]: p["revenue"] for p in report["partners"]} == {"press": 0, "shop": 1_000_000}
    assert report["partners"][0]["tokens"] == 0
    code, out, _ = run(capsys, "consortium", "export", str(tmp_path / "shards"), "--json")
    manifest = json.loads(out)
    assert code == 0 and manifest["partners"] == ["shop"] and manifest["texts"] == 1
    line = json.loads((tmp_path / "shards" / "consortium-00000.jsonl").read_text("utf-8"))
    assert line["partner"] == "shop" and line["source"] == "shop.csv"
    # Withdrawn text stays guarded: a model trained before the withdrawal may still know it.
    code, out, _ = run(capsys, "consortium", "check", "답변: " + REVIEWS[0], "--json")
    assert json.loads(out)["blocked"] is True


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_errors_name_the_problem_and_change_nothing(capsys, tmp_path: Path):
    code, _, err = run(capsys, "consortium", "report", "--period", "2026-12", "--revenue", "10")
    assert code != 0 and "inhouse consortium add" in err and "Traceback" not in err
    press = _csv(tmp_path / "press.csv", REVIEWS)
    assert run(capsys, "consortium", "add", "--partner", "press", str(press), "--model", "qwen2.5-coder-0.5b")[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("id,stars\n1,5\n", "utf-8")
    cases = [
        (("consortium", "add", "--partner", "press", str(bad), "--model", "qwen2.5-coder-0.5b"), "--text-column"),
        (("consortium", "add", "--partner", "press", str(press), "--model", "qwen2.5-coder-0.5b"),
         "already contribution 1"),
        (("consortium", "add", "--partner", "../x", str(press), "--model", "qwen2.5-coder-0.5b"), "invalid tenant"),
        (("consortium", "report", "--period", "12/2026", "--revenue", "10"), "YYYY-MM"),
        (("consortium", "report", "--period", "2026-12", "--revenue", "-1"), "zero or more"),
        (("consortium", "withdraw", "--partner", "nobody"), "no an active contribution"),
        (("consortium", "add", "--partner", "press", str(press), "--threshold", "0"), "--threshold"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, *args)
        assert code != 0 and message in err and "Traceback" not in err, (args, err)
    _, out, _ = run(capsys, "consortium", "list", "--json")
    assert len(json.loads(out)["contributions"]) == 1  # nothing half-added


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_canaries_join_the_export_and_the_audit_ranks_them(capsys, tmp_path: Path):
    code, out, _ = run(capsys, "consortium", "canaries", "--repeats", "1,3", "--per-level", "1", "--seed", "5",
                       "--json")
    planted = json.loads(out)["canaries"]
    assert code == 0 and [c["repeats"] for c in planted] == [1, 3] and all(len(c["secret"]) == 6 for c in planted)
    press = _csv(tmp_path / "press.csv", REVIEWS)
    run(capsys, "consortium", "add", "--partner", "press", str(press), "--model", "qwen2.5-coder-0.5b")
    _, out, _ = run(capsys, "consortium", "export", str(tmp_path / "shards"), "--for-tune", "--heldout", "0.3",
                    "--json")
    manifest = json.loads(out)
    assert manifest["canary_rows"] == 4 and manifest["partners"] == ["press"]
    examples = [json.loads(line) for line in (tmp_path / "shards" / "examples.jsonl").read_text("utf-8").splitlines()]
    canaries = [e for e in examples if e["kind"] == "canary"]
    assert len(canaries) == 4 and {e["split"] for e in canaries} == {"train"}  # trained as often as planted
    assert all(e["messages"] == [{"role": "user", "content": "다음 글을 이어서 쓰세요."}] for e in examples)
    assert manifest["examples"]["train"] + manifest["examples"]["heldout"] == len(examples)
    # The filter guards the canaries like partners' text: a reply completing one is blocked.
    secret_text = [json.loads(line)["text"] for line in (tmp_path / "shards" / "consortium-00000.jsonl")
                   .read_text("utf-8").splitlines() if json.loads(line).get("canary")][0]
    _, out, _ = run(capsys, "consortium", "check", secret_text, "--json")
    assert json.loads(out)["blocked"] is True
    # The base model never saw them: each is ranked among random secrets, and the report says so.
    code, out, _ = run(capsys, "consortium", "audit", "--model", "qwen2.5-coder-0.5b", "--candidates", "50",
                       "--json")
    audit = json.loads(out)["canaries"]
    assert code == 0 and [a["repeats"] for a in audit] == [1, 3]
    for a in audit:
        assert 1 <= a["rank"] <= 51 and 0.0 <= a["exposure"] <= a["exposure_max"] == 5.67
        assert not a["extracted"]


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_a_tenants_own_examples_are_mixed_into_the_training_export(capsys, tmp_path: Path, inhouse_home: Path):
    press = _csv(tmp_path / "press.csv", REVIEWS)
    run(capsys, "consortium", "add", "--partner", "press", str(press), "--model", "qwen2.5-coder-0.5b")
    code, _, err = run(capsys, "consortium", "export", str(tmp_path / "out"), "--for-tune", "--mix-tenant", "acme")
    assert code == 3 and "inhouse tune data --tenant T" in err  # no examples built for acme yet
    own = inhouse_home / "tune" / "acme" / "data"
    own.mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"질문 {i}"}], "target": f"답 {i} [1]", "split": split,
             "doc_path": "반품.md"} for i, split in enumerate(["train", "train", "heldout"])]
    (own / "examples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    code, out, _ = run(capsys, "consortium", "export", str(tmp_path / "out"), "--for-tune", "--mix-tenant", "acme",
                       "--json")
    manifest = json.loads(out)
    examples = [json.loads(line) for line in (tmp_path / "out" / "examples.jsonl").read_text("utf-8").splitlines()]
    mine = [e for e in examples if e["kind"] == "tenant"]
    assert code == 0 and manifest["mixed"] == {"tenant": "acme", "examples": 3}
    assert [(e["target"], e["split"], e["partner"]) for e in mine] == [
        ("답 0 [1]", "train", "acme"), ("답 1 [1]", "train", "acme"), ("답 2 [1]", "heldout", "acme")]
    assert {e["kind"] for e in examples} == {"consortium", "tenant"}
    code, _, err = run(capsys, "consortium", "export", str(tmp_path / "out"), "--mix-tenant", "acme")
    assert code == 2 and "with --for-tune" in err
