"""The InHouse HTTP server: OpenAI-compatible /v1 routes, native /api routes, metrics and the web UI.

Every route except /healthz, /metrics, /openapi.json and the static web page needs an API key; the key
decides the principal (tenant, user, groups) and the role, so a request can never name another tenant.
Domain errors become OpenAI-shaped JSON (`{"error": {"message", "type", "param", "code"}}`).

Generation goes through the bounded queue (429 when full). For `inhouse-rag`, retrieval runs on the
request thread before the request takes a generation slot, so searches and retrieval stay concurrent
while the one model works. The verified answer is what gets sent: the model's raw draft is never
streamed, because the verifier decides what may be said; while the model writes, a streaming client
receives SSE keep-alive comments, which also reveal a disconnect and cancel the generation.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from inhouse import __version__
from inhouse.answer import Answer, AnswerPolicy, answer_question, judge_for
from inhouse.config import Settings, home, load_settings
from inhouse.errors import InHouseError, InputError, NotFoundError, PermissionDenied, StoreError
from inhouse.files import secure_dir
from inhouse.guard import egress
from inhouse.guard.pii import mask
from inhouse.guard.policy import check_policy
from inhouse.guard.view import ReaderView
from inhouse.ingest import embed_pending, ingest
from inhouse.ingest.loaders import LOADERS
from inhouse.protocols import ChatModel, Embedder
from inhouse.retrieve import read_chunks
from inhouse.retrieve import search as run_search
from inhouse.server.audit import AuditLog
from inhouse.server.db import ServerDB
from inhouse.server.edge import RequestEdge
from inhouse.server.jobs import IngestJob, JobStore
from inhouse.server.keys import ApiKey, KeyStore, Unauthorized, now_iso
from inhouse.server.metrics import Metrics
from inhouse.server.queue import Cancelled, GenerationQueue, QueueFull, Ticket
from inhouse.server.schemas import ChatRequest, EmbeddingRequest, SearchRequest
from inhouse.store import SQLiteStore, open_store

RAG_MODEL = "inhouse-rag"
KEEPALIVE_S = 0.5


# ---- errors in OpenAI's shape -----------------------------------------------------------------------
def _error(status: int, message: str, type_: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": None, "code": code}},
                        status_code=status, headers=headers)


def error_response(e: Exception) -> JSONResponse:
    if isinstance(e, QueueFull):
        return _error(429, str(e), "rate_limit_error", "queue_full", {"Retry-After": str(e.retry_after)})
    if isinstance(e, Unauthorized):
        return _error(401, str(e), "authentication_error", "invalid_api_key", {"WWW-Authenticate": "Bearer"})
    if isinstance(e, PermissionDenied):
        return _error(403, str(e), "permission_error", "forbidden")
    if isinstance(e, NotFoundError):
        return _error(404, str(e), "not_found_error", "not_found")
    if isinstance(e, InputError):
        return _error(400, str(e), "invalid_request_error", "invalid_request")
    if isinstance(e, StoreError):
        return _error(503, str(e), "server_error", "store_unavailable")
    return _error(500, f"internal error ({type(e).__name__}); see the server log.", "server_error", "internal")


# ---- state ------------------------------------------------------------------------------------------
class Server:
    """What the routes share: the store, keys, audit log, model, embedder, queue and metrics."""

    def __init__(self, chat: ChatModel | None, embedder: Embedder | None, settings: Settings, base: Path,
                 queue: GenerationQueue, store: SQLiteStore | None = None) -> None:
        secure_dir(base)
        self.base = base
        self.settings = settings
        self.store = store or open_store(base)
        self.db = ServerDB(base / "server.db")
        self.keys = KeyStore(self.db)
        self.audit = AuditLog(self.db)
        self._chat = chat
        self._chat_lock = threading.Lock()
        self._judge: ChatModel | None = None
        self._judge_made = False
        self.embedder = embedder
        self.queue = queue
        self.metrics = Metrics()
        # Generation and its waiting requests get their own threads, so a full queue cannot starve the
        # threads that serve searches.
        self.gen_pool = ThreadPoolExecutor(max_workers=queue.capacity, thread_name_prefix="inhouse-gen")
        self.ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inhouse-ingest")
        self.jobs = JobStore(self.db)

    @property
    def chat(self) -> ChatModel:
        with self._chat_lock:
            if self._chat is None:
                from inhouse.models.chat import LlamaCppChat
                from inhouse.models.registry import Registry

                name, path = Registry(self.base).resolve(self.settings.model or None)
                self._chat = LlamaCppChat(path, name=name, n_ctx=self.settings.n_ctx,
                                          n_threads=self.settings.n_threads or os.cpu_count())
            return self._chat

    @property
    def judge(self) -> ChatModel | None:
        """The model that judges kept claims (inhouse.answer.judge_for), made once, beside `chat`."""
        chat = self.chat
        with self._chat_lock:
            if not self._judge_made:
                self._judge, self._judge_made = judge_for(chat, self.settings), True
            return self._judge

    def close(self) -> None:
        self.gen_pool.shutdown(wait=False, cancel_futures=True)
        self.ingest_pool.shutdown(wait=False, cancel_futures=True)


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


class GatedChat:
    """The model as `answer_question` sees it (the answering model, and its judge): generation waits for a
    queue slot, counts its pieces, and stops consuming the model's iterator (closing it) as soon as the
    ticket is cancelled. `last_logprobs` is the model's for this request's last reply, read while the slot
    was held (another request's reply would replace the model's own)."""

    def __init__(self, inner: ChatModel, ticket: Ticket, metrics: Metrics, on_piece: Callable[[str], None] | None = None):
        self.inner, self.ticket, self.metrics, self.on_piece = inner, ticket, metrics, on_piece
        self.name = inner.name
        self.pieces = 0
        self.last_logprobs: list[float] = []

    def chat(self, messages: Sequence[dict[str, str]], **kwargs) -> Iterator[str]:
        with self.ticket.run() as cancel:
            t0, before = time.perf_counter(), self.pieces
            stream = self.inner.chat(messages, **kwargs)
            try:
                for piece in stream:
                    if cancel.is_set():
                        raise Cancelled()
                    self.pieces += 1
                    if self.on_piece:
                        self.on_piece(piece)
                    yield piece
            finally:
                close = getattr(stream, "close", None)
                if close:
                    close()  # stops llama.cpp's generator now, not when it is garbage-collected
                self.last_logprobs = list(getattr(self.inner, "last_logprobs", None) or [])
                self.metrics.generated(self.pieces - before, time.perf_counter() - t0)


def _sources_text(a: Answer) -> str:
    shown = a.cited_sources()
    if a.abstained or not shown:
        return a.answer
    lines = [f"[{s.n}] {s.doc_path}" + (f" p.{s.page}" if s.page else "") for s in shown]
    return a.answer + "\n\n" + "\n".join(lines)


def _question(req: ChatRequest) -> str:
    for m in reversed(req.messages):
        if m.role == "user" and m.text().strip():
            return m.text().strip()
    raise InputError("no user message with text; send at least one {'role': 'user', 'content': '…'}.")


def _conversation(req: ChatRequest) -> str:
    """Every message of a plain chat, as the audit log records it (masked there): the model saw them all."""
    return "\n".join(f"{m.role}: {m.text()}" for m in req.messages)


def _chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None, **extra) -> str:
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"


_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


_bearer = HTTPBearer(auto_error=False, description="an InHouse API key (`inhouse keys create`)")


def auth(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKey:
    """The key of this request (401 when missing or not valid); it decides tenant, user, groups, role."""
    return request.app.state.inhouse.keys.authenticate(creds.credentials if creds else None)


def admin(key: Annotated[ApiKey, Depends(auth)]) -> ApiKey:
    if not key.is_admin:
        raise PermissionDenied(f"key {key.id} has role '{key.role}'; this needs an admin key.")
    return key


Reader = Annotated[ApiKey, Depends(auth)]
Admin = Annotated[ApiKey, Depends(admin)]


def create_app(chat: ChatModel | None = None, embedder: Embedder | None = None, settings: Settings | None = None,
               base: Path | None = None, workers: int = 1, max_waiting: int = 8,
               store: SQLiteStore | None = None, per_tenant: int | None = None) -> FastAPI:
    """The app over INHOUSE_HOME (or `base`). `chat`/`embedder` default to the configured ones, loaded lazily."""
    base = base or home()
    settings = settings or load_settings(base)
    egress.install_default()  # the server never reaches past loopback and egress_allow, however it is started
    if embedder is None:
        from inhouse.models.embedders import load_embedder

        embedder = load_embedder(settings.embedder)
    srv = Server(chat, embedder, settings, base, GenerationQueue(workers, max_waiting, per_tenant), store)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        srv.close()

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
        return _error(400, f"invalid request: {where or 'body'}: {first.get('msg', 'invalid')}; see /docs for the schema.",
                      "invalid_request_error", "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}.get(
            e.status_code, "invalid_request_error")
        return _error(e.status_code, str(e.detail), kind, None, getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        return error_response(e)

    upload_limit = int(settings.max_file_mb * 1024 * 1024) + 64 * 1024  # the file and its multipart envelope

    def body_limit(method: str, path: str) -> int:
        return upload_limit if is_upload(method, path) else int(settings.max_body_kb * 1024)

    def is_upload(method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/") == "/api/documents"

    app.add_middleware(RequestEdge, authenticate=srv.keys.authenticate, limit_for=body_limit,
                       admin_only=is_upload, error=error_response)
    app.add_middleware(MetricsMiddleware, metrics=srv.metrics)


    # ---- public -------------------------------------------------------------------------------------
    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        return {"status": "ok", "version": __version__, "queue": {"admitted": srv.queue.admitted,
                                                                   "capacity": srv.queue.capacity}}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(srv.metrics.render(srv.queue), media_type="text/plain; version=0.0.4")

    static = resources.files("inhouse.server").joinpath("static")

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(static.joinpath("index.html").read_text("utf-8"))

    @app.get("/leaderboard", include_in_schema=False)
    def leaderboard() -> HTMLResponse:
        # Model benchmark scores only (no documents), so the page is public like the sign-in page.
        from inhouse.evals.page import render_board
        from inhouse.evals.store import EvalStore

        path = base / "evals" / "evals.db"
        if not path.exists():
            return HTMLResponse(render_board([]))
        board = EvalStore(path)
        try:
            return HTMLResponse(render_board(board.board()))
        finally:
            board.close()

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
        suffix = Path(name).suffix
        f = static.joinpath(name)
        if suffix not in types or "/" in name or not f.is_file():
            raise NotFoundError(f"no static file '{name}'.")
        return Response(f.read_bytes(), media_type=types[suffix] + "; charset=utf-8")

    # ---- OpenAI-compatible --------------------------------------------------------------------------
    def model_names() -> list[str]:
        return [RAG_MODEL, srv.chat.name]

    @app.get("/v1/models", tags=["openai"])
    def list_models(key: Reader) -> dict:
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "inhouse"} for n in model_names()]
        if srv.embedder is not None:
            data.append({"id": srv.embedder.name, "object": "model", "created": 0, "owned_by": "inhouse"})
        return {"object": "list", "data": data}

    @app.post("/v1/embeddings", tags=["openai"])
    def embeddings(body: EmbeddingRequest, key: Reader) -> dict:
        if srv.embedder is None or body.model != srv.embedder.name:
            raise NotFoundError(f"no embedding model '{body.model}'; use '{getattr(srv.embedder, 'name', '')}' (GET /v1/models).")
        texts = [body.input] if isinstance(body.input, str) else list(body.input)
        if not texts or len(texts) > 256 or any(not t.strip() for t in texts):
            raise InputError("input must be 1–256 non-empty strings.")
        vectors = srv.embedder.embed(texts)
        data = []
        for i, v in enumerate(np.asarray(vectors, dtype=np.float32)):
            emb = base64.b64encode(v.astype("<f4").tobytes()).decode() if body.encoding_format == "base64" else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t.split()) for t in texts)
        return {"object": "list", "data": data, "model": srv.embedder.name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat_completions(body: ChatRequest, request: Request, key: Reader) -> Response:
        model = body.model
        if model not in model_names():
            raise NotFoundError(f"no model '{model}'; available: {', '.join(model_names())} (GET /v1/models).")
        question = _question(body)
        max_tokens = body.max_completion_tokens or body.max_tokens
        ticket = srv.queue.admit(key.tenant)  # 429 here, before any response starts
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()
        rag = model == RAG_MODEL

        def emit(piece: str) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        def work() -> dict:
            """Runs on a generation thread: the answer (RAG) or the plain reply, plus the audit entry."""
            gated = GatedChat(srv.chat, ticket, srv.metrics, None if rag else (emit if body.stream else None))
            try:
                if rag:
                    # The judge waits for the generation slot too: it shares the machine's cores with the model.
                    judge = GatedChat(srv.judge, ticket, srv.metrics) if srv.judge is not None else None
                    a = answer_question(srv.store, key.principal, question, srv.settings, gated, srv.embedder,
                                        judge_model=judge, policy=AnswerPolicy(max_tokens=max_tokens or 256))
                    answer_id = uuid.uuid4().hex
                    js = a.to_json() | {"answer_id": answer_id, "question": mask(question)}
                    # Stored masked whoever asked: a cleared reader's revealed PII is not kept at rest.
                    with srv.db.transaction() as c:
                        c.execute("INSERT INTO answers VALUES (?,?,?,?,?)",
                                  (answer_id, key.tenant, key.user, now_iso(), _dumps(_masked(js))))
                    returned = [c["chunk_id"] for c in js["citations"]] or [h["chunk_id"] for h in js["nearest"]]
                    srv.audit.record(key, "answer", "refused" if a.abstained else "answered", question, a.answer,
                                     returned, a.model, answer_id)
                    return {"content": _sources_text(a), "inhouse": js, "pieces": gated.pieces}
                params = {"max_tokens": max_tokens or 512, "temperature": body.temperature or 0.0,
                          "stop": [body.stop] if isinstance(body.stop, str) else (body.stop or [])}
                text = "".join(gated.chat([{"role": m.role, "content": m.text()} for m in body.messages], **params))
                srv.audit.record(key, "chat", "ok", _conversation(body), text, [], model)
                return {"content": text, "inhouse": None, "pieces": gated.pieces}
            except Cancelled:
                srv.audit.record(key, "answer" if rag else "chat", "cancelled",
                                 question if rag else _conversation(body), "", [], model, detail="client disconnected")
                raise
            finally:
                ticket.finish()

        if not body.stream:
            future = loop.run_in_executor(srv.gen_pool, work)
            # A non-streaming client that hangs up also frees the model: poll for the disconnect.
            while not future.done():
                await asyncio.wait({future}, timeout=KEEPALIVE_S)
                if not future.done() and await request.is_disconnected():
                    ticket.cancel.set()
            try:
                result = await future
            except Cancelled:
                return _error(499, "the client closed the request; generation stopped.", "invalid_request_error",
                              "client_closed")
            out = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": result["content"]},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 0, "completion_tokens": result["pieces"],
                             "total_tokens": result["pieces"]}}
            if result["inhouse"] is not None:
                out["inhouse"] = result["inhouse"]
            return JSONResponse(out)

        future = loop.run_in_executor(srv.gen_pool, work)

        async def stream() -> AsyncIterator[str]:
            finished = False
            getter: asyncio.Future | None = None
            try:
                yield _chunk(cid, model, created, {"role": "assistant", "content": ""})
                while True:
                    # Wake on the next piece or on the end of the work, whichever comes first; wake
                    # every KEEPALIVE_S anyway to send a keep-alive (which reveals a disconnect).
                    getter = getter or asyncio.ensure_future(pieces.get())
                    done, _ = await asyncio.wait({getter, future}, timeout=KEEPALIVE_S,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter in done:
                        piece, getter = getter.result(), None
                        yield _chunk(cid, model, created, {"content": piece})
                    elif future.done():
                        while not pieces.empty():
                            yield _chunk(cid, model, created, {"content": pieces.get_nowait()})
                        break
                    else:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                try:
                    result = await future
                except Exception as e:  # the response has started: report the error in the stream
                    finished = True
                    yield "data: " + json.dumps(_error_body(e), ensure_ascii=False) + "\n\n"
                    return
                if rag:  # the verified answer, in word-sized pieces like a model's stream
                    for word in re.findall(r"\S+\s*|\s+", result["content"]):
                        yield _chunk(cid, model, created, {"content": word})
                extra = {"inhouse": result["inhouse"]} if result["inhouse"] is not None else {}
                yield _chunk(cid, model, created, {}, "stop", **extra)
                yield "data: [DONE]\n\n"
                finished = True
            finally:
                if getter is not None:
                    getter.cancel()
                if not finished:
                    ticket.cancel.set()  # the client went away: the generation thread stops at its next token

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # ---- native API -------------------------------------------------------------------------------
    @app.get("/api/me", tags=["inhouse"])
    def api_me(key: Reader) -> dict:
        """Who this key is (the web UI shows admin tools to admins)."""
        return {"key_id": key.id, "tenant": key.tenant, "user": key.user, "groups": list(key.groups),
                "role": key.role, "expires_at": key.expires_at}

    @app.post("/api/search", tags=["inhouse"])
    def api_search(body: SearchRequest, key: Reader) -> dict:
        embedder = srv.embedder if body.mode != "lexical" else None
        mode = body.mode if embedder is not None else "lexical"
        result = run_search(srv.store, key.principal, body.query, srv.settings, k=body.k, mode=mode, embedder=embedder)
        srv.audit.record(key, "search", "ok", body.query, "", [h.chunk_id for h in result.hits])
        return result.to_json()

    @app.get("/api/chunks/{chunk_id}", tags=["inhouse"])
    def api_chunk(chunk_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], key: Reader) -> dict:
        """One passage, for reading a citation; absent unless the key's principal may read it."""
        ch = read_chunks(srv.store, key.principal, [chunk_id]).get(chunk_id)
        srv.audit.record(key, "read", "ok" if ch is not None else "error", chunk_ids=[chunk_id] if ch else [],
                         detail="" if ch else f"no readable passage {chunk_id}")
        if ch is None:
            raise NotFoundError(f"no passage {chunk_id} that this key may read.")
        return {"chunk_id": chunk_id, "doc_path": ch.doc_path, "page": ch.page, "heading": list(ch.heading_path),
                "text": ch.text}

    @app.get("/api/answers/{answer_id}", tags=["inhouse"])
    def api_answer(answer_id: str, key: Reader) -> dict:
        rows = srv.db.query("SELECT tenant, user, body FROM answers WHERE id = ?", (answer_id,))
        # Another tenant's (or, for a reader, another user's) answer is reported as absent, not forbidden.
        if not rows or rows[0][0] != key.tenant or (rows[0][1] != key.user and not key.is_admin):
            raise NotFoundError(f"no answer '{answer_id}' for this key.")
        return json.loads(rows[0][2])

    @app.get("/api/documents", tags=["inhouse"])
    def api_documents(key: Reader) -> dict:
        # An admin manages the tenant's every document; a reader lists those their groups may read.
        docs = srv.store.list_documents(tenant=key.tenant, principal=None if key.is_admin else key.principal)
        view = ReaderView(key.principal)
        jobs = [j.to_json() for j in srv.jobs.list(key.tenant)] if key.is_admin else []
        return {"documents": [{"path": d.path, "kind": d.kind, "groups": list(d.groups), "pages": d.pages,
                               "size": d.size, "title": view.stored(d.title)[0], "sha256": d.sha256} for d in docs],
                "jobs": jobs}

    @app.post("/api/documents", tags=["inhouse"], status_code=202)
    async def api_upload(file: Annotated[UploadFile, File()], key: Admin, groups: Annotated[str, Form()] = "",
                         pii: Annotated[str, Form()] = "") -> dict:
        """Upload one file to ingest; `pii` is the PII policy (default: the `pii` setting)."""
        policy = check_policy(pii or srv.settings.pii)
        name = Path(file.filename or "").name
        if not name or not _SAFE_NAME.match(name) or name.startswith("."):
            raise InputError("the upload needs a file name (no path, no leading dot).")
        if Path(name).suffix.lower() not in LOADERS:
            raise InputError(f"unsupported file type '{Path(name).suffix}'; supported: {', '.join(sorted(LOADERS))}.")
        limit = int(srv.settings.max_file_mb * 1024 * 1024)
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"the file is over {srv.settings.max_file_mb:g} MB; split it or raise INHOUSE_MAX_FILE_MB.")
        group_list = tuple(g.strip() for g in groups.split(",") if g.strip())
        job = IngestJob(uuid.uuid4().hex[:16], key.tenant, name, group_list)
        folder = srv.base / "uploads" / key.tenant / job.id
        secure_dir(folder)
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o600)
        srv.jobs.save(job)

        def run() -> None:
            job.status = "running"
            srv.jobs.save(job)
            try:
                report = ingest(srv.store, srv.settings, [folder / name], key.tenant, group_list, pii=policy)
                if srv.embedder is not None:
                    report.embedded = embed_pending(srv.store, srv.embedder, srv.settings.embed_batch,
                                                    tenant=key.tenant)  # only this tenant's chunks, counted
                job.report = report.to_json()
                job.status = "failed" if report.failed else "done"
                job.error = "; ".join(f.error for f in report.failed)
            except Exception as e:  # reported through the job, never lost in a thread
                job.status, job.error = "failed", str(e)
            srv.jobs.save(job)
            srv.audit.record(key, "upload", "ok" if job.status == "done" else "error", detail=f"{name}: {job.status} {job.error}")

        srv.ingest_pool.submit(run)
        return {"job": job.to_json()}

    @app.get("/api/documents/jobs/{job_id}", tags=["inhouse"])
    def api_job(job_id: str, key: Admin) -> dict:
        job = srv.jobs.get(key.tenant, job_id)
        if job is None:
            raise NotFoundError(f"no ingest job '{job_id}'.")
        return {"job": job.to_json()}

    @app.delete("/api/documents/{path:path}", tags=["inhouse"])
    def api_delete(path: str, key: Admin) -> dict:
        doc = srv.store.get_document(key.tenant, path)
        if doc is None or not srv.store.delete_document(key.tenant, path):
            raise NotFoundError(f"no document '{path}' in tenant '{key.tenant}'; see GET /api/documents.")
        # An uploaded file goes with its document (uploads/<tenant>/<job>/<name>); files ingested from the
        # organisation's own folders are theirs and stay.
        uploads = (srv.base / "uploads" / key.tenant).resolve()
        root = Path(doc.root).resolve() if doc.root else None
        if root is not None and root.is_relative_to(uploads) and root != uploads:
            shutil.rmtree(uploads / root.relative_to(uploads).parts[0], ignore_errors=True)
        srv.audit.record(key, "delete", "ok", detail=path)
        return {"deleted": path}

    return app


def _error_body(e: Exception) -> dict:
    return json.loads(error_response(e).body)


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _masked(obj: object) -> object:
    """`obj` (JSON data) with PII masked in every string."""
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, dict):
        return {k: _masked(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_masked(v) for v in obj]
    return obj
