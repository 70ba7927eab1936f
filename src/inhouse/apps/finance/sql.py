"""What SQL a question may run: one read-only query over the tenant's own tables, checked with sqlglot before
DuckDB sees it.

- One statement, and a query (SELECT, WITH … SELECT, UNION …): no DDL, DML, COPY, ATTACH, PRAGMA, SET or
  anything sqlglot cannot parse.
- Tables: only the tenant's (and the query's own CTEs); no table functions (read_csv, read_parquet, glob …).
- Functions: those sqlglot knows as expressions, except any that reads or writes files, and of the ones it does
  not know (DuckDB's own), only an allow-list; getenv, current_setting and the like are refused by name.
- A row limit: the query's own LIMIT is capped, and one is added when it has none.

DuckDB itself runs the query on a read-only connection with external access (files, HTTP, extensions) switched
off and its configuration locked, so a query that slipped past these checks still could not read a file or
change the database; `run` interrupts a query that runs past its time.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from inhouse.errors import InputError

# DuckDB functions sqlglot does not model (parsed as Anonymous) that a question may use.
ALLOWED_ANONYMOUS = frozenset({
    "date_part", "datepart", "date_diff", "datediff", "date_sub", "date_add", "dayname", "monthname", "last_day",
    "make_date", "epoch", "isodow", "isoyear", "week", "weekofyear", "yearweek", "quarter", "dayofweek",
    "dayofmonth", "dayofyear", "century", "decade", "era", "millennium", "greatest", "least", "ifnull", "nullif",
    "round_even", "trunc", "sign", "mode", "median", "quantile", "quantile_cont", "quantile_disc", "arg_max",
    "arg_min", "list_aggregate", "string_agg", "group_concat", "regexp_matches", "regexp_replace",
    "regexp_extract", "strip_accents", "lpad", "rpad", "left", "right", "reverse", "contains", "starts_with",
    "ends_with", "prefix", "suffix", "bit_length", "ascii", "chr", "format", "printf", "ntile", "percent_rank",
    "cume_dist", "nth_value", "first", "last", "any_value", "bool_and", "bool_or", "product", "fsum", "favg",
    "kurtosis", "skewness", "entropy", "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept",
    "regr_r2", "histogram", "count_if", "countif", "sum_no_overflow", "isnan", "isinf", "isfinite", "gamma",
    "lgamma", "factorial", "even", "bit_count", "list_value", "array_length", "len", "strlen", "length_grapheme",
    "time_bucket", "age", "to_days", "to_months", "to_years", "to_hours", "to_minutes", "to_seconds",
})
# Expressions that read, write or reach outside the query, whatever sqlglot names them.
_IO = ("Read", "Write", "Copy", "Export", "Import", "Attach", "Detach", "Load", "Install", "Pragma")
_REFUSED_NAMES = frozenset({"getenv", "current_setting", "read_blob", "read_text", "glob", "sniff_csv",
                            "query_table", "query", "duckdb_settings", "duckdb_extensions", "pragma_database_list",
                            "sql_auto_complete", "which_secret", "read_json_objects", "parquet_scan", "csv_scan"})


def _check_table(table: exp.Table, allowed: set[str], ctes: set[str], tables: set[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise InputError(f"table functions ({table.this.sql(dialect='duckdb')[:40]}) are not allowed; query the "
                         "tenant's tables by name.")
    if table.db or table.catalog:
        raise InputError(f"{table.sql(dialect='duckdb')}: name the table without a schema or database.")
    if table.name.casefold() not in allowed | ctes:
        raise InputError(f"no table {table.name!r}; this tenant's tables: {', '.join(sorted(tables)) or 'none'}.")


def check_sql(sql: str, tables: set[str], max_rows: int = 1000) -> str:
    """The query as it will run (in DuckDB's dialect, with its row limit), or InputError saying what is refused."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except SqlglotError as e:  # parse and tokenizer errors (an unterminated string, a cut-off reply)
        raise InputError(f"the SQL does not parse ({(str(e).splitlines() or ['?'])[0]}).") from e
    if len(statements) != 1:
        raise InputError(f"one query at a time, got {len(statements)} statements.")
    root = statements[0]
    if not isinstance(root, exp.Query):
        raise InputError(f"only queries (SELECT) may run, not {root.key.upper()}.")
    for node in root.walk():
        name = type(node).__name__
        if name.startswith(_IO) or isinstance(node, (exp.Command, exp.DML, exp.DDL)):
            raise InputError(f"{name.upper()} is not allowed in a question's query.")
    allowed = {t.casefold() for t in tables}
    # Each table resolved in its own scope: a CTE's name counts only where that CTE is visible.
    try:
        scopes = traverse_scope(root)
    except SqlglotError as e:
        raise InputError(f"the SQL's structure is not understood ({(str(e).splitlines() or ['?'])[0]}).") from e
    seen = set()
    for scope in scopes:
        ctes = {name.casefold() for name in scope.cte_sources}
        for table in scope.tables:
            seen.add(id(table))
            _check_table(table, allowed, ctes, tables)
    for table in root.find_all(exp.Table):  # any the scopes did not reach: no CTE may excuse it
        if id(table) not in seen:
            _check_table(table, allowed, set(), tables)
    for func in root.find_all(exp.Func):
        fname = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).casefold()
        if fname in _REFUSED_NAMES or (isinstance(func, exp.Anonymous) and fname not in ALLOWED_ANONYMOUS):
            raise InputError(f"function {fname}() is not allowed in a question's query.")
    limit = root.args.get("limit")
    options = limit.args.get("limit_options") if isinstance(limit, exp.Limit) else None
    if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
        raise InputError("LIMIT … PERCENT and WITH TIES are not allowed; give a number of rows.")
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if not (isinstance(value, exp.Literal) and value.is_int and int(value.name) <= max_rows):
        root = root.limit(max_rows, copy=False) if limit is None else root.limit(max_rows)
    return root.sql(dialect="duckdb")
