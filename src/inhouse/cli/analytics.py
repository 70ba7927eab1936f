"""`inhouse analytics …`: a tenant's tables for questions about sales; SQL checked and run read-only."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from inhouse.apps.finance import analyses as A
from inhouse.apps.finance.analyses import PERIODS
from inhouse.apps.finance.ask import SqlAsker
from inhouse.apps.finance.chart import chart_svg
from inhouse.apps.finance.tables import Result, open_tables
from inhouse.cli.common import emit_json, err, out, principal_options
from inhouse.config import load_settings
from inhouse.errors import InputError
from inhouse.files import atomic_write
from inhouse.models.embedders import load_embedder
from inhouse.models.registry import Registry
from inhouse.retrieve import lookup
from inhouse.store import has_store, open_store
from inhouse.types import Principal


def _cell(v) -> Text:  # noqa: ANN001 - data is shown as text, never read as markup
    return Text(f"{v:,.2f}" if isinstance(v, float) else str(v))


def _tenant(f):
    return click.option("--tenant", required=True, help="whose tables these are")(f)


def _json(f):
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")(f)


@click.group("analytics")
def analytics() -> None:
    """Questions about a tenant's own tables (sales, orders): numbers computed, never generated."""


@analytics.command("add")
@_tenant
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="the table's name (default: the file's name)")
@click.option("--describe", "description", default="", help="what the table holds (the model reads it)")
@click.option("--replace", is_flag=True, help="load over a table of the same name")
@_json
def add(tenant: str, file: Path, name: str | None, description: str, replace: bool, as_json: bool) -> None:
    """Add FILE (CSV/TSV, gzipped too, Parquet, JSONL, XLSX) as a table, in one transaction."""
    store = open_tables(tenant, create=True)
    info = store.add(file, name, replace, description)
    if as_json:
        emit_json({"tenant": tenant, **info.to_dict()})
        return
    out.print(f"table {info.name}: {info.rows:,} rows, {len(info.columns)} columns "
              f"({', '.join(f'{c.name} {c.type}' for c in info.columns)})", highlight=False)


@analytics.command("tables")
@_tenant
@_json
def tables(tenant: str, as_json: bool) -> None:
    """The tenant's tables with their columns and descriptions."""
    store = open_tables(tenant)
    if as_json:
        emit_json({"tenant": tenant, "tables": [t.to_dict() for t in store.tables()],
                   "measures": [m.to_dict() for m in store.measures()]})
        return
    out.print(store.schema_text(measures=True), highlight=False)


@analytics.command("measure")
@_tenant
@click.argument("table")
@click.argument("name")
@click.argument("sql", required=False)
@click.option("--words", default="", help="comma-separated words a question uses for it (default: its name), "
                                         "e.g. 'orders,order,주문'")
@click.option("--drop", is_flag=True, help="remove the measure instead")
@_json
def measure(tenant: str, table: str, name: str, sql: str | None, words: str, drop: bool, as_json: bool) -> None:
    """Declare what NAME means over TABLE as one aggregate SQL expression, e.g. orders as
    "count(DISTINCT InvoiceNo)": the model reads it, and a question naming a distinct-count measure gets its
    count of rows corrected before the query runs."""
    store = open_tables(tenant)
    if drop:
        store.drop_measure(table, name)
        if as_json:
            emit_json({"tenant": tenant, "dropped": name})
        else:
            out.print(f"measure {name} of {table} removed", highlight=False)
        return
    if not sql:
        raise InputError("give the measure's SQL, e.g. inhouse analytics measure --tenant T retail orders "
                         "\"count(DISTINCT InvoiceNo)\" --words orders,주문; or --drop to remove it.")
    m = store.define_measure(table, name, sql, words)
    if as_json:
        emit_json({"tenant": tenant, **m.to_dict()})
        return
    out.print(f"{m.table}.{m.name} = {m.sql} (words: {', '.join(m.words)})", highlight=False)


@analytics.command("describe")
@_tenant
@click.argument("table")
@click.argument("text")
@click.option("--column", default=None, help="describe this column instead of the table")
def describe(tenant: str, table: str, text: str, column: str | None) -> None:
    """Set what TABLE (or one of its columns) holds, in words the model will read."""
    info = open_tables(tenant).describe(table, text, column)
    out.print(f"{info.name}{'.' + column if column else ''}: {text}", highlight=False)


@analytics.command("sql")
@_tenant
@click.argument("query")
@click.option("--max-rows", type=int, default=1000, show_default=True)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="seconds")
@_json
def sql(tenant: str, query: str, max_rows: int, timeout: float, as_json: bool) -> None:
    """Run one read-only query over the tenant's tables (checked first: one SELECT, their tables, no file
    access)."""
    result = open_tables(tenant).query(query, max_rows, timeout)
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)
    out.print(f"[dim]{len(result.rows)} row(s){' (cut)' if result.truncated else ''}, {result.seconds:.2f} s[/dim]")


@analytics.command("ask")
@principal_options
@click.argument("question")
@click.option("--model", default=None, help="registered model that writes the SQL (default: the default model)")
@click.option("--narrate", is_flag=True, help="also a narrative of the result, every number checked against it")
@click.option("--documents/--no-documents", default=True, show_default=True,
              help="with --narrate: suggestions may cite the tenant's documents the user may read (policies)")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the result as an SVG chart to this file")
