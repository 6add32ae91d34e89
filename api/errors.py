"""One JSON error shape for every failure: ``{"error": {"code": ..., "message": ...}}``.

Status codes and ``code`` values:

* 400 ``invalid_request``  - parameters are individually valid but contradict each other or the
  data (``year_min > year_max``; the engine's ``InvalidRequestError``).
* 404 ``not_found``        - unknown item, or unknown path.
* 405 ``method_not_allowed``
* 422 ``invalid_parameter`` - a single parameter is missing, malformed or out of range; the
  message names the parameter (``query parameter 'k': ...``).
* 503 ``not_ready``        - the engine is still loading or failed to load.
* 500 ``internal``         - a bug; the body never carries a traceback (it is logged instead).
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from recsys.core.errors import InvalidParameterError, InvalidRequestError, NotFoundError

logger = logging.getLogger("api")

REQUEST_ID_HEADER = "X-Request-ID"
CLIENT_CLOSED = 499  # the client disconnected before the response

_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_parameter",
    503: "not_ready",
}
# also: 429 rate_limited, 401 unauthorized, 403 forbidden (api.auth); 503 overloaded and
# 504 deadline_exceeded (api.admission); 499 for a client that left (never received)


class ApiError(Exception):
    """An error raised by the service itself, rendered as-is."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/[^\s'\"/:,;]+)+")


def redact_paths(text: str) -> str:
    """Absolute paths in a message shortened to their last two parts (``.../version/file``):
    503 bodies say which file is wrong without telling the world the server's layout."""

    def shorten(match: re.Match[str]) -> str:
        parts = match.group(0).strip("/").split("/")
        return match.group(0) if len(parts) <= 2 else ".../" + "/".join(parts[-2:])

    return _ABSOLUTE_PATH.sub(shorten, text)


def error_body(code: str, message: str) -> bytes:
    """The error shape as JSON bytes (for pure ASGI middleware, outside FastAPI)."""
    return orjson.dumps({"error": {"code": code, "message": message}})


def error_response(
    status_code: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"error": {"code": code, "message": message}},
        headers=headers,
    )


def _describe_location(loc: tuple[Any, ...] | list[Any]) -> str:
    if not loc:
        return "request"
    where, *rest = loc
    name = ".".join(str(part) for part in rest)
    if where in ("query", "path", "header", "cookie") and name:
        return f"{where} parameter '{name}'"
    if where == "body":
        return f"body field '{name}'" if name else "request body"
    return ".".join(str(part) for part in loc)


def _describe_problem(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    # pydantic prefixes messages from custom validators with "Value error, ".
    return msg.removeprefix("Value error, ")


def validation_message(exc: RequestValidationError) -> str:
    """``query parameter 'k': Input should be less than or equal to 100; ...``

    The offending input is deliberately not echoed (it may be huge or contain control chars).
    """
    parts = []
    for err in exc.errors():
        parts.append(f"{_describe_location(tuple(err.get('loc', ())))}: {_describe_problem(err)}")
    return "; ".join(parts) or "invalid request parameters"


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_parameter", validation_message(exc))


async def _not_found_handler(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "not_found", str(exc) or "not found")


async def _invalid_request_handler(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidParameterError):  # a value the data does not know
        return error_response(422, "invalid_parameter", str(exc))
    return error_response(400, "invalid_request", str(exc) or "invalid request")


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.headers)


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    if status == 404 and detail == phrase:
        detail = f"no endpoint at path {request.url.path!r}"
    elif status == 405 and detail == phrase:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        detail = f"method {request.method} not allowed"
        if allowed:
            detail += f"; allowed: {allowed}"
    code = _HTTP_CODES.get(status, "internal" if status >= 500 else "http_error")
    return error_response(status, code, detail, dict(exc.headers) if exc.headers else None)


async def _client_disconnect_handler(request: Request, exc: Exception) -> Response:
    # The client left before its request body arrived: its problem, not a server error.
    # 499 (nginx's "client closed request") is what the metrics and the log show; nobody
    # receives the response.
    logger.info(
        "client closed the connection during %s %s (request_id=%s)",
        request.method,
        request.url.path,
        getattr(request.state, "request_id", None),
    )
    return Response(status_code=CLIENT_CLOSED)


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    # Runs in Starlette's ServerErrorMiddleware, outside the middleware that stamps the
    # request id on responses, so it adds the header itself.
    request_id = getattr(request.state, "request_id", None)
    logger.error(
        "unhandled error on %s %s (request_id=%s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    headers = {REQUEST_ID_HEADER: request_id} if isinstance(request_id, str) else None
    return error_response(500, "internal", "internal server error", headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(NotFoundError, _not_found_handler)
    app.add_exception_handler(InvalidRequestError, _invalid_request_handler)
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(ClientDisconnect, _client_disconnect_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
