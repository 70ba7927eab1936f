"""A tenant's tables for analytics: one DuckDB file (`home()/finance/<tenant>/tables.duckdb`, 0600) holding the
tables added from CSV/TSV (gzipped too), Parquet, JSONL or XLSX files, and their descriptions (editable; the model
will read them with the schema).

Adding a table is one transaction: the whole file lands, or nothing does (a bad row names the problem). Questions
run through `query`: the SQL checked (inhouse.apps.finance.sql), then executed on a read-only connection with
external access off and the configuration locked, stopped past its time, its rows capped.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from inhouse.apps.finance.measures import Measure, measures_text, parse_measure
from inhouse.apps.finance.sql import check_sql
from inhouse.config import load_settings, tenant_dir
from inhouse.errors import InputError, NotFoundError, StoreError
from inhouse.files import secure_dir, secure_file
from inhouse.ingest.loaders import xlsx_records

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_CATALOG = "inhouse_descriptions"  # the descriptions live beside the tables; questions cannot name it
_MEASURES = "inhouse_measures"  # the measures the shop declares (inhouse.apps.finance.measures)
_MEASURES_DDL = (f"CREATE TABLE IF NOT EXISTS {_MEASURES} (table_name VARCHAR, name VARCHAR, sql VARCHAR, "
                 "words VARCHAR, PRIMARY KEY (table_name, name))")
READER_CONFIG = {"enable_external_access": False, "lock_configuration": True, "threads": 2, "memory_limit": "2GB"}
READERS = {".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".gz": "read_csv_auto", ".parquet": "read_parquet",
           ".jsonl": "read_json_auto", ".json": "read_json_auto"}


@dataclass
class Column:
    name: str
    type: str
    description: str = ""


@dataclass
class TableInfo:
    name: str
    rows: int
    columns: list[Column]
    description: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "rows": self.rows, "description": self.description,
                "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in self.columns]}


@dataclass
class Result:
    sql: str
    columns: list[str]
    rows: list[tuple]
    truncated: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe: dates as ISO text, decimals as numbers, NaN and infinities as null, bytes as hex."""
        return {"sql": self.sql, "columns": self.columns, "rows": [[json_value(v) for v in r] for r in self.rows],
                "truncated": self.truncated, "seconds": round(self.seconds, 3)}


def json_value(v):  # noqa: ANN001, ANN201
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


