"""REST API v1 (Starlette), mounted into the Reflex app through api_transformer.

Routes are thin: check the query, read the request, call a service off the event loop, answer JSON.
Errors, pagination and blocking calls follow ``api/common.py`` (documented in the README's API section).
Until the security issue adds bearer tokens, callers act as the built-in development principal.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from orchestra_app.api import runs as runs_api
from orchestra_app.api.common import (
    API_PREFIX,
    EXCEPTION_HANDLERS,
    PAGE_PARAMS,
    check_query,
    page_request,
    page_response,
    path_uuid,
    run_blocking,
    run_health,
)
from orchestra_app.db.engine import get_engine
from orchestra_app.domain.errors import ErrorKind, NotFound, OrchestraError
from orchestra_app.domain.names import clean_name
from orchestra_app.domain.params import parse_text, shown
from orchestra_app.domain.tenancy import Principal
from orchestra_app.generation.params import NAMES as GENERATION_PARAMS
from orchestra_app.generation.params import parse_generation_params
from orchestra_app.services import catalog
from orchestra_app.services import processes as process_service
from orchestra_app.services import session as svc
from orchestra_app.services import specs as spec_service
from orchestra_app.services.health import check_health
from orchestra_app.settings import get_settings

MAX_FILENAME_LENGTH = 255


async def principal_of(_request: Request) -> Principal:
    """The caller (the development principal until OIDC); resolved off the event loop."""
    return await run_blocking(svc.current_principal)


def _filename(request: Request) -> str:
    raw = request.query_params.get("filename") or request.headers.get("x-filename") or ""
    if len(raw) > MAX_FILENAME_LENGTH:
        raise OrchestraError(f"filename is longer than {MAX_FILENAME_LENGTH} characters", field="filename")
    name = clean_name(raw)  # bidi overrides and control characters never reach names or messages
    if not name:
        raise OrchestraError(
            "name the file: ?filename=order.bpmn (or an X-Filename header)",
            kind=ErrorKind.VALIDATION,
            field="filename",
        )
    return name


async def read_upload(request: Request, filename: str) -> bytes:
    """The request body, refused (413) as soon as it passes the upload limit; never read past it."""
    limit = get_settings().max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise OrchestraError(
            f"request body is {int(declared)} bytes, above the {limit}-byte upload limit",
            kind=ErrorKind.TOO_LARGE,
            file=filename,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OrchestraError(
                f"request body is above the {limit}-byte upload limit",
                kind=ErrorKind.TOO_LARGE,
                file=filename,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json_result(result: Any) -> dict[str, Any]:
    return {k: str(v) if k.endswith("_id") else v for k, v in asdict(result).items()}


async def health(request: Request) -> JSONResponse:
    check_query(request, ())
    # Its own small thread pool: a burst of imports or list calls cannot queue in front of it.
    body = await run_health(check_health, engine=get_engine(), settings=get_settings())
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


async def import_process(request: Request) -> JSONResponse:
    """POST raw file bytes: a BPMN or sequence diagram becomes a new process version and its suite."""
    check_query(request, ("filename", "key", *GENERATION_PARAMS))
    query = request.query_params
    params = parse_generation_params({name: query.get(name) for name in GENERATION_PARAMS})
    key = parse_text(query.get("key"), name="key", max_length=process_service.MAX_KEY_LENGTH)
    filename = _filename(request)
    data = await read_upload(request, filename)
    principal = await principal_of(request)
    result = await run_blocking(
        process_service.import_file, principal, data=data, filename=filename, key=key, params=params
    )
    return JSONResponse(_json_result(result), status_code=201)


async def import_spec(request: Request) -> JSONResponse:
    """POST raw file bytes: an OpenAPI/AsyncAPI/protobuf document becomes a ProtocolSpec."""
    check_query(request, ("filename", "service"))
    service = parse_text(request.query_params.get("service"), name="service", max_length=120)
    filename = _filename(request)
    data = await read_upload(request, filename)
    principal = await principal_of(request)
    result = await run_blocking(
        spec_service.import_file, principal, data=data, filename=filename, service_name=service
    )
    return JSONResponse(_json_result(result), status_code=201 if result.created else 200)


def _section(request: Request) -> str:
    raw = request.path_params.get("section") or request.url.path.rstrip("/").rsplit("/", 1)[-1]
    section = raw.replace("-", "_")
    if section not in svc.SECTION_QUERIES:
        known = ", ".join(sorted(s.replace("_", "-") for s in svc.SECTION_QUERIES))
        raise NotFound(f"unknown collection {shown(raw)} (collections: {known})")
    return section


async def list_section(request: Request) -> JSONResponse:
    """One page of a collection: ``?limit`` (1-500, default 50) and ``?offset``; newest first."""
    section = _section(request)
    check_query(request, PAGE_PARAMS)
    page = page_request(request)
    principal = await principal_of(request)
    listing = await run_blocking(svc.section_rows, section, principal, limit=page.limit, offset=page.offset)
    return page_response(request, page, listing.items, listing.total)


def _detail(use_case: Any, id_name: str) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        check_query(request, ())
        item_id = path_uuid(request, "id")
        principal = await principal_of(request)
        body = await run_blocking(svc.run, use_case, principal, **{id_name: item_id})
        return JSONResponse(body)

    endpoint.__name__ = f"{use_case.__name__}_endpoint"
    endpoint.__doc__ = use_case.__doc__
    return endpoint


def _collection(create: Any) -> Any:
    """GET lists the collection, POST creates in it (one route, so 405 names both methods)."""

    async def endpoint(request: Request) -> JSONResponse:
        if request.method == "POST":
            return await create(request)  # type: ignore[no-any-return]
        return await list_section(request)

    endpoint.__name__ = f"{create.__name__}_collection"
    return endpoint


async def not_found(request: Request) -> JSONResponse:
    raise HTTPException(404)


def v1_routes() -> list[BaseRoute]:
    """The routes under ``/api`` (relative paths). Collection routes of other modules go before the
    generic ``/v1/{section}`` one, which answers every remaining collection (and 404s the rest)."""
    from orchestra_app.api import reports as report_api
    from orchestra_app.api import scenarios as scenario_api  # they import this module's helpers
    from orchestra_app.api import suites as suite_api

    return [
        *report_api.routes(),  # /v1/testruns/{id}/report*, /v1/suites/{id}/trend
        *suite_api.routes(),
        *scenario_api.scenario_routes(),
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/processes", _collection(import_process), methods=["GET", "POST"]),
        Route("/v1/processes/{id}", _detail(catalog.process_detail, "process_id"), methods=["GET"]),
        Route("/v1/specs", _collection(import_spec), methods=["GET", "POST"]),
        Route("/v1/specs/{id}", _detail(catalog.spec_detail, "spec_id"), methods=["GET"]),
        Route("/v1/suites/{id}", _detail(catalog.suite_detail, "suite_id"), methods=["GET"]),
        *runs_api.routes(),  # /v1/testruns...
    ]


def create_api(extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The API app: everything under ``/api`` answers JSON, unknown routes and methods included.

    ``extra_routes`` from other modules: paths relative to ``/api`` (``/v1/testruns``) go inside the
    ``/api`` mount, before the generic collection route; any other path (``/metrics``, or a full
    ``/api/v1/...`` path) is served at the top level, ahead of the mount. The exception handlers of
    ``api/common.py`` apply to all of them.
    """
    extra = [*(extra_routes or []), *runs_api.top_level_routes()]  # /metrics (a caller's extras win)
    inside = [r for r in extra if getattr(r, "path", "").startswith("/v1/")]
    outside = [r for r in extra if r not in inside]
    routes = [*v1_routes(), *inside, Route("/v1/{section}", list_section, methods=["GET"])]
    return Starlette(
        routes=[*outside, Route(API_PREFIX, not_found), Mount(API_PREFIX, routes=routes)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
