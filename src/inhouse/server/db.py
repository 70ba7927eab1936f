"""The server's own small database: API keys, the audit log, answers, ingest jobs. SQLite
(INHOUSE_HOME/server.db) by default; the PostgreSQL database of the `database_url` setting when one is set,
so that several server processes share keys, audit and jobs (`open_server_db`).

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

from inhouse.config import home, load_settings
from inhouse.errors import StoreError
from inhouse.files import private_db
from inhouse.store.pgdb import PgDatabase, append_only
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
    # `user` is a reserved word in PostgreSQL (it reads as the session's user): one column name for both.
    ("004_user_name", """
ALTER TABLE api_keys RENAME COLUMN user TO user_name;
ALTER TABLE audit RENAME COLUMN user TO user_name;
ALTER TABLE answers RENAME COLUMN user TO user_name;
"""),
]

# The same schema on PostgreSQL (recorded in `server_migrations`, apart from the knowledge-base store's).
PG_MIGRATIONS: list[tuple[str, str]] = [
    ("001_server", """
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    groups      TEXT NOT NULL DEFAULT '[]',
    role        TEXT NOT NULL CHECK (role IN ('reader', 'admin')),
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    ts          TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    action      TEXT NOT NULL,
    question    TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    answer      TEXT NOT NULL DEFAULT '',
    chunk_ids   TEXT NOT NULL DEFAULT '[]',
    model       TEXT NOT NULL DEFAULT '',
    answer_id   TEXT,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_ts ON audit (ts);
CREATE INDEX audit_user ON audit (tenant, user_name, ts);
""" + append_only("audit") + """
CREATE TABLE answers (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE TABLE ingest_jobs (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    filename   TEXT NOT NULL,
    groups     TEXT NOT NULL DEFAULT '[]',
    status     TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    created_at TEXT NOT NULL,
    report     TEXT,
    error      TEXT NOT NULL DEFAULT '',
    owner      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ingest_jobs_tenant ON ingest_jobs (tenant, created_at);
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


class PgServerDB(PgDatabase, ServerDB):
    """The server database in PostgreSQL, shared by every server process of the deployment. A lost connection
    is a StoreError naming the server; the next request reconnects."""

    def __init__(self, url: str) -> None:  # noqa: D107 - no SQLite file here
        self.path = None
        PgDatabase.__init__(self, url, PG_MIGRATIONS, table="server_migrations")


def open_server_db(base: Path | None = None, url: str | None = None) -> ServerDB:
    """The configured server database: PostgreSQL when `url` (default: the `database_url` setting) names one,
    else server.db under the home."""
    url = (load_settings(base).database_url if url is None else url).strip()
    return PgServerDB(url) if url else ServerDB((base or home()) / "server.db")
