"""Measures a shop declares: what "orders", "revenue" or "customers" mean over its tables, as SQL aggregates.

`inhouse analytics measure --tenant T TABLE NAME "count(DISTINCT InvoiceNo)" --words "orders,주문"` stores a
measure beside the table's descriptions. When a question names
a measure (one of its words) whose SQL counts distinct values of a column, a query that counts rows instead
(`count(*)`, `count(InvoiceNo)`) over that table alone is corrected before it runs, since counting invoice lines
where the shop counts orders is the commonest wrong answer a small model gives. A query that already counts the
distinct values somewhere is left as written (it may count lines on purpose, e.g. lines per order), and so are a
count over a join (which table's column it means is the model's choice), one grouped by the measure's column
(lines per customer are not customers), and a count(*) two named measures could mean. Each correction is noted in
the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from inhouse.errors import InputError

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LATIN = re.compile(r"[A-Za-z0-9_]")


@dataclass(frozen=True)
class Measure:
    table: str
    name: str
    sql: str
    words: tuple[str, ...]

    def named_in(self, question: str) -> bool:
        """Whether the question names the measure: one of its words, whole words for Latin script (order is not
        ordered), anywhere for Korean (주문 in 주문은, 주문별)."""
        text = question.casefold()
        for word in self.words:
            w = word.casefold()
            if not _LATIN.search(w):
                if w in text:
                    return True
            elif re.search(rf"(?<![a-z0-9_]){re.escape(w)}(?![a-z0-9_])", text):
                return True
        return False

    def distinct_column(self) -> str | None:
        """The column a `count(DISTINCT col)` measure counts, else None."""
        tree = sqlglot.parse_one(self.sql, read="duckdb")
        if isinstance(tree, exp.Count) and isinstance(tree.this, exp.Distinct):
            cols = tree.this.expressions
            if len(cols) == 1 and isinstance(cols[0], exp.Column):
                return cols[0].name
        return None

    def to_dict(self) -> dict:
        return {"table": self.table, "name": self.name, "sql": self.sql, "words": list(self.words)}


def parse_measure(table: str, name: str, sql: str, words: str | list[str] | tuple[str, ...],
                  columns: list[str]) -> Measure:
    """A measure checked: a plain name, one aggregate expression over `columns` of the table."""
    name = name.strip().casefold()
    if not _NAME.fullmatch(name):
        raise InputError(f"invalid measure name {name!r}: use a letter or '_' first, then letters, digits or '_'.")
    sql = sql.strip()
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as e:
        raise InputError(f"the measure's SQL does not parse ({(str(e).splitlines() or ['?'])[0]}); give one "
                         "aggregate expression, e.g. count(DISTINCT InvoiceNo).") from e
    if isinstance(tree, exp.Query) or not isinstance(tree, exp.Expression) or not list(tree.find_all(exp.AggFunc)):
        raise InputError(f"the measure {name} must be one aggregate expression (sum, count, avg …) such as "
                         f"sum(Quantity * UnitPrice), not {sql!r}.")
    known = {c.casefold(): c for c in columns}
    missing = sorted({c.name for c in tree.find_all(exp.Column) if c.name.casefold() not in known})
    if missing:
        raise InputError(f"table {table} has no column {', '.join(missing)}; columns: {', '.join(columns)}.")
    listed = [w.strip() for w in (words.split(",") if isinstance(words, str) else words) if w.strip()]
    return Measure(table, name, tree.sql(dialect="duckdb"), tuple(dict.fromkeys(listed or [name])))


def measures_text(measures: list[Measure]) -> str:
    """The measures as `analytics tables` shows them under the schema (to people; the model does not read them)."""
    if not measures:
        return ""
    lines = [f"  {m.name} = {m.sql} (over {m.table}; the question says: {', '.join(m.words)})" for m in measures]
    return "Measures the shop defines (compute them exactly so):\n" + "\n".join(lines)


def apply_measures(sql: str, question: str, measures: list[Measure]) -> tuple[str, list[str]]:
    """The query with each count of rows corrected to the distinct count of a measure the question names, and a
    note per correction; the query unchanged (and no notes) when nothing applies or it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError:
        return sql, []  # the checks before it runs say why
    if tree is None:
        return sql, []
    counts = list(tree.find_all(exp.Count))
    # Measures the question names whose distinct count the query never computes: it counted rows instead.
    wanted = [(m, c) for m in measures if (c := m.distinct_column()) is not None and m.named_in(question)
              and not any(_counts_distinct(n, c) for n in counts)]
    used: dict[str, Measure] = {}
    for count in counts:
        arg = count.this
        fits = [(m, c) for m, c in wanted
                if (isinstance(arg, exp.Star) or (isinstance(arg, exp.Column) and arg.name.casefold() == c.casefold()))
                and _single_source(count, m.table) and not _grouped_by(count, c)]
        if len(fits) == 1:  # two measures named ("customers' orders"): which one a count(*) meant is a guess
            m, column = fits[0]
            count.set("this", exp.Distinct(expressions=[exp.column(column, quoted=False)]))
            used[m.name] = m
    notes = [f"counted {m.name} as the shop defines it: {m.sql} (the query counted rows)" for m in used.values()]
    return (tree.sql(dialect="duckdb"), notes) if notes else (sql, [])


def _counts_distinct(count: exp.Count, column: str) -> bool:
    arg = count.this
    return isinstance(arg, exp.Distinct) and any(
        isinstance(c, exp.Column) and c.name.casefold() == column.casefold() for c in arg.expressions)


def _grouped_by(node: exp.Expression, column: str) -> bool:
    """Whether the SELECT around `node` groups by `column` (its distinct count would be 1 in every group: the
    query counts something else per value of it)."""
    select = node.find_ancestor(exp.Select)
    group = select.args.get("group") if select is not None else None
    return group is not None and any(c.name.casefold() == column.casefold() for c in group.find_all(exp.Column))


def _single_source(node: exp.Expression, table: str) -> bool:
    """Whether the SELECT around `node` reads `table` alone (no join, no subquery or CTE as its source)."""
    select = node.find_ancestor(exp.Select)
    if select is None or select.args.get("joins"):
        return False
    source = select.args.get("from_") or select.args.get("from")  # the key's name differs across sqlglot versions
    target = source.this if isinstance(source, exp.From) else None
    return isinstance(target, exp.Table) and target.name.casefold() == table.casefold()
