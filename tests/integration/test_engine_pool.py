"""The engine pool against two real llama.cpp server processes on loopback (the packaged Qwen2.5-Coder-0.5B):
least-busy routing, a killed engine's requests retried on the other, its circuit opened and closed again by a
health check when it is back, a clean 503 when no engine can serve, and the server answering through the pool."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.errors import PermissionDenied
from inhouse.ingest import ingest
from inhouse.models.embedders import load_embedder
from inhouse.models.pool import EnginePool, Unavailable
from inhouse.server.app import create_app
from inhouse.server.db import ServerDB
from inhouse.server.keys import KeyStore
from inhouse.server.runner import BackgroundServer
from inhouse.store import SQLiteStore
from tests.helpers import LlamaServer

MODEL = "qwen2.5-coder-0.5b"
HI = [{"role": "user", "content": "Say hello in three words."}]


@pytest.fixture(scope="module")
def engines(tmp_path_factory, packaged_gguf: Path) -> Iterator[list[LlamaServer]]:
    gguf = packaged_gguf
    logs = tmp_path_factory.mktemp("engines")
    servers = [LlamaServer(gguf, MODEL, logs / f"engine{i}.log", n_ctx=512) for i in (1, 2)]
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()


def _pool(engines: list[LlamaServer], **kw) -> EnginePool:
    return EnginePool("pool", [e.url for e in engines], MODEL, engine="llamacpp", timeout=60, **kw)


def test_requests_spread_over_the_least_busy_engines(engines: list[LlamaServer]):
    pool = _pool(engines, concurrency=1)
    replies, seen, done = [], [], threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append([e["in_flight"] for e in pool.health()])
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=lambda: replies.append(pool.complete(HI, max_tokens=8))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert len(replies) == 4 and all(r.text for r in replies)
    served = [e["served"] for e in pool.health()]
    assert sum(served) == 4 and min(served) >= 1  # both engines worked; the faster one may take more
    assert max(max(s) for s in seen) == 1 and [1, 1] in seen  # never over an engine's one slot, both busy at once


def test_a_killed_engine_is_routed_around_and_brought_back_by_its_health_check(engines: list[LlamaServer]):
    pool = _pool(engines, concurrency=2, failures=2, cooldown=1.0)
    down, up = engines
    down.kill()
    try:
        for _ in range(4):  # every request answered, none lost: the dead engine's are retried on the other
            assert pool.complete(HI, max_tokens=4).text
        dead, alive = pool.health()
        assert dead["failed"] == 2 and dead["state"] == "open" and alive["served"] == 4
        time.sleep(1.1)  # cooldown over: its turn comes within two requests, and its health check fails
        for _ in range(2):
            assert pool.complete(HI, max_tokens=4).text
        assert pool.health()[0]["state"] == "open" and pool.health()[0]["last_error"] == "health check failed"
        assert pool.health()[0]["failed"] == 2  # a failed health check costs no request
    finally:
        down.start()
    time.sleep(1.1)
    for _ in range(4):
        pool.complete(HI, max_tokens=4)
    back = pool.health()[0]
    assert back["state"] == "closed" and back["served"] >= 1


def test_no_engine_left_is_a_clean_unavailable(engines: list[LlamaServer]):
    pool = EnginePool("pool", ["http://127.0.0.1:9/v1", "http://127.0.0.1:7/v1"], MODEL, failures=1, cooldown=30)
    with pytest.raises(Unavailable, match="every engine of 'pool' failed") as first:
        pool.complete(HI, max_tokens=4)
    assert first.value.retry_after >= 1
    with pytest.raises(Unavailable, match="circuit open") as second:
        pool.complete(HI, max_tokens=4)
    assert 25 <= second.value.retry_after <= 31


def test_a_reply_cut_mid_stream_is_reported_not_silently_retried(engines: list[LlamaServer]):
    pool = _pool(engines[:1], concurrency=1)
    pieces: list[str] = []

    def kill_after_first(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 1:
            engines[0].kill()

    try:
        with pytest.raises(Unavailable, match="failed mid-reply"):
            pool.complete([{"role": "user", "content": "Count from 1 to 50."}], max_tokens=100,
                          on_piece=kill_after_first)
    finally:
        engines[0].start()
    # A client that goes away is not the engine's fault.
    with pytest.raises(KeyError):
        pool.complete(HI, max_tokens=8, on_piece=lambda p: (_ for _ in ()).throw(KeyError("gone")))
    assert pool.health()[0]["failed"] == 1


def test_hosts_must_be_allow_listed():
    with pytest.raises(PermissionDenied, match="egress_allow"):
        EnginePool("pool", ["http://10.1.2.3:8000/v1"], MODEL)
    EnginePool("pool", ["http://10.1.2.3:8000/v1"], MODEL, allowed_hosts=["10.1.2.3"])  # allowed: no error


def test_the_server_answers_through_registered_engines(engines: list[LlamaServer], inhouse_home: Path,
                                                       tmp_path: Path, capsys):
    assert main(["models", "add-remote", "remote", "--url", engines[0].url, "--url", engines[1].url,
                 "--engine", "llamacpp", "--model", MODEL, "--concurrency", "2", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert [h["healthy"] for h in entry["health"]] == [True, True]
    assert main(["models", "default", "remote"]) == 0
    settings = Settings(embedder="hash")
    store = SQLiteStore(inhouse_home / "inhouse.db")
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "반품.md").write_text("# 반품\n\n반품은 수령 후 14일 이내에 가능합니다.\n", "utf-8")
    ingest(store, settings, [tmp_path / "kb"], "acme")
    key = KeyStore(ServerDB(inhouse_home / "server.db")).create("acme", "kim")[0]
    app = create_app(embedder=load_embedder("hash"), settings=settings, base=inhouse_home, store=store)
    assert app.state.inhouse.queue.workers == 4  # two engines × two requests each
    with BackgroundServer(app) as srv:
        r = httpx.post(srv.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=120,
                       json={"model": "remote", "messages": [{"role": "user", "content": "Say hi."}],
                             "max_tokens": 8})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    store.close()
