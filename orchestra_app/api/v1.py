"""REST API v1 (Starlette), mounted into the Reflex app through api_transformer.

Routes are thin: read the request, call a service in one unit of work, map errors to HTTP. Until the
security issue adds bearer tokens, callers act as the built-in development principal.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestra_app.api import runs as runs_api
from orchestra_app.api.errors import error_response
from orchestra_app.db.engine import get_engine
from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.services import processes as process_service
from orchestra_app.services import session as svc
from orchestra_app.services import specs as spec_service
from orchestra_app.services.health import check_health
from orchestra_app.settings import get_settings

_error = error_response


async def _read_upload(request: Request) -> tuple[bytes, str]:
    filename = request.query_params.get("filename") or request.headers.get("x-filename") or ""
    if not filename:
        raise OrchestraError(
            "name the file: ?filename=order.bpmn (or an X-Filename header)",
            kind=ErrorKind.VALIDATION,
            field="filename",
        )
    limit = get_settings().max_upload_bytes
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
    return b"".join(chunks), filename


async def health(_request: Request) -> JSONResponse:
    body = await asyncio.to_thread(check_health, engine=get_engine(), settings=get_settings())
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


async def import_process(request: Request) -> JSONResponse:
    """POST raw file bytes: a BPMN or sequence diagram becomes a new process version and its suite."""
    try:
        data, filename = await _read_upload(request)
        params = request.query_params
        max_loop = params.get("max_loop")
        result = await asyncio.to_thread(
            svc.run,
            process_service.import_process,
            svc.current_principal(),
            data=data,
            filename=filename,
            key=params.get("key") or None,
            strategy=params.get("strategy", "edges"),
            max_loop=int(max_loop) if max_loop else None,
        )
    except OrchestraError as exc:
        return _error(exc)
    except ValueError:
        return _error(OrchestraError("max_loop must be an integer", field="max_loop"))
    body: dict[str, Any] = {k: str(v) if k.endswith("_id") else v for k, v in asdict(result).items()}
    return JSONResponse(body, status_code=201)


async def import_spec(request: Request) -> JSONResponse:
    """POST raw file bytes: an OpenAPI/AsyncAPI/protobuf document becomes a ProtocolSpec."""
    try:
        data, filename = await _read_upload(request)
        result = await asyncio.to_thread(
            svc.run,
            spec_service.import_spec,
            svc.current_principal(),
            data=data,
            filename=filename,
            service_name=request.query_params.get("service") or None,
        )
    except OrchestraError as exc:
        return _error(exc)
    body = {k: str(v) if k.endswith("_id") else v for k, v in asdict(result).items()}
    return JSONResponse(body, status_code=201 if result.created else 200)


async def list_section(request: Request) -> JSONResponse:
    section = request.path_params["section"].replace("-", "_")
    if section not in svc.SECTION_QUERIES:
        return _error(
            OrchestraError(f"unknown collection {request.path_params['section']!r}", kind=ErrorKind.NOT_FOUND)
        )
    rows = await asyncio.to_thread(svc.section_rows, section, svc.current_principal())
    return JSONResponse({"items": rows})


def create_api() -> Starlette:
    return Starlette(
        routes=[
            *runs_api.routes(),  # before /api/v1/{section}, which would swallow /api/v1/testruns
            Route("/api/v1/health", health, methods=["GET"]),
            Route("/api/v1/processes", import_process, methods=["POST"]),
            Route("/api/v1/specs", import_spec, methods=["POST"]),
            Route("/api/v1/{section}", list_section, methods=["GET"]),
        ]
    )
