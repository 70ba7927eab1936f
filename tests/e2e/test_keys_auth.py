"""API keys: stored hashed; missing, wrong, expired or revoked → 401; readers cannot write (403); and a
tenant's key never reaches another tenant's data through any endpoint."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from inhouse.cli.main import main
from inhouse.errors import InputError, NotFoundError
from inhouse.server.db import ServerDB
from inhouse.server.keys import KeyStore, Unauthorized
from tests.e2e.test_server import RETURNS_ANSWER, Live, running


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path) -> Iterator[Live]:
    with running(inhouse_home, tmp_path) as lv:
        yield lv


def test_keys_are_stored_hashed_and_bound(inhouse_home: Path):
    ks = KeyStore(ServerDB())
    key, rec = ks.create("acme", "kim", ("staff", "hr"), role="admin", expires="30d")
    assert key.startswith(f"ih_{rec.id}_") and len(key) > 40
    assert ks.authenticate(key).principal.groups == ("hr", "staff")
    raw = sqlite3.connect(inhouse_home / "server.db").execute("SELECT * FROM api_keys").fetchall()
    assert key not in repr(raw) and key.split("_", 2)[2] not in repr(raw)
    with pytest.raises(InputError, match="unknown role"):
        ks.create("acme", "kim", role="root")
    with pytest.raises(InputError, match="not a date or duration"):
        ks.create("acme", "kim", expires="soon")
    with pytest.raises(NotFoundError):
        ks.revoke("nope")


def test_expired_and_revoked_keys_are_refused(inhouse_home: Path):
    ks = KeyStore(ServerDB())
    short, _ = ks.create("acme", "kim", expires="1s")
    time.sleep(1.1)
    with pytest.raises(Unauthorized, match="expired"):
        ks.authenticate(short)
    key, rec = ks.create("acme", "kim")
    ks.revoke(rec.id)
    with pytest.raises(Unauthorized, match="revoked"):
        ks.authenticate(key)
    with pytest.raises(Unauthorized, match="not valid"):
        ks.authenticate(key[:-2] + "xx")


def test_keys_cli_create_list_revoke(inhouse_home: Path, capsys):
    assert main(["keys", "create", "--tenant", "acme", "--user", "kim", "--groups", "staff", "--json"]) == 0
    import json

    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith("ih_") and created["role"] == "reader" and created["groups"] == ["staff"]
    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert main(["keys", "revoke", created["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "revoked"
    assert main(["keys", "revoke", "missing"]) == 3
    assert "no API key with id 'missing'" in capsys.readouterr().err


def test_missing_wrong_expired_revoked_key_gives_401(live: Live):
    ks = live.srv.keys
    expired, _ = ks.create("acme", "kim", ("staff",), expires="1s")
    revoked, rec = ks.create("acme", "kim", ("staff",))
    ks.revoke(rec.id)
    time.sleep(1.1)
    for bad in (None, "sk-not-ours", live.keys["kim"][:-3] + "abc", expired, revoked):
        headers = {"Authorization": f"Bearer {bad}"} if bad else {}
        for method, path in (("GET", "/v1/models"), ("POST", "/api/search"), ("GET", "/api/documents"),
                             ("POST", "/v1/chat/completions"), ("GET", "/api/answers/x"), ("GET", "/api/chunks/1")):
            r = httpx.request(method, live.url + path, headers=headers, json={"query": "반품"})
            assert r.status_code == 401, (bad, path, r.text)
            assert r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live.url + "/v1", api_key=revoked, max_retries=0).models.list()


def test_reader_cannot_upload_or_delete(live: Live):
    reader = live.http("kim")
    r = reader.post("/api/documents", files={"file": ("a.md", b"# A\n\ntext\n")})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = reader.delete("/api/documents/반품.md")
    assert r.status_code == 403
    assert reader.get("/api/documents/jobs/x").status_code == 403
    assert "반품.md" in [d["path"] for d in reader.get("/api/documents").json()["documents"]]  # nothing deleted


def test_tenant_isolation_through_every_endpoint(live: Live):
    # acme's answer and chunk ids, made by acme keys
    live.chat.enqueue(RETURNS_ANSWER)
    r = live.client("kim").chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": "반품 기간은 며칠인가요?"}])
    acme_answer = r.model_extra["inhouse"]["answer_id"]
    acme_chunk = r.model_extra["inhouse"]["citations"][0]["chunk_id"]
    up = live.http("boss").post("/api/documents",
                                files={"file": ("acme-only.md", "# 비밀\n\n아크미 비밀 코드 ZX-42.\n".encode())})
    acme_job = up.json()["job"]["id"]
    for _ in range(200):
        if live.http("boss").get(f"/api/documents/jobs/{acme_job}").json()["job"]["status"] == "done":
            break
        time.sleep(0.05)

    for who in ("eve", "gadmin"):  # globex reader and admin
        g = live.http(who)
        for q in ("반품 기간", "equipment stipend", "ZX-42 비밀 코드", "경조휴가"):
            hits = g.post("/api/search", json={"query": q, "k": 20}).json()["hits"]
            assert all(h["doc_path"] == "falcon.md" for h in hits), (who, q, hits)
            lex = g.post("/api/search", json={"query": q, "k": 20, "mode": "lexical"}).json()["hits"]
            assert all(h["doc_path"] == "falcon.md" for h in lex)
        assert g.get(f"/api/chunks/{acme_chunk}").status_code == 404
        assert g.get(f"/api/answers/{acme_answer}").status_code == 404
        assert [d["path"] for d in g.get("/api/documents").json()["documents"]] == ["falcon.md"]
        assert g.get(f"/api/documents/jobs/{acme_job}").status_code in (403, 404)
        refused = live.client(who).chat.completions.create(
            model="inhouse-rag", messages=[{"role": "user", "content": "반품 기간은 며칠인가요?"}])
        assert refused.model_extra["inhouse"]["abstained"] is True
        assert all(n["doc_path"] == "falcon.md" for n in refused.model_extra["inhouse"]["nearest"])
    assert live.http("gadmin").delete("/api/documents/반품.md").status_code == 404
    assert "jobs" in live.http("gadmin").get("/api/documents").json()
    assert live.http("gadmin").get("/api/documents").json()["jobs"] == []
    # acme still has its document and its answer
    assert live.http("kim").get(f"/api/answers/{acme_answer}").status_code == 200
    assert "반품.md" in [d["path"] for d in live.http("kim").get("/api/documents").json()["documents"]]
