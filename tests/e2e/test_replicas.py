"""Two API server processes' worth of apps over one PostgreSQL: keys, documents, answers, jobs and the audit log
are shared, so a client may reach either replica (real uvicorn servers on loopback, a real PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from inhouse.config import Settings
from inhouse.ingest import embed_pending, ingest
from inhouse.models.chat import ScriptedChat
from inhouse.models.embedders import load_embedder
from inhouse.server.app import create_app
from inhouse.server.audit import AuditLog
from inhouse.server.db import PgServerDB
from inhouse.server.keys import KeyStore
from inhouse.server.runner import BackgroundServer
from inhouse.store.postgres import PostgresStore
from tests.e2e.test_server import RETURNS_ANSWER


def test_two_replicas_share_keys_documents_answers_jobs_and_audit(postgres_url: str, tmp_path: Path):
    settings = Settings(embedder="hash", database_url=postgres_url)
    store = PostgresStore(postgres_url)
    d = tmp_path / "kb"
    d.mkdir()
    (d / "반품.md").write_text("# 반품 정책\n\n상품 수령 후 14일 이내에 반품할 수 있습니다.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    embed_pending(store, load_embedder("hash"))
    store.close()
    db = PgServerDB(postgres_url)
    keys = KeyStore(db)
    kim = keys.create("acme", "kim", ("staff",))[0]
    boss = keys.create("acme", "boss", ("staff",), role="admin")[0]
    chat = ScriptedChat()
    apps = [create_app(chat=chat, embedder=load_embedder("hash"), settings=settings, base=tmp_path / f"replica{i}")
            for i in (1, 2)]
    with BackgroundServer(apps[0]) as a, BackgroundServer(apps[1]) as b:
        def http(server, key: str) -> httpx.Client:
            return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

        for server in (a, b):  # one key, one knowledge base, through either replica
            hits = http(server, kim).post("/api/search", json={"query": "반품 기간"}).json()["hits"]
            assert hits[0]["doc_path"] == "반품.md"
        chat.enqueue(RETURNS_ANSWER)
        r = http(a, kim).post("/v1/chat/completions", json={
            "model": "inhouse-rag", "messages": [{"role": "user", "content": "반품 기간은 며칠인가요?"}]}).json()
        answer_id = r["inhouse"]["answer_id"]
        assert http(b, kim).get(f"/api/answers/{answer_id}").json()["question"] == "반품 기간은 며칠인가요?"
        # A document uploaded through one replica is searchable through the other; its job is a row.
        job = http(a, boss).post("/api/documents", files={"file": ("parking.md", "# 주차\n\n주차 요금은 시간당 "
                                                                                "2,000원입니다.\n".encode())}).json()
        for _ in range(100):
            status = http(b, boss).get(f"/api/documents/jobs/{job['job']['id']}").json()["job"]["status"]
            if status in ("done", "failed"):
                break
            time.sleep(0.1)
        assert status == "done"
        assert http(b, kim).post("/api/search", json={"query": "주차 요금"}).json()["hits"][0]["doc_path"] == \
            "parking.md"
        keys.revoke(keys.authenticate(kim).id)  # revoked once, refused by both
        assert [http(s, kim).post("/api/search", json={"query": "반품"}).status_code for s in (a, b)] == [401, 401]
    actions = [(e.user, e.action) for e in AuditLog(db).query()]
    assert actions.count(("kim", "search")) == 3 and ("kim", "answer") in actions and ("boss", "upload") in actions
    db.close()
