"""/api/me: who a key is."""

from __future__ import annotations

from fastapi import APIRouter

from inhouse.server.deps import Reader

router = APIRouter()


@router.get("/api/me", tags=["inhouse"])
def api_me(key: Reader) -> dict:
    """Who this key is (the web UI shows admin tools to admins)."""
    return {"key_id": key.id, "tenant": key.tenant, "user": key.user, "groups": list(key.groups),
            "role": key.role, "expires_at": key.expires_at}
