"""The audit log: every question, the chunks returned, answered or refused, PII masked, append-only,
queryable with `inhouse audit`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.server.audit import AuditLog
from inhouse.server.db import ServerDB
from tests.e2e.test_server import RETURNS_ANSWER, Live, running

PHONE, RRN = "010-2345-6789", "900101-1234568"


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path) -> Iterator[Live]:
    with running(inhouse_home, tmp_path) as lv:
        yield lv


def test_questions_answers_and_refusals_are_logged_masked(live: Live, inhouse_home: Path, capsys):
    live.chat.enqueue(RETURNS_ANSWER)
    r = live.client("kim").chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": "반품 기간은 며칠인가요?"}])
    ih = r.model_extra["inhouse"]
    live.client("eve").chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": f"What is the parking fee? My RRN is {RRN}"}])
    live.http("kim").post("/api/search", json={"query": f"equipment stipend, call me at {PHONE}"})

    entries = AuditLog(ServerDB(inhouse_home / "server.db")).query()
    assert [(e.user, e.action, e.outcome) for e in entries] == [
        ("kim", "answer", "answered"), ("eve", "answer", "refused"), ("kim", "search", "ok")]
    answered, refused, searched = entries
    assert answered.question == "반품 기간은 며칠인가요?"
    assert PHONE not in searched.question and "[PHONE]" in searched.question and "stipend" in searched.question
    assert answered.chunk_ids == [ih["citations"][0]["chunk_id"]] and answered.answer_id == ih["answer_id"]
    assert answered.answer.startswith("반품은 상품 수령 후 14일") and answered.tenant == "acme"
    assert RRN not in refused.question and "[RRN]" in refused.question and refused.tenant == "globex"
    assert refused.answer == "I could not find this in your documents."
    assert searched.chunk_ids and searched.key_id == live.srv.keys.authenticate(live.keys["kim"]).id
    raw = (inhouse_home / "server.db").read_bytes() + (inhouse_home / "server.db-wal").read_bytes()
    assert PHONE.encode() not in raw and RRN.encode() not in raw

    assert main(["audit", "--user", "kim", "--since", "1h", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["action"], x["outcome"]) for x in lines] == [("answer", "answered"), ("search", "ok")]
    assert main(["audit", "--since", "2999-01-01", "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "--since", "yesterday-ish"]) == 2
    assert "not a date or duration" in capsys.readouterr().err
    assert main(["audit", "--tenant", "globex"]) == 0
    assert "refused" in capsys.readouterr().out


def test_audit_log_is_append_only(inhouse_home: Path, live: Live):
    live.http("kim").post("/api/search", json={"query": "반품"})
    conn = sqlite3.connect(inhouse_home / "server.db")
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET question = 'nothing'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")
    assert conn.execute("SELECT question FROM audit").fetchone()[0] == "반품"
