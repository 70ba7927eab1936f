"""A simulated OpenAI-compatible inference engine: streams a fixed reply at a fixed number of tokens per second
per request, using no CPU to speak of, so that what a pool of N engines can do is measured where the machine
cannot run N real models (bench/scale.py; tests/integration/test_replicas_shared.py).

    python -m bench.sim_engine --port 8101 --tokens-per-s 50 --tokens 40

GET /v1/models lists `model`; POST /v1/chat/completions streams (SSE) or answers whole. `batch` bounds the
requests it generates at once (more wait their turn, as in a real engine); it counts what it served, the most
requests it ever held at once, and can be killed (every open stream cut) and started again on its port.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SimEngine:
    def __init__(self, port: int = 0, model: str = "sim", tokens_per_s: float = 50.0, tokens: int = 40,
                 batch: int = 64) -> None:
        self.model, self.tokens_per_s, self.tokens = model, tokens_per_s, tokens
        self.port = port
        self.batch = threading.BoundedSemaphore(batch)
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.served = 0
        self.httpd: ThreadingHTTPServer | None = None
        self._conns: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> SimEngine:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with engine.lock:
                    engine._conns.add(self.connection)

            def finish(self) -> None:
                with engine.lock:
                    engine._conns.discard(self.connection)
                super().finish()

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": engine.model, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                n = min(int(body.get("max_tokens") or engine.tokens), engine.tokens)
                with engine.batch:
                    with engine.lock:
                        engine.active += 1
                        engine.most = max(engine.most, engine.active)
                    try:
                        self._generate(body, n)
                    except (BrokenPipeError, ConnectionResetError):  # the client went away, or we were killed
                        pass
                    finally:
                        with engine.lock:
                            engine.active -= 1
                            engine.served += 1

            def _generate(self, body: dict, n: int) -> None:
                pieces = [f"w{i} " for i in range(n)]
                if not body.get("stream"):
                    time.sleep(n / engine.tokens_per_s)
                    self._json(200, {"choices": [{"index": 0, "finish_reason": "length", "message": {
                        "role": "assistant", "content": "".join(pieces)}}],
                        "usage": {"completion_tokens": n}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def send(event: str) -> None:
                    data = f"data: {event}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                start = time.monotonic()
                for i, piece in enumerate(pieces):
                    time.sleep(max(0.0, start + (i + 1) / engine.tokens_per_s - time.monotonic()))
                    send(json.dumps({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}))
                send(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                                 "usage": {"completion_tokens": n}}))
                send("[DONE]")
                self.wfile.write(b"0\r\n\r\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def kill(self) -> None:
        """Stop at once: no new connection is accepted and every open one is cut (as kill -9 would)."""
        if self.httpd is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for conn in list(self._conns):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
        self.httpd = None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8101)
    ap.add_argument("--model", default="sim")
    ap.add_argument("--tokens-per-s", type=float, default=50.0)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    engine = SimEngine(args.port, args.model, args.tokens_per_s, args.tokens, args.batch).start()
    print(engine.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