class _Access:
    """Within one process DuckDB refuses a file opened twice with different settings, so the writer (adding a
    table) and the readers (questions: read-only, external access off) take turns: readers together, a writer
    alone. Another process holding the file (a CLI `add` while the server runs) is told to retry."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


_ACCESS: dict[str, _Access] = {}
_ACCESS_LOCK = threading.Lock()


def _access(path: Path) -> _Access:
    with _ACCESS_LOCK:
        return _ACCESS.setdefault(str(path.resolve()), _Access())


def _busy(e: duckdb.Error, path: Path) -> StoreError:
    return StoreError(f"{path} is busy (another process has it open: {str(e).splitlines()[0]}); try again when it "
                      "has finished.")


def check_file(file: Path) -> None:
    suffix = file.suffix.lower()
    if suffix not in READERS and suffix != ".xlsx":
        raise InputError(f"{file.name}: unsupported table file; use .csv, .tsv, .csv.gz, .parquet, .jsonl or .xlsx.")


def load_file(con: duckdb.DuckDBPyConnection, name: str, file: Path, scratch: Path) -> None:
    """`file` as DuckDB table `name` on `con`, the column types inferred by DuckDB's readers (an XLSX file's rows
    go through a CSV in `scratch` first)."""
    suffix = file.suffix.lower()
    if suffix != ".xlsx":
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {READERS[suffix]}(?)", [str(file)])
        return
    rows = [r for _, r in xlsx_records(file.read_bytes(), file.name)]
    if not rows:
        raise InputError(f"{file.name}: no rows found under a header row.")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", dir=scratch, encoding="utf-8", newline="",
                                     delete=False) as tmp:
        writer = csv.DictWriter(tmp, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv_auto(?)", [tmp.name])
    finally:
        os.unlink(tmp.name)


def table_name(name: str) -> str:
    name = name.strip().casefold()
    if not _NAME.fullmatch(name) or name in (_CATALOG, _MEASURES):
        raise InputError(f"invalid table name {name!r}: use a letter or '_' first, then letters, digits or '_' "
                         "(at most 63).")
    return name


class TableStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        secure_dir(self.path.parent)  # 0700: DuckDB's file and its WAL are this user's alone
        self._turns = _access(self.path)
        if self.path.exists():
            return
        try:
            with self._writer() as con:
                con.execute(f"CREATE TABLE IF NOT EXISTS {_CATALOG} (table_name VARCHAR, column_name VARCHAR, "
                            "description VARCHAR, PRIMARY KEY (table_name, column_name))")
                con.execute(_MEASURES_DDL)
        except duckdb.IOException as e:
            raise _busy(e, self.path) from e
        except duckdb.Error as e:
            raise StoreError(f"{self.path} is not a usable tables database ({e}). Move it aside and add the "
                             "tables again.") from e
        secure_file(self.path)

    def close(self) -> None:
        """Nothing held between calls (each opens its own DuckDB connection); PostgreSQL's store holds one."""

    @contextmanager
    def _open(self, turn, **kwargs) -> Iterator[duckdb.DuckDBPyConnection]:  # noqa: ANN001 - a turn of _Access
        with turn():
            try:
                con = duckdb.connect(str(self.path), **kwargs)
            except (duckdb.IOException, duckdb.ConnectionException) as e:
                raise _busy(e, self.path) from e
            try:
                yield con
            finally:
                con.close()

    def _writer(self):  # noqa: ANN202 - a context manager of a connection
        return self._open(self._turns.write)

    def _reader(self):  # noqa: ANN202
        # Questions: nothing written, no file or network reached, no setting changed by the query itself, and a
        # bounded share of the machine.
        return self._open(self._turns.read, read_only=True, config=READER_CONFIG)

    # ---- tables --------------------------------------------------------------------------------------------

    def add(self, file: Path, name: str | None = None, replace: bool = False, description: str = "") -> TableInfo:
        """Load `file` as table `name` (default: the file's stem) in one transaction."""
        name = table_name(name or file.name.split(".")[0])
        check_file(file)
        exists = name in {t.name for t in self.tables()}
        if exists and not replace:
            raise InputError(f"table {name} exists; pass --replace to load over it.")
        with self._writer() as con:
            try:
                con.execute("BEGIN TRANSACTION")
                con.execute(f"DROP TABLE IF EXISTS {name}")
                load_file(con, name, file, self.path.parent)
                con.execute(f"DELETE FROM {_CATALOG} WHERE table_name = ?", [name])
                con.execute(f"INSERT INTO {_CATALOG} VALUES (?, '', ?)", [name, description])
                con.execute("COMMIT")
            except duckdb.Error as e:
                con.execute("ROLLBACK")
                raise InputError(f"{file.name}: cannot be read as a table ({str(e).splitlines()[0]}); nothing was "
                                 "stored.") from e
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return self.table(name)

    def tables(self) -> list[TableInfo]:
        with self._reader() as con:
            names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name NOT IN "
                                               "(?, ?) ORDER BY table_name", [_CATALOG, _MEASURES]).fetchall()]
        return [self.table(n) for n in names]

    def table(self, name: str) -> TableInfo:
        name = table_name(name)
        with self._reader() as con:
            cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                               "ORDER BY column_index", [name]).fetchall()
            if not cols:
                raise NotFoundError(f"no table {name}; add one with `inhouse analytics add`.")
            rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            notes = dict(((c or ""), d) for c, d in con.execute(
                f"SELECT column_name, description FROM {_CATALOG} WHERE table_name = ?", [name]).fetchall())
        return TableInfo(name, rows, [Column(c, t, notes.get(c, "")) for c, t in cols], notes.get("", ""))

    def describe(self, table: str, text: str, column: str | None = None) -> TableInfo:
        """Set the description of a table (or of one of its columns)."""
        info = self.table(table)
        if column is not None and column not in {c.name for c in info.columns}:
            raise InputError(f"table {info.name} has no column {column!r}; columns: "
                             f"{', '.join(c.name for c in info.columns)}.")
        with self._writer() as con:
            con.execute(f"INSERT OR REPLACE INTO {_CATALOG} VALUES (?, ?, ?)", [info.name, column or "", text])
        return self.table(info.name)

    def schema_text(self, measures: bool = False) -> str:
        """The tables as the model reads them: names, types, row counts, descriptions; with `measures`, the shop's
        measures under them (for people: shown to the 1.5B they cost more questions than they won, so the model
        does not read them; they correct its queries instead, see inhouse.apps.finance.measures)."""
        lines = []
        for t in self.tables():
            lines.append(f"TABLE {t.name} ({t.rows} rows){' -- ' + t.description if t.description else ''}")
            lines += [f"  {c.name} {c.type}{' -- ' + c.description if c.description else ''}" for c in t.columns]
        shown = measures_text(self.measures()) if measures and lines else ""
        return "\n".join(lines + ([shown] if shown else []))

    # ---- measures ------------------------------------------------------------------------------------------

    def define_measure(self, table: str, name: str, sql: str, words: str | list[str] = "") -> Measure:
        """Declare (or redefine) measure `name` of `table`: checked, then run once over the table."""
        info = self.table(table)
        measure = parse_measure(info.name, name, sql, words, [c.name for c in info.columns])
        self.query(f'SELECT {measure.sql} AS "{measure.name}" FROM {info.name}', max_rows=1)  # it runs, read-only
        self._save_measure(measure)
        return measure

    def _save_measure(self, m: Measure) -> None:
        with self._writer() as con:
            con.execute(_MEASURES_DDL)  # a file made before measures existed
            con.execute(f"INSERT OR REPLACE INTO {_MEASURES} VALUES (?, ?, ?, ?)",
                        [m.table, m.name, m.sql, ",".join(m.words)])

    def drop_measure(self, table: str, name: str) -> None:
        found = [m for m in self.measures() if m.table == table_name(table) and m.name == name.strip().casefold()]
        if not found:
            raise NotFoundError(f"table {table_name(table)} has no measure {name!r}; see `inhouse analytics "
                                "tables`.")
        with self._writer() as con:
            con.execute(f"DELETE FROM {_MEASURES} WHERE table_name = ? AND name = ?", [found[0].table, found[0].name])

    def measures(self) -> list[Measure]:
        with self._reader() as con:
            if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [_MEASURES]).fetchone():
                return []
            rows = con.execute(f"SELECT table_name, name, sql, words FROM {_MEASURES} ORDER BY table_name, name"
                               ).fetchall()
        return [Measure(t, n, q, tuple(w.split(","))) for t, n, q, w in rows]

    # Text columns with at most this many distinct values (names, codes, countries; not ids of every row or
    # invoice) are searched for values a question names.
    VALUE_COLUMNS_MAX = 5_000

    def named_values(self, question: str, most: int = 8) -> list[tuple[str, str, str]]:
        """(table, column, value) for the values of text columns that the question names as they are stored
        (case aside): "WHITE HANGING HEART T-LIGHT HOLDER", "France", "85123A". The longest first; a value
        inside a longer one that matched (HOLDER in … T-LIGHT HOLDER) is left out. Distinct values are read
        once per table version."""
        text = question.casefold()
        found: list[tuple[str, str, str]] = []
        for t in self.tables():
            for c in t.columns:
                if not c.type.upper().startswith(("VARCHAR", "TEXT", "STRING")):
                    continue
                for value in self._distinct(t, c.name):
                    if len(value) >= 3 and value.casefold() in text:
                        found.append((t.name, c.name, value))
        found.sort(key=lambda f: -len(f[2].strip()))
        kept: list[tuple[str, str, str]] = []
        for f in found:
            if not any(f[2].strip().casefold() in k[2].casefold() for k in kept):
                kept.append(f)
        return kept[:most]

    def _distinct(self, table: TableInfo, column: str) -> list[str]:
        key = (table.name, column, table.rows, self.path.stat().st_mtime_ns)
        cache = self.__dict__.setdefault("_values", {})
        if key not in cache:
            with self._reader() as con:
                n = con.execute(f'SELECT approx_count_distinct("{column}") FROM "{table.name}"').fetchone()[0]
                cache[key] = [] if n > self.VALUE_COLUMNS_MAX else [
                    v for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{table.name}" '
                                              f'WHERE "{column}" IS NOT NULL').fetchall()]
        return cache[key]

    # ---- questions -----------------------------------------------------------------------------------------

    def query(self, sql: str, max_rows: int = 1000, timeout_s: float = 10.0) -> Result:
        """Run one checked, read-only query; at most `max_rows` rows, stopped after `timeout_s` seconds."""
        names = {t.name for t in self.tables()}
        checked = check_sql(sql, names, max_rows + 1)
        t0 = time.perf_counter()
        with self._reader() as con:
            timer = threading.Timer(timeout_s, con.interrupt)
            timer.start()
            try:
                cur = con.execute(checked)
                rows = cur.fetchall()
                columns = [d[0] for d in cur.description]
            except duckdb.InterruptException as e:
                raise InputError(f"the query ran past {timeout_s:g} s and was stopped; narrow it.") from e
            except duckdb.Error as e:
                raise InputError(f"the query failed: {str(e).splitlines()[0]}") from e
            finally:
                timer.cancel()
        truncated = len(rows) > max_rows
        return Result(checked, columns, rows[:max_rows], truncated, time.perf_counter() - t0)


def open_tables(tenant: str, create: bool = False, base: Path | None = None,
                url: str | None = None) -> TableStore:
    """The tenant's tables: `home()/finance/<tenant>/tables.duckdb` (under `base` if given), or with a PostgreSQL
    `url` (default: the `database_url` setting) its schema `analytics_<tenant>`, shared by every replica."""
    path = tenant_dir("finance", tenant, base) / "tables.duckdb"  # checks the name
    url = (load_settings(base).database_url if url is None else url).strip()
    if url:
        from inhouse.apps.finance.pgtables import PgTableStore
        from inhouse.dbfile import namespace
        from inhouse.store.postgres import has_table

        ns = namespace("analytics", tenant)
        if not create:
            if not has_table(url, ns, "inhouse_tables"):
                raise NotFoundError(f"tenant {tenant} has no tables in PostgreSQL; add one with "
                                    f"`inhouse analytics add --tenant {tenant} FILE`.")
        return PgTableStore(url, ns)
    if not create and not path.exists():
        raise NotFoundError(f"tenant {tenant} has no tables; add one with "
                            f"`inhouse analytics add --tenant {tenant} FILE`.")
    return TableStore(path)
