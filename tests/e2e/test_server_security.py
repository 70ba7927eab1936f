"""The server's security edges on a real uvicorn loopback port: masking on every route, hostile bodies,
headers, uploads under a PII policy, the queue's fairness between tenants.

A ScriptedChat gives exact model outputs; store, keys, audit log and server are real.
"""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from inhouse.config import Settings
from inhouse.ingest import embed_pending, ingest
from inhouse.models.embedders import load_embedder
from tests.e2e.test_server import Live, running
from tests.e2e.test_server_queue import SlowChat, _wait

PHONE, ACCOUNT, NAME = "010-2345-6789", "110-123-456789", "김민수"
VALUES = (PHONE, ACCOUNT, NAME)
CRM = (f"# 고객 응대 {PHONE}\n\n{NAME} 고객님의 연락처는 {PHONE} 이며 환불 계좌는 신한은행 {ACCOUNT} 입니다. "
       "배송 지연 문의를 접수했습니다.\n")


def _add_crm(live: Live, tmp: Path) -> None:
    f = tmp / "crm" / "상담.md"
    f.parent.mkdir()
    f.write_text(CRM, "utf-8")
    ingest(live.srv.store, Settings(embedder="hash"), [f], "acme", ["staff"])
    embed_pending(live.srv.store, load_embedder("hash"))


def _leaks(obj: object) -> list[str]:
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return [v for v in VALUES if v in text]


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path) -> Iterator[Live]:
    with running(inhouse_home, tmp_path) as lv:
        yield lv


@pytest.fixture
def crm(live: Live, tmp_path: Path) -> Live:
    _add_crm(live, tmp_path)
    live.keys["pat"] = live.srv.keys.create("acme", "pat", ("staff", "pii"))[0]
    return live


def test_every_route_masks_pii_for_a_reader_outside_the_pii_group(crm: Live):
    kim = crm.http("kim")
    found = kim.post("/api/search", json={"query": "배송 지연 문의 연락처"}).json()
    assert found["hits"] and not _leaks(found) and "[PHONE]" in found["hits"][0]["text"]
    cid = found["hits"][0]["chunk_id"]
    chunk = kim.get(f"/api/chunks/{cid}").json()
    assert not _leaks(chunk) and "[PHONE]" in chunk["text"] and "[PHONE]" in " ".join(chunk["heading"])
    # The same passage for a cleared reader: the values are there (they were ingested with --pii keep).
    assert PHONE in crm.http("pat").get(f"/api/chunks/{cid}").json()["text"]
    # A grounded answer: the model only ever saw masked text, and whatever it writes is masked again.
    crm.chat.enqueue(f"{NAME} 고객님의 연락처는 {PHONE} 입니다 [1].")
    r = kim.post("/v1/chat/completions",
                 json={"model": "inhouse-rag",
                       "messages": [{"role": "user", "content": "배송 지연 문의한 고객 연락처는?"}]})
    assert r.status_code == 200 and not _leaks(r.json())
    assert not _leaks([m["content"] for m in crm.chat.calls[-1]])
    answer_id = r.json()["inhouse"]["answer_id"]
    assert not _leaks(kim.get(f"/api/answers/{answer_id}").json())
    assert not _leaks(kim.get("/api/documents").json())
    # The audit log holds no values either, and the chunk reads are in it.
    entries = crm.srv.audit.query(tenant="acme")
    assert not _leaks([e.to_json() for e in entries])
    assert [e.chunk_ids for e in entries if e.action == "read" and e.user == "kim"] == [[cid]]


def test_a_cleared_readers_answer_is_stored_masked(crm: Live):
    crm.chat.enqueue(f"{NAME} 고객님의 연락처는 {PHONE} 입니다 [1].")
    r = crm.http("pat").post("/v1/chat/completions", json={
        "model": "inhouse-rag", "messages": [{"role": "user", "content": "배송 지연 문의한 김민수 고객님 연락처는?"}]})
    body = r.json()
    assert PHONE in body["choices"][0]["message"]["content"]  # shown to the cleared reader
    stored = crm.srv.db.query("SELECT body FROM answers WHERE id = ?", (body["inhouse"]["answer_id"],))[0][0]
    assert not _leaks(stored) and "[PHONE]" in stored


def test_plain_chat_audits_every_message(live: Live):
    live.chat.enqueue("네.")
    messages = [{"role": "system", "content": "당신은 상담원입니다."},
                {"role": "user", "content": f"제 번호는 {PHONE} 이에요"},
                {"role": "assistant", "content": "확인했습니다."},
                {"role": "user", "content": "고마워요"}]
    assert live.http().post("/v1/chat/completions", json={"model": "scripted", "messages": messages}).status_code == 200
    (entry,) = live.srv.audit.query(action="chat")
    assert "당신은 상담원입니다" in entry.question and "[PHONE]" in entry.question and PHONE not in entry.question
    assert "고마워요" in entry.question


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _raw_post(url: str, head: str, blocks: int = 0, chunked: bool = False) -> tuple[str, int]:
    """Send `head`, then up to `blocks` blocks of 1 MiB on a raw socket (stopping when the server has
    answered); the status line and the bytes sent."""
    parts = urlsplit(url)
    block = b"x" * (1 << 20)
    if chunked:
        block = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(head.encode())
        try:
            for _ in range(blocks):
                s.setblocking(False)
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        break  # the server has answered
                except BlockingIOError:
                    pass
                s.setblocking(True)
                s.sendall(block)
                sent += len(block)
        except OSError:  # the server answered and closed the connection
            pass
        s.setblocking(True)
        reply = s.recv(4096).decode("latin-1")
    return reply.split("\r\n", 1)[0], sent


