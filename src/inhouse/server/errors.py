"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`, with the status that fits."""

from __future__ import annotations

import json

from fastapi.responses import JSONResponse

from inhouse.errors import InputError, NotFoundError, PermissionDenied, StoreError
from inhouse.models.chat import ModelServerError
from inhouse.models.pool import Unavailable
from inhouse.server.keys import Unauthorized
from inhouse.server.queue import QueueFull


def error_json(status: int, message: str, type_: str, code: str | None = None,
               headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": None, "code": code}},
                        status_code=status, headers=headers)


def error_response(e: Exception) -> JSONResponse:
    if isinstance(e, Unavailable):
        return error_json(503, str(e), "server_error", "engine_unavailable", {"Retry-After": str(e.retry_after)})
    if isinstance(e, ModelServerError):
        return error_json(502, str(e), "server_error", "model_server_error")
    if isinstance(e, QueueFull):
        return error_json(429, str(e), "rate_limit_error", "queue_full", {"Retry-After": str(e.retry_after)})
    if isinstance(e, Unauthorized):
        return error_json(401, str(e), "authentication_error", "invalid_api_key", {"WWW-Authenticate": "Bearer"})
    if isinstance(e, PermissionDenied):
        return error_json(403, str(e), "permission_error", "forbidden")
    if isinstance(e, NotFoundError):
        return error_json(404, str(e), "not_found_error", "not_found")
    if isinstance(e, InputError):
        return error_json(400, str(e), "invalid_request_error", "invalid_request")
    if isinstance(e, StoreError):
        return error_json(503, str(e), "server_error", "store_unavailable")
    return error_json(500, f"internal error ({type(e).__name__}); see the server log.", "server_error", "internal")


def error_body(e: Exception) -> dict:
    """The JSON of `error_response(e)`, for a stream that has already started."""
    return json.loads(error_response(e).body)
