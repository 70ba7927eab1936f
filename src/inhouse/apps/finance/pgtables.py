"""A tenant's analytics tables in PostgreSQL (with the `database_url` setting): one schema per tenant
(`analytics_<tenant>`), shared by every server replica, behind the same calls as the DuckDB file
(`inhouse.apps.finance.tables.TableStore`).

Adding a table: the file is read by DuckDB's own readers (the same types inferred as for the DuckDB store), then
copied into PostgreSQL in one transaction with its column descriptions; the DuckDB types are kept beside it, so
the model reads the same schema on both backends and keeps writing DuckDB's dialect. A question's query is
checked exactly as for DuckDB (inhouse.apps.finance.sql), translated to PostgreSQL's dialect by sqlglot, and run
in a READ ONLY transaction with a statement timeout and the tenant's schema as the only search path (the checks
already refuse schema-qualified names, table functions and functions outside the allow-list).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from inhouse.apps.finance.measures import Measure
from inhouse.apps.finance.sql import check_sql
from inhouse.apps.finance.tables import Column, Result, TableInfo, TableStore, check_file, load_file, table_name
from inhouse.errors import InputError, NotFoundError

_CATALOG = "inhouse_columns"  # a column's DuckDB type and description ('' column: the table's own)
SCHEMA = [("001_analytics", f"""
CREATE TABLE {_CATALOG} (
    table_name  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    position    INTEGER NOT NULL,
    duck_type   TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (table_name, column_name)
);
CREATE TABLE inhouse_tables (name TEXT PRIMARY KEY, rows BIGINT NOT NULL, version BIGINT NOT NULL);
-- DuckDB rounds doubles to a number of places; PostgreSQL only numerics. Found through the search path.
CREATE FUNCTION round(double precision, integer) RETURNS double precision LANGUAGE SQL IMMUTABLE
    AS 'SELECT round($1::numeric, $2)::double precision';
