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
    code, out, _ = run(capsys, "analytics", "measure", "--tenant", "shop", "sales", "revenue", "sum(amount)",
                       "--words", "revenue,매출", "--json")
    assert code == 0 and json.loads(out)["sql"] == "SUM(amount)"
    code, out, _ = run(capsys, "analytics", "tables", "--tenant", "shop", "--json")
    assert json.loads(out)["measures"] == [{"table": "sales", "name": "revenue", "sql": "SUM(amount)",
                                            "words": ["revenue", "매출"]}]
    assert "revenue = SUM(amount)" in run(capsys, "analytics", "tables", "--tenant", "shop")[1]
    assert run(capsys, "analytics", "measure", "--tenant", "shop", "sales", "revenue", "--drop")[0] == 0
    for args, message in (
        (("analytics", "measure", "--tenant", "shop", "sales", "x", "sum(price)"), "no column price"),
        (("analytics", "measure", "--tenant", "shop", "sales", "x"), "give the measure's SQL"),
        (("analytics", "measure", "--tenant", "shop", "sales", "revenue", "--drop"), "no measure 'revenue'"),
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


def test_ask_narrates_citing_policies_and_loads_the_embedder_only_for_a_narrative(capsys, tmp_path: Path,
                                                                                  inhouse_home: Path, monkeypatch):
    """`analytics ask --narrate` with a scripted model standing in for the registry's (the real model's path is
    bench/analytics.py's): the narrative cites the tenant's policy; a question whose query finds no rows writes
    no narrative and never loads the embedder."""
    import inhouse.cli.analytics as cli
    from inhouse.config import Settings
    from inhouse.ingest import ingest
    from inhouse.models.chat import ScriptedChat
    from inhouse.store import open_store

    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    sales = tmp_path / "sales.csv"
    sales.write_text("day,category,amount\n2026-11-01,가전,1200\n2026-11-02,식품,300\n2026-12-01,가전,900\n", "utf-8")
    assert run(capsys, "analytics", "add", "--tenant", "acme", str(sales))[0] == 0
    policy = tmp_path / "promotions.md"
    policy.write_text("# 프로모션 규정\n\n매출이 줄어든 카테고리는 다음 달에 할인 쿠폰을 보낼 수 있습니다.\n", "utf-8")
    store = open_store(inhouse_home)
    ingest(store, Settings(embedder="hash"), [policy], "acme")
    store.close()
    chat = ScriptedChat()
    monkeypatch.setattr(cli.Registry, "choose", lambda *a, **k: type("M", (), {"chat": lambda self, s: chat})())
    loads = []
    real_load = cli.load_embedder
    monkeypatch.setattr(cli, "load_embedder", lambda name: loads.append(name) or real_load(name))

    nothing = '{"sql": "select category from sales where category = \'의류\'"}'
    chat.enqueue(nothing, nothing)  # no rows, and none after the repair either
    code, out, _ = run(capsys, "analytics", "ask", "--tenant", "acme", "--user", "kim", "의류 매출은?", "--narrate",
                       "--json")
    assert code == 0 and json.loads(out)["narrative"] is None and loads == []

    chat.enqueue('{"sql": "select category, sum(amount) as total from sales group by 1 order by 2 desc"}',
                 "가전 매출은 2100으로 식품 300보다 많습니다. "
                 "제안: 매출이 줄어든 카테고리는 다음 달에 할인 쿠폰을 보낼 수 있습니다 [1].")
    code, out, _ = run(capsys, "analytics", "ask", "--tenant", "acme", "--user", "kim", "카테고리별 매출과 할 일은?",
                       "--narrate", "--json")
    narrative = json.loads(out)["narrative"]
    assert code == 0 and narrative["text"] == "가전 매출은 2100으로 식품 300보다 많습니다."
    assert [c["doc_path"] for c in narrative["citations"]] == ["promotions.md"] and loads == ["hash"]
