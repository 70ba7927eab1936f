"""/api/commerce/…: a shop's catalog search, product copy, review summaries and the inquiry agent. The key decides
the shop (its tenant), so no request can reach another shop's catalog or orders; every call is audited. Calls
that run the model (a search that reads its query, copy, a ticket) wait in the generation queue like answers do
(429 when it is full).

A ticket runs the agent with a deferring desk: every change it would make is kept as a proposal (nothing is
written) and the reply says what waits for the customer's yes. `POST /api/commerce/tickets/{session}/confirm`
relays the customer's answer: the confirmed proposals commit, each checked again by the shop's rules, the others
are declined. The shop's audit log holds the conversation (`GET /api/commerce/tickets/{session}`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from inhouse.apps.commerce import AGENT_CONTEXT
from inhouse.apps.commerce.agent import TicketAgent, policy_lookup
from inhouse.apps.commerce.catalog import open_catalog
from inhouse.apps.commerce.copy import features_of, siblings_of, write_copy
from inhouse.apps.commerce.desk import Desk
from inhouse.apps.commerce.orders import OrderDB, open_shop
from inhouse.apps.commerce.reviews import reviews_if_any
from inhouse.apps.commerce.search import QueryReader
from inhouse.errors import InputError, NotFoundError
from inhouse.server.deps import Reader, State
from inhouse.server.generation import client_closed, generate_for
from inhouse.server.keys import ApiKey
from inhouse.server.queue import Cancelled
from inhouse.server.state import Server

router = APIRouter()
Id = Annotated[str, PathParam(min_length=1, max_length=200)]
Session = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CatalogSearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=500)
    k: int = Field(10, ge=1, le=50)
    fast: bool = Field(False, description="no model: embeddings, words and filters only")


class CopyRequest(BaseModel):
    item_id: str = Field(min_length=1, max_length=200)
    lang: Literal["ko", "en"] = "ko"
    tone: str = Field("", max_length=200)


class TicketRequest(BaseModel):
    message: str = Field(min_length=1, max_length=8000, description="the customer's whole message")


class ConfirmRequest(BaseModel):
    confirm: list[str] = Field(default_factory=list, max_length=50,
                               description="ids of the proposals the customer said yes to; the others are declined")


def _search(srv: Server, key: ApiKey, body: CatalogSearchRequest, chat) -> tuple:  # noqa: ANN001
    """Runs on a worker thread: the shop's search, built once and again only when its catalog or reviews change."""
    # A model that cannot answer under a JSON schema cannot read queries: embeddings and words do.
    reader = QueryReader(chat) if chat is not None and chat.supports_json_schema else None
    return srv.catalogs.get(key.tenant, srv.base).search(body.query, k=body.k, reader=reader)


@router.post("/api/commerce/search", tags=["commerce"], response_model=None)
async def commerce_search(body: CatalogSearchRequest, request: Request, key: Reader, srv: State
                          ) -> dict | JSONResponse:
    """Items of the key's shop for a shopper's query, each with the spec values and review aspects that matched."""
    open_catalog(key.tenant, base=srv.base).close()  # 404 at once for a shop without a catalog
    if body.fast:
        parsed, hits = await asyncio.get_running_loop().run_in_executor(None, _search, srv, key, body, None)
    else:
        try:
            parsed, hits = await generate_for(srv, key, request, lambda chat: _search(srv, key, body, chat))
        except Cancelled:
            return client_closed(srv, key, "commerce.search", body.query)
    items = [h.item.item_id for h in hits]
    srv.audit.record(key, "commerce.search", "ok", body.query, "", [], detail=f"items {', '.join(items)}")
    return {"query": body.query, "min_price": parsed.min_price, "max_price": parsed.max_price,
            "hits": [h.to_dict() for h in hits]}


@router.post("/api/commerce/copy", tags=["commerce"], response_model=None)
async def commerce_copy(body: CopyRequest, request: Request, key: Reader, srv: State) -> dict | JSONResponse:
    """A description of one of the shop's items from its spec, every sentence checked against the spec."""
    store = open_catalog(key.tenant, base=srv.base)
    try:
        items = store.items()
        products = store.products()
    finally:
        store.close()
    item = next((it for it in items if it.item_id == body.item_id), None)
    if item is None:
        raise NotFoundError(f"no item {body.item_id!r} in this shop's catalog.")

    def work(chat):  # noqa: ANN001, ANN202
        return write_copy(chat, products[item.product_id], item, siblings_of(items, item.product_id),
                          features_of(items, item.product_id), lang=body.lang, tone=body.tone)

    try:
        result = await generate_for(srv, key, request, work)
    except Cancelled:
        return client_closed(srv, key, "commerce.copy", body.item_id)
    srv.audit.record(key, "commerce.copy", "ok", f"{body.item_id} ({body.lang})", result.text, [],
                     detail=f"{sum(not s.kept for s in result.sentences)} sentence(s) removed")
    return result.to_dict()


