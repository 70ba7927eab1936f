"""What the routes that run the model need around it: the queue-gated model, a generation thread that stops
when the client hangs up, the question and conversation of a request, the answer text with its source list,
and the SSE chunks of a stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse

from inhouse.answer import Answer
from inhouse.errors import InputError
from inhouse.models.chat import WrappedChat
from inhouse.protocols import ChatModel, Reply
from inhouse.server.errors import error_json
from inhouse.server.metrics import Metrics
from inhouse.server.queue import Cancelled, Ticket
from inhouse.server.schemas import ChatRequest

if TYPE_CHECKING:
    from inhouse.server.keys import ApiKey
    from inhouse.server.state import Server


class GatedChat(WrappedChat):
    """The model as `answer_question` sees it (the answering model, and its judge): each reply waits for the
    request's queue slot, its pieces are counted, and once the ticket is cancelled the next piece raises
    `Cancelled`, which stops the model (the `ChatModel.complete` contract) and ends the request. The reply,
    log-probabilities included, is the model's own for this call."""

    def __init__(self, inner: ChatModel, ticket: Ticket, metrics: Metrics) -> None:
        super().__init__(inner)
        self.ticket, self.metrics = ticket, metrics
        self.pieces = 0  # streamed pieces, for the metrics
        self.tokens = 0  # the replies' tokens, for `usage`

    def twin(self) -> None:
        return None  # the server gates the judge on its own (Server.judge)

    def complete(self, messages: Sequence[dict[str, str]], *, on_piece: Callable[[str], None] | None = None,
                 **kwargs) -> Reply:
        with self.ticket.run() as cancel:
            t0, before = time.perf_counter(), self.pieces

            def piece(text: str) -> None:
                if cancel.is_set():
                    raise Cancelled()
                self.pieces += 1
                if on_piece:
                    on_piece(text)

            try:
                reply = self.inner.complete(messages, on_piece=piece, **kwargs)
            finally:
                self.metrics.generated(self.pieces - before, time.perf_counter() - t0)
            self.tokens += reply.tokens
            return reply


def sources_text(a: Answer) -> str:
    """The answer, then a "[n] path p.N" line per cited source (a refusal stands alone)."""
    shown = a.cited_sources()
    if a.abstained or not shown:
        return a.answer
    lines = [f"[{s.n}] {s.doc_path}" + (f" p.{s.page}" if s.page else "") for s in shown]
    return a.answer + "\n\n" + "\n".join(lines)


def user_question(req: ChatRequest) -> str:
    """The last user message with text: what `inhouse-rag` answers."""
    for m in reversed(req.messages):
        if m.role == "user" and m.text().strip():
            return m.text().strip()
    raise InputError("no user message with text; send at least one {'role': 'user', 'content': '…'}.")


def conversation(req: ChatRequest) -> str:
    """Every message of a plain chat, as the audit log records it (masked there): the model saw them all."""
    return "\n".join(f"{m.role}: {m.text()}" for m in req.messages)


def sse_chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None, **extra) -> str:
    """One `chat.completion.chunk` event of a stream."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"


POLL_S = 0.5  # how often a waiting request checks that its client is still there


async def run_gated(pool: Executor, ticket: Ticket, work: Callable[[], Any], request: Request) -> Any:
    """`work()` on a generation thread of `pool`; a client that hangs up meanwhile cancels the ticket, so the
    model stops at its next piece and this raises `Cancelled`."""
    future = asyncio.get_running_loop().run_in_executor(pool, work)
    while not future.done():
        await asyncio.wait({future}, timeout=POLL_S)
        if not future.done() and await request.is_disconnected():
            ticket.cancel.set()
    return await future


async def generate_for(srv: Server, key: ApiKey, request: Request, work: Callable[[ChatModel], Any]) -> Any:
    """`work(chat)` with the key's tenant's model, gated by the request's place in the generation queue (429 when
    it is full), on a generation thread; a client that hangs up stops it (`Cancelled`)."""
    ticket = srv.queue.admit(key.tenant)  # 429 here, before any work starts

    def run() -> Any:
        try:
            return work(GatedChat(srv.chat_for(key.tenant), ticket, srv.metrics))
        finally:
            ticket.finish()

    return await run_gated(srv.gen_pool, ticket, run, request)


def client_closed(srv: Server, key: ApiKey, action: str, what: str) -> JSONResponse:
    """The reply to a client that hung up on `action` (499), audited as cancelled."""
    srv.audit.record(key, action, "cancelled", what, detail="client disconnected")
    return error_json(499, "the client closed the request; generation stopped.", "invalid_request_error",
                      "client_closed")
