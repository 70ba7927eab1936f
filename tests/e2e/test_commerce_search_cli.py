"""`inhouse commerce catalog add`, `search` and `copy`: a Korean catalog file, the real e5 embedder, the real 0.5B
model reading the query and writing copy; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main

CATALOG = """상품id,상품명,옵션id,가격,재고,옵션
p1,공기청정기,a1,520000,있음,사용 공간: 소형; 기능: 저소음 운전
p1,공기청정기,a2,480000,있음,사용 공간: 대형; 기능: 스마트 센서
p2,무선 이어폰,e1,250000,있음,방수: IPX7 완전방수; 색상: 블랙
p2,무선 이어폰,e2,190000,있음,방수: IPX4 생활방수; 색상: 화이트
p3,전기포트,k1,90000,있음,용량: 2리터; 소재: 스테인리스
p3,전기포트,k2,70000,품절,용량: 1리터; 소재: 유리
"""


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_add_a_catalog_and_search_it(capsys, inhouse_home: Path, tmp_path: Path):
    f = tmp_path / "catalog.csv"
    f.write_text(CATALOG, encoding="utf-8")
    code, out, _ = run(capsys, "commerce", "catalog", "add", "--tenant", "shop", str(f), "--json")
    assert code == 0 and json.loads(out)["catalog"] == {"products": 3, "items": 6}

    code, out, _ = run(capsys, "commerce", "search", "--tenant", "shop", "블랙 무선 이어폰 30만원 이하", "--fast",
                       "--json")
    result = json.loads(out)
    assert code == 0 and result["max_price"] == 300_000
    top = result["hits"][0]
    assert top["item_id"] == "e1" and {"source": "spec", "option": "색상", "value": "블랙", "by": "word"} in top["why"]
    assert all(h["price"] <= 300_000 for h in result["hits"])

    # The real model reads the query; whatever it picks is one of the catalog's own values.
    code, out, _ = run(capsys, "commerce", "search", "--tenant", "shop", "원룸에 좋은 조용한 공기청정기", "-k", "2",
                       "--model", "qwen2.5-coder-0.5b", "--json")
    result = json.loads(out)
    assert code == 0 and [h["product_id"] for h in result["hits"]] == ["p1", "p1"]
    values = {("사용 공간", "소형"), ("사용 공간", "대형"), ("기능", "저소음 운전"), ("기능", "스마트 센서")}
    assert all((w["option"], w["value"]) in values for h in result["hits"] for w in h["why"])

    code, out, _ = run(capsys, "commerce", "search", "--tenant", "shop", "stainless kettle", "--fast")
    assert code == 0 and "전기포트" in out


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_copy_is_checked_against_the_items_spec(capsys, inhouse_home: Path, tmp_path: Path):
    f = tmp_path / "catalog.csv"
    f.write_text(CATALOG, encoding="utf-8")
    assert run(capsys, "commerce", "catalog", "add", "--tenant", "shop", str(f))[0] == 0
    code, out, _ = run(capsys, "commerce", "copy", "--tenant", "shop", "e1", "--lang", "ko", "--tone", "친근하게",
                       "--model", "qwen2.5-coder-0.5b", "--json")
    result = json.loads(out)
    assert code == 0 and result["item_id"] == "e1" and result["draft"]
    # Whatever the model wrote: the kept sentences passed the checks, and every spec value is in the copy.
    assert all(not s["reasons"] for s in result["sentences"] if s["kept"])
    assert all(v in result["text"] for v in ("IPX7 완전방수", "블랙"))
    assert "화이트" not in result["text"] and "IPX4" not in result["text"]  # the other variant's values
    code, _, err = run(capsys, "commerce", "copy", "--tenant", "shop", "nope", "--model", "qwen2.5-coder-0.5b")
    assert code != 0 and "no item 'nope'" in err


def test_clear_errors(capsys, inhouse_home: Path, tmp_path: Path):
    code, _, err = run(capsys, "commerce", "search", "--tenant", "nobody", "lamp", "--fast")
    assert code != 0 and "inhouse commerce catalog add --tenant nobody" in err and "Traceback" not in err
    bad = tmp_path / "bad.csv"
    bad.write_text("상품명,가격\n램프,싸요\n", encoding="utf-8")
    code, _, err = run(capsys, "commerce", "catalog", "add", "--tenant", "shop", str(bad))
    assert code != 0 and "row 2: price '싸요' is not a number" in err
    code, _, err = run(capsys, "commerce", "search", "--tenant", "shop", "lamp", "--fast")
    assert code != 0 and "has no catalog" in err  # the refused file stored nothing, not even an empty catalog
