"""OpenAICompatChat against real loopback HTTP servers: what it asks for, how it reads a stream, and that it
never follows a redirect with the key. (tests/integration/test_chat_contract.py runs it against llama.cpp.)"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from inhouse.errors import InputError, PermissionDenied
from inhouse.ingest.pipeline import validate_name
from inhouse.models.chat import ModelServerError, OpenAICompatChat
from inhouse.protocols import Reply


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirecting_model_server_is_not_followed():
    seen: list[str | None] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST  # urllib follows a 302 answer to a POST with a GET, headers and all

        def log_message(self, *args) -> None:
            pass

    with serve(Elsewhere) as target:
        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{target.server_port}/v1/chat/completions")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        with serve(Redirect) as first:
            chat = OpenAICompatChat(f"http://127.0.0.1:{first.server_port}/v1", "m", api_key="secret-key")
            with pytest.raises(InputError, match="redirect .* refused"):
                chat.complete([{"role": "user", "content": "hi"}])
    assert seen == []  # the key (and the prompt) never reached the other server


def _events(*events: dict | str) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, str) else json.dumps(e)).encode() + b"\n\n" for e in events)


def _delta(text: str | None, logprob: float | None = None, finish: str | None = None) -> dict:
    choice: dict = {"index": 0, "delta": {"content": text} if text is not None else {}, "finish_reason": finish}
    if logprob is not None:
        choice["logprobs"] = {"content": [{"token": text, "logprob": logprob, "top_logprobs": []}]}
    return {"object": "chat.completion.chunk", "choices": [choice]}


@contextmanager
def streaming(body: bytes, delay: float = 0.0) -> Iterator[tuple[OpenAICompatChat, list[dict], threading.Event]]:
    """A server that records each request and streams `body` line by line, `delay` apart; `gone` is set when
    the client stops reading (a write fails)."""
    requests: list[dict] = []
    gone = threading.Event()

    class Stream(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for line in body.splitlines(keepends=True):
                    self.wfile.write(line)
                    self.wfile.flush()
                    time.sleep(delay)
            except OSError:
                gone.set()

        def log_message(self, *args) -> None:
            pass

    with serve(Stream) as server:
        yield OpenAICompatChat(f"http://127.0.0.1:{server.server_port}/v1", "m"), requests, gone


def test_a_greedy_reply_asks_for_and_reports_token_logprobs():
    body = _events(_delta("", None), _delta("Hel", -0.5), _delta("lo", -0.25), _delta(None, None, "stop"), "[DONE]")
    with streaming(body) as (chat, requests, _):
        pieces: list[str] = []
        reply = chat.complete([{"role": "user", "content": "hi"}], max_tokens=8, stop=["\n"], on_piece=pieces.append)
        assert reply == Reply("Hello", 2, (-0.5, -0.25), "stop") and pieces == ["Hel", "lo"]
        assert requests[0]["logprobs"] is True and requests[0]["top_logprobs"] == 1 and requests[0]["stop"] == ["\n"]
        assert requests[0]["stream"] is True and requests[0]["max_tokens"] == 8
        chat.complete([{"role": "user", "content": "hi"}], temperature=0.7)
        assert "logprobs" not in requests[1]  # sampled tokens: none asked for
        chat.logprobs = False
        chat.complete([{"role": "user", "content": "hi"}])
        assert "logprobs" not in requests[2]


def test_tokens_and_finish_come_from_the_stream():
    usage = {"object": "chat.completion.chunk", "choices": [], "usage": {"completion_tokens": 7}}
    with streaming(_events(_delta("a"), _delta(" b"), _delta(None, None, "length"), usage, "[DONE]")) as (chat, _, _):
        assert chat.complete([{"role": "user", "content": "hi"}]) == Reply("a b", 7, (), "length")
    with streaming(_events(_delta("a"), _delta(" b"), "[DONE]")) as (chat, _, _):
        assert chat.complete([{"role": "user", "content": "hi"}]) == Reply("a b", 2, (), "stop")  # pieces counted


def test_an_error_in_the_stream_or_a_stream_cut_short_is_a_model_server_error():
    with streaming(_events(_delta("a"), {"error": {"message": "context full"}})) as (chat, _, _):
        with pytest.raises(ModelServerError, match="context full"):
            chat.complete([{"role": "user", "content": "hi"}])
    with streaming(_events(_delta("a"), _delta("b"))) as (chat, _, _):  # no finish_reason, no [DONE]
        with pytest.raises(ModelServerError, match="closed the stream before the reply ended"):
            chat.complete([{"role": "user", "content": "hi"}])


def test_an_exception_from_on_piece_closes_the_response_at_once():
    body = _events(*[_delta(f"w{i} ") for i in range(400)], "[DONE]")
    with streaming(body, delay=0.01) as (chat, _, gone):
        seen: list[str] = []

        class Enough(Exception):
            pass

        def stop_after_three(piece: str) -> None:
            seen.append(piece)
            if len(seen) == 3:
                raise Enough()

        with pytest.raises(Enough):
            chat.complete([{"role": "user", "content": "hi"}], on_piece=stop_after_three)
        assert gone.wait(5) and seen == ["w0 ", "w1 ", "w2 "]  # the server's next writes failed: nobody reads


def test_unlisted_hosts_are_refused_naming_the_setting():
    with pytest.raises(PermissionDenied, match="egress_allow"):
        OpenAICompatChat("http://models.example.com/v1", "m")


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", "", "x" * 65, "a..b", "a\\b", "-rf"])
def test_tenant_names_are_path_safe(bad: str):
    with pytest.raises(InputError, match="invalid tenant"):
        validate_name("tenant", bad)


def test_ordinary_tenant_names_pass():
    for good in ("acme", "shop42", "bank-kr", "회사_1", "a.b@c"):
        assert validate_name("tenant", good) == good
