"""The InHouse HTTP server: OpenAI-compatible /v1 routes, native /api routes, metrics and the web UI.

Every route except /healthz, /metrics, /openapi.json and the static web page needs an API key; the key
decides the principal (tenant, user, groups) and the role, so a request can never name another tenant.
Domain errors become OpenAI-shaped JSON (`{"error": {"message", "type", "param", "code"}}`, errors.py).

`create_app` is the wiring: settings, the egress lock, the shared `Server` (state.py), the request edge
and metrics middlewares, the error handlers, and the routers (routes/, one module per concern). Routes
reach the `Server` and the request's key through dependencies (deps.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inhouse import __version__
from inhouse.config import Settings, home, load_settings
from inhouse.consortium.filter import LiveCopyFilter
from inhouse.errors import InHouseError
from inhouse.guard import copies, egress
from inhouse.protocols import ChatModel, Embedder, Store
from inhouse.server.edge import RequestEdge
from inhouse.server.errors import error_json, error_response
from inhouse.server.metrics import Metrics
from inhouse.server.queue import GenerationQueue
from inhouse.server.routes import analytics, answers, commerce, consortium, documents, me, openai, search, ui
from inhouse.server.state import Server

log = logging.getLogger(__name__)


class MetricsMiddleware:
    """Counts requests by route template and status. Plain ASGI (not BaseHTTPMiddleware), so streaming
    responses and client-disconnect detection pass through untouched."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status[0], time.perf_counter() - t0)


def create_app(chat: ChatModel | None = None, embedder: Embedder | None = None, settings: Settings | None = None,
               base: Path | None = None, workers: int = 1, max_waiting: int = 8,
               store: Store | None = None, per_tenant: int | None = None, adapter: str | None = None) -> FastAPI:
    """The app over INHOUSE_HOME (or `base`). `chat`/`embedder` default to the configured ones, loaded lazily;
    without `chat`, each tenant gets its model with its adapter (`adapter` overrides the configured ones)."""
    base = base or home()
    settings = settings or load_settings(base)
    egress.install_default()  # the server never reaches past loopback and egress_allow, however it is started
    copies.install(LiveCopyFilter(base))  # no reply repeats text partners contributed for training only
    if embedder is None:
        from inhouse.models.embedders import load_embedder

        embedder = load_embedder(settings.embedder)
    if chat is None and workers == 1:
        from inhouse.models.registry import Registry

        pool = Registry(base).remote(settings.model or None)
        if pool is not None:  # remote engines: as many generations at once as they take together
            workers = pool["concurrency"] * len(pool["urls"])
    shared = None
    if settings.database_url:  # replicas share one database: the queue's bounds hold across all of them
        from inhouse.store.locks import SharedSlots

        shared = SharedSlots(settings.database_url)
    srv = Server(chat, embedder, settings, base, GenerationQueue(workers, max_waiting, per_tenant, shared), store,
                 adapter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("server started: home %s, embedder %s, model %s, %d generation worker(s), %d waiting places",
                 base, embedder.name if embedder else "none", settings.model or "the registry default", workers,
                 max_waiting)
        yield
        srv.close()
        log.info("server stopped")

    app = FastAPI(title="InHouse", version=__version__, lifespan=lifespan,
                  description="Private, grounded answers over your own documents. OpenAI-compatible /v1 routes.")
    app.state.inhouse = srv

    # ---- edges --------------------------------------------------------------------------------------
    @app.exception_handler(InHouseError)
    async def _domain_error(request: Request, e: InHouseError) -> JSONResponse:
        return error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_json(400, f"invalid request: {where or 'body'}: {first.get('msg', 'invalid')}; "
                               "see /docs for the schema.",
                          "invalid_request_error", "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}.get(
            e.status_code, "invalid_request_error")
        return error_json(e.status_code, str(e.detail), kind, None, getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        # The client is told to see the server log: the traceback is here (the route's path, never its body).
        log.error("%s %s failed: %s", request.method, request.url.path, type(e).__name__, exc_info=e)
        return error_response(e)

    upload_limit = int(settings.max_file_mb * 1024 * 1024) + 64 * 1024  # the file and its multipart envelope

    def body_limit(method: str, path: str) -> int:
        return upload_limit if is_upload(method, path) else int(settings.max_body_kb * 1024)

    def is_upload(method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/") == "/api/documents"

    app.add_middleware(RequestEdge, authenticate=srv.keys.authenticate, limit_for=body_limit,
                       admin_only=is_upload, error=error_response)
    app.add_middleware(MetricsMiddleware, metrics=srv.metrics)

    # ---- routes, in this order (it is the order of /openapi.json) -----------------------------------
    for module in (ui, openai, me, search, answers, documents, commerce, analytics, consortium):
        app.include_router(module.router)
    return app


def from_environment() -> FastAPI:
    """The app of one worker process of `inhouse serve --workers N` (uvicorn's factory): INHOUSE_HOME and the
    settings as the command had them, its --max-waiting and --adapter from INHOUSE_SERVE_*."""
    import os

    return create_app(max_waiting=int(os.environ.get("INHOUSE_SERVE_MAX_WAITING", "8")),
                      adapter=os.environ.get("INHOUSE_SERVE_ADAPTER"))
