"""A private SQLite file for one store of its own (a shop's orders or reviews, the consortium's contributions): one
connection, serialised by a lock, foreign keys on, WAL, readable by this user only; transactions that commit
whole or roll back whole."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inhouse.errors import StoreError
from inhouse.files import private_db


class DBFile:
    """A subclass names its `SCHEMA`, what it is (`WHAT`) and how to rebuild it (`REBUILD`), for the error
    a damaged file gives."""

    SCHEMA = ""
    WHAT = "database"
    REBUILD = ""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
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

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; any exception rolls the whole change back."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()
