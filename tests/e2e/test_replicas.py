"""Two API server processes' worth of apps over one PostgreSQL: keys, documents, answers, jobs and the audit log
are shared, so a client may reach either replica (real uvicorn servers on loopback, a real PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.sim_engine import SimEngine
from inhouse.cli.main import main
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
from tests.helpers import free_port


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


def test_serve_with_worker_processes_shares_the_database(postgres_url: str, inhouse_home: Path, capsys):
    assert main(["serve", "--workers", "2"]) == 2
    assert "set database_url" in capsys.readouterr().err
    engine = SimEngine(tokens_per_s=200, tokens=10).start()
    env = os.environ | {"INHOUSE_DATABASE_URL": postgres_url, "INHOUSE_EMBEDDER": "hash",
                        "INHOUSE_HOME": str(inhouse_home)}
    cli = [sys.executable, "-m", "inhouse.cli.main"]
    subprocess.run([*cli, "models", "add-remote", "sim", "--url", engine.url, "--engine", "openai",
                    "--concurrency", "2"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "models", "default", "sim"], env=env, check=True, capture_output=True)
    key = subprocess.run([*cli, "keys", "create", "--tenant", "acme", "--user", "kim"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*cli, "serve", "--workers", "2", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("inhouse serve --workers 2 did not start: " + proc.communicate()[1].decode()[-2000:])
            time.sleep(0.2)

        def ask(_: int) -> int:
            return httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                              json={"model": "sim", "messages": [{"role": "user", "content": "hi"}]}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(ask, range(12)))
        assert codes.count(200) == 12 and engine.served == 12 and engine.most <= 2  # the engine's 2, for both
    finally:
        proc.terminate()
        proc.wait(20)
        engine.kill()
    db = PgServerDB(postgres_url)
    assert [e.action for e in AuditLog(db).query()].count("chat") == 12
    db.close()


def test_a_shops_orders_are_shared_by_replicas(postgres_url: str, tmp_path: Path):
    """A proposal waiting in the shop's schema in PostgreSQL is confirmed through one replica, once (asking the
    other again settles nothing), and both read the same conversation; no replica keeps a shop file."""
    from inhouse.apps.commerce.orders import OrderDB
    from inhouse.apps.commerce.tau import load_shop
    from tests.conftest import TAU_RETAIL, require

    users, orders, products = load_shop(require(TAU_RETAIL))
    shop = OrderDB.on_postgres(postgres_url, "shop_acme")
    shop.load(users, orders, products)
    pending = next(o for o in users["ivan_santos_6635"]["orders"] if orders[o]["status"] == "pending")
    shop.propose("agent", "s1", "ivan_santos_6635", "p1", "cancel_pending_order",
                 {"order_id": pending, "reason": "no longer needed"}, f"Cancel order {pending}")
    settings = Settings(embedder="hash", database_url=postgres_url)
    server_db = PgServerDB(postgres_url)
    kim = KeyStore(server_db).create("acme", "kim", ("staff",))[0]
    server_db.close()
    apps = [create_app(chat=ScriptedChat(), embedder=load_embedder("hash"), settings=settings,
                       base=tmp_path / f"replica{i}") for i in (1, 2)]
    with BackgroundServer(apps[0]) as a, BackgroundServer(apps[1]) as b:
        def http(server) -> httpx.Client:
            return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {kim}"}, timeout=60)

        r = http(b).post("/api/commerce/tickets/s1/confirm", json={"confirm": ["p1"]})
        assert r.status_code == 200 and [s["status"] for s in r.json()["settled"]] == ["committed"]
        assert http(a).post("/api/commerce/tickets/s1/confirm", json={"confirm": ["p1"]}).json()["settled"] == []
        seen = http(a).get("/api/commerce/tickets/s1").json()
        assert [p["status"] for p in seen["proposals"]] == ["committed"]
        assert [(e["action"], e["outcome"]) for e in seen["audit"]][-1] == ("cancel_pending_order", "ok")
    assert shop.order(pending)["status"] == "cancelled"
    assert not list(tmp_path.rglob("orders.sqlite"))
    shop.close()
