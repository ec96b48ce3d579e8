"""REST API v1 for a suite's specs, binding, chaining, data scaffold and YAML export/import.

GET  /api/v1/suites/{id}/specs            the specs the suite binds to
PUT  /api/v1/suites/{id}/specs            {"specIds": [...]} replaces them
POST /api/v1/suites/{id}/bind             {"specIds"?, "environmentId"?, "overrides"?: {node: "svc:op"}}
GET  /api/v1/suites/{id}/chaining         every wired input (proposals and overrides)
PUT  /api/v1/suites/{id}/chaining         {"overrides": [{step, pointer, source, scenario?, reset?}]}
POST /api/v1/suites/{id}/data-scaffold    {"store"?: bool, "name"?: str} the data set the suite needs
GET  /api/v1/suites/{id}/export           the suite as orchestra-suite/1 YAML
POST /api/v1/suites/import                a suite file (?filename= or X-Filename) -> created/updated suite
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orchestra_app.api.common import check_query, run_blocking
from orchestra_app.api.v1 import _filename, principal_of, read_upload
from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import binding, data_sets, suite_io
from orchestra_app.services import session as svc

MAX_JSON_BYTES = 1024 * 1024


def _uuid(value: Any, field: str) -> UUID:
    if isinstance(value, str):
        return parse_uuid(value, name=field)
    raise OrchestraError(f"{field} must be a UUID, got {value!r}", kind=ErrorKind.VALIDATION, field=field)


def _suite_id(request: Request) -> UUID:
    return parse_uuid(request.path_params["suite_id"], name="suite_id")


async def _json(request: Request, *, required: bool = True) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise OrchestraError(
                f"request body is above {MAX_JSON_BYTES} bytes", kind=ErrorKind.TOO_LARGE, field="body"
            )
    if not raw.strip():
        if required:
            raise OrchestraError("send a JSON object body", kind=ErrorKind.VALIDATION, field="body")
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OrchestraError(f"body is not JSON: {exc}", kind=ErrorKind.VALIDATION, field="body") from None
    if not isinstance(body, dict):
        raise OrchestraError("body must be a JSON object", kind=ErrorKind.VALIDATION, field="body")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise OrchestraError(
            f"unknown field(s) {unknown}; allowed: {', '.join(sorted(allowed))}",
            kind=ErrorKind.VALIDATION,
            field=unknown[0],
        )


def _uuid_list(value: Any, field: str) -> list[UUID]:
    if not isinstance(value, list):
        raise OrchestraError(f"{field} must be a list of UUIDs", kind=ErrorKind.VALIDATION, field=field)
    return [_uuid(v, f"{field}[{i}]") for i, v in enumerate(value)]


WRITES = frozenset(
    {
        binding.set_suite_specs,
        binding.bind_suite,
        binding.override_chaining,
        data_sets.scaffold_suite_data,
        suite_io.import_suite,
    }
)


async def _run(request: Request, use_case: Any, **kwargs: Any) -> Any:
    """The use case in the API's thread pool, so the event loop stays free; writers retry on conflict."""
    principal = await principal_of(request)
    unit_of_work = svc.write if use_case in WRITES else svc.run
    return await run_blocking(unit_of_work, use_case, principal, **kwargs)


def _specs_body(rows: list[binding.SuiteSpecRow]) -> dict[str, Any]:
    return {
        "items": [
            {
                "specId": str(r.spec_id),
                "protocol": r.protocol_id,
                "service": r.service_name,
                "version": r.version,
                "operations": r.operations,
                "newerVersion": r.newer_version,
            }
            for r in rows
        ]
    }


def _chaining_body(rows: list[binding.ChainRow]) -> dict[str, Any]:
    return {
        "items": [
            {
                "scenario": r.scenario,
                "step": r.step,
                "pointer": r.pointer,
                "source": r.source,
                "replaces": r.replaces,
                "sourceStep": r.source_step,
                "reason": r.reason,
                "confidence": r.confidence,
                "overridden": r.overridden,
            }
            for r in rows
        ]
    }


async def get_specs(request: Request) -> Response:
    check_query(request, ())
    rows = await _run(request, binding.suite_specs, suite_id=_suite_id(request))
    return JSONResponse(_specs_body(rows))


