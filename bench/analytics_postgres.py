"""Analytics tables in PostgreSQL against the DuckDB file, in the same run, without a model.

UCI Online Retail (541,909 invoice lines) added to both stores through `open_tables` (DuckDB's readers, then a
copy into PostgreSQL); the 110 hand-written gold queries of bench/analytics.py, written in DuckDB's dialect as the
model writes them, run on both: how many give the same result on PostgreSQL (translated by sqlglot; compared as
bench/analytics.py compares a model's answer with the gold one) and how long each store takes; then the five
ready-made analyses on both. The server is a throwaway PostgreSQL on loopback (tests/pgserver.py).

    python bench/analytics_postgres.py

Writes bench/results/analytics_postgres.json and prints a table. Heavy: run under flock.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.analytics import DESCRIPTIONS, RETAIL, load_questions, same_result  # noqa: E402
from inhouse.apps.finance import analyses as A  # noqa: E402
from inhouse.apps.finance.tables import open_tables  # noqa: E402
from inhouse.errors import InputError  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from tests import pgserver  # noqa: E402

console = Console(width=150)


def load(store) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    store.add(RETAIL, "retail", description=DESCRIPTIONS[""])
    for column, text in DESCRIPTIONS.items():
        if column:
            store.describe("retail", text, column)
    return time.perf_counter() - t0


def run(store, sql: str) -> tuple[list | None, float, str]:  # noqa: ANN001
    t0 = time.perf_counter()
    try:
        rows = store.query(sql, max_rows=1000, timeout_s=60).rows
        return rows, time.perf_counter() - t0, ""
    except InputError as e:
        return None, time.perf_counter() - t0, str(e)


def analyses(store) -> dict:  # noqa: ANN001
    roles = A.Roles(table="retail", date="InvoiceDate", amount="Quantity*UnitPrice", customer="CustomerID",
                    order="InvoiceNo", item="Description")
    return {
        "period": lambda: A.period_over_period(store, roles, "Country", "2011-11-01", "2011-10-01"),
        "movers": lambda: A.top_movers(store, roles, "Country", "2011-11-01", "2011-10-01"),
        "rfm": lambda: A.rfm(store, roles, "2011-12-10"),
        "pairs": lambda: A.basket_pairs(store, roles),
        "changes": lambda: A.change_points(store, roles, "week")[0],
    }


def main() -> None:
    if not RETAIL.is_file():
        sys.exit(f"UCI Online Retail not found at {RETAIL}; set INHOUSE_DATA to the folder that holds commerce/.")
    questions = load_questions()
    work = Path(tempfile.mkdtemp(prefix="inhouse-analytics-pg-"))
    url = pgserver.start(work / "pg")
    try:
        duck = open_tables("retail", create=True, base=work / "home", url="")
        pg = open_tables("retail", create=True, base=work / "home", url=url)
        load_s = {"duckdb": round(load(duck), 1), "postgres": round(load(pg), 1)}
        console.print(f"loaded: {load_s}")
        rows, failed = [], []
        for q in questions:
            d_rows, d_s, _ = run(duck, q["gold_sql"])
            p_rows, p_s, err = run(pg, q["gold_sql"])
            same = p_rows is not None and same_result(p_rows, d_rows)
            rows.append({"id": q["id"], "difficulty": q["difficulty"], "same": same, "duckdb_s": d_s,
                         "postgres_s": p_s})
            if not same:
                failed.append({"id": q["id"], "error": err[:300], "sql": q["gold_sql"][:300]})
        ready = {}
        for (name, d_fn), p_fn in zip(analyses(duck).items(), analyses(pg).values(), strict=True):
            (d_res, d_s, _), (p_res, p_s, err) = _timed(d_fn), _timed(p_fn)
            ready[name] = {"same": p_res is not None and same_result(_flat(p_res), _flat(d_res)),
                           "duckdb_s": round(d_s, 2), "postgres_s": round(p_s, 2), "error": err[:300]}
            console.print(f"  {name}: {ready[name]}", highlight=False)
        pg.close()
    finally:
        pgserver.stop(work / "pg")
    by = {}
    for label in ("easy", "medium", "hard"):
        sel = [r for r in rows if r["difficulty"] == label]
        by[label] = {"n": len(sel), "same": sum(r["same"] for r in sel)}
    out = {"bench": "analytics_postgres", "date": time.strftime("%Y-%m-%d"), "table_rows": 541909,
           "load_s": load_s, "gold_queries": len(rows), "same": sum(r["same"] for r in rows), "by_difficulty": by,
           "median_ms": {"duckdb": round(1000 * statistics.median(r["duckdb_s"] for r in rows), 1),
                         "postgres": round(1000 * statistics.median(r["postgres_s"] for r in rows), 1)},
           "ready_made_same": ready, "different": failed}
    atomic_write_json(ROOT / "bench" / "results" / "analytics_postgres.json", out)
    t = Table(title=f"{len(rows)} gold queries over UCI Online Retail: PostgreSQL against DuckDB (same run)")
    for c in ("", "easy", "medium", "hard", "all", "median ms DuckDB", "median ms PostgreSQL", "load s"):
        t.add_column(c)
    t.add_row("same result", *(f"{by[k]['same']}/{by[k]['n']}" for k in ("easy", "medium", "hard")),
              f"{out['same']}/{len(rows)}", str(out["median_ms"]["duckdb"]), str(out["median_ms"]["postgres"]),
              f"{load_s['duckdb']} / {load_s['postgres']}")
    console.print(t)
    t = Table(title="Ready-made analyses over the whole table (same run)")
    for c in ("analysis", "same result", "DuckDB s", "PostgreSQL s"):
        t.add_column(c)
    for name, r in ready.items():
        t.add_row(name, "yes" if r["same"] else f"no {r['error']}", str(r["duckdb_s"]), str(r["postgres_s"]))
    console.print(t)
    for f in failed:
        console.print(f"  {f['id']}: {f['error'] or 'different rows'}", highlight=False)


def _timed(fn) -> tuple[object, float, str]:  # noqa: ANN001
    t0 = time.perf_counter()
    try:
        return fn(), time.perf_counter() - t0, ""
    except InputError as e:
        return None, time.perf_counter() - t0, str(e)


def _flat(res) -> list[tuple]:  # noqa: ANN001
    return [r for part in (res if isinstance(res, tuple) else (res,)) for r in _rows(part)]


def _rows(result) -> list[tuple]:  # noqa: ANN001
    if hasattr(result, "rows"):
        return result.rows
    if isinstance(result, dict):
        return [r for v in result.values() for r in _rows(v)]
    return list(result) if isinstance(result, list) else []


if __name__ == "__main__":
    main()
