"""OpenAICompatChat against real loopback HTTP servers: it never follows a redirect with the key."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from inhouse.errors import InputError, PermissionDenied
from inhouse.ingest.pipeline import validate_name
from inhouse.models.chat import OpenAICompatChat


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
                list(chat.chat([{"role": "user", "content": "hi"}]))
    assert seen == []  # the key (and the prompt) never reached the other server


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
