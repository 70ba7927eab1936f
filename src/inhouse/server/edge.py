"""What every HTTP request passes before a route sees it: the key, the body's size, the security headers.

Plain ASGI (not BaseHTTPMiddleware), so streaming responses and disconnect detection pass through.

- A request with a body (POST, PUT, PATCH, DELETE) is authenticated from its headers alone, before a
  byte of the body is read: a client without a valid key gets 401 (and a reader 403 on an admin-only
  upload) and cannot make the server parse, buffer or spool anything.
- Its size is bounded twice: a declared Content-Length over the route's limit is refused with 413 at
  once (the body is never read), and the bytes actually received are counted, so a chunked or lying
  body is cut off at the limit with the same 413.
- Every response carries nosniff, no-referrer and frame-denial headers; pages carry a Content-Security-
  Policy that allows only this server's own scripts (the chat page renders document text).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException

from inhouse.errors import PermissionDenied
from inhouse.server.keys import ApiKey

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY")]
# FastAPI's interactive docs load their scripts from a CDN; the policy would only blank them.
NO_CSP = ("/docs", "/redoc")


class BodyTooLarge(HTTPException):
    """The body grew past the route's limit while it was read (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {_size(limit)}; send less (uploads: raise "
                              "INHOUSE_MAX_FILE_MB; other requests: INHOUSE_MAX_BODY_KB).")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


class RequestEdge:
    """The ASGI middleware described in the module docstring.

    `authenticate(token)` returns the key record or raises (Unauthorized / PermissionDenied);
    `limit_for(method, path)` gives the byte limit of a route's body; `admin_only(method, path)` says
    whether the route needs an admin key (checked here too, so a reader's upload is not read either);
    `error(exc)` turns an exception into the JSON response the routes give.
    """

    def __init__(self, app, authenticate: Callable[[str | None], ApiKey], limit_for: Callable[[str, str], int],
                 admin_only: Callable[[str, str], bool], error: Callable[[Exception], object]) -> None:
        self.app, self.authenticate, self.limit_for = app, authenticate, limit_for
        self.admin_only, self.error = admin_only, error

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(scope, send)
        method, path = scope["method"], scope["path"]
        if method not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.limit_for(method, path)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await self._reply(send, 400, "invalid Content-Length header.", "invalid_request_error")
                return
            if length > limit:
                await self._reply(send, 413, BodyTooLarge(limit).detail, "invalid_request_error")
                return
        auth = headers.get(b"authorization", b"").decode("latin-1")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        try:
            key = self.authenticate(token)
            if self.admin_only(method, path):
                key.require_admin()
        except PermissionDenied as e:
            response = self.error(e)
            await response(scope, receive, send)  # type: ignore[operator]
            return
        scope.setdefault("state", {})["api_key"] = key  # the route's `auth` dependency takes it from here
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _reply(send, status: int, message: str, kind: str) -> None:
        body = json.dumps({"error": {"message": message, "type": kind, "param": None,
                                     "code": "body_too_large" if status == 413 else "invalid_request"}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _with_headers(scope, send):
        page = not scope["path"].startswith(NO_CSP)

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                headers += [h for h in HEADERS if h[0] not in names]
                content_type = dict(headers).get(b"content-type", b"")
                if page and content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return sending
