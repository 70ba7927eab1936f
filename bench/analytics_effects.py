"""Do the ready-made analyses surface effects planted in the data? Five effects in a copy of UCI Online Retail,
each looked for with the analysis an analyst would run, and the same look at the untouched data as the baseline
(an analysis that "finds" an effect there is not finding the plant).

The plants (all in 2011):
1. a country's spike: Norway's quantities ×4 in September;
2. a product's drop: WHITE HANGING HEART T-LIGHT HOLDER (85123A) sells a tenth from October;
3. a price change: REGENCY CAKESTAND 3 TIER (22423) costs 1.8× from August;
4. a new pair bought together: a new item (PLANTED) added to every November invoice holding 22386;
5. a country's drop: France's quantities ×0.3 in November.

Found when: (1) Norway is among the 3 countries that rose most from August to September (top movers);
(2) 85123A among the 5 products that fell most from September to October; (3) a change point in 22423's weekly
average price within two weeks of 2011-08-01; (4) (22386, PLANTED) among the 3 pairs with the highest lift since
November (pairs in at least 50 orders; ranked by orders alone, popular pairs hide it: both are shown);
(5) France among the 3 countries that fell most from October to November.

    python bench/analytics_effects.py

Writes bench/results/analytics_effects.json and prints a table.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
RETAIL = DATA / "commerce" / "online_retail" / "online-retail.csv.gz"

import duckdb  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.finance import analyses as A  # noqa: E402
from inhouse.apps.finance.tables import TableStore  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402

console = Console(width=140)
ROLES = A.Roles("retail", "InvoiceDate", "Quantity * UnitPrice", "InvoiceNo", "CustomerID", "StockCode")
PLANTS = [
    ("Norway ×4 in September", "UPDATE retail SET Quantity = Quantity * 4 WHERE Country = 'Norway' AND "
                               "date_trunc('month', InvoiceDate) = DATE '2011-09-01'"),
    ("85123A a tenth from October", "UPDATE retail SET Quantity = CAST(round(Quantity / 10) AS BIGINT) WHERE "
                                    "StockCode = '85123A' AND InvoiceDate >= TIMESTAMP '2011-10-01'"),
    ("22423 costs 1.8× from August", "UPDATE retail SET UnitPrice = UnitPrice * 1.8 WHERE StockCode = '22423' AND "
                                     "InvoiceDate >= TIMESTAMP '2011-08-01'"),
    ("PLANTED bought with 22386 in November",
     "INSERT INTO retail SELECT DISTINCT InvoiceNo, 'PLANTED', 'PLANTED ITEM', 1, InvoiceDate, 1.0, CustomerID, "
     "Country FROM retail WHERE StockCode = '22386' AND InvoiceDate >= TIMESTAMP '2011-11-01'"),
    ("France ×0.3 in November", "UPDATE retail SET Quantity = CAST(round(Quantity * 0.3) AS BIGINT) WHERE "
                                "Country = 'France' AND date_trunc('month', InvoiceDate) = DATE '2011-11-01'"),
]


def look(store: TableStore) -> list[tuple[bool, str]]:
    """The five looks: (found, what the analysis showed)."""
    out = []
    up, _ = A.top_movers(store, ROLES, "Country", "2011-09-01", "2011-08-01", n=3)
    out.append(("Norway" in [r[0] for r in up.rows], f"rose most Aug→Sep: {[r[0] for r in up.rows]}"))
    _, down = A.top_movers(store, ROLES, "StockCode", "2011-10-01", "2011-09-01", n=5)
    out.append(("85123A" in [r[0] for r in down.rows], f"fell most Sep→Oct: {[r[0] for r in down.rows]}"))
    _, points = A.change_points(store, A.Roles("retail", "InvoiceDate", "UnitPrice"), "week",
                                where="StockCode = '22423'", agg="avg")
    near = [p for p in points if abs((dt.date.fromisoformat(p) - dt.date(2011, 8, 1)).days) <= 14]
    out.append((bool(near), f"22423 price change points: {points}"))
    by_count = A.basket_pairs(store, ROLES, n=3, since="2011-11-01")
    by_lift = A.basket_pairs(store, ROLES, n=3, since="2011-11-01", rank="lift", min_orders=50)
    found = any({r[0], r[1]} == {"22386", "PLANTED"} for r in by_lift.rows)
    out.append((found, f"pairs since November by lift: {[(r[0], r[1], r[4]) for r in by_lift.rows]}; by orders: "
                       f"{[(r[0], r[1], r[2]) for r in by_count.rows]}"))
    _, down = A.top_movers(store, ROLES, "Country", "2011-11-01", "2011-10-01", n=3)
    out.append(("France" in [r[0] for r in down.rows], f"fell most Oct→Nov: {[r[0] for r in down.rows]}"))
    return out


def main() -> None:
    if not RETAIL.is_file():
        sys.exit(f"UCI Online Retail not found at {RETAIL}; set INHOUSE_DATA to the folder that holds commerce/.")
    t0 = time.perf_counter()
    report: dict = {"bench": "analytics_effects", "date": time.strftime("%Y-%m-%d"), "plants": [], "seconds": 0}
    with tempfile.TemporaryDirectory() as tmp:
        clean = TableStore(Path(tmp) / "clean" / "tables.duckdb")
        clean.add(RETAIL, "retail")
        planted = TableStore(Path(tmp) / "planted" / "tables.duckdb")
        planted.add(RETAIL, "retail")
        with duckdb.connect(str(planted.path)) as con:  # the bench plants; questions stay read-only
            for _, sql in PLANTS:
                con.execute(sql)
        before, after = look(clean), look(planted)
    for (name, _), (base_found, base_saw), (found, saw) in zip(PLANTS, before, after, strict=True):
        report["plants"].append({"plant": name, "found": found, "showed": saw, "found_without_plant": base_found,
                                 "showed_without_plant": base_saw})
    report["found"] = sum(p["found"] for p in report["plants"])
    report["found_without_plants"] = sum(p["found_without_plant"] for p in report["plants"])
    report["seconds"] = round(time.perf_counter() - t0, 1)
    table = Table(title="Planted effects surfaced by the ready-made analyses (target: at least 4 of 5)")
    for col in ("plant", "found", "untouched data", "what the analysis showed"):
        table.add_column(col)
    for p in report["plants"]:
        table.add_row(p["plant"], "yes" if p["found"] else "no", "yes" if p["found_without_plant"] else "no",
                      p["showed"][:70])
    console.print(table)
    console.print(f"found {report['found']} of 5 (untouched data: {report['found_without_plants']} of 5); "
                  f"{report['seconds']} s")
    out = ROOT / "bench" / "results" / "analytics_effects.json"
    atomic_write_json(out, report)
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
