"""A tenant's analytics tables in a real DuckDB file: added whole or not at all, described, queried read-only
with time and row limits; DuckDB's own settings stop what the SQL checks might miss."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from inhouse.apps.finance.tables import TableStore, open_tables
from inhouse.errors import InputError, NotFoundError
from tests.conftest import SHARED_DATA, require
from tests.helpers import make_xlsx

RETAIL = require(SHARED_DATA / "commerce" / "online_retail" / "online-retail.csv.gz")


def _slice(tmp: Path, lines: int = 2000) -> Path:
    path = tmp / "retail.csv"
    with gzip.open(RETAIL, "rt", encoding="utf-8") as f:
        path.write_text("".join(next(f) for _ in range(lines + 1)), "utf-8")
    return path


def test_add_describe_and_ask(inhouse_home: Path, tmp_path: Path):
    store = open_tables("shop", create=True)
    info = store.add(_slice(tmp_path), description="invoice lines, one per product sold")
    assert info.name == "retail" and info.rows == 2000
    assert {c.name: c.type for c in info.columns}["InvoiceDate"] == "TIMESTAMP"
    assert (inhouse_home / "finance" / "shop").stat().st_mode & 0o077 == 0
    store.describe("retail", "units sold; negative for returns", column="Quantity")
    schema = store.schema_text()
    assert "TABLE retail (2000 rows) -- invoice lines" in schema and "Quantity BIGINT -- units sold" in schema
    r = store.query("select Country, sum(Quantity) q from retail group by 1 order by 2 desc")
    assert r.columns == ["Country", "q"] and r.rows[0][0] == "United Kingdom" and not r.truncated
    capped = store.query("select * from retail", max_rows=10)
    assert len(capped.rows) == 10 and capped.truncated
    with pytest.raises(InputError, match="exists; pass --replace"):
        store.add(_slice(tmp_path, 10))
    assert store.add(_slice(tmp_path, 10), replace=True).rows == 10
    xl = store.add(make_xlsx(tmp_path / "catalog.xlsx"), name="catalog")
    assert xl.rows == 2 and [t.name for t in store.tables()] == ["catalog", "retail"]


def test_bad_files_and_queries_change_nothing(inhouse_home: Path, tmp_path: Path):
    store = open_tables("shop", create=True)
    store.add(_slice(tmp_path, 50))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="cannot be read as a table"):
        store.add(broken, name="retail", replace=True)
    assert store.table("retail").rows == 50  # the old table is still whole
    for bad, message in (("bad name.csv", "invalid table name"), ("x.docx", "unsupported table file")):
        path = tmp_path / bad
        path.write_text("a,b\n1,2\n", "utf-8")
        with pytest.raises(InputError, match=message):
            store.add(path)
    with pytest.raises(InputError, match="only queries"):
        store.query("delete from retail")
    with pytest.raises(InputError, match="ran past"):
        _slow(store)
    assert store.table("retail").rows == 50
    with pytest.raises(NotFoundError, match="inhouse analytics add"):
        open_tables("nobody")


def _slow(store):  # noqa: ANN001, ANN202 - a query long enough to be stopped (the table joined to itself, 5 times)
    return store.query("select sum(a.Quantity * b.Quantity + c.Quantity - d.Quantity * e.Quantity) from retail a, "
                       "retail b, retail c, retail d, retail e", timeout_s=0.3)


def test_the_read_only_connection_stops_what_the_checks_might_miss(inhouse_home: Path, tmp_path: Path):
    store = open_tables("shop", create=True)
    store.add(_slice(tmp_path, 20))
    with store._reader() as con:
        for raw in (f"select * from read_csv('{RETAIL}')", "create table x as select 1",
                    "set enable_external_access = true", "copy retail to '/tmp/inhouse-leak.csv'"):
            with pytest.raises(duckdb.Error):
                con.execute(raw)
    assert not Path("/tmp/inhouse-leak.csv").exists()


def test_a_question_becomes_one_checked_query_repaired_once(inhouse_home: Path, tmp_path: Path):
    from inhouse.apps.finance.ask import SqlAsker
    from inhouse.models.chat import ScriptedChat

    store = open_tables("shop", create=True)
    store.add(_slice(tmp_path, 200))
    chat = ScriptedChat(replies=['{"sql": "select * from read_csv(\'/etc/passwd\')"}',
                                 "```sql\nselect Country, count(DISTINCT InvoiceNo) as orders from retail group by 1 "
                                 "order by 2 desc, 1\n```"])
    answer = SqlAsker(chat, store).ask("나라별 주문 수는?")
    assert [bool(a.error) for a in answer.attempts] == [True, False]
    assert "not allowed" in answer.attempts[0].error
    assert answer.result.columns == ["Country", "orders"] and answer.result.rows[0][0] == "United Kingdom"
    repair = chat.calls[-1][-1]["content"]  # the second call saw the first query and why it was refused
    assert "This query failed" in repair and "read_csv" in repair
    stuck = SqlAsker(ScriptedChat(replies=["drop table retail", "delete from retail"]), store).ask("지워 줘")
    assert stuck.result is None and len(stuck.attempts) == 2 and store.table("retail").rows == 200


def test_measures_are_declared_read_by_the_model_and_correct_a_count_of_rows(inhouse_home: Path, tmp_path: Path):
    from inhouse.apps.finance.ask import SqlAsker
    from inhouse.apps.finance.tables import _MEASURES
    from inhouse.models.chat import ScriptedChat

    store = open_tables("shop", create=True)
    store.add(_slice(tmp_path, 200))
    with duckdb.connect(str(store.path)) as con:  # a file made before measures existed
        con.execute(f"DROP TABLE {_MEASURES}")
    assert store.measures() == []
    store.define_measure("retail", "orders", "count(*)", "orders")
    m = store.define_measure("retail", "orders", "count(DISTINCT InvoiceNo)", "orders, 주문")  # redefined
    assert [x.to_dict() for x in store.measures()] == [m.to_dict()] and m.words == ("orders", "주문")
    shown = store.schema_text(measures=True)  # for people; the model does not read them
    assert "orders = COUNT(DISTINCT InvoiceNo) (over retail; the question says: orders, 주문)" in shown
    for bad, why in ((("retail", "x", "sum(Price)"), "no column Price"), (("retail", "x", "Quantity"), "aggregate"),
                     (("nope", "x", "count(*)"), "no table nope"),
                     (("retail", "x", "sum(Description)"), "the query failed")):  # parses, but DuckDB refuses it
        with pytest.raises((InputError, NotFoundError), match=why):
            store.define_measure(*bad)
    assert [x.name for x in store.measures()] == ["orders"]  # nothing of a refused one stored
    with pytest.raises(InputError, match="invalid table name"):
        store.add(_slice(tmp_path, 5), name=_MEASURES)

    chat = ScriptedChat(replies=['{"sql": "select Country, count(*) as orders from retail group by 1 order by 2 desc, '
                                 '1 limit 1"}'])
    answer = SqlAsker(chat, store).ask("주문이 가장 많은 나라는?")
    assert "Measures" not in chat.calls[0][-1]["content"] and "Measures" not in store.schema_text()
    expected = store.query("select Country, count(DISTINCT InvoiceNo) from retail group by 1 order by 2 desc, 1 "
                           "limit 1").rows
    assert answer.result.rows == expected and "COUNT(DISTINCT InvoiceNo)" in answer.sql
    assert answer.attempts[0].notes == [
        "counted orders as the shop defines it: COUNT(DISTINCT InvoiceNo) (the query counted rows)"]
    assert answer.to_dict()["attempts"][0]["notes"] == answer.attempts[0].notes
    lines = SqlAsker(ScriptedChat(replies=['{"sql": "select count(*) as n from retail"}']), store).ask("Lines?")
    assert lines.result.rows == [(200,)] and lines.attempts[0].notes == []

    assert store.add(_slice(tmp_path, 50), replace=True).rows == 50
    assert [x.name for x in store.measures()] == ["orders"]  # kept across a reload of the table
    store.drop_measure("retail", "ORDERS")
    assert store.measures() == []
    with pytest.raises(NotFoundError, match="has no measure 'orders'"):
        store.drop_measure("retail", "orders")


def test_an_empty_result_is_written_again_and_kept_if_no_repair_does_better(inhouse_home: Path, tmp_path: Path):
    from inhouse.apps.finance.ask import SqlAsker
    from inhouse.models.chat import ScriptedChat

    store = open_tables("shop", create=True)
    store.add(_slice(tmp_path, 200))
    chat = ScriptedChat(replies=['{"sql": "select count(*) as n from retail where Country = \'Korea\'  having n > 0"}',
                                 '{"sql": "select count(DISTINCT InvoiceNo) as orders from retail where Country = '
                                 '\'United Kingdom\'"}'])
    answer = SqlAsker(chat, store).ask("영국 주문 수는?")
    assert [(bool(a.error), a.empty) for a in answer.attempts] == [(False, True), (False, False)]
    assert answer.result.rows[0][0] > 0
    assert "returned no rows" in chat.calls[-1][-1]["content"]
    stuck = SqlAsker(ScriptedChat(replies=['{"sql": "select max(UnitPrice) as p from retail where Country = \'X\'"}',
                                           '{"sql": "select 1 as one from retail where false"}']), store).ask("X?")
    assert stuck.result.rows == [(None,)] and [a.empty for a in stuck.attempts] == [True, True]  # the first is kept
    failed = SqlAsker(ScriptedChat(replies=['{"sql": "select Country from retail where count(*) > 3"}',
                                            '{"sql": "select 1 as one"}']), store)
    failed.ask("?")
    assert "HAVING" in failed.model.calls[-1][-1]["content"]  # DuckDB's message with a hint


def test_ready_made_analyses_on_a_small_shop(inhouse_home: Path, tmp_path: Path):
    from inhouse.apps.finance import analyses as A

    rows = ["order_id,day,customer,item,country,qty,price"]
    for month, (kr, jp) in {"2024-01": (10, 5), "2024-02": (30, 1)}.items():
        rows += [f"o{month}-{i},{month}-0{1 + i % 9},c{i % 4},{'a' if i % 2 else 'b'},KR,{kr},1.0" for i in range(6)]
        rows += [f"j{month}-{i},{month}-15,c9,a,JP,{jp},2.0" for i in range(2)]
    path = tmp_path / "sales.csv"
    path.write_text("\n".join(rows) + "\n", "utf-8")
    store = open_tables("shop", create=True)
    store.add(path)
    roles = A.Roles("sales", "day", "qty * price", "order_id", "customer", "item")
    roles.check(store)
    pop = A.period_over_period(store, roles, "country", "2024-02-01", "2024-01-01")
    assert [r[:4] for r in pop.rows] == [("KR", 60.0, 180.0, 120.0), ("JP", 20.0, 4.0, -16.0)]
    up, down = A.top_movers(store, roles, "country", "2024-02-01", "2024-01-01")
    assert [r[0] for r in up.rows] == ["KR"] and [r[0] for r in down.rows] == ["JP"]
    segments = {r[0]: r[1] for r in A.rfm(store, roles, "2024-03-01").rows}
    assert sum(segments.values()) == 5  # c0..c3 and c9
    pairs = A.basket_pairs(store, roles, n=5)
    assert pairs.rows == []  # one item per order here: no pairs
    series, points = A.change_points(store, roles, "day", where="country = 'KR'")
    assert len(series.rows) >= 6 and isinstance(points, list)
    for bad, message in ((lambda: A.period_over_period(store, roles, "country; drop", "2024-02-01", "2024-01-01"),
                          "invalid column"),
                         (lambda: A.top_movers(store, roles, "country", "February", "2024-01-01"), "YYYY-MM-DD"),
                         (lambda: A.Roles("sales", "when", "qty").check(store), "no column 'when'"),
                         (lambda: A.change_points(store, roles, where="1=1; drop table sales"), "does not parse")):
        with pytest.raises(InputError, match=message):
            bad()


def test_questions_and_a_writer_at_the_same_time_and_json_safe_results(inhouse_home: Path, tmp_path: Path):
    import json
    import threading

    store = open_tables("shop", create=True)
    store.add(_slice(tmp_path, 100))
    errors: list[Exception] = []

    def ask() -> None:
        try:
            for _ in range(10):
                open_tables("shop").query("select Country, sum(Quantity) from retail group by 1")
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    def describe() -> None:
        try:
            for n in range(5):
                open_tables("shop").describe("retail", f"invoice lines {n}")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(3)] + [threading.Thread(target=describe)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    odd = tmp_path / "odd.csv"
    odd.write_text("day,value\n2026-01-01,NaN\n2026-01-02,1.5\n", "utf-8")
    store.add(odd)
    rows = store.query("select day, value, cast(1.25 as decimal(10, 2)) as d from odd order by day").to_dict()
    assert json.loads(json.dumps(rows, allow_nan=False))["rows"] == [["2026-01-01", None, 1.25],
                                                                     ["2026-01-02", 1.5, 1.25]]


def test_values_a_question_names_are_found_as_stored(tmp_path: Path):
    csv = tmp_path / "sales.csv"
    csv.write_text("item,country,qty\nWHITE HANGING HEART T-LIGHT HOLDER,France,3\nHEART T-LIGHT HOLDER,"
                   "United Kingdom,1\n반려견 간식,대한민국,2\n", "utf-8")
    store = TableStore(tmp_path / "t.duckdb")
    store.add(csv, "sales")
    assert store.named_values("How many White Hanging Heart T-Light Holder went to france?") == [
        ("sales", "item", "WHITE HANGING HEART T-LIGHT HOLDER"), ("sales", "country", "France")]
    assert store.named_values("대한민국에서 반려견 간식 판매량은?") == [
        ("sales", "item", "반려견 간식"), ("sales", "country", "대한민국")]
    assert store.named_values("total quantity by month") == []
