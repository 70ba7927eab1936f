"""`inhouse commerce reviews`: add a review file, train from the stars, analyse, summarise (real e5 embedder)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from inhouse.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


GOOD = ["배터리가 정말 오래 가요", "배송이 빠르고 좋아요", "the battery lasts all day", "shipping was fast, love it",
        "소리가 깨끗하고 좋아요"]
BAD = ["배터리가 하루도 못 가요", "배송이 너무 느려요", "the battery died in an hour", "shipping took three weeks",
       "소리가 자꾸 끊겨요"]


def _write(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "상품", "리뷰", "별점"])
        for i in range(6):
            for j, t in enumerate(GOOD):
                w.writerow([f"g{i}-{j}", "buds" if j % 2 else "mouse", f"{t} {'!' * (i + 1)}", 100])
            for j, t in enumerate(BAD):
                w.writerow([f"b{i}-{j}", "buds" if j % 2 else "mouse", f"{t} {'.' * (i + 1)}", 20])


def test_add_analyse_summarise(capsys, inhouse_home: Path, tmp_path: Path):
    f = tmp_path / "reviews.csv"
    _write(f)
    code, _, err = run(capsys, "commerce", "reviews", "add", "--tenant", "shop", str(f))
    assert code != 0 and "pass --stars-max" in err and "Traceback" not in err
    assert not (inhouse_home / "commerce" / "shop" / "reviews.sqlite").exists()  # nothing half-stored
    code, out, _ = run(capsys, "commerce", "reviews", "add", "--tenant", "shop", str(f), "--stars-max", "100",
                       "--json")
    assert code == 0 and json.loads(out)["new"] == 60
    code, out, err = run(capsys, "commerce", "reviews", "analyse", "--tenant", "shop", "--json")
    assert code == 0, err
    result = json.loads(out)  # --json: nothing but the JSON, training included
    assert result["analysed"] == 60 and {"배터리", "배송", "battery"} <= set(result["aspects"])
    assert result["trained"]["examples"] >= 40 and result["trained"]["classes"] == ["negative", "positive"]
    assert (inhouse_home / "commerce" / "shop" / "opinions.json").exists()

    code, out, _ = run(capsys, "commerce", "reviews", "summary", "--tenant", "shop", "buds", "--json")
    summary = json.loads(out)
    texts = {}
    with f.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            texts[row["id"]] = row["리뷰"]
    quotes = [q for a in summary["aspects"] for q in a["pros"] + a["cons"]]
    assert quotes and all(texts[q["review_id"]][q["start"]:q["end"]] == q["text"] for q in quotes)
    by = {a["aspect"]: a for a in summary["aspects"]}
    assert by["배송"]["positive"] >= 4 and by["배송"]["negative"] >= 4  # the stars taught it both ways
    code, out, _ = run(capsys, "commerce", "reviews", "summary", "--tenant", "shop", "buds")
    assert code == 0 and "배송" in out and "+" in out
    code, out, _ = run(capsys, "commerce", "reviews", "products", "--tenant", "shop", "--json")
    assert {r["product_id"] for r in json.loads(out)} == {"buds", "mouse"}

    # Adding the same file again changes nothing and nothing is analysed again.
    code, out, _ = run(capsys, "commerce", "reviews", "add", "--tenant", "shop", str(f), "--stars-max", "100",
                       "--json")
    assert json.loads(out)["unchanged"] == 60 and json.loads(out)["pending"] == 0


def test_review_errors_name_the_problem_and_the_fix(capsys, tmp_path: Path):
    few = tmp_path / "few.csv"
    few.write_text("product_id,text,stars\np,좋아요,5\n", encoding="utf-8")
    cases = [
        (("commerce", "reviews", "summary", "--tenant", "nobody", "p"), "inhouse commerce reviews add --tenant nobody"),
        (("commerce", "reviews", "add", "--tenant", "shop", str(few), "--map", "text"), "write FIELD=COLUMN"),
        (("commerce", "reviews", "add", "--tenant", "shop", str(few), "--map", "colour=x"), "unknown review field"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, *args)
        assert code != 0 and message in err and "Traceback" not in err, (args, err)
    assert run(capsys, "commerce", "reviews", "add", "--tenant", "shop", str(few))[0] == 0
    code, _, err = run(capsys, "commerce", "reviews", "analyse", "--tenant", "shop")
    assert code != 0 and "reviews aspects --tenant shop --set" in err
    code, out, _ = run(capsys, "commerce", "reviews", "aspects", "--tenant", "shop", "--set", "배터리, batteries",
                       "--json")
    assert [a["terms"] for a in json.loads(out)["aspects"]] == [["배터리"], ["battery"]]
    code, _, err = run(capsys, "commerce", "reviews", "analyse", "--tenant", "shop")
    assert code != 0 and "too few opinions to learn from the stars" in err and "--labelled" in err
    code, _, err = run(capsys, "commerce", "reviews", "summary", "--tenant", "shop", "p")
    assert code != 0 and "reviews analyse" in err
