"""The HTTP server through the official `openai` client and plain HTTP, on a real uvicorn loopback port.

A ScriptedChat gives exact outputs; the store, keys, audit log and server are real.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from inhouse.answer import ABSTAIN, JUDGED
from inhouse.config import Settings
from inhouse.ingest import embed_pending, ingest
from inhouse.models.chat import ScriptedChat
from inhouse.models.embedders import load_embedder
from inhouse.protocols import ChatModel
from inhouse.server.app import create_app
from inhouse.server.db import ServerDB
from inhouse.server.keys import KeyStore
from inhouse.server.runner import BackgroundServer
from inhouse.store import SQLiteStore

RETURNS_ANSWER = "반품은 상품 수령 후 14일 이내에 가능합니다 [1]. 반품은 무료입니다 [1]."


@dataclass
class Live:
    url: str
    keys: dict[str, str]
    app: object
    chat: ChatModel | None

    def client(self, who: str = "kim") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=self.keys[who], max_retries=0, timeout=60)

    def http(self, who: str | None = "kim") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    @property
    def srv(self):
        return self.app.state.inhouse


def build_kb(home: Path, tmp: Path) -> SQLiteStore:
    """Tenant acme (staff documents, an hr-only one) and tenant globex (a secret of its own)."""
    settings = Settings(embedder="hash")
    store = SQLiteStore(home / "inhouse.db")
    d = tmp / "kb"
    d.mkdir()
    (d / "반품.md").write_text(
        "# 반품 정책\n\n## 반품 기간\n\n상품 수령 후 14일 이내에 반품할 수 있습니다. 단순 변심의 경우 왕복 배송비 "
        "6,000원은 고객이 부담합니다.\n", "utf-8")
    (d / "remote.md").write_text("# Remote work\n\nThe equipment stipend is 500,000 won per year.\n", "utf-8")
    (d / "hr.md").write_text("# 인사\n\n경조휴가는 5일입니다.\n", "utf-8")
    (d / "falcon.md").write_text("# Falcon\n\nProject Falcon has a budget of 7,000,000 won.\n", "utf-8")
    ingest(store, settings, [d / "반품.md", d / "remote.md"], "acme", ["staff"])
    ingest(store, settings, [d / "hr.md"], "acme", ["hr"])
    ingest(store, settings, [d / "falcon.md"], "globex", ["staff"])
    embed_pending(store, load_embedder("hash"))
    return store


@contextmanager
def running(home: Path, tmp: Path, chat: ChatModel | None = None, settings: Settings | None = None,
            **kw) -> Iterator[Live]:
    """The server over `build_kb`'s documents with keys kim, boss (acme), eve, gadmin (globex); without `chat`
    a ScriptedChat answers, unless `settings` are given: then the configured models do."""
    store = build_kb(home, tmp)
    keys = KeyStore(ServerDB(home / "server.db"))
    made = {
        "kim": keys.create("acme", "kim", ("staff",))[0],
        "boss": keys.create("acme", "boss", ("staff",), role="admin")[0],
        "eve": keys.create("globex", "eve", ("staff",))[0],
        "gadmin": keys.create("globex", "gadmin", ("staff",), role="admin")[0],
    }
    chat = chat or (None if settings else ScriptedChat())
    app = create_app(chat=chat, embedder=load_embedder("hash"), settings=settings or Settings(embedder="hash"),
                     base=home, store=store, **kw)
    with BackgroundServer(app) as server:
        yield Live(server.url, made, app, chat)
    store.close()


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path) -> Iterator[Live]:
    with running(inhouse_home, tmp_path) as lv:
        yield lv


def test_models_lists_rag_and_the_local_model(live: Live):
    ids = [m.id for m in live.client().models.list()]
    assert ids == ["inhouse-rag", "scripted", "hash"]


def test_rag_answer_non_streaming_korean(live: Live):
    live.chat.enqueue(RETURNS_ANSWER)
    r = live.client().chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": "반품 기간은 며칠인가요?"}])
    assert r.choices[0].message.content == "반품은 상품 수령 후 14일 이내에 가능합니다[1].\n\n[1] 반품.md"
    assert r.choices[0].finish_reason == "stop" and r.object == "chat.completion"
    ih = r.model_extra["inhouse"]
    assert ih["abstained"] is False and ih["citations"][0]["doc_path"] == "반품.md"
    assert [c["verdict"] for c in ih["claims"]] == ["supported", "unsupported"]
    # The stored answer, with claims and verdicts, is readable by its asker.
    stored = live.http().get(f"/api/answers/{ih['answer_id']}").json()
    assert stored["claims"] == ih["claims"] and stored["question"] == "반품 기간은 며칠인가요?"


def test_rag_answer_streaming_english(live: Live):
    live.chat.enqueue("The equipment stipend is 500,000 won per year [1].")
    stream = live.client().chat.completions.create(
        model="inhouse-rag", messages=[{"role": "user", "content": "What is the equipment stipend?"}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "The equipment stipend is 500,000 won per year[1].\n\n[1] remote.md"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["inhouse"]["citations"][0]["doc_path"] == "remote.md"
    assert len(chunks) > 3  # streamed in pieces, not one blob


class JudgedChat(ScriptedChat):
    """A scripted model whose twin, the judge of its claims, is a scripted model too."""

    def __init__(self) -> None:
        super().__init__()
        self.judge = ScriptedChat("judge")

    def twin(self) -> ScriptedChat:
        return self.judge


def test_the_judge_waits_for_the_generation_slot_and_is_counted(inhouse_home: Path, tmp_path: Path):
    chat = JudgedChat()
    with running(inhouse_home, tmp_path, chat=chat) as live:
        chat.enqueue("The equipment stipend is 500,000 won per year [1].")
        # The judge says No at log-probability -0.05 (log-odds -2.97), so the claim is dropped: the
        # log-probability passes through the server's gate (a gate that hid it would count the word as ±4).
        chat.judge.logprobs.append([-0.05])
        chat.judge.enqueue("No")
        r = live.client().chat.completions.create(
            model="inhouse-rag", messages=[{"role": "user", "content": "What is the equipment stipend?"}])
        judged, quoted = r.model_extra["inhouse"]["claims"]
        assert not judged["kept"] and judged["reason"].startswith(f"{JUDGED} -2.97")
        assert quoted["kept"] and r.model_extra["inhouse"]["mode"] == "extractive"  # the fallback quotes it
        assert len(chat.judge.calls) == 1
        # Each generation counted once: the draft's 9 pieces and the judge's 1.
        assert live.srv.metrics.tokens == 10
        assert r.usage.completion_tokens == 9


def test_a_follow_up_is_counted_once(live: Live):
    # An English draft that only cites is asked once more (inhouse.answer): 1 piece, then 9.
    live.chat.enqueue("[1]", "The equipment stipend is 500,000 won per year [1].")
    question = "What do remote workers get for equipment each year?"  # no sentence close enough to quote
    r = live.client().chat.completions.create(model="inhouse-rag", messages=[{"role": "user", "content": question}])
    assert len(live.chat.calls) == 2 and not r.model_extra["inhouse"]["abstained"]
    assert live.srv.metrics.tokens == 10 == r.usage.completion_tokens


@pytest.mark.parametrize("question,lang", [("주차 요금은 얼마인가요?", "ko"), ("What is the parking fee?", "en")])
def test_refusal_is_honest_in_both_languages(live: Live, question: str, lang: str):
    r = live.client().chat.completions.create(model="inhouse-rag", messages=[{"role": "user", "content": question}])
    assert r.choices[0].message.content == ABSTAIN[lang]
    assert r.model_extra["inhouse"]["abstained"] is True
    assert live.chat.calls == []  # refused before generating


def test_plain_chat_streams_the_model_reply(live: Live):
    live.chat.enqueue("안녕하세요, hello there")
    stream = live.client().chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "hi"}], stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices[0].delta.content]
    assert "".join(pieces) == "안녕하세요, hello there" and len(pieces) == 3  # word by word, as screened
    live.chat.enqueue("ok then")
    r = live.client().chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "ok then" and "inhouse" not in (r.model_extra or {})


def test_plain_chat_replies_are_screened_like_answers(live: Live):
    """PII out and links out apply to the model's own replies too, streamed or not."""
    reply = "김민수 고객의 번호는 010-1234-5678입니다. 자세한 건 [여기](https://evil.example.com/x?q=1)를 보세요."
    live.chat.enqueue(reply)
    r = live.client().chat.completions.create(model="scripted", messages=[{"role": "user", "content": "번호?"}])
    text = r.choices[0].message.content
    assert "010-1234-5678" not in text and "[PHONE]" in text and "evil.example.com" not in text
    live.chat.enqueue(reply)
    streamed = "".join(c.choices[0].delta.content or "" for c in live.client().chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "번호?"}], stream=True) if c.choices)
    assert "010-1234-5678" not in streamed and "evil.example.com" not in streamed


