"""Spec-first HTTP plumbing shared by the three services: routes, parameter and body checks, errors.

Each service's routes come from its own OpenAPI file (``specs/*.yaml``): a handler is registered per
operationId, and the path, parameters and request body are checked against that file before the
handler runs. So the spec is the single source of truth for what a request may look like, and a
route the spec does not describe cannot exist (``build_routes`` refuses a missing or extra handler).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from examples.shop.faults import FaultError, FaultRegistry

log = logging.getLogger("shop")

SPECS_DIR = Path(__file__).resolve().parent / "specs"
CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_METHODS = ("get", "put", "post", "delete", "patch")
MAX_BODY_BYTES = 1_048_576
MAX_DETAILS = 20


class ApiError(Exception):
    """An error answer: ``{"error": {"code", "message", "details"?, ...extra}}`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})
        self.extra = extra

    def result(self) -> Result:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details[:MAX_DETAILS]
        error.update(self.extra)
        return Result(self.status, {"error": error}, self.headers)


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One checked request: parameters coerced to their schema types, body parsed and validated."""

    operation_id: str
    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, Any]
    body: Any
    correlation_id: str
    correlation_given: bool


Handler = Callable[[Call], Awaitable[Result]]


def to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, default=to_json, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(result: Result) -> Response:
    content = b"" if result.body is None else json_bytes(result.body)
    headers = dict(result.headers)
    media = "application/json" if result.body is not None else None
    return Response(content, status_code=result.status, headers=headers, media_type=media)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"request body is not UTF-8: {exc.reason}") from None
    except ValueError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"request body is not valid JSON: {exc}") from None


def pointer(path: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


@dataclass
class ParamSpec:
    name: str
    location: str
    required: bool
    schema: dict[str, Any]


@dataclass
class OperationSpec:
    id: str
    method: str
    path: str
    params: list[ParamSpec]
    body_schema: dict[str, Any] | None
    body_required: bool
    validators: dict[str, Draft202012Validator] = field(default_factory=dict)


class ServiceSpec:
    """One service's OpenAPI 3.1 file, indexed by operationId, with compiled validators."""

    def __init__(self, path: Path) -> None:
        self.file = path
        self.doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.components: dict[str, Any] = self.doc.get("components", {})
        self.base_path = str(self.doc["servers"][0]["url"]).rstrip("/")
        self.operations: dict[str, OperationSpec] = {}
        for template, item in self.doc["paths"].items():
            shared = [self._deref(p) for p in item.get("parameters", [])]
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                params: dict[tuple[str, str], dict[str, Any]] = {
                    (p["in"], p["name"]): p
                    for p in shared + [self._deref(p) for p in op.get("parameters", [])]
                }
                body = op.get("requestBody")
                schema = body["content"]["application/json"]["schema"] if body else None
                self.operations[op["operationId"]] = OperationSpec(
                    id=op["operationId"],
                    method=method.upper(),
                    path=template,
                    params=[
                        ParamSpec(p["name"], p["in"], bool(p.get("required")), p.get("schema", {}))
                        for p in params.values()
                    ],
                    body_schema=schema,
                    body_required=bool(body and body.get("required")),
                )

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            parts = node["$ref"].removeprefix("#/").split("/")
            target: Any = self.doc
            for part in parts:
                target = target[part]
            node = target
        return node

    def validator(self, operation: OperationSpec, key: str, schema: dict[str, Any]) -> Draft202012Validator:
        compiled = operation.validators.get(key)
        if compiled is None:
            # The schema's "#/components/..." refs resolve against this wrapper, which carries them.
            compiled = Draft202012Validator(
                {**schema, "components": self.components},
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            operation.validators[key] = compiled
        return compiled

    def url(self, operation_id: str, **params: str) -> str:
        path = self.operations[operation_id].path
        for key, value in params.items():
            path = path.replace("{" + key + "}", value)
        return self.base_path + path


def _coerce(raw: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    kind = schema.get("type")
    if kind == "integer":
        if not _INTEGER.match(raw):
            return raw, f"{raw!r} is not an integer"
        return int(raw), None
    if kind == "number":
        if not _NUMBER.match(raw):
            return raw, f"{raw!r} is not a number"
        return float(raw), None
    if kind == "boolean":
        if raw not in ("true", "false"):
            return raw, f"{raw!r} is not true or false"
        return raw == "true", None
    return raw, None


async def read_call(spec: ServiceSpec, operation: OperationSpec, request: Request) -> Call:
    """Checks the request against the operation; raises ApiError (400/415/422) naming what is wrong."""
    raw_correlation = request.headers.get(CORRELATION_HEADER)
    values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
    for param in operation.params:
        if param.location == "path":
            raw: str | None = request.path_params.get(param.name)
        elif param.location == "query":
            raw = request.query_params.get(param.name)
        elif param.location == "header":
            raw = request.headers.get(param.name)
        else:
            continue
        where = f"{param.location} parameter {param.name!r}"
        if raw is None:
            if param.required:
                code = "MISSING_HEADER" if param.location == "header" else "MISSING_PARAMETER"
                raise ApiError(
                    400,
                    code,
                    f"{where} is required",
                    details=[{"parameter": param.name, "in": param.location, "message": "is required"}],
                )
            if "default" in param.schema:
                values[param.location][param.name] = param.schema["default"]
            continue
        value, problem = _coerce(raw, param.schema)
        if problem is None:
            errors = list(
                spec.validator(operation, f"{param.location}:{param.name}", param.schema).iter_errors(value)
            )
            problem = errors[0].message if errors else None
        if problem is not None:
            raise ApiError(
                400,
                "INVALID_PARAMETER",
                f"{where}: {problem}",
                details=[{"parameter": param.name, "in": param.location, "message": problem}],
            )
        values[param.location][param.name] = value
    body = await _read_body(spec, operation, request)
    correlation = raw_correlation if raw_correlation and _CORRELATION.match(raw_correlation) else None
    return Call(
        operation_id=operation.id,
        path=values["path"],
        query=values["query"],
        headers=values["header"],
        body=body,
        correlation_id=correlation or str(uuid.uuid4()),
        correlation_given=correlation is not None,
    )


async def _read_body(spec: ServiceSpec, operation: OperationSpec, request: Request) -> Any:
    if operation.body_schema is None:
        return None  # operations without a request body ignore whatever was sent
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "BODY_TOO_LARGE", f"request body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if operation.body_required:
            raise ApiError(400, "MISSING_BODY", f"{operation.id} needs a JSON request body")
        return None
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"request body must be application/json, got {media or 'no Content-Type'}",
        )
    body = parse_json(raw)
    errors = sorted(
        spec.validator(operation, "body", operation.body_schema).iter_errors(body),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    if errors:
        details = [{"pointer": pointer(e.absolute_path), "message": e.message} for e in errors]
        first = details[0]
        where = f"request body {first['pointer']}" if first["pointer"] else "request body"
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise ApiError(422, "VALIDATION_FAILED", f"{where}: {first['message']}{more}", details=details)
    return body


def build_routes(
    spec: ServiceSpec, handlers: Mapping[str, Handler], faults: FaultRegistry
) -> list[BaseRoute]:
    """One Starlette route per spec operation, plus the service's admin routes."""
    missing = sorted(set(spec.operations) - set(handlers))
    extra = sorted(set(handlers) - set(spec.operations))
    if missing or extra:
        raise RuntimeError(
            f"{spec.file.name}: operations without handler {missing}, handlers without operation {extra}"
        )
    routes: list[BaseRoute] = []
    for op_id, operation in spec.operations.items():
        routes.append(
            Route(
                spec.base_path + operation.path,
                _endpoint(spec, operation, handlers[op_id], faults),
                methods=[operation.method],
                name=op_id,
            )
        )
    admin = spec.base_path.rsplit("/", 1)[0] + "/_admin/faults"
    routes.append(Route(admin, _admin_endpoint(faults), methods=["GET", "POST", "DELETE"], name="faults"))
    return routes


def _endpoint(
    spec: ServiceSpec, operation: OperationSpec, handler: Handler, faults: FaultRegistry
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        correlation = request.headers.get(CORRELATION_HEADER)
        slow = faults.for_operation("slow_response", operation.id)
        if slow is not None:
            log.info("fault slow_response: %s waits %s ms", operation.id, slow["delayMs"])
            await asyncio.sleep(float(slow["delayMs"]) / 1000)
        try:
            call = await read_call(spec, operation, request)
            correlation = call.correlation_id
            result = await handler(call)
        except ApiError as exc:
            result = exc.result()
        except Exception:
            log.exception("%s failed", operation.id)
            result = ApiError(
                500, "INTERNAL_ERROR", f"{operation.id} failed unexpectedly; see the service log"
            ).result()
        if 200 <= result.status < 300:
            result = _apply_response_faults(faults, operation.id, result)
        if not correlation or not _CORRELATION.match(correlation):
            correlation = str(uuid.uuid4())
        result.headers.setdefault(CORRELATION_HEADER, correlation)
        return json_response(result)

    return endpoint


def _apply_response_faults(faults: FaultRegistry, operation_id: str, result: Result) -> Result:
    missing = faults.for_operation("missing_field", operation_id)
    if missing is not None and isinstance(result.body, dict):
        result.body = {k: v for k, v in result.body.items() if k != missing["field"]}
    wrong = faults.for_operation("wrong_status", operation_id)
    if wrong is not None:
        result.status = int(wrong["status"])
        if result.status >= 400:  # an error status comes with an error body, like a real failure
            message = f"fault switch wrong_status answered {result.status} instead of success"
            result.body = {"error": {"code": "INJECTED_FAULT", "message": message}}
    return result


def _admin_endpoint(faults: FaultRegistry) -> Callable[[Request], Awaitable[Response]]:
    async def admin(request: Request) -> Response:
        if request.method == "GET":
            return json_response(Result(200, {"service": faults.service, "faults": faults.describe()}))
        if request.method == "DELETE":
            faults.reset()
            return json_response(Result(200, {"service": faults.service, "faults": faults.describe()}))
        try:
            body = parse_json(await request.body())
            if not isinstance(body, dict):
                raise ApiError(
                    422, "VALIDATION_FAILED", 'expected {"name": ..., "enabled": true|false, "params": {...}}'
                )
            unknown = sorted(set(body) - {"name", "enabled", "params"})
            if unknown:
                raise ApiError(
                    422, "VALIDATION_FAILED", f"unknown field(s) {', '.join(unknown)} (name, enabled, params)"
                )
            name, enabled, params = body.get("name"), body.get("enabled", True), body.get("params") or {}
            if not isinstance(name, str) or not name:
                raise ApiError(
                    422,
                    "VALIDATION_FAILED",
                    "'name' must be the name of a fault",
                    details=[{"pointer": "/name", "message": "required string"}],
                )
            if not isinstance(enabled, bool):
                raise ApiError(
                    422,
                    "VALIDATION_FAILED",
                    "'enabled' must be true or false",
                    details=[{"pointer": "/enabled", "message": "must be a boolean"}],
                )
            if not isinstance(params, dict):
                raise ApiError(
                    422,
                    "VALIDATION_FAILED",
                    "'params' must be an object",
                    details=[{"pointer": "/params", "message": "must be an object"}],
                )
            try:
                state = faults.set(name, enabled, params)
            except FaultError as exc:
                status = 404 if exc.args[0].startswith("unknown fault") else 422
                raise ApiError(
                    status, "UNKNOWN_FAULT" if status == 404 else "INVALID_FAULT_PARAMS", str(exc)
                ) from None
            log.warning(
                "fault %s.%s %s %s", faults.service, name, "ON" if enabled else "off", state["params"]
            )
            return json_response(Result(200, state))
        except ApiError as exc:
            return json_response(exc.result())

    return admin


async def http_exception(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods answer in the same JSON error shape as everything else."""
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    message = {
        404: f"no route {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    result = ApiError(exc.status_code, code, message, headers=exc.headers).result()
    return json_response(result)
