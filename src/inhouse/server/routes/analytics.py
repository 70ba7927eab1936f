"""/api/analytics/…: questions over the key's tenant's tables. The model writes one query, which is checked and
run read-only (inhouse.apps.finance); the reply carries the SQL, the table, a checked narrative if asked, and the
result as an SVG chart; the narrative's suggestions may cite the documents the key may read. Model calls wait in
the generation queue; every call is audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from inhouse.apps.finance.ask import SqlAsker
from inhouse.apps.finance.chart import chart_svg
from inhouse.apps.finance.tables import open_tables
from inhouse.retrieve import lookup
from inhouse.server.deps import Reader, State
from inhouse.server.generation import client_closed, generate_for
from inhouse.server.queue import Cancelled

router = APIRouter()


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=1000)
    narrate: bool = Field(False, description="also a narrative of the result, every number checked against it")
    documents: bool = Field(True, description="the narrative's suggestions may cite the tenant's documents the key "
                                              "may read, each cited sentence checked against its passage")
    chart: bool = Field(True, description="the result as an SVG chart, when it has something to plot")


@router.get("/api/analytics/tables", tags=["analytics"])
def tables(key: Reader, srv: State) -> dict:
    """The key's tenant's tables with their columns and descriptions, and the measures the shop declared."""
    store = open_tables(key.tenant, base=srv.base, url=srv.settings.database_url)
    try:
        infos, measures = store.tables(), store.measures()
    finally:
        store.close()
    srv.audit.record(key, "analytics.tables", "ok")
    return {"tables": [t.to_dict() for t in infos], "measures": [m.to_dict() for m in measures]}


@router.post("/api/analytics/ask", tags=["analytics"], response_model=None)
async def ask(body: AskRequest, request: Request, key: Reader, srv: State) -> dict | JSONResponse:
    """A question in words over the tenant's tables: the query the model wrote (checked, run read-only, written
    once more when refused), its result, a checked narrative and a chart."""
    store = open_tables(key.tenant, base=srv.base, url=srv.settings.database_url)  # 404 at once without tables

    def work(chat):  # noqa: ANN001, ANN202 - on the generation thread, which closes the store when done
        try:
            find = lookup(srv.store, key.principal, srv.settings, srv.embedder, k=3) if body.documents else None
            return SqlAsker(chat, store, documents=find).ask(body.question, narrate_result=body.narrate)
        finally:
            store.close()

    try:
        answer = await generate_for(srv, key, request, work)
    except Cancelled:
        return client_closed(srv, key, "analytics.ask", body.question)
    out = answer.to_dict()
    out["chart_svg"] = chart_svg(answer.result, body.question) if body.chart and answer.result else None
    srv.audit.record(key, "analytics.ask", "ok" if answer.result else "refused", body.question,
                     answer.narrative.text if answer.narrative else "", [], detail=answer.sql[:500])
    return out
