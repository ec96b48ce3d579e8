"""Conventions every REST route shares: the JSON error shape, exception handlers, pagination, blocking calls.

Route modules (``api/v1.py`` and the ones that follow it) use these so every answer under ``/api/`` looks
the same to a client:

* errors: ``{"error": {"kind", "message", "file", "line", "column", "pointer", "field", "text"}}``
  (absent locations are ``null``; 500s add ``"id"``, the logged error id). A route raises an
  ``OrchestraError`` and ``EXCEPTION_HANDLERS`` renders it; unknown routes and methods (404/405),
  ``IntegrityError`` (409 ``conflict``) and anything unexpected (500 ``internal``) come out the same way;
* lists: ``page_request(request)`` reads ``limit``/``offset``; ``page_response(...)`` answers
  ``{"items", "total", "limit", "offset", "next"}``;
* parameters: ``check_query(request, allowed)`` refuses unknown or repeated query parameters;
  ``path_uuid(request, "id")`` reads a UUID path parameter;
* blocking work (database, imports) goes through ``run_blocking`` so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.params import parse_int, parse_uuid, shown
from orchestra_app.observability.logging import log, report_unexpected, unexpected_text

T = TypeVar("T")

API_PREFIX = "/api"

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.TIMEOUT: 422,
    ErrorKind.BUSY: 429,
    ErrorKind.CONFIGURATION: 500,
    ErrorKind.INTERNAL: 500,
}
_LOCATION_KEYS = ("file", "line", "column", "pointer", "field")


# ------------------------------------------------------------------------------------------------ errors


def status_for(exc: OrchestraError) -> int:
    """HTTP status of an error kind: 400 unless the kind says otherwise (STATUS_BY_KIND)."""
    return STATUS_BY_KIND.get(exc.kind, 400)


def error_body(exc: OrchestraError, *, error_id: str | None = None) -> dict[str, Any]:
    """The documented error shape; every location key is present (``null`` when unknown)."""
    data = exc.to_dict()
    body: dict[str, Any] = {"kind": data["kind"], "message": data["message"]}
    for key in _LOCATION_KEYS:
        body[key] = data.get(key)
    body["text"] = str(exc)
    if error_id is not None:
        body["id"] = error_id
    return {"error": body}


def error_response(
    exc: OrchestraError,
    status: int | None = None,
    *,
    error_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(exc, error_id=error_id), status_code=status or status_for(exc), headers=headers
    )


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


async def _orchestra_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrchestraError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not _is_api(request):  # Reflex's own routes keep Starlette's plain answers
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    where = f"{request.method} {shown(request.url.path)}"
    if exc.status_code == 404:
        error = OrchestraError(f"no API route {where}", kind=ErrorKind.NOT_FOUND)
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        error = OrchestraError(
            f"method {request.method} is not allowed on {shown(request.url.path)}"
            + (f" (allowed: {allowed})" if allowed else ""),
            kind=ErrorKind.METHOD_NOT_ALLOWED,
        )
    else:
        kind = ErrorKind.INTERNAL if exc.status_code >= 500 else ErrorKind.VALIDATION
        error = OrchestraError(f"{exc.detail} ({where})", kind=kind)
    return error_response(error, exc.status_code, headers=exc.headers)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # The services retry their racing writes; one that still collides is the client's to retry.
    log.warning("write conflict on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(
        OrchestraError(
            "the request collided with a concurrent change of the same data; nothing was stored, retry it",
            kind=ErrorKind.CONFLICT,
        )
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    error_id = report_unexpected(exc, where=f"{request.method} {request.url.path[:200]}")
    if not _is_api(request):
        return PlainTextResponse(unexpected_text(error_id), status_code=500)
    return error_response(
        OrchestraError(unexpected_text(error_id), kind=ErrorKind.INTERNAL), 500, error_id=error_id
    )


# Starlette(exception_handlers=EXCEPTION_HANDLERS): the 500 handler runs in ServerErrorMiddleware, the
# others in ExceptionMiddleware, for every route of the app (mounted sub-apps included).
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    OrchestraError: _orchestra_error,
    HTTPException: _http_error,
    IntegrityError: _integrity_error,
    Exception: _unexpected_error,
}


# -------------------------------------------------------------------------------------------- parameters


def check_query(request: Request, allowed: Collection[str]) -> None:
    """Refuse query parameters the route does not know (typos) or that are given more than once."""
    seen: set[str] = set()
    for name, _value in request.query_params.multi_items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise OrchestraError(
                f"unknown query parameter {shown(name)} (this route takes: {known})", field=name[:60]
            )
        if name in seen:
            raise OrchestraError(f"query parameter {name} is given more than once", field=name)
        seen.add(name)


def path_uuid(request: Request, name: str = "id") -> UUID:
    return parse_uuid(request.path_params[name], name=name)


DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000
PAGE_PARAMS = ("limit", "offset")


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_page(limit: str | int | None, offset: str | int | None) -> PageRequest:
    """``limit`` 1..500 (default 50) and ``offset`` >= 0 (default 0); errors name the parameter."""
    return PageRequest(
        limit=parse_int(limit, name="limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        or DEFAULT_LIMIT,
        offset=parse_int(offset, name="offset", default=0, minimum=0, maximum=MAX_OFFSET) or 0,
    )


def page_request(request: Request) -> PageRequest:
    params = request.query_params
    return parse_page(params.get("limit"), params.get("offset"))


def page_response(request: Request, page: PageRequest, items: Sequence[Any], total: int) -> JSONResponse:
    """``{"items", "total", "limit", "offset", "next"}``; ``next`` is the relative URL of the next page."""
    next_url: str | None = None
    if items and page.offset + len(items) < total:
        query = dict(request.query_params) | {
            "limit": str(page.limit),
            "offset": str(page.offset + len(items)),
        }
        next_url = f"{request.url.path}?{urlencode(query)}"
    return JSONResponse(
        {"items": list(items), "total": total, "limit": page.limit, "offset": page.offset, "next": next_url}
    )


# ------------------------------------------------------------------------------------------ blocking work

# Database calls and imports run here, never on the event loop. Its own pool (not asyncio's default
# one) so a burst of slow imports cannot delay the health check, which has a pool of its own.
_API_THREADS = 12
_executor = ThreadPoolExecutor(max_workers=_API_THREADS, thread_name_prefix="orchestra-api")
_health_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="orchestra-health")


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking call in the API's thread pool (context variables, e.g. log fields, carried over)."""
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor, call)


async def run_health(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(
        _health_executor, functools.partial(fn, *args, **kwargs)
    )