"""), ("002_date_parts", """
-- DuckDB's date-part functions as sqlglot writes them for PostgreSQL (which lacks them), with DuckDB's results:
-- BIGINT parts, ISO weeks, Sunday = 0 in day_of_week, English day and month names.
CREATE FUNCTION quarter(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(quarter FROM $1)::bigint';
CREATE FUNCTION hour(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(hour FROM $1)::bigint';
CREATE FUNCTION minute(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(minute FROM $1)::bigint';
CREATE FUNCTION day_of_week(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(dow FROM $1)::bigint';
CREATE FUNCTION dayofweek_iso(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE
    AS 'SELECT extract(isodow FROM $1)::bigint';
CREATE FUNCTION day_of_year(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(doy FROM $1)::bigint';
CREATE FUNCTION week(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(week FROM $1)::bigint';
CREATE FUNCTION week_of_year(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(week FROM $1)::bigint';
CREATE FUNCTION isoyear(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE AS 'SELECT extract(isoyear FROM $1)::bigint';
CREATE FUNCTION yearweek(timestamp) RETURNS bigint LANGUAGE SQL IMMUTABLE
    AS 'SELECT (extract(isoyear FROM $1) * 100 + extract(week FROM $1))::bigint';
CREATE FUNCTION dayname(timestamp) RETURNS text LANGUAGE SQL IMMUTABLE AS 'SELECT to_char($1, ''FMDay'')';
CREATE FUNCTION monthname(timestamp) RETURNS text LANGUAGE SQL IMMUTABLE AS 'SELECT to_char($1, ''FMMonth'')';
"""), ("003_measures", """
CREATE TABLE inhouse_measures (
    table_name TEXT NOT NULL,
    name       TEXT NOT NULL,
    sql        TEXT NOT NULL,
    words      TEXT NOT NULL,
    PRIMARY KEY (table_name, name)
);
""")]


def pg_type(duck: str) -> str:
    """The PostgreSQL column type for a DuckDB one (anything else is stored as its text)."""
    t = duck.upper()
    if t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"):
        return "NUMERIC" if t == "UBIGINT" else "BIGINT"
    if t in ("HUGEINT", "UHUGEINT") or t.startswith("DECIMAL"):
        return t.replace("HUGEINT", "NUMERIC").replace("UNUMERIC", "NUMERIC").replace("DECIMAL", "NUMERIC")
    return {"DOUBLE": "DOUBLE PRECISION", "FLOAT": "REAL", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
            "TIMESTAMP": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "TIME": "TIME",
            "VARCHAR": "TEXT", "INTERVAL": "INTERVAL"}.get(t, "TEXT")


def to_postgres(sql: str, columns: Iterable[str] = ()) -> str:
    """A checked DuckDB query in PostgreSQL's dialect. DuckDB matches names whatever their case and PostgreSQL
    folds unquoted ones to lower case, so a name that is one of the tables' `columns` (case aside) is written as
    that column, quoted; the others (tables, CTEs, aliases) fold alike everywhere. GROUP BY ALL (every selected
    column that aggregates nothing) and ORDER BY ALL (every selected column, left to right) are spelt out:
    PostgreSQL reads ALL there as a grouping-set keyword, and not at all in ORDER BY."""
    root = sqlglot.parse_one(sql, read="duckdb")
    actual = {c.casefold(): c for c in columns}
    for ident in root.find_all(exp.Identifier):
        name = actual.get(ident.name.casefold())
        if name is not None:
            ident.set("this", name)
            ident.set("quoted", True)
    for select in root.find_all(exp.Select):
        group = select.args.get("group")
        if isinstance(group, exp.Group) and group.args.get("all"):
            keys = [exp.Literal.number(i) for i, e in enumerate(select.expressions, start=1)
                    if not e.find(exp.AggFunc) and not e.find(exp.Window)]
            select.set("group", exp.Group(expressions=keys) if keys else None)
        order = select.args.get("order")
        if isinstance(order, exp.Order) and len(order.expressions) == 1 and \
                isinstance(order.expressions[0].this, exp.Var) and order.expressions[0].this.name.upper() == "ALL":
            how = order.expressions[0]
            order.set("expressions", [exp.Ordered(this=exp.Literal.number(i), desc=how.args.get("desc"),
                                                  nulls_first=how.args.get("nulls_first"))
                                      for i in range(1, len(select.expressions) + 1)])
    return root.sql(dialect="postgres")


class PgTableStore(TableStore):
    """The tenant's tables in the PostgreSQL schema `namespace`."""

    # Memory for one query's sorts and hash tables (PostgreSQL's default, 4 MB, sends a basket self-join to disk).
    WORK_MEM = "256MB"

    def __init__(self, url: str, namespace: str) -> None:  # noqa: D107 - no DuckDB file here
        from inhouse.store.pgdb import PgDatabase

        self.db = PgDatabase(url, SCHEMA, "migrations", namespace)
        self.namespace = namespace
        self.path = Path(f"postgresql/{namespace}")  # for messages only

    def close(self) -> None:
        self.db.close()

    # ---- tables --------------------------------------------------------------------------------------------

    def add(self, file: Path, name: str | None = None, replace: bool = False, description: str = "") -> TableInfo:
        name = table_name(name or file.name.split(".")[0])
        check_file(file)
        with tempfile.TemporaryDirectory(prefix="inhouse-table-") as scratch:
            con = duckdb.connect()
            try:
                try:
                    load_file(con, name, file, Path(scratch))
                except duckdb.Error as e:
                    raise InputError(f"{file.name}: cannot be read as a table ({str(e).splitlines()[0]}); nothing "
                                     "was stored.") from e
                types = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                                    "ORDER BY column_index", [name]).fetchall()
                self._store(con, name, types, replace, description, file.name)
            finally:
                con.close()
        return self.table(name)

    def _store(self, con: duckdb.DuckDBPyConnection, name: str, types: list[tuple[str, str]], replace: bool,
               description: str, source: str) -> None:
        import psycopg

        columns = psycopg.sql.SQL(", ").join(
            psycopg.sql.SQL("{} {}").format(psycopg.sql.Identifier(c), psycopg.sql.SQL(pg_type(t))) for c, t in types)
        ident = psycopg.sql.Identifier(name)
        text_cols = [i for i, (_, t) in enumerate(types) if pg_type(t) == "TEXT" and t.upper() != "VARCHAR"]
        with self.db.transaction() as c:
            conn = c.conn
            exists = conn.execute("SELECT 1 FROM inhouse_tables WHERE name = %s", (name,)).fetchone()
            if exists and not replace:
                raise InputError(f"table {name} exists; pass --replace to load over it.")
            conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
            conn.execute(psycopg.sql.SQL("CREATE TABLE {} ({})").format(ident, columns))
            cur = con.execute(f"SELECT * FROM {name}")
            rows = 0
            try:
                with conn.cursor().copy(psycopg.sql.SQL("COPY {} FROM STDIN").format(ident)) as copy:
                    while batch := cur.fetchmany(10_000):
                        for row in batch:
                            copy.write_row([str(v) if i in text_cols and v is not None else v
                                            for i, v in enumerate(row)])
                        rows += len(batch)
            except psycopg.DataError as e:
                raise InputError(f"{source}: a value does not fit its column in PostgreSQL ({str(e).strip()[:200]});"
                                 " nothing was stored.") from e
            conn.execute(f"DELETE FROM {_CATALOG} WHERE table_name = %s", (name,))
            conn.cursor().executemany(f"INSERT INTO {_CATALOG} VALUES (%s, %s, %s, %s, %s)",
                                      [(name, "", -1, "", description)]
                                      + [(name, col, i, t, "") for i, (col, t) in enumerate(types)])
            conn.execute("INSERT INTO inhouse_tables VALUES (%s, %s, 1) ON CONFLICT (name) DO UPDATE SET "
                         "rows = excluded.rows, version = inhouse_tables.version + 1", (name, rows))

    def tables(self) -> list[TableInfo]:
        names = [n for (n,) in self.db.query("SELECT name FROM inhouse_tables ORDER BY name")]
        return [self.table(n) for n in names]

    def table(self, name: str) -> TableInfo:
        name = table_name(name)
        found = self.db.query("SELECT rows FROM inhouse_tables WHERE name = ?", (name,))
        if not found:
            raise NotFoundError(f"no table {name}; add one with `inhouse analytics add`.")
        cols = self.db.query(f"SELECT column_name, duck_type, description FROM {_CATALOG} WHERE table_name = ? "
                             "ORDER BY position", (name,))
        return TableInfo(name, int(found[0][0]), [Column(c, t, d) for c, t, d in cols if t],
                         next((d for c, t, d in cols if not t), ""))

    def describe(self, table: str, text: str, column: str | None = None) -> TableInfo:
        info = self.table(table)
        if column is not None and column not in {c.name for c in info.columns}:
            raise InputError(f"table {info.name} has no column {column!r}; columns: "
                             f"{', '.join(c.name for c in info.columns)}.")
        with self.db.transaction() as c:
            c.execute(f"UPDATE {_CATALOG} SET description = ? WHERE table_name = ? AND column_name = ?",
                      (text, info.name, column or ""))
        return self.table(info.name)

    def _save_measure(self, m: Measure) -> None:
        with self.db.transaction() as c:
            c.execute("INSERT INTO inhouse_measures VALUES (?, ?, ?, ?) ON CONFLICT (table_name, name) DO UPDATE "
                      "SET sql = excluded.sql, words = excluded.words", (m.table, m.name, m.sql, ",".join(m.words)))

    def drop_measure(self, table: str, name: str) -> None:
        with self.db.transaction() as c:
            gone = c.execute("DELETE FROM inhouse_measures WHERE table_name = ? AND name = ?",
                             (table_name(table), name.strip().casefold())).rowcount
        if not gone:
            raise NotFoundError(f"table {table_name(table)} has no measure {name!r}; see `inhouse analytics "
                                "tables`.")

    def measures(self) -> list[Measure]:
        rows = self.db.query("SELECT table_name, name, sql, words FROM inhouse_measures ORDER BY table_name, name")
        return [Measure(t, n, q, tuple(w.split(","))) for t, n, q, w in rows]

    def _distinct(self, table: TableInfo, column: str) -> list[str]:
        import psycopg

        version = self.db.query("SELECT version FROM inhouse_tables WHERE name = ?", (table.name,))
        key = (table.name, column, version[0][0] if version else 0)
        cache = self.__dict__.setdefault("_values", {})
        if key not in cache:
            ident, col = psycopg.sql.Identifier(table.name), psycopg.sql.Identifier(column)
            with self.db.transaction() as c:
                n = c.conn.execute(psycopg.sql.SQL("SELECT count(*) FROM (SELECT DISTINCT {} FROM {} LIMIT {}) d")
                                   .format(col, ident, self.VALUE_COLUMNS_MAX + 1)).fetchone()[0]
                cache[key] = [] if n > self.VALUE_COLUMNS_MAX else [
                    v for (v,) in c.conn.execute(psycopg.sql.SQL("SELECT DISTINCT {} FROM {} WHERE {} IS NOT NULL")
                                                 .format(col, ident, col)).fetchall()]
        return cache[key]

    # ---- questions -----------------------------------------------------------------------------------------

    def query(self, sql: str, max_rows: int = 1000, timeout_s: float = 10.0) -> Result:
        """Checked as for DuckDB, translated to PostgreSQL, run read-only; at most `max_rows` rows."""
        import psycopg

        names = {t for (t,) in self.db.query("SELECT name FROM inhouse_tables")}
        checked = check_sql(sql, names, max_rows + 1)
        columns = [c for (c,) in self.db.query(f"SELECT column_name FROM {_CATALOG} WHERE column_name != ''")]
        try:
            translated = to_postgres(checked, columns)
        except SqlglotError as e:
            raise InputError(f"the query cannot be run on PostgreSQL ({(str(e).splitlines() or ['?'])[0]}).") from e
        t0 = time.perf_counter()
        try:
            with self.db.transaction() as c:
                c.conn.execute("SET TRANSACTION READ ONLY")
                c.conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
                c.conn.execute(f"SET LOCAL work_mem = '{self.WORK_MEM}'")
                cur = c.conn.execute(translated)
                rows = cur.fetchall()
                columns = [d.name for d in cur.description]
        except psycopg.errors.QueryCanceled as e:
            raise InputError(f"the query ran past {timeout_s:g} s and was stopped; narrow it.") from e
        except psycopg.Error as e:
            raise InputError(f"the query failed: {(str(e).strip().splitlines() or ['?'])[0]}") from e
        truncated = len(rows) > max_rows
        return Result(translated, columns, rows[:max_rows], truncated, time.perf_counter() - t0)
