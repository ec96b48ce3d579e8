"""REST routes for test data sets (mounted by api/v1.py, conventions of api/common.py).

    GET    /api/v1/data-sets                 list, newest first: q (name/tag search), scope, tag, suiteId,
                                             scenarioId, limit (1-500, default 50), offset
    POST   /api/v1/data-sets                 {name, scope?, suiteId?, scenarioId?, tags?, data?} -> 201
    GET    /api/v1/data-sets/tags            every tag in use (what a run's dataSetTag can pick)
    GET    /api/v1/data-sets/{id}            one data set with its data, revision and how many runs used it
    PATCH  /api/v1/data-sets/{id}            the fields to change, + revision (optional: refuses a stale edit)
    DELETE /api/v1/data-sets/{id}            ?revision= (optional); runs that used it keep their pinned data
    POST   /api/v1/data-sets/{id}/clone      {name?, scope?, suiteId?, scenarioId?, tags?} -> 201

Scaffolding a suite's data set stays at POST /api/v1/suites/{id}/data-scaffold (api/suites.py).
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
from orchestra_app.domain.errors import ErrorKind, OrchestraError, ValidationFailed
from orchestra_app.domain.params import parse_text, parse_uuid
from orchestra_app.services import data_sets
from orchestra_app.services import session as svc

MAX_BODY = 2 * data_sets.MAX_DATA_BYTES  # the data plus the other fields, JSON-escaped
LIST_PARAMS = ("q", "scope", "tag", "suiteId", "scenarioId", *PAGE_PARAMS)


def _json(model: BaseModel, status_code: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", by_alias=True), status_code=status_code)


async def _call(use_case: Any, *, write: bool = False, **kwargs: Any) -> Any:
    def work() -> Any:
        principal = svc.current_principal()
        return (svc.write if write else svc.run)(use_case, principal, **kwargs)

    return await run_blocking(work)


async def _body(request: Request, *, required: bool = True) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise OrchestraError(
                f"request body is above {MAX_BODY} bytes", kind=ErrorKind.TOO_LARGE, field="body"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise ValidationFailed(
                'send a JSON object (e.g. {"name": "orders", "data": {...}})', field="body"
            )
        return {}
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def collection(request: Request) -> Response:
    """GET lists, POST creates (one route, so a 405 names both methods)."""
    if request.method == "POST":
        check_query(request, ())
        detail = await _call(data_sets.create_data_set, write=True, body=await _body(request))
        return _json(detail, 201)
    check_query(request, LIST_PARAMS)
    params = request.query_params
    page = page_request(request)

    def uuid_param(name: str) -> Any:
        return parse_uuid(params[name], name=name) if name in params else None

    listing = await _call(
        data_sets.list_data_sets,
        query=parse_text(params.get("q"), name="q", max_length=200),
        scope=params.get("scope") or None,
        tag=parse_text(params.get("tag"), name="tag", max_length=data_sets.MAX_TAG),
        suite_id=uuid_param("suiteId"),
        scenario_id=uuid_param("scenarioId"),
        limit=page.limit,
        offset=page.offset,
    )
    items = [item.model_dump(mode="json", by_alias=True) for item in listing.items]
    return page_response(request, page, items, listing.total)


async def tags(request: Request) -> Response:
    check_query(request, ())
    return JSONResponse({"items": await _call(data_sets.data_set_tags)})


async def item(request: Request) -> Response:
    """GET reads, PATCH edits, DELETE deletes one data set."""
    data_set_id = path_uuid(request, "id")
    if request.method == "PATCH":
        check_query(request, ())
        body = await _body(request)
        return _json(await _call(data_sets.update_data_set, write=True, data_set_id=data_set_id, body=body))
    if request.method == "DELETE":
        check_query(request, ("revision",))
        revision = parse_text(request.query_params.get("revision"), name="revision", max_length=64)
        gone = await _call(data_sets.delete_data_set, write=True, data_set_id=data_set_id, revision=revision)
        return _json(gone)
    check_query(request, ())
    return _json(await _call(data_sets.get_data_set, data_set_id=data_set_id))


async def clone(request: Request) -> Response:
    check_query(request, ())
    data_set_id = path_uuid(request, "id")
    body = await _body(request, required=False)
    return _json(await _call(data_sets.clone_data_set, write=True, data_set_id=data_set_id, body=body), 201)


def routes() -> list[BaseRoute]:
    """Relative to ``/api`` (api/v1.py mounts them before the generic collection route)."""
    return [
        Route("/v1/data-sets", collection, methods=["GET", "POST"]),
        Route("/v1/data-sets/tags", tags, methods=["GET"]),
        Route("/v1/data-sets/{id}", item, methods=["GET", "PATCH", "DELETE"]),
        Route("/v1/data-sets/{id}/clone", clone, methods=["POST"]),
    ]