@router.get("/api/commerce/products/{product_id}/reviews", tags=["commerce"])
def commerce_reviews(product_id: Id, key: Reader, srv: State) -> dict:
    """A product's review summary: per aspect, positive/negative counts and quoted pros and cons."""
    reviews = reviews_if_any(key.tenant, srv.base)
    if reviews is None:
        raise NotFoundError("this shop has no reviews yet.")
    try:
        summary = reviews.summary(product_id)
    finally:
        reviews.close()
    srv.audit.record(key, "commerce.reviews", "ok", product_id)
    return summary.to_dict()


def _shop(srv: Server, key: ApiKey) -> OrderDB:
    """The key's shop: its SQLite file under the server's home, or its schema in the shared PostgreSQL."""
    return open_shop(key.tenant, base=srv.base, url=srv.settings.database_url)


def _ticket(srv: Server, key: ApiKey, db: OrderDB, body: TicketRequest, chat) -> dict:  # noqa: ANN001
    """Runs on a generation thread: the agent over the shop's orders with a deferring desk, citing the tenant's
    documents that customers may read."""
    desk = Desk(db, actor="agent", defer=True)
    policy = policy_lookup(srv.store, key.tenant, srv.settings, srv.embedder)
    try:
        outcome = TicketAgent(chat, policy=policy).handle(body.message, desk)
    except ValueError as e:  # llama.cpp: the ticket and the customer's records exceed the context window
        if "context window" not in str(e):
            raise
        raise InputError(f"this customer's records do not fit the model's context ({e}); start the server "
                         f"with n_ctx = {AGENT_CONTEXT} or more (INHOUSE_N_CTX).") from e
    # Each pending proposal is a "to confirm" line of the reply, in the same order, in the customer's language.
    asking = [ln.text for ln in outcome.lines if ln.status == "to confirm"]
    proposals = [{"id": p.id, "tool": p.tool, "args": p.args, "summary": text}
                 for p, text in zip(desk.proposals, asking, strict=True)]
    return {"session": desk.session, **outcome.to_dict(), "proposals": proposals}


@router.post("/api/commerce/tickets", tags=["commerce"], response_model=None)
async def commerce_ticket(body: TicketRequest, request: Request, key: Reader, srv: State) -> dict | JSONResponse:
    """The inquiry agent on a customer's message: the forms the model filled, the tool calls made, the reply
    (each line citing the shop's policy) and the changes proposed. Nothing is written until confirmed."""
    db = _shop(srv, key)  # 404 at once for a shop without orders; the one connection the agent then uses
    try:
        result = await generate_for(srv, key, request, lambda chat: _ticket(srv, key, db, body, chat))
    except Cancelled:
        return client_closed(srv, key, "commerce.ticket", body.message[:200])
    finally:
        db.close()
    srv.audit.record(key, "commerce.ticket", "ok", body.message[:500], result["reply"], [],
                     detail=f"session {result['session']}, {len(result['proposals'])} proposal(s)")
    return result


@router.post("/api/commerce/tickets/{session}/confirm", tags=["commerce"])
def commerce_confirm(session: Session, body: ConfirmRequest, key: Reader, srv: State) -> dict:
    """The customer's answer to a ticket's proposals: the confirmed ones commit (each checked again by the shop's
    rules; one that no longer applies fails and changes nothing), the others are declined. Each is settled once."""
    db = _shop(srv, key)
    try:
        settled = Desk.resume(db, session, actor=f"staff:{key.user}").settle(body.confirm)
    finally:
        db.close()
    srv.audit.record(key, "commerce.confirm", "ok", session, "", [],
                     detail=", ".join(f"{s['id']} {s['status']}" for s in settled) or "nothing pending")
    return {"session": session, "settled": settled}


@router.get("/api/commerce/tickets/{session}", tags=["commerce"])
def commerce_conversation(session: Session, key: Reader, srv: State) -> dict:
    """One conversation of the shop's agent as its audit log holds it: every lookup, refusal, proposal and change,
    and the proposals with their state."""
    db = _shop(srv, key)
    try:
        proposals = db.proposals(session)
        audit = db.audit(session)
    finally:
        db.close()
    if not audit:
        raise NotFoundError(f"no conversation {session!r} in this shop.")
    srv.audit.record(key, "commerce.conversation", "ok", session)
    return {"session": session, "proposals": proposals, "audit": audit}