async def put_specs(request: Request) -> Response:
    check_query(request, ())
    suite_id = _suite_id(request)
    body = await _json(request)
    _only(body, {"specIds"})
    if "specIds" not in body:
        raise OrchestraError("specIds is required (an empty list clears the choice)", field="specIds")
    spec_ids = _uuid_list(body["specIds"], "specIds")
    rows = await _run(request, binding.set_suite_specs, suite_id=suite_id, spec_ids=spec_ids)
    return JSONResponse(_specs_body(rows))


async def bind(request: Request) -> Response:
    check_query(request, ())
    suite_id = _suite_id(request)
    body = await _json(request, required=False)
    _only(body, {"specIds", "environmentId", "overrides"})
    spec_ids = _uuid_list(body["specIds"], "specIds") if body.get("specIds") is not None else None
    environment = body.get("environmentId")
    environment_id = _uuid(environment, "environmentId") if environment is not None else None
    overrides = body.get("overrides") or {}
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()
    ):
        raise OrchestraError(
            'overrides maps a node id or step alias to "service:operationId"', field="overrides"
        )
    rows = await _run(
        request,
        binding.bind_suite,
        suite_id=suite_id,
        spec_ids=spec_ids,
        environment_id=environment_id,
        overrides=overrides,
    )
    chaining = await _run(request, binding.suite_chaining, suite_id=suite_id)
    return JSONResponse(
        {"bindings": [asdict(r) for r in rows], "chaining": _chaining_body(chaining)["items"]}
    )


async def get_chaining(request: Request) -> Response:
    check_query(request, ())
    rows = await _run(request, binding.suite_chaining, suite_id=_suite_id(request))
    return JSONResponse(_chaining_body(rows))


async def put_chaining(request: Request) -> Response:
    check_query(request, ())
    suite_id = _suite_id(request)
    body = await _json(request)
    _only(body, {"overrides"})
    overrides = body.get("overrides")
    if not isinstance(overrides, list) or not overrides:
        raise OrchestraError("overrides is a non-empty list", field="overrides")
    rows = await _run(request, binding.override_chaining, suite_id=suite_id, overrides=overrides)
    return JSONResponse(_chaining_body(rows))


async def scaffold(request: Request) -> Response:
    check_query(request, ())
    suite_id = _suite_id(request)
    body = await _json(request, required=False)
    _only(body, {"store", "name"})
    store = body.get("store", False)
    if not isinstance(store, bool):
        raise OrchestraError("store is true or false", field="store")
    name = body.get("name", data_sets.DEFAULT_NAME)
    if not isinstance(name, str):
        raise OrchestraError("name is text", field="name")
    result = await _run(request, data_sets.scaffold_suite_data, suite_id=suite_id, store=store, name=name)
    out = asdict(result)
    out["data_set_id"] = str(result.data_set_id) if result.data_set_id else None
    return JSONResponse(out, status_code=201 if result.created else 200)


async def export(request: Request) -> Response:
    check_query(request, ())
    result = await _run(request, suite_io.export_suite, suite_id=_suite_id(request))
    headers = {"Content-Disposition": f'attachment; filename="suite-{result.suite_id}.yaml"'}
    if result.warnings:
        headers["X-Orchestra-Warnings"] = str(len(result.warnings))
    return Response(result.text, media_type="application/yaml; charset=utf-8", headers=headers)


async def import_file(request: Request) -> Response:
    check_query(request, ("filename",))
    filename = _filename(request)
    data = await read_upload(request, filename)
    result = await _run(request, suite_io.import_suite, text=data, filename=filename)
    body = asdict(result)
    body["suite_id"] = str(result.suite_id)
    return JSONResponse(body, status_code=201 if result.suite_created else 200)


def routes() -> list[BaseRoute]:
    """Relative to the /api mount (see api/v1.py)."""
    return [
        Route("/v1/suites/import", import_file, methods=["POST"]),
        Route("/v1/suites/{suite_id}/specs", get_specs, methods=["GET"]),
        Route("/v1/suites/{suite_id}/specs", put_specs, methods=["PUT"]),
        Route("/v1/suites/{suite_id}/bind", bind, methods=["POST"]),
        Route("/v1/suites/{suite_id}/chaining", get_chaining, methods=["GET"]),
        Route("/v1/suites/{suite_id}/chaining", put_chaining, methods=["PUT"]),
        Route("/v1/suites/{suite_id}/data-scaffold", scaffold, methods=["POST"]),
        Route("/v1/suites/{suite_id}/export", export, methods=["GET"]),
    ]
