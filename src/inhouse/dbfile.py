"""A private database for one store of its own (a shop's orders or reviews, the consortium's contributions): one
connection, serialised by a lock, transactions that commit whole or roll back whole.

SQLite by default: a file readable by this user only, foreign keys on, WAL. A store that also names its
`PG_SCHEMA` can live in PostgreSQL instead (`DBFile.on_postgres(url, namespace)`: its tables in a PostgreSQL
schema of its own, e.g. one per shop), so that server replicas on several machines share it; the same
statements run on both (`inhouse.store.pgdb`)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inhouse.errors import StoreError
from inhouse.files import private_db


class DBFile:
    """A subclass names its `SCHEMA` (and `PG_SCHEMA` for PostgreSQL), what it is (`WHAT`) and how to rebuild it
    (`REBUILD`), for the error a damaged file gives."""

    SCHEMA = ""
    PG_SCHEMA = ""
    WHAT = "database"
    REBUILD = ""

    def __init__(self, path: Path | str) -> None:
        self.path: Path | None = Path(path)
        self.location = str(path)
        self._pg = None
        self.integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
        memory = str(path) == ":memory:"
        if not memory:
            private_db(self.path)
        try:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = ON")
            if not memory:
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.executescript(self.SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable {self.WHAT} ({e}). Move it aside and {self.REBUILD}.") from e
        self._lock = threading.RLock()

    @classmethod
    def on_postgres(cls, url: str, namespace: str) -> Any:
        """This store with its tables in the PostgreSQL schema `namespace` (created, with `PG_SCHEMA`, on first
        use)."""
        import psycopg

        from inhouse.store.pgdb import PgDatabase

        if not cls.PG_SCHEMA:
            raise StoreError(f"the {cls.WHAT} has no PostgreSQL form yet; unset database_url to keep it in SQLite.")
        self = cls.__new__(cls)
        self._pg = PgDatabase(url, [(f"001_{cls.__name__.lower()}", cls.PG_SCHEMA)], "migrations", namespace)
        self.path, self._conn, self._lock = None, None, self._pg._lock
        self.location = f"schema {namespace} of PostgreSQL at {self._pg.location}"
        self.integrity_errors = (psycopg.IntegrityError,)
        return self

    def close(self) -> None:
        (self._pg or self._conn).close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN IMMEDIATE … COMMIT; any exception rolls the whole change back."""
        if self._pg is not None:
            with self._pg.transaction(exclusive=True) as c:  # one writer per store, as BEGIN IMMEDIATE
                yield c
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        if self._pg is not None:
            return self._pg.query(sql, args)
        with self._lock:
            return self._conn.execute(sql, args).fetchall()


def namespace(kind: str, tenant: str) -> str:
    """A PostgreSQL schema name for one tenant's store of one kind, within the 63 bytes PostgreSQL keeps:
    e.g. `shop_acme`; a long or unusual name keeps a readable start and a hash of the whole."""
    name = f"{kind}_{tenant}"
    if len(name) <= 48 and re.fullmatch(r"[a-z0-9_]+", name):
        return name
    # '-' never appears in a plain name, so a hashed one cannot be another tenant's plain one
    digest = hashlib.blake2b(tenant.encode(), digest_size=6).hexdigest()
    return f"{kind}-{re.sub(r'[^a-z0-9_]', '_', tenant.lower())[:32]}-{digest}"
