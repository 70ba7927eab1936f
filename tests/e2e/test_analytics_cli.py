"""`inhouse analytics`: add a table, describe it, ask SQL as JSON; refused SQL and bad files are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from inhouse.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_add_describe_sql(capsys, tmp_path: Path):
    sales = tmp_path / "sales.csv"
    sales.write_text("day,category,amount\n2026-11-01,가전,1200\n2026-11-01,식품,300\n2026-12-01,가전,900\n", "utf-8")
    code, out, _ = run(capsys, "analytics", "add", "--tenant", "shop", str(sales), "--json")
    assert code == 0 and json.loads(out)["rows"] == 3
    assert run(capsys, "analytics", "describe", "--tenant", "shop", "sales", "원 단위 매출", "--column",
               "amount")[0] == 0
    code, out, _ = run(capsys, "analytics", "tables", "--tenant", "shop", "--json")
    columns = {c["name"]: c for c in json.loads(out)["tables"][0]["columns"]}
    assert columns["amount"]["description"] == "원 단위 매출" and columns["day"]["type"] == "DATE"
    code, out, _ = run(capsys, "analytics", "sql", "--tenant", "shop",
                       "select category, sum(amount) as total from sales group by 1 order by 2 desc", "--json")
    result = json.loads(out)
    assert code == 0 and result["rows"] == [["가전", 2100], ["식품", 300]] and result["sql"].endswith("LIMIT 1001")
    for args, message in (
        (("analytics", "sql", "--tenant", "shop", "drop table sales"), "only queries"),
        (("analytics", "sql", "--tenant", "shop", "select * from read_csv('/etc/passwd')"), "not allowed"),
        (("analytics", "sql", "--tenant", "nobody", "select 1"), "inhouse analytics add --tenant nobody"),
        (("analytics", "add", "--tenant", "shop", str(sales)), "pass --replace"),
        (("analytics", "describe", "--tenant", "shop", "sales", "x", "--column", "nope"), "no column 'nope'"),
    ):
        code, _, err = run(capsys, *args)
        assert code != 0 and message in err and "Traceback" not in err, (args, err)


def test_ready_made_analyses_from_the_command_line(capsys, tmp_path: Path):
    sales = tmp_path / "sales.csv"
    sales.write_text("day,category,amount\n2026-11-01,가전,1200\n2026-11-02,식품,300\n2026-12-01,가전,900\n"
                     "2026-12-02,식품,700\n", "utf-8")
    run(capsys, "analytics", "add", "--tenant", "shop", str(sales))
    base = ("analytics", "analyse", "--tenant", "shop", "--table", "sales", "--date", "day", "--amount", "amount")
    code, out, _ = run(capsys, *base, "movers", "--by", "category", "--current", "2026-12-01", "--previous",
                       "2026-11-01", "--json")
    results = {r["title"]: r["rows"] for r in json.loads(out)["results"]}
    assert code == 0 and results == {"rose most": [["식품", 400.0]], "fell most": [["가전", -300.0]]}
    code, _, err = run(capsys, *base, "period", "--by", "category")
    assert code != 0 and "--current" in err and "Traceback" not in err
