"""Generation concurrency: a full queue answers 429 with Retry-After at once; a client that disconnects
mid-stream stops its generation (the model's next piece raises, and the model stops writing)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import openai

from inhouse.protocols import Reply
from tests.e2e.test_server import running


class SlowChat:
    """A real ChatModel whose generation waits for `gate`, then writes up to `n` pieces `delay` apart."""

    name = "slow"
    reports_logprobs = False
    supports_json_schema = False

    def __init__(self, n: int = 1000, delay: float = 0.01) -> None:
        self.n, self.delay = n, delay
        self.gate = threading.Event()
        self.yielded = 0
        self.closed = threading.Event()  # generation is over, finished or stopped

    def twin(self) -> None:
        return None

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512,
                 on_piece: Callable[[str], None] | None = None, **kwargs) -> Reply:
        parts: list[str] = []
        try:
            self.gate.wait(30)
            for i in range(min(self.n, max_tokens)):
                time.sleep(self.delay)
                self.yielded += 1
                parts.append(f"w{i} ")
                if on_piece:
                    on_piece(parts[-1])
        finally:
            self.closed.set()
        return Reply("".join(parts), len(parts), finish="length" if len(parts) < self.n else "stop")


def _wait(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_full_queue_gives_429_with_retry_after(inhouse_home: Path, tmp_path: Path):
    chat = SlowChat(n=3, delay=0.0)
    with running(inhouse_home, tmp_path, chat=chat, workers=1, max_waiting=1) as live:
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(live.http().post("/v1/chat/completions", json=body).status_code))
                   for _ in range(2)]
        for t in threads:
            t.start()
        assert _wait(lambda: live.srv.queue.admitted == 2)  # one generating (held by the gate), one waiting
        r = live.http().post("/v1/chat/completions", json=body)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["type"] == "rate_limit_error" and "busy" in r.json()["error"]["message"]
        try:
            live.client().chat.completions.create(model="slow", messages=body["messages"])
            raise AssertionError("expected 429")
        except openai.RateLimitError as e:
            assert e.status_code == 429
        # Retrieval does not queue behind generation.
        t0 = time.perf_counter()
        assert live.http().post("/api/search", json={"query": "반품 기간"}).status_code == 200
        assert time.perf_counter() - t0 < 5
        chat.gate.set()
        for t in threads:
            t.join(30)
        assert results == [200, 200]
        metrics = httpx.get(live.url + "/metrics").text
        assert "inhouse_queue_rejected_total 2" in metrics and "inhouse_generations_completed_total 2" in metrics
        assert live.http().post("/v1/chat/completions", json=body).status_code == 200  # room again


def test_disconnect_mid_stream_cancels_generation(inhouse_home: Path, tmp_path: Path):
    chat = SlowChat(n=2000, delay=0.005)
    chat.gate.set()
    with running(inhouse_home, tmp_path, chat=chat) as live:
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 4096}
        with live.http().stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            seen = 0
            for line in r.iter_lines():
                if line.startswith("data:") and "w" in line:
                    seen += 1
                if seen >= 5:
                    break
        # The response is closed: the server notices, the generation thread stops consuming the model.
        assert _wait(lambda: live.srv.queue.cancelled == 1)
        assert chat.closed.wait(5)
        stopped_at = chat.yielded
        time.sleep(0.3)
        assert chat.yielded == stopped_at < 2000
        assert live.srv.queue.admitted == 0
        assert [e.outcome for e in live.srv.audit.query(action="chat")] == ["cancelled"]


def test_disconnect_without_streaming_cancels_generation(inhouse_home: Path, tmp_path: Path):
    chat = SlowChat(n=2000, delay=0.005)
    chat.gate.set()
    with running(inhouse_home, tmp_path, chat=chat) as live:
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096}
        try:
            httpx.post(live.url + "/v1/chat/completions", json=body, timeout=1.0,
                       headers={"Authorization": f"Bearer {live.keys['kim']}"})
            raise AssertionError("expected the client to time out")
        except httpx.ReadTimeout:
            pass
        assert _wait(lambda: live.srv.queue.cancelled == 1)
        assert chat.closed.wait(5) and chat.yielded < 2000