def test_a_2_gb_body_without_a_key_is_refused_before_it_is_read(live: Live):
    before = _rss_kb()
    t0 = time.perf_counter()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 2000000000\r\n\r\n")
    status, _ = _raw_post(live.url, head)
    assert status.split()[1] == "413" and time.perf_counter() - t0 < 5
    # The same 2 GB as a chunked body with a valid key: counted as it arrives, cut off at the 1 MB limit.
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {live.keys['kim']}\r\nTransfer-Encoding: chunked\r\n\r\n")
    status, sent = _raw_post(live.url, head, blocks=2000, chunked=True)
    assert status.split()[1] == "413" and sent < 64 * (1 << 20)
    assert _rss_kb() - before < 50 * 1024


def test_bodies_are_not_parsed_before_the_key_is_checked(live: Live):
    r = httpx.post(live.url + "/v1/chat/completions", content=b"{not json",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    r = httpx.post(live.url + "/api/documents", files={"file": ("a.md", b"# x\n")},
                   headers={"Authorization": f"Bearer {live.keys['kim']}"})
    assert r.status_code == 403 and "admin" in r.json()["error"]["message"]


def test_requests_are_capped(live: Live):
    kim = live.http()
    big = {"model": "inhouse-rag", "messages": [{"role": "user", "content": "가" * 40_000}]}
    assert kim.post("/v1/chat/completions", json=big).status_code == 400
    two = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    assert kim.post("/v1/chat/completions", json=two).status_code == 400
    assert kim.post("/v1/embeddings", json={"model": "hash", "input": ["a"] * 300}).status_code == 400
    assert kim.post("/v1/embeddings", json={"model": "hash", "input": "a" * 9000}).status_code == 400
    over = {"model": "scripted", "messages": [{"role": "user", "content": "a" * 30_000}] * 40}  # 1.2 MB
    r = kim.post("/v1/chat/completions", json=over)
    assert r.status_code == 413 and "INHOUSE_MAX_BODY_KB" in r.json()["error"]["message"]


def test_security_headers(live: Live):
    page = httpx.get(live.url + "/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    api = live.http().get("/api/me")
    assert api.headers["x-content-type-options"] == "nosniff" and api.headers["referrer-policy"] == "no-referrer"


def test_upload_under_a_pii_policy_and_delete_removes_the_file(live: Live, inhouse_home: Path):
    boss = live.http("boss")
    r = boss.post("/api/documents", files={"file": ("고객.md", CRM.encode())}, data={"groups": "staff", "pii": "mask"})
    assert r.status_code == 202
    job = r.json()["job"]["id"]
    assert _wait(lambda: boss.get(f"/api/documents/jobs/{job}").json()["job"]["status"] == "done", 30)
    found = live.http("boss").post("/api/search", json={"query": "배송 지연 문의"}).json()["hits"]
    stored = [h for h in found if h["doc_path"] == "고객.md"]
    assert stored and "[PHONE]" in stored[0]["text"]
    folder = inhouse_home / "uploads" / "acme" / job
    assert (folder / "고객.md").exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE((folder / "고객.md").stat().st_mode) == 0o600
    for db in ("inhouse.db", "server.db"):
        assert stat.S_IMODE((inhouse_home / db).stat().st_mode) == 0o600
    assert boss.delete("/api/documents/고객.md").status_code == 200
    assert not folder.exists()
    bad = boss.post("/api/documents", files={"file": ("x.md", b"# x\n")}, data={"pii": "shred"})
    assert bad.status_code == 400 and "unknown PII policy" in bad.json()["error"]["message"]


def test_one_tenant_cannot_fill_the_generation_queue(inhouse_home: Path, tmp_path: Path):
    chat = SlowChat(n=3, delay=0.0)
    with running(inhouse_home, tmp_path, chat=chat, workers=1, max_waiting=4) as live:  # 5 places, 4 per tenant
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
        codes: list[int] = []
        threads = [threading.Thread(target=lambda: codes.append(live.http("kim").post("/v1/chat/completions",
                                                                                      json=body).status_code))
                   for _ in range(4)]
        for t in threads:
            t.start()
        assert _wait(lambda: live.srv.queue.admitted == 4)
        r = live.http("kim").post("/v1/chat/completions", json=body)
        assert r.status_code == 429 and "this tenant" in r.json()["error"]["message"]
        other = threading.Thread(target=lambda: codes.append(live.http("eve").post("/v1/chat/completions",
                                                                                   json=body).status_code))
        other.start()
        assert _wait(lambda: live.srv.queue.admitted == 5)  # globex still gets a place
        chat.gate.set()
        for t in [*threads, other]:
            t.join(30)
        assert codes == [200] * 5
