"""REST routes for scenarios: read one, save an edited copy as a new version, clone, check a draft.

``GET /api/v1/scenarios/{id}``: the version with its steps, path, decisions and version history.
``PUT /api/v1/scenarios/{id}`` with ``{"baseVersion": N, "scenario": {name, tags, steps}}``: 201 with the
new version, 409 ``conflict`` when version N is no longer the newest (nothing stored), 400 with every
``problems`` entry (field, message, pointer) when the draft is invalid.
``POST /api/v1/scenarios/{id}/clone`` with ``{"key"?, "name"?}``: 201 with the new scenario.
``POST /api/v1/scenarios/{id}/check`` with a draft: 200 ``{"problems": [...]}`` (warnings included).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from orchestra_app.api.common import check_query, error_body, path_uuid, run_blocking
from orchestra_app.api.v1 import principal_of, read_upload
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.params import parse_int, parse_text, shown
from orchestra_app.services import scenarios as scenario_service
from orchestra_app.services import session as svc


async def _json_body(
    request: Request, allowed: tuple[str, ...] | None = None, *, empty_ok: bool = False
) -> Any:
    data = await read_upload(request, "request body")
    if not data.strip() and empty_ok:
        return {}
    if not data.strip():
        raise ValidationFailed("the request body is empty: send a JSON object", field="body")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError):
        raise ValidationFailed("the request body is not UTF-8 JSON", field="body") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"invalid JSON: {exc.msg}", field="body", line=exc.lineno, column=exc.colno
        ) from None
    if allowed is not None:
        if not isinstance(body, dict):
            raise ValidationFailed(
                f"the request body must be a JSON object, got {type(body).__name__}", field="body"
            )
        for key in body:
            if key not in allowed:
                takes = ", ".join(allowed)
                raise ValidationFailed(
                    f"unknown field {shown(key)} (this route takes: {takes})", field=str(key)[:60]
                )
    return body


def _invalid(exc: scenario_service.ScenarioInvalid) -> JSONResponse:
    body = error_body(exc)
    body["error"]["problems"] = [p.to_json() for p in exc.problems]
    return JSONResponse(body, status_code=400)


async def get_scenario(request: Request) -> JSONResponse:
    check_query(request, ())
    scenario_id = path_uuid(request, "id")
    principal = await principal_of(request)
    detail = await run_blocking(svc.run, scenario_service.get_scenario, principal, scenario_id=scenario_id)
    return JSONResponse(detail.to_json())


async def save_scenario(request: Request) -> JSONResponse:
    check_query(request, ())
    scenario_id = path_uuid(request, "id")
    body = await _json_body(request, ("baseVersion", "scenario"))
    raw_version = body.get("baseVersion")
    if raw_version is None:
        raise ValidationFailed("baseVersion is required: the version you edited", field="baseVersion")
    if not isinstance(raw_version, int | str) or isinstance(raw_version, bool):
        raise ValidationFailed(
            f"baseVersion must be an integer, got {shown(raw_version)}", field="baseVersion"
        )
    base_version = parse_int(raw_version, name="baseVersion", minimum=1, maximum=1_000_000_000)
    if "scenario" not in body:
        raise ValidationFailed("scenario is required: {name, tags, steps}", field="scenario")
    principal = await principal_of(request)
    try:
        saved = await run_blocking(
            svc.write,
            scenario_service.save_scenario_version,
            principal,
            scenario_id=scenario_id,
            base_version=base_version,
            document=body["scenario"],
        )
    except scenario_service.ScenarioInvalid as exc:
        return _invalid(exc)
    return JSONResponse(saved.to_json(), status_code=201)


async def scenario(request: Request) -> JSONResponse:
    """GET reads, PUT saves (one route, so a 405 names both methods)."""
    if request.method == "PUT":
        return await save_scenario(request)
    return await get_scenario(request)


async def clone_scenario(request: Request) -> JSONResponse:
    check_query(request, ())
    scenario_id = path_uuid(request, "id")
    body = await _json_body(request, ("key", "name"), empty_ok=True)
    key, name = body.get("key"), body.get("name")
    for field, value in (("key", key), ("name", name)):
        if value is not None and not isinstance(value, str):
            raise ValidationFailed(f"{field} must be a string, got {shown(value)}", field=field)
    principal = await principal_of(request)
    saved = await run_blocking(
        svc.write,
        scenario_service.clone_scenario,
        principal,
        scenario_id=scenario_id,
        key=parse_text(key, name="key", max_length=100),
        name=name,
    )
    return JSONResponse(saved.to_json(), status_code=201)


async def check_scenario(request: Request) -> JSONResponse:
    check_query(request, ())
    path_uuid(request, "id")
    body = await _json_body(request)
    _draft, problems = await run_blocking(scenario_service.parse_draft, body)
    return JSONResponse({"problems": [p.to_json() for p in problems]})


def scenario_routes() -> list[BaseRoute]:
    """Relative to ``/api``; ``create_api`` mounts them before the generic collection route."""
    return [
        Route("/v1/scenarios/{id}", scenario, methods=["GET", "PUT"]),
        Route("/v1/scenarios/{id}/clone", clone_scenario, methods=["POST"]),
        Route("/v1/scenarios/{id}/check", check_scenario, methods=["POST"]),
    ]
