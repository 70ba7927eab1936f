"""The server's own small SQLite database (INHOUSE_HOME/server.db): API keys, the audit log, answers,
ingest jobs.

Why not a migration in the knowledge-base store: every write through `SQLiteStore.transaction` bumps
the store generation, which makes the in-memory vector index reload. An audit row is written on every
request, so it must not touch that counter, nor wait on the ingest lock. A separate file keeps request
bookkeeping away from the documents; it has its own numbered schema steps, recorded in `migrations`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inhouse.config import home
from inhouse.errors import StoreError
from inhouse.files import private_db
from inhouse.store.sqlite import apply_migrations

# Numbered schema steps; applied names are recorded, so a step is never run twice or changed later.
MIGRATIONS: list[tuple[str, str]] = [
    ("001_keys_audit_answers", """
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,           -- public prefix shown in `keys list`
    secret_hash TEXT NOT NULL,              -- sha256 hex of the whole key; the key itself is never stored
    tenant      TEXT NOT NULL,
    user        TEXT NOT NULL,
    groups      TEXT NOT NULL DEFAULT '[]', -- JSON list
    role        TEXT NOT NULL CHECK (role IN ('reader', 'admin')),
    created_at  TEXT NOT NULL,
    expires_at  TEXT,                       -- ISO-8601 UTC, NULL = never
    revoked_at  TEXT,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    user        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    action      TEXT NOT NULL,              -- answer | chat | search | upload | delete | ...
    question    TEXT NOT NULL DEFAULT '',   -- PII masked
    outcome     TEXT NOT NULL,              -- answered | refused | ok | error | cancelled
    answer      TEXT NOT NULL DEFAULT '',   -- PII masked
    chunk_ids   TEXT NOT NULL DEFAULT '[]', -- JSON list of the chunks returned or cited
    model       TEXT NOT NULL DEFAULT '',
    answer_id   TEXT,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_ts ON audit (ts);
CREATE INDEX audit_user ON audit (tenant, user, ts);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TABLE answers (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    user       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL                -- Answer.to_json() plus the question
);
"""),
    # An upload's ingest job outlives the process that ran it: its status is asked for after a restart too.
    ("002_ingest_jobs", """
CREATE TABLE ingest_jobs (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    filename   TEXT NOT NULL,
    groups     TEXT NOT NULL DEFAULT '[]', -- JSON list
    status     TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    created_at TEXT NOT NULL,
    report     TEXT,                       -- JSON (IngestReport.to_json()), NULL until the job ends
    error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ingest_jobs_tenant ON ingest_jobs (tenant, created_at);
"""),
    # Two servers may share a home: a starting server fails only the jobs of a server process that is gone.
    ("003_ingest_job_owner", """
-- host:pid:token of the server process that runs the job
ALTER TABLE ingest_jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
"""),
]


class ServerDB:
    """One connection shared by the request threads, serialised by a lock (requests write little)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or home() / "server.db"
        private_db(self.path)
        self._lock = threading.RLock()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open the server database {self.path}: {e}; restore it from a backup.") from e

    def _migrate(self) -> None:
        apply_migrations(self.conn, MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, args).fetchall()

    def close(self) -> None:
        self.conn.close()
