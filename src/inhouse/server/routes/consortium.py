"""/api/consortium/…: the data consortium's admin API.

A partner is a tenant: its keys see its own contributions and its own line of a report, and its admin keys
withdraw its contributions. The consortium's operator is the admin of the tenant named `consortium`: it sees
every partner and may withdraw for any. Contributed text itself is never served here (nor anywhere else).
Every call is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from inhouse.consortium import open_consortium
from inhouse.errors import NotFoundError, PermissionDenied
from inhouse.server.deps import Admin, Reader, State
from inhouse.server.keys import ApiKey

router = APIRouter()
OPERATOR = "consortium"  # the tenant whose admins run the consortium


def _operator(key: ApiKey) -> bool:
    return key.tenant == OPERATOR and key.is_admin


class WithdrawRequest(BaseModel):
    partner: str | None = Field(None, max_length=64, description="the operator names the partner; a partner's "
                                "own admin key withdraws its own")
    contribution: int | None = Field(None, ge=1)


@router.get("/api/consortium/contributions", tags=["consortium"])
def contributions(key: Reader, srv: State) -> dict:
    """Contributions with their state (the operator: all; a partner: its own)."""
    db = open_consortium(srv.base)
    try:
        rows = db.contributions(None if _operator(key) else key.tenant)
    finally:
        db.close()
    srv.audit.record(key, "consortium.contributions", "ok", detail=f"{len(rows)} contribution(s)")
    return {"contributions": rows}


@router.get("/api/consortium/report", tags=["consortium"])
def report(key: Reader, srv: State, period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
           revenue: Annotated[int, Query(ge=0)]) -> dict:
    """Tokens and revenue shares for `period` from the verified ledger (the operator: every partner; a partner:
    its own line, with the total its share is of)."""
    db = open_consortium(srv.base)
    try:
        result = db.report(period, revenue)
    finally:
        db.close()
    if not _operator(key):
        result["partners"] = [p for p in result["partners"] if p["partner"] == key.tenant]
    srv.audit.record(key, "consortium.report", "ok", f"{period} {revenue}")
    return result


@router.post("/api/consortium/withdraw", tags=["consortium"])
def withdraw(body: WithdrawRequest, key: Admin, srv: State) -> dict:
    """Withdraw contributions: out of every export from now on, debited in the ledger."""
    partner = body.partner or key.tenant
    if partner != key.tenant and not _operator(key):
        raise PermissionDenied(f"a key of {key.tenant} withdraws {key.tenant}'s contributions only.")
    db = open_consortium(srv.base)
    try:
        done = db.withdraw(partner, body.contribution)
    except NotFoundError:
        srv.audit.record(key, "consortium.withdraw", "not found", partner)
        raise
    finally:
        db.close()
    srv.audit.record(key, "consortium.withdraw", "ok", partner,
                     detail=", ".join(f"contribution {d['id']}: {d['tokens']} tokens" for d in done))
    return {"withdrawn": done}
