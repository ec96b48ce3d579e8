"""REST routes for test runs and the app's /metrics (mounted by api/v1.py, conventions of api/common.py).

    POST /api/v1/testruns                 create runs (a suite, scenarios or a tag) -> 201
    GET  /api/v1/testruns                 list, newest first: status (comma-separated), suiteId,
                                          scenarioId, batchId, limit (1-500, default 50), offset
    GET  /api/v1/testruns/{id}            one run with a row per planned step
    POST /api/v1/testruns/{id}/cancel     cancel: 200 when it ended CANCELLED, 202 when the worker
                                          stops after the current step
    GET  /metrics                         Prometheus exposition of this process

Errors are raised and rendered by api/common.py's handlers; every service call runs off the event loop.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orchestra_app.api.common import (
    PAGE_PARAMS,
    check_query,
    page_request,
    page_response,
    path_uuid,
    run_blocking,
)
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.runs import RunStatus
from orchestra_app.observability.metrics import exposition
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc

MAX_BODY = 1024 * 1024
LIST_PARAMS = ("status", "suiteId", "scenarioId", "batchId", *PAGE_PARAMS)


def _json(model: BaseModel, status_code: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", by_alias=True), status_code=status_code)


async def _call(use_case: Any, *, write: bool = False, **kwargs: Any) -> Any:
    """The use case in one unit of work, off the event loop (``write``: svc.write's unit of work,
    which on SQLite holds the write lock from its first read)."""

    def work() -> Any:
        principal = svc.current_principal()
        return (svc.write if write else svc.run)(use_case, principal, **kwargs)

    return await run_blocking(work)


async def _body(request: Request) -> Any:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ValidationFailed(f"request body is above {MAX_BODY} bytes", field="body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ValidationFailed('send a JSON object (e.g. {"suiteId": "..."})', field="body")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed(f"the body is not JSON: {exc}", field="body") from None


async def testruns(request: Request) -> Response:
    """GET lists the runs, POST creates runs (one route, so a 405 names both methods)."""
    if request.method == "POST":
        check_query(request, ())
        result = await _call(run_service.create_runs, write=True, request=await _body(request))
        return _json(result, 201)
    check_query(request, LIST_PARAMS)
    params = request.query_params
    page = page_request(request)
    statuses = [s for s in (params.get("status") or "").split(",") if s]

    def uuid_param(name: str) -> Any:
        return parse_uuid(params[name], name=name) if name in params else None

    listing = await _call(
        run_service.list_runs,
        status=statuses or None,
        suite_id=uuid_param("suiteId"),
        scenario_id=uuid_param("scenarioId"),
        batch_id=uuid_param("batchId"),
        limit=page.limit,
        offset=page.offset,
    )
    items = [item.model_dump(mode="json", by_alias=True) for item in listing.items]
    return page_response(request, page, items, listing.total)


async def get_run(request: Request) -> Response:
    check_query(request, ())
    detail = await _call(run_service.get_run, run_id=path_uuid(request, "id"))
    return _json(detail)


async def cancel_run(request: Request) -> Response:
    check_query(request, ())
    summary = await _call(run_service.cancel_run, write=True, run_id=path_uuid(request, "id"))
    return _json(summary, 202 if summary.status == RunStatus.IN_PROGRESS else 200)


async def metrics(_request: Request) -> Response:
    body, content_type = await run_blocking(exposition)
    return Response(body, media_type=content_type)


def routes() -> list[BaseRoute]:
    """Relative to ``/api`` (api/v1.py mounts them before the generic collection route)."""
    return [
        Route("/v1/testruns", testruns, methods=["GET", "POST"]),
        Route("/v1/testruns/{id}", get_run, methods=["GET"]),
        Route("/v1/testruns/{id}/cancel", cancel_run, methods=["POST"]),
    ]


def top_level_routes() -> list[BaseRoute]:
    return [Route("/metrics", metrics, methods=["GET"])]
