"""Run the app with uvicorn on a background thread (tests, benchmarks, embedding in another program).

Port 0 picks a free loopback port; `url` tells which. The server is real: sockets, HTTP/1.1, SSE.
"""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI


class BackgroundServer:
    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        # log_config=None: uvicorn's loggers keep whatever handlers the host program gave them (a library
        # does not configure logging); its warnings and errors still reach stderr through the root logger.
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None, lifespan="on",
                                     timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="inhouse-uvicorn", daemon=True)
        self.host = host
        self.port = port

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the InHouse server did not start; see the log above.")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