def test_embeddings_float_and_base64(live: Live):
    client = live.client()
    r = client.embeddings.create(model="hash", input=["반품 기간", "equipment stipend"])  # client asks base64
    v = np.array(r.data[0].embedding)
    assert len(r.data) == 2 and v.shape == (384,) and abs(np.linalg.norm(v) - 1) < 1e-5
    expected = load_embedder("hash").embed(["반품 기간"])[0]
    assert np.allclose(v, expected, atol=1e-6)
    raw = live.http().post("/v1/embeddings",
                           json={"model": "hash", "input": "반품 기간", "encoding_format": "base64"}).json()
    assert np.allclose(np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), "<f4"), expected)


def test_errors_have_openai_shape(live: Live):
    client = live.client()
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert "inhouse-rag" in e.value.message and e.value.body["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="inhouse-rag", messages=[])
    assert e.value.body["type"] == "invalid_request_error"
    r = live.http().post("/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = live.http().get("/no/such/route")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_search_documents_chunks(live: Live):
    http = live.http()
    hits = http.post("/api/search", json={"query": "반품 기간", "k": 3}).json()["hits"]
    assert hits[0]["doc_path"] == "반품.md"
    passage = http.get(f"/api/chunks/{hits[0]['chunk_id']}").json()
    assert "14일" in passage["text"] and passage["doc_path"] == "반품.md"
    docs = http.get("/api/documents").json()["documents"]
    assert sorted(d["path"] for d in docs) == ["remote.md", "반품.md"]  # hr.md is for group hr only
    admin_docs = live.http("boss").get("/api/documents").json()["documents"]
    assert sorted(d["path"] for d in admin_docs) == ["hr.md", "remote.md", "반품.md"]


def test_admin_uploads_watches_ingest_and_deletes(live: Live):
    admin = live.http("boss")
    r = admin.post("/api/documents",
                   files={"file": ("parking.md", "# 주차\n\n주차 요금은 시간당 2,000원입니다.\n".encode())},
                   data={"groups": "staff"})
    assert r.status_code == 202
    job_id = r.json()["job"]["id"]
    for _ in range(200):
        job = admin.get(f"/api/documents/jobs/{job_id}").json()["job"]
        if job["status"] in ("done", "failed"):
            break

        time.sleep(0.05)
    assert job["status"] == "done" and job["report"]["summary"]["added"] == 1
    hits = live.http().post("/api/search", json={"query": "주차 요금"}).json()["hits"]
    assert hits[0]["doc_path"] == "parking.md"
    assert admin.delete("/api/documents/parking.md").json() == {"deleted": "parking.md"}
    after = live.http().post("/api/search", json={"query": "주차 요금"}).json()["hits"]
    assert "parking.md" not in [h["doc_path"] for h in after]
    bad = admin.post("/api/documents", files={"file": ("x.exe", b"MZ")})
    assert bad.status_code == 400 and "unsupported file type" in bad.json()["error"]["message"]


def test_health_metrics_openapi(live: Live):
    plain = httpx.Client(base_url=live.url)
    assert plain.get("/healthz").json()["status"] == "ok"
    live.client().models.list()
    text = plain.get("/metrics").text
    assert 'inhouse_requests_total{method="GET",route="/v1/models",status="200"} 1' in text
    assert "inhouse_queue_capacity 9" in text
    spec = plain.get("/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/api/search", "/api/documents"} <= set(
        spec["paths"]
    )
    page = plain.get("/")
    assert page.status_code == 200 and "InHouse" in page.text


def test_inhouse_serve_command(inhouse_home: Path, tmp_path: Path):
    """`inhouse serve` as users run it: a key made by `inhouse keys create` works against it."""
    import json
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, INHOUSE_EMBEDDER="hash")
    exe = [sys.executable, "-m", "inhouse.cli.main"]
    made = subprocess.run([*exe, "keys", "create", "--tenant", "acme", "--user", "kim", "--json"], env=env,
                          capture_output=True, text=True, check=True)
    key = json.loads(made.stdout)["key"]
    proc = subprocess.Popen([*exe, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        me = httpx.get(url + "/api/me", headers={"Authorization": f"Bearer {key}"}).json()
        assert (me["tenant"], me["user"], me["role"]) == ("acme", "kim", "reader")
        assert httpx.get(url + "/api/me").status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
