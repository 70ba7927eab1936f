"""What the chat route needs around the model: the queue-gated model, the question and conversation of a
request, the answer text with its source list, and the SSE chunks of a stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence

from inhouse.answer import Answer
from inhouse.errors import InputError
from inhouse.protocols import ChatModel
from inhouse.server.metrics import Metrics
from inhouse.server.queue import Cancelled, Ticket
from inhouse.server.schemas import ChatRequest


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
