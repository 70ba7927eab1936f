"""The server's database (keys, audit, answers, ingest jobs) on each backend: SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from inhouse.errors import NotFoundError, PermissionDenied
from inhouse.server.answers import AnswerLog
from inhouse.server.audit import AuditLog
from inhouse.server.db import MIGRATIONS, PgServerDB, ServerDB, open_server_db
from inhouse.server.jobs import IngestJob, JobStore
from inhouse.server.keys import KeyStore
from inhouse.store.sqlite import apply_migrations


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path: Path):
    d = ServerDB(tmp_path / "server.db") if request.param == "sqlite" else \
        PgServerDB(request.getfixturevalue("postgres_url"))
    yield d
    d.close()


def test_keys_audit_answers_and_jobs(db):
    keys = KeyStore(db)
    secret, kim = keys.create("acme", "kim", ("staff",))
    assert keys.authenticate(secret) == kim and [k.id for k in keys.list("acme")] == [kim.id]
    audit = AuditLog(db)
    first = audit.record(kim, "search", "ok", question="call 010-2345-6789", chunk_ids=[3, 1])
    second = audit.record(kim, "answer", "answered", answer="14일")
    assert second > first
    entries = audit.query(user="kim", tenant="acme")
    assert [(e.action, e.chunk_ids) for e in entries] == [("search", [3, 1]), ("answer", [])]
    assert "[PHONE]" in entries[0].question and audit.query(user="lee") == []
    answers = AnswerLog(db)
    answers.save(kim, {"answer_id": "a1", "question": "q", "answer": "14일"})
    assert answers.get(kim, "a1")["answer"] == "14일"
    _, eve = keys.create("globex", "eve")
    with pytest.raises(NotFoundError):
        answers.get(eve, "a1")
    jobs = JobStore(db)
    job = IngestJob(id="j1", tenant="acme", filename="a.pdf", groups=("hr",), status="queued", created_at="2026-12-07")
    jobs.save(job)
    job.status = "done"
    jobs.save(job)
    assert [(j.id, j.status, j.groups) for j in jobs.list("acme")] == [("j1", "done", ("hr",))]
    keys.revoke(kim.id)
    with pytest.raises(PermissionDenied, match="revoked"):
        keys.authenticate(secret)


def test_the_audit_log_refuses_changes(db):
    kim = KeyStore(db).create("acme", "kim")[1]
    AuditLog(db).record(kim, "search", "ok")
    for sql in ("UPDATE audit SET outcome = 'error'", "DELETE FROM audit"):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            with db.transaction() as c:
                c.execute(sql)
    assert [e.outcome for e in AuditLog(db).query()] == ["ok"]


def test_a_server_db_from_before_the_rename_keeps_its_rows(tmp_path: Path):
    conn = sqlite3.connect(tmp_path / "server.db", isolation_level=None)
    apply_migrations(conn, MIGRATIONS[:3])
    conn.execute("INSERT INTO api_keys (id, secret_hash, tenant, user, role, created_at) "
                 "VALUES ('k1', 'x', 'acme', 'kim', 'reader', '2026-01-01')")
    conn.close()
    db = ServerDB(tmp_path / "server.db")
    assert [(k.id, k.user) for k in KeyStore(db).list()] == [("k1", "kim")]
    db.close()


def test_the_database_url_setting_picks_postgres(postgres_url: str, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("INHOUSE_DATABASE_URL", postgres_url)
    db = open_server_db(tmp_path)
    assert isinstance(db, PgServerDB) and not (tmp_path / "server.db").exists()
    db.close()


def test_a_lost_connection_costs_no_audit_row(postgres_url: str):
    db = PgServerDB(postgres_url)
    kim = KeyStore(db).create("acme", "kim")[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'inhouse' "
                      "AND datname = current_database()")
    AuditLog(db).record(kim, "search", "ok")  # the dead connection is replaced before the row is written
    assert [e.action for e in AuditLog(db).query()] == ["search"]
    db.close()
