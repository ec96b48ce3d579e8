"""REST routes for test runs and the app's /metrics (mounted by api/v1.py).

    POST /api/v1/testruns                 create runs (a suite, scenarios or a tag) -> 201
    GET  /api/v1/testruns                 list, newest first: status, suiteId, scenarioId, batchId,
                                          limit (1-500, default 50), offset
    GET  /api/v1/testruns/{id}            one run with a row per planned step
    POST /api/v1/testruns/{id}/cancel     cancel: 200 when it ended CANCELLED, 202 when the worker
                                          stops after the current step
    GET  /metrics                         Prometheus exposition of this process

Every service call runs in a worker thread (never on the event loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_app.api.errors import error_response
from orchestra_app.domain.errors import OrchestraError, ValidationFailed
from orchestra_app.domain.runs import RunStatus
from orchestra_app.observability.metrics import exposition
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc

MAX_BODY = 1024 * 1024
LIST_PARAMS = {"status", "suiteId", "scenarioId", "batchId", "limit", "offset"}


def _json(model: BaseModel, status_code: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", by_alias=True), status_code=status_code)


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ValidationFailed(f"{value!r} is not a UUID", field=field) from None


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(f"{value!r} is not an integer", field=field) from None


async def _call(use_case: Callable[..., Any], **kwargs: Any) -> Any:
    def work() -> Any:
        return svc.run(use_case, svc.current_principal(), **kwargs)

    return await asyncio.to_thread(work)


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


async def create_runs(request: Request) -> Response:
    try:
        body = await _body(request)
        result = await _call(run_service.create_runs, request=body)
    except OrchestraError as exc:
        return error_response(exc)
    return _json(result, 201)


async def list_runs(request: Request) -> Response:
    params = request.query_params
    try:
        unknown = sorted(set(params) - LIST_PARAMS)
        if unknown:
            raise ValidationFailed(
                f"unknown query parameter(s) {', '.join(unknown)} (known: {', '.join(sorted(LIST_PARAMS))})",
                field=unknown[0],
            )
        statuses = [s for value in params.getlist("status") for s in value.split(",") if s]
        page = await _call(
            run_service.list_runs,
            status=statuses or None,
            suite_id=_uuid(params["suiteId"], "suiteId") if "suiteId" in params else None,
            scenario_id=_uuid(params["scenarioId"], "scenarioId") if "scenarioId" in params else None,
            batch_id=_uuid(params["batchId"], "batchId") if "batchId" in params else None,
            limit=_int(params["limit"], "limit") if "limit" in params else 50,
            offset=_int(params["offset"], "offset") if "offset" in params else 0,
        )
    except OrchestraError as exc:
        return error_response(exc)
    return _json(page)


async def get_run(request: Request) -> Response:
    try:
        run_id = _uuid(request.path_params["run_id"], "runId")
        detail = await _call(run_service.get_run, run_id=run_id)
    except OrchestraError as exc:
        return error_response(exc)
    return _json(detail)


async def cancel_run(request: Request) -> Response:
    try:
        run_id = _uuid(request.path_params["run_id"], "runId")
        summary = await _call(run_service.cancel_run, run_id=run_id)
    except OrchestraError as exc:
        return error_response(exc)
    return _json(summary, 202 if summary.status == RunStatus.IN_PROGRESS else 200)


async def metrics(_request: Request) -> Response:
    body, content_type = await asyncio.to_thread(exposition)
    return Response(body, media_type=content_type)


def routes() -> list[Route]:
    return [
        Route("/api/v1/testruns", create_runs, methods=["POST"]),
        Route("/api/v1/testruns", list_runs, methods=["GET"]),
        Route("/api/v1/testruns/{run_id}", get_run, methods=["GET"]),
        Route("/api/v1/testruns/{run_id}/cancel", cancel_run, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
