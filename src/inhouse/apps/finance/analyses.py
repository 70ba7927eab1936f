"""Ready-made analyses of a sales table: period over period by a dimension, top movers, RFM segments, products
bought together, and change points in a series (ruptures' PELT, least squares). Each is SQL run through the same
checks and read-only connection as a question (`TableStore.query`), so its numbers come from DuckDB; change
points are found by ruptures over the series DuckDB returns.

A table is described once by its roles (`Roles`): which column is the date, the order, the customer, the item,
and how an amount is computed (for UCI Online Retail: InvoiceDate, InvoiceNo, CustomerID, StockCode,
Quantity * UnitPrice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from inhouse.apps.finance.tables import Result, TableStore
from inhouse.errors import InputError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PERIODS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Roles:
    table: str
    date: str
    amount: str  # an SQL expression over the table's columns, e.g. "Quantity * UnitPrice"
    order: str = ""
    customer: str = ""
    item: str = ""

    def check(self, store: TableStore) -> None:
        columns = {c.name.casefold(): c.name for c in store.table(self.table).columns}
        for role in ("date", "order", "customer", "item"):
            name = getattr(self, role)
            if name and name.casefold() not in columns:
                raise InputError(f"{self.table} has no column {name!r} for the {role}; columns: "
                                 f"{', '.join(sorted(columns.values()))}.")
        try:
            used = {c.name.casefold() for c in sqlglot.parse_one(self.amount, read="duckdb").find_all(exp.Column)}
        except SqlglotError as e:
            raise InputError(f"the amount {self.amount!r} is not an SQL expression ({e}).") from e
        if not used or not used <= set(columns):
            raise InputError(f"the amount {self.amount!r} must be an expression over {self.table}'s columns "
                             f"({', '.join(sorted(columns.values()))}).")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(value: str, what: str) -> str:
    if not _DATE.fullmatch(value or ""):
        raise InputError(f"{what} {value!r}: write it as YYYY-MM-DD.")
    return value


def _column(name: str) -> str:
    if not _IDENT.fullmatch(name or ""):
        raise InputError(f"invalid column {name!r}.")
    return name


def _period(period: str) -> str:
    if period not in PERIODS:
        raise InputError(f"unknown period {period!r}; one of {', '.join(PERIODS)}.")
    return period


def period_over_period(store: TableStore, roles: Roles, by: str, current: str, previous: str,
                       period: str = "month", limit: int = 20) -> Result:
    """Each value of column `by`: its amount in the `current` and `previous` period (dates such as 2011-11-01),
    the change and the change in percent, largest changes first."""
    _period(period), _column(by), _date(current, "current"), _date(previous, "previous")
    sql = (f"WITH p AS (SELECT {by} AS key, date_trunc('{period}', {roles.date}) AS period, "
           f"sum({roles.amount}) AS amount FROM {roles.table} GROUP BY 1, 2) "
           f"SELECT coalesce(c.key, v.key) AS {by}, round(coalesce(v.amount, 0), 2) AS previous, "
           f"round(coalesce(c.amount, 0), 2) AS current, round(coalesce(c.amount, 0) - coalesce(v.amount, 0), 2) "
           f"AS change, round(100 * (coalesce(c.amount, 0) / nullif(v.amount, 0) - 1), 2) AS change_pct "
           f"FROM (SELECT * FROM p WHERE period = DATE '{current}') c FULL JOIN "
           f"(SELECT * FROM p WHERE period = DATE '{previous}') v ON c.key = v.key "
           f"ORDER BY abs(coalesce(c.amount, 0) - coalesce(v.amount, 0)) DESC, 1 LIMIT {int(limit)}")
    return store.query(sql)


def top_movers(store: TableStore, roles: Roles, by: str, current: str, previous: str, period: str = "month",
               n: int = 5) -> tuple[Result, Result]:
    """The `n` values of `by` that rose most, and the `n` that fell most, from `previous` to `current`."""
    _period(period), _column(by), _date(current, "current"), _date(previous, "previous")
    base = (f"WITH p AS (SELECT {by} AS key, date_trunc('{period}', {roles.date}) AS period, "
            f"sum({roles.amount}) AS amount FROM {roles.table} GROUP BY 1, 2), "
            f"d AS (SELECT coalesce(c.key, v.key) AS key, coalesce(c.amount, 0) - coalesce(v.amount, 0) AS change "
            f"FROM (SELECT * FROM p WHERE period = DATE '{current}') c FULL JOIN "
            f"(SELECT * FROM p WHERE period = DATE '{previous}') v ON c.key = v.key) ")
    up = store.query(base + f"SELECT key AS {by}, round(change, 2) AS change FROM d WHERE change > 0 "
                            f"ORDER BY change DESC, key LIMIT {int(n)}")
    down = store.query(base + f"SELECT key AS {by}, round(change, 2) AS change FROM d WHERE change < 0 "
                              f"ORDER BY change, key LIMIT {int(n)}")
    return up, down


def rfm(store: TableStore, roles: Roles, as_of: str) -> Result:
    """Customers in RFM segments (recency, frequency, monetary quintiles; 5 is best) as of a date: how many in
    each segment and their amount."""
    if not (roles.customer and roles.order):
        raise InputError("RFM needs the customer and order columns.")
    _date(as_of, "as of")
    sql = (f"WITH c AS (SELECT {roles.customer} AS customer, date_diff('day', max({roles.date}), "
           f"TIMESTAMP '{as_of}') AS recency, count(DISTINCT {roles.order}) AS frequency, "
           f"sum({roles.amount}) AS monetary FROM {roles.table} WHERE {roles.customer} IS NOT NULL "
           f"AND {roles.date} <= TIMESTAMP '{as_of}' GROUP BY 1), "
           # Ties broken by customer: the quintile of a customer whose value ties another's is the same each run,
           # on every engine.
           "s AS (SELECT *, ntile(5) OVER (ORDER BY recency DESC, customer) AS r, "
           "ntile(5) OVER (ORDER BY frequency, customer) AS f, ntile(5) OVER (ORDER BY monetary, customer) AS m "
           "FROM c) "
           "SELECT CASE WHEN r >= 4 AND f >= 4 THEN 'champions' WHEN r >= 3 AND f >= 3 THEN 'loyal' "
           "WHEN r >= 4 AND f <= 2 THEN 'new' WHEN r <= 2 AND f >= 3 THEN 'at risk' "
           "WHEN r <= 2 AND f <= 2 THEN 'lost' ELSE 'others' END AS segment, count(*) AS customers, "
           "round(sum(monetary), 2) AS amount FROM s GROUP BY 1 ORDER BY amount DESC, segment")
    return store.query(sql)


def basket_pairs(store: TableStore, roles: Roles, n: int = 10, since: str = "", rank: str = "orders",
                 min_orders: int = 20) -> Result:
    """The `n` pairs of items bought in the same order: ranked by how many orders hold both (`rank="orders"`), or
    by lift (`"lift"`: how much more often than if the two were bought independently; pairs in at least
    `min_orders` orders), with each pair's orders, confidence (share of the first item's orders that hold the
    second) and lift."""
    if not (roles.order and roles.item):
        raise InputError("basket pairs need the order and item columns.")
    if rank not in ("orders", "lift"):
        raise InputError(f"rank must be orders or lift, not {rank!r}.")
    where = f"WHERE {roles.date} >= TIMESTAMP '{_date(since, 'since')}'" if since else ""
    order_by = "orders DESC" if rank == "orders" else "lift DESC, orders DESC"
    # Items and orders are numbered first (items in name order), so the self-join pairs and groups integers:
    # on PostgreSQL, grouping the ~28M pairs of UCI Online Retail by name takes a minute, by number seconds.
    sql = (f"WITH d AS (SELECT DISTINCT {roles.order} AS o, {roles.item} AS i FROM {roles.table} {where}), "
           "c AS (SELECT i, count(*) AS k, row_number() OVER (ORDER BY i) AS id FROM d GROUP BY i), "
           "os AS (SELECT o, row_number() OVER (ORDER BY o) AS id FROM d GROUP BY o), "
           "o AS (SELECT os.id AS o, c.id AS i FROM d JOIN c ON c.i = d.i JOIN os ON os.o = d.o), "
           "n AS (SELECT count(*) AS total FROM os), "
           "p AS (SELECT a.i AS a, b.i AS b, count(*) AS orders FROM o a JOIN o b ON a.o = b.o "
           "AND a.i < b.i GROUP BY 1, 2) "
           "SELECT ca.i AS item_a, cb.i AS item_b, p.orders, round(p.orders / ca.k, 3) AS confidence, "
           "round(p.orders * n.total / (ca.k * cb.k), 2) AS lift FROM p JOIN c ca ON ca.id = p.a "
           f"JOIN c cb ON cb.id = p.b, n WHERE p.orders >= {int(min_orders) if rank == 'lift' else 1} "
           f"ORDER BY {order_by}, 1, 2 LIMIT {int(n)}")
    return store.query(sql, timeout_s=60)


def change_points(store: TableStore, roles: Roles, period: str = "week", where: str = "", agg: str = "sum",
                  penalty: float | None = None) -> tuple[Result, list[str]]:
    """The amount per `period` (its sum, or its average with `agg="avg"`: a price, say), optionally for rows
    matching `where` (an SQL condition, checked like any query), and the periods where its level changes:
    ruptures' PELT with a least-squares cost on the standardised series, penalty 2·ln(length) by default."""
    _period(period)
    if agg not in ("sum", "avg"):
        raise InputError(f"agg must be sum or avg, not {agg!r}.")
    cond = f"WHERE {where}" if where else ""
    series = store.query(f"SELECT date_trunc('{period}', {roles.date}) AS period, round({agg}({roles.amount}), 2) "
                         f"AS amount FROM {roles.table} {cond} GROUP BY 1 ORDER BY 1", max_rows=20_000)
    if series.truncated:
        raise InputError(f"the series has more than 20,000 {period}s; choose a longer period.")
    values = np.array([float(r[1] or 0.0) for r in series.rows])
    if len(values) < 6:
        return series, []
    import ruptures as rpt  # imported here: only this analysis needs it

    scaled = (values - values.mean()) / (values.std() or 1.0)
    pen = penalty if penalty is not None else 2 * np.log(len(values))
    breaks = rpt.Pelt(model="l2", min_size=2).fit(scaled.reshape(-1, 1)).predict(pen=pen)
    return series, [str(series.rows[b][0])[:10] for b in breaks if b < len(series.rows)]
