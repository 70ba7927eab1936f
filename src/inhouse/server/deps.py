"""What a route asks FastAPI for: the shared `Server`, and the request's API key, which decides the principal
(tenant, user, groups) and the role.

    def api_me(key: Reader) -> dict: ...                  # 401 without a valid key
    def api_job(job_id: str, key: Admin, srv: State): ...  # 403 for a reader's key
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from inhouse.server.keys import ApiKey
from inhouse.server.state import Server


async def state(request: Request) -> Server:
    """The app's `Server` (set by `create_app`). Async, so resolving it takes no worker thread."""
    return request.app.state.inhouse


_bearer = HTTPBearer(auto_error=False, description="an InHouse API key (`inhouse keys create`)")


def auth(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKey:
    """The key of this request (401 when missing or not valid); it decides tenant, user, groups, role.
    A request with a body was authenticated by the request edge already (inhouse.server.edge): its key is
    taken from there rather than looked up twice."""
    known = getattr(request.state, "api_key", None)
    if known is not None:
        return known
    return request.app.state.inhouse.keys.authenticate(creds.credentials if creds else None)


def admin(key: Annotated[ApiKey, Depends(auth)]) -> ApiKey:
    return key.require_admin()


State = Annotated[Server, Depends(state)]
Reader = Annotated[ApiKey, Depends(auth)]
Admin = Annotated[ApiKey, Depends(admin)]
