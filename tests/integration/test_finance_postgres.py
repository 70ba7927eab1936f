"""A tenant's analytics tables in PostgreSQL (the `database_url` setting): the same tables, types and answers as
the DuckDB file for the same queries (DuckDB's dialect translated), read-only, time-limited, one schema per
tenant; the question path and the HTTP route over it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from inhouse.apps.finance.ask import SqlAsker
from inhouse.apps.finance.pgtables import PgTableStore, to_postgres
from inhouse.apps.finance.tables import open_tables
from inhouse.errors import InputError, NotFoundError
from inhouse.models.chat import ScriptedChat
from tests.integration.test_finance_tables import _slice

QUERIES = [
    "SELECT Country, round(sum(Quantity * UnitPrice), 2) AS revenue FROM retail GROUP BY ALL ORDER BY revenue DESC "
    "LIMIT 3",
    "SELECT count(DISTINCT InvoiceNo) / count(*) AS orders_per_line, count(*) FILTER (WHERE InvoiceNo LIKE 'C%') "
    "AS cancelled FROM retail",
    "SELECT date_trunc('day', InvoiceDate) AS day, strftime(InvoiceDate, '%Y-%m') AS month, year(InvoiceDate) AS y, "
    "count(*) AS n FROM retail GROUP BY 1, 2, 3 ORDER BY 1",
    "WITH c AS (SELECT CustomerID, sum(Quantity) AS q FROM retail WHERE CustomerID IS NOT NULL GROUP BY 1) "
    "SELECT CustomerID, q, rank() OVER (ORDER BY q DESC) AS r FROM c QUALIFY r <= 3 ORDER BY r, CustomerID",
    "SELECT StockCode, median(UnitPrice) AS m, avg(UnitPrice) AS a FROM retail GROUP BY StockCode "
    "HAVING count(*) > 5 ORDER BY StockCode LIMIT 5",
    # DuckDB's date parts, which PostgreSQL lacks (defined in the tenant's schema).
    "SELECT quarter(InvoiceDate) AS q, hour(InvoiceDate) AS h, minute(InvoiceDate) AS mi, "
    "dayofweek(InvoiceDate) AS dw, isodow(InvoiceDate) AS iw, dayofweek_iso(InvoiceDate) AS iw2, "
    "dayofyear(InvoiceDate) AS dy, week(InvoiceDate) AS w, weekofyear(InvoiceDate) AS w2, isoyear(InvoiceDate) AS iy, "
    "yearweek(InvoiceDate) AS yw, dayname(InvoiceDate) AS dn, monthname(InvoiceDate) AS mn, count(*) AS n "
    "FROM retail GROUP BY ALL ORDER BY ALL",
]


def _rows(result) -> list[tuple]:
    return [tuple(round(float(v), 6) if isinstance(v, (int, float)) or type(v).__name__ == "Decimal" else v
                  for v in row) for row in result.rows]


def test_the_same_answers_as_duckdb(postgres_url: str, tmp_path: Path, inhouse_home: Path):
    csv = _slice(tmp_path, 2000)
    duck = open_tables("shop", create=True, url="")
    duck.add(csv, description="invoice lines")
    pg = open_tables("shop", create=True, url=postgres_url)
    assert isinstance(pg, PgTableStore)
    info = pg.add(csv, description="invoice lines")
    assert info.to_dict() == duck.table("retail").to_dict()  # the same DuckDB types, rows and descriptions
    assert pg.schema_text() == duck.schema_text()
    for sql in QUERIES:
        assert _rows(pg.query(sql)) == _rows(duck.query(sql)), sql
    assert pg.describe("retail", "units; negative for returns", column="Quantity").columns[3].description == \
        "units; negative for returns"
    question = "How much did WHITE HANGING HEART T-LIGHT HOLDER sell in united kingdom?"
    assert pg.named_values(question) == duck.named_values(question)
    # The shop's measures: stored the same way, read the same way, the same correction of a count of rows.
    for store in (duck, pg):
        store.define_measure("retail", "orders", "count(DISTINCT InvoiceNo)", "orders,주문")
        store.define_measure("retail", "revenue", "sum(Quantity * UnitPrice)")
        with pytest.raises(InputError, match="no column Price"):
            store.define_measure("retail", "x", "avg(Price)")
    assert [m.to_dict() for m in pg.measures()] == [m.to_dict() for m in duck.measures()]
    assert pg.schema_text(True).split("Measures")[1] == duck.schema_text(True).split("Measures")[1]
    reply = '{"sql": "select Country, count(*) as orders from retail group by 1 order by 2 desc, 1"}'
    answers = [SqlAsker(ScriptedChat(replies=[reply]), store).ask("나라별 주문 수") for store in (duck, pg)]
    assert _rows(answers[0].result) == _rows(answers[1].result)
    assert answers[1].attempts[0].notes and "count(distinct" in answers[1].sql.lower()
    pg.drop_measure("retail", "revenue")
    assert [m.name for m in pg.measures()] == ["orders"]
    with pytest.raises(NotFoundError, match="no measure"):
        pg.drop_measure("retail", "revenue")
    pg.close()


def test_read_only_limited_and_apart(postgres_url: str, tmp_path: Path, inhouse_home: Path):
    pg = open_tables("shop", create=True, url=postgres_url)
    pg.add(_slice(tmp_path, 200))
    with pytest.raises(InputError, match="exists"):
        pg.add(_slice(tmp_path, 10))
    assert pg.add(_slice(tmp_path, 10), replace=True).rows == 10
    with pytest.raises(InputError, match="not allowed|only queries"):
        pg.query("DELETE FROM retail")
    with pytest.raises(InputError, match="without a schema"):
        pg.query("SELECT * FROM public.migrations")
    with pytest.raises(InputError, match="no table"):
        pg.query("SELECT * FROM inhouse_columns")  # the catalog is not a question's table
    with pytest.raises(InputError, match="ran past"):
        pg.query("SELECT count(*) FROM retail a, retail b, retail c, retail d, retail e, retail f, retail g, retail h",
                 timeout_s=0.05)
    assert pg.query("SELECT * FROM retail", max_rows=3).truncated
    with pytest.raises(NotFoundError):
        open_tables("other", url=postgres_url)  # another tenant: its own schema, nothing in it
    other = open_tables("other", create=True, url=postgres_url)
    with pytest.raises(InputError, match="no table"):
        other.query("SELECT * FROM retail")
    bad = tmp_path / "retail.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="nothing was stored"):
        pg.add(bad, replace=True)
    assert pg.table("retail").rows == 10  # the table it would have replaced is intact
    assert [t.name for t in pg.tables()] == ["retail"]
    for store in (pg, other):
        store.close()


def test_group_by_all_and_order_by_all_spelt_out():
    assert to_postgres("SELECT a, b, sum(c) AS s FROM t GROUP BY ALL") == \
        "SELECT a, b, SUM(c) AS s FROM t GROUP BY 1, 2"
    assert to_postgres("SELECT a, sum(c) AS s FROM t GROUP BY ALL ORDER BY ALL DESC").endswith(
        "GROUP BY 1 ORDER BY 1 DESC NULLS LAST, 2 DESC NULLS LAST")  # DuckDB puts NULLs last


def test_questions_over_http_on_postgres(postgres_url: str, tmp_path: Path, inhouse_home: Path):
    from inhouse.config import Settings
    from inhouse.models.embedders import load_embedder
    from inhouse.server.app import create_app
    from inhouse.server.db import PgServerDB
    from inhouse.server.keys import KeyStore
    from inhouse.server.runner import BackgroundServer

    pg = open_tables("acme", create=True, url=postgres_url)
    pg.add(_slice(tmp_path, 500))
    answer = SqlAsker(ScriptedChat(replies=['{"sql": "select Country, count(DISTINCT InvoiceNo) as orders from retail '
                                            'where Country = \'Korea\' group by 1"}',
                                            '{"sql": "select Country, count(DISTINCT InvoiceNo) as orders from retail '
                                            'group by all order by 2 desc"}']), pg).ask("나라별 주문 수는?")
    assert [a.empty for a in answer.attempts] == [True, False] and answer.result.rows[0][0] == "United Kingdom"
    pg.close()
    key = KeyStore(PgServerDB(postgres_url)).create("acme", "kim", ())[0]
    chat = ScriptedChat(replies=['{"sql": "select Country, round(sum(Quantity * UnitPrice), 2) as revenue from retail '
                                 'group by 1 order by 2 desc"}'])
    app = create_app(chat=chat, embedder=load_embedder("hash"),
                     settings=Settings(embedder="hash", database_url=postgres_url), base=inhouse_home / "replica")
    with BackgroundServer(app) as server:
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert [t["name"] for t in http.get("/api/analytics/tables").json()["tables"]] == ["retail"]
        body = http.post("/api/analytics/ask", json={"question": "나라별 매출은?"}).json()
        assert body["result"]["rows"][0][0] == "United Kingdom" and body["chart_svg"].startswith("<svg")
    assert not (inhouse_home / "replica" / "finance").exists()  # nothing on the replica's disk


def test_the_cli_follows_database_url(postgres_url: str, tmp_path: Path):
    import json
    import os
    import subprocess
    import sys

    env = os.environ | {"INHOUSE_HOME": str(tmp_path / "home"), "INHOUSE_DATABASE_URL": postgres_url}

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "inhouse.cli.main", "analytics", *args, "--tenant", "한빛상사",
                               "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert cli("add", str(_slice(tmp_path, 300)))["rows"] == 300
    top = cli("sql", "select country, count(*) as n from retail group by all order by n desc limit 1")
    assert top["rows"][0][0] == "United Kingdom" and top["columns"] == ["Country", "n"]
    assert not (tmp_path / "home" / "finance").exists()
