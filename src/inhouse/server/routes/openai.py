"""The OpenAI-compatible routes: /v1/models, /v1/embeddings, /v1/chat/completions (JSON or an SSE stream).

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
import re
import time
import uuid
from collections.abc import AsyncIterator

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from inhouse.answer import AnswerPolicy, answer_question
from inhouse.errors import InHouseError, InputError, NotFoundError
from inhouse.guard import copies
from inhouse.guard.egress import allow_list_from
from inhouse.guard.injection import strip_links
from inhouse.guard.pii import mask
from inhouse.guard.screening import allowed_hosts
from inhouse.guard.view import ReaderView
from inhouse.server.deps import Reader, State
from inhouse.server.errors import error_body, error_json
from inhouse.server.generation import GatedChat, conversation, run_gated, sources_text, sse_chunk, user_question
from inhouse.server.queue import Cancelled
from inhouse.server.schemas import ChatRequest, EmbeddingRequest
from inhouse.server.state import Server

RAG_MODEL = "inhouse-rag"
KEEPALIVE_S = 0.5

router = APIRouter()


def model_names(srv: Server, tenant: str) -> list[str]:
    """What a key of `tenant` may ask for: the RAG answerer and its tenant's model ("base+adapter" with one)."""
    return [RAG_MODEL, srv.chat_for(tenant).name]


@router.get("/v1/models", tags=["openai"])
def list_models(key: Reader, srv: State) -> dict:
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "inhouse"} for n in model_names(srv, key.tenant)]
    if srv.embedder is not None:
        data.append({"id": srv.embedder.name, "object": "model", "created": 0, "owned_by": "inhouse"})
    return {"object": "list", "data": data}


@router.post("/v1/embeddings", tags=["openai"])
def embeddings(body: EmbeddingRequest, key: Reader, srv: State) -> dict:
    if srv.embedder is None or body.model != srv.embedder.name:
        raise NotFoundError(
            f"no embedding model '{body.model}'; use '{getattr(srv.embedder, 'name', '')}' (GET /v1/models)."
        )
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


@router.post("/v1/chat/completions", tags=["openai"], response_model=None)
async def chat_completions(body: ChatRequest, request: Request, key: Reader, srv: State) -> Response:
    model = body.model
    chat = srv.chat_for(key.tenant)
    names = [RAG_MODEL, chat.name]
    if model not in names:
        raise NotFoundError(f"no model '{model}'; available: {', '.join(names)} (GET /v1/models).")
    question = user_question(body)
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
        gated = GatedChat(chat, ticket, srv.metrics)
        try:
            if rag:
                # The judge waits for the generation slot too: it shares the machine's cores with the model.
                judge_model = srv.judge_of(chat)
                judge = GatedChat(judge_model, ticket, srv.metrics) if judge_model is not None else None
                a = answer_question(srv.store, key.principal, question, srv.settings, gated, srv.embedder,
                                    judge_model=judge, policy=AnswerPolicy(max_tokens=max_tokens or 256))
                answer_id = uuid.uuid4().hex
                js = a.to_json() | {"answer_id": answer_id, "question": mask(question)}
                srv.answers.save(key, js)  # masked whoever asked: a cleared reader's revealed PII is not kept
                returned = [c["chunk_id"] for c in js["citations"]] or [h["chunk_id"] for h in js["nearest"]]
                srv.audit.record(key, "answer", "refused" if a.abstained else "answered", question, a.answer,
                                 returned, a.model, answer_id)
                return {"content": sources_text(a), "inhouse": js, "tokens": gated.tokens, "finish": "stop"}
            params = {"max_tokens": max_tokens or 512, "temperature": body.temperature or 0.0,
                      "stop": [body.stop] if isinstance(body.stop, str) else (body.stop or [])}
            # The reply as the key's reader may see it (inhouse.guard.view): PII masked unless cleared, links
            # only to allow-listed hosts, withheld when it repeats text contributed for training only.
            view = ReaderView(key.principal)
            hosts = allowed_hosts([], allow_list_from(srv.settings.egress_allow))
            asked = "\n".join(m.text() for m in body.messages if m.role == "user")  # the user's own words
            feed, flush = view.stream(emit, hosts, asked) if body.stream else (None, None)
            reply = gated.complete([{"role": m.role, "content": m.text()} for m in body.messages],
                                   on_piece=feed, **params)
            if flush is not None:
                flush()
            content = view.text(strip_links(reply.text, hosts)[0], asked)
            srv.audit.record(key, "chat", "withheld" if content == copies.WITHHELD else "ok", conversation(body),
                             content, [], model)
            return {"content": content, "inhouse": None, "tokens": reply.tokens, "finish": reply.finish}
        except Cancelled:
            srv.audit.record(key, "answer" if rag else "chat", "cancelled",
                             question if rag else conversation(body), "", [], model, detail="client disconnected")
            raise
        except InHouseError as e:  # no engine could serve it, the store was unreachable…: the request is logged
            srv.audit.record(key, "answer" if rag else "chat", "error", question if rag else conversation(body),
                             "", [], model, detail=f"{type(e).__name__}: {e}"[:500])
            raise
        finally:
            ticket.finish()

    if not body.stream:
        # A non-streaming client that hangs up also frees the model.
        try:
            result = await run_gated(srv.gen_pool, ticket, work, request)
        except Cancelled:
            return error_json(499, "the client closed the request; generation stopped.", "invalid_request_error",
                              "client_closed")
        out = {"id": cid, "object": "chat.completion", "created": created, "model": model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": result["content"]},
                            "finish_reason": result["finish"]}],
               "usage": {"prompt_tokens": 0, "completion_tokens": result["tokens"],
                         "total_tokens": result["tokens"]}}
        if result["inhouse"] is not None:
            out["inhouse"] = result["inhouse"]
        return JSONResponse(out)

    future = loop.run_in_executor(srv.gen_pool, work)

    async def stream() -> AsyncIterator[str]:
        finished = False
        getter: asyncio.Future | None = None
        try:
            yield sse_chunk(cid, model, created, {"role": "assistant", "content": ""})
            while True:
                # Wake on the next piece or on the end of the work, whichever comes first; wake
                # every KEEPALIVE_S anyway to send a keep-alive (which reveals a disconnect).
                getter = getter or asyncio.ensure_future(pieces.get())
                done, _ = await asyncio.wait({getter, future}, timeout=KEEPALIVE_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    piece, getter = getter.result(), None
                    yield sse_chunk(cid, model, created, {"content": piece})
                elif future.done():
                    while not pieces.empty():
                        yield sse_chunk(cid, model, created, {"content": pieces.get_nowait()})
                    break
                else:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
            try:
                result = await future
            except Exception as e:  # the response has started: report the error in the stream
                finished = True
                yield "data: " + json.dumps(error_body(e), ensure_ascii=False) + "\n\n"
                return
            if rag:  # the verified answer, in word-sized pieces like a model's stream
                for word in re.findall(r"\S+\s*|\s+", result["content"]):
                    yield sse_chunk(cid, model, created, {"content": word})
            extra = {"inhouse": result["inhouse"]} if result["inhouse"] is not None else {}
            yield sse_chunk(cid, model, created, {}, result["finish"], **extra)
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if getter is not None:
                getter.cancel()
            if not finished:
                ticket.cancel.set()  # the client went away: the generation thread stops at its next token

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