@_json
def ask(principal: Principal, question: str, model: str | None, narrate: bool, documents: bool, chart: Path | None,
        as_json: bool) -> None:
    """Answer QUESTION (Korean or English) over the tenant's tables: the local model writes one query, which is
    checked and run read-only; the numbers come from the result. With --narrate, a narrative whose every number is
    checked; its suggestions may cite the tenant's documents (each cited sentence checked against its passage)."""
    tenant = principal.tenant
    store = open_tables(tenant)
    settings = load_settings()
    chat = Registry().choose(settings, model, "", tenant).chat(settings)
    kb = open_store() if narrate and documents and has_store() else None  # no knowledge base: the result alone

    def find(query: str) -> list:
        """The reader's passages for the narrative (asked once, when one is written: the embedder loads then)."""
        return lookup(kb, principal, settings, load_embedder(settings.embedder), k=3)(query)

    try:
        answer = SqlAsker(chat, store, documents=find if kb is not None else None).ask(question,
                                                                                      narrate_result=narrate)
    finally:
        if kb is not None:
            kb.close()
    if chart is not None and answer.result is not None:
        svg = chart_svg(answer.result, question)
        if svg is None:
            err.print("[yellow]no chart: the result has no numeric column or a single row[/yellow]")
        else:
            atomic_write(chart, lambda f: f.write(svg.encode("utf-8")))
    if as_json:
        emit_json({"tenant": tenant, "model": chat.name, **answer.to_dict()})
        return
    for a in answer.attempts:
        why = f"refused: {escape(a.error)}" if a.error else "returned no rows" if a.empty else ""
        out.print(f"[dim]{escape(a.sql)}[/dim]" + (f"\n[yellow]{why}[/yellow]" if why else ""), highlight=False)
    if answer.result is None:
        raise InputError(f"no query for this question ran: {answer.attempts[-1].error}")
    table = Table(*answer.result.columns)
    for row in answer.result.rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)
    if answer.narrative is not None:
        out.print(Text(answer.narrative.text))
        for suggestion in answer.narrative.suggestions:
            out.print(Text(suggestion, style="cyan"))
        for c in answer.narrative.citations:
            out.print(Text(f"[{c.n}] {c.doc_path}" + (f" › {c.heading}" if c.heading else "") + f": {c.snippet[:200]}",
                           style="dim"))
        for s in answer.narrative.sentences:
            if not s.kept:
                out.print(Text(f"removed: {s.text} — {'; '.join(s.reasons)}", style="dim"))


@analytics.command("analyse")
@_tenant
@click.argument("kind", type=click.Choice(["period", "movers", "rfm", "pairs", "changes"]))
@click.option("--table", required=True)
@click.option("--date", "date_col", required=True, help="the date column")
@click.option("--amount", required=True, help="the amount, an expression over the columns (e.g. Quantity*UnitPrice)")
@click.option("--order", "order_col", default="", help="the order column (rfm, pairs)")
@click.option("--customer", default="", help="the customer column (rfm)")
@click.option("--item", default="", help="the item column (pairs)")
@click.option("--by", default=None, help="the dimension (period, movers)")
@click.option("--current", default=None, help="the period's first day, YYYY-MM-DD (period, movers)")
@click.option("--previous", default=None, help="the period compared with (period, movers)")
@click.option("--period", default=None, type=click.Choice(list(PERIODS)),
              help="period, movers: month by default; changes: week by default")
@click.option("--as-of", default=None, help="YYYY-MM-DD (rfm)")
@click.option("--since", default="", help="YYYY-MM-DD (pairs)")
@click.option("--rank", default="orders", type=click.Choice(["orders", "lift"]), help="pairs: by orders or lift")
@click.option("--where", default="", help="an SQL condition on the rows (changes)")
@_json
def analyse(tenant: str, kind: str, table: str, date_col: str, amount: str, order_col: str, customer: str,
            item: str, by: str | None, current: str | None, previous: str | None, period: str | None,
            as_of: str | None, since: str, rank: str, where: str, as_json: bool) -> None:
    """A ready-made analysis: period over period by a dimension, top movers, RFM segments, items bought together,
    or change points of the amount over time; the numbers come from DuckDB."""
    store = open_tables(tenant)
    roles = A.Roles(table, date_col, amount, order_col, customer, item)
    roles.check(store)
    need = {"period": ("by", "current", "previous"), "movers": ("by", "current", "previous"), "rfm": ("as_of",)}
    given = {"by": by, "current": current, "previous": previous, "as_of": as_of}
    missing = [f"--{n.replace('_', '-')}" for n in need.get(kind, ()) if not given[n]]
    if missing:
        raise InputError(f"{kind} needs {', '.join(missing)}.")
    period = period or ("week" if kind == "changes" else "month")
    results: list[tuple[str, Result]] = []
    extra: dict = {}
    if kind == "period":
        results.append(("", A.period_over_period(store, roles, by, current, previous, period)))
    elif kind == "movers":
        up, down = A.top_movers(store, roles, by, current, previous, period)
        results += [("rose most", up), ("fell most", down)]
    elif kind == "rfm":
        results.append(("", A.rfm(store, roles, as_of)))
    elif kind == "pairs":
        results.append(("", A.basket_pairs(store, roles, since=since, rank=rank)))
    else:
        series, points = A.change_points(store, roles, period, where)
        results.append(("", series))
        extra["change_points"] = points
    if as_json:
        emit_json({"kind": kind, "results": [{"title": t, **r.to_dict()} for t, r in results], **extra})
        return
    for title, r in results:
        table_out = Table(*r.columns, title=title or None)
        for row in r.rows:
            table_out.add_row(*(_cell(v) for v in row))
        out.print(table_out)
    if "change_points" in extra:
        out.print(f"change points: {', '.join(extra['change_points']) or 'none'}")
