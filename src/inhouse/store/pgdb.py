"""A small PostgreSQL database behind the same calls as a private SQLite file (`transaction()`, `query()`), for
the stores written for sqlite3: the server's keys and audit (`server/db.py`), a shop's orders (`dbfile.py`).

Statements keep sqlite3's `?` placeholders (`PgStatements` rewrites them). One connection per object,
serialised by a lock; a connection found dead when a transaction begins is replaced before anything is
written (a server restart costs no write), a lost one is a StoreError naming the server and the next call
reconnects. With `namespace`, every table lives in that PostgreSQL schema (one per shop), created on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from inhouse.errors import StoreError


def append_only(table: str) -> str:
    """SQL making `table` append-only: an UPDATE, DELETE or TRUNCATE raises (an audit log)."""
    return f"""
CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the {table} log is append-only';
END $$;
CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW
    EXECUTE FUNCTION {table}_append_only();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT
    EXECUTE FUNCTION {table}_append_only();
"""


class PgStatements:
    """A psycopg connection speaking the statements written for sqlite3 (`?` placeholders)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, args: tuple | list = ()) -> Any:
        return self.conn.execute(self._sql(sql), args)

    def executemany(self, sql: str, rows: list) -> None:
        if rows:
            self.conn.cursor().executemany(self._sql(sql), rows)


class PgDatabase:
    """`migrations` (numbered (name, SQL) steps, recorded in `table`) are applied once, under an advisory lock,
    so processes starting together do not race."""

    def __init__(self, url: str, migrations: Sequence[tuple[str, str]], table: str,
                 namespace: str | None = None) -> None:
        import psycopg

        from inhouse.store.postgres import connect, describe, migrate

        self.url, self.location, self.namespace = url, describe(url), namespace
        self._lock = threading.RLock()
        self._connect = connect
        self.conn = connect(url)
        try:
            self._open(self.conn)
            migrate(self.conn, migrations, table=table, lock=f"{namespace or ''}.{table}")
        except psycopg.Error as e:
            self.conn.close()
            raise StoreError(f"cannot prepare {namespace or 'the database'} at {self.location} "
                             f"({str(e).strip()[:200]}).") from e

    def _open(self, conn: Any) -> Any:
        if self.namespace:
            import psycopg

            name = psycopg.sql.Identifier(self.namespace)
            if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.namespace,)).fetchone():
                with conn.transaction():  # two first uses at once: one creates it, the other waits and finds it
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("schema:" + self.namespace,))
                    conn.execute(psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(name))
        return conn

    def _live(self) -> Any:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = self._open(self._connect(self.url, 10, retry_s=5.0))  # a restart takes about a second
        return self.conn

    def _lost(self, e: Exception) -> StoreError:
        self.conn.close()
        return StoreError(f"the connection to PostgreSQL at {self.location} failed ({str(e).strip()[:200]}); "
                          "the next request reconnects.")

    @contextmanager
    def transaction(self, exclusive: bool = False) -> Iterator[PgStatements]:
        """One transaction: any exception rolls the whole change back. `exclusive`: one such transaction at a time
        on this namespace in the whole deployment (as SQLite's BEGIN IMMEDIATE: read, check, write, with no
        other writer in between)."""
        import psycopg

        with self._lock:
            for attempt in (1, 2):  # a connection found dead before anything is written is replaced once
                conn = self._live()
                begun = ExitStack()
                try:
                    begun.enter_context(conn.transaction())
                    conn.execute("SELECT 1")
                    if exclusive:
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("write:" + (self.namespace or ""),))
                    break
                except psycopg.OperationalError as e:
                    with suppress(Exception):
                        begun.close()
                    err = self._lost(e)
                    if attempt == 2:
                        raise err from e
            try:
                with begun:
                    yield PgStatements(conn)
            except psycopg.OperationalError as e:
                if not (conn.closed or conn.broken):
                    raise  # the statement failed, not the connection: a timeout, a deadlock
                raise self._lost(e) from e

    def query(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """Rows of one statement; a lost connection is replaced and the statement tried once more (outside a
        transaction only: inside one, the transaction's own connection answers)."""
        import psycopg

        with self._lock:
            inside = self.conn is not None and not self.conn.closed and \
                self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
            for attempt in (1, 2):
                conn = self._live()
                try:
                    return PgStatements(conn).execute(sql, args).fetchall()
                except psycopg.OperationalError as e:
                    if not (conn.closed or conn.broken):
                        raise
                    err = self._lost(e)
                    if attempt == 2 or inside:
                        raise err from e
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()
