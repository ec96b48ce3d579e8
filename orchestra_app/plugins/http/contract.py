"""HTTP ContractValidator: requests and responses checked against an OpenAPI operation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestra_app.domain.spec import MediaBody, Operation, ResponseSpec, SpecSummary
from orchestra_app.domain.steps import Violation, ViolationType
from orchestra_app.plugins.http.schemas import SpecIndex, spec_index

CONTRACT = ViolationType.CONTRACT_VIOLATION
INVALID = ViolationType.VALIDATION_ERROR


@dataclass
class HttpRequestData:
    """The rendered request, before it becomes an httpx.Request."""

    method: str
    path: str
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, Any] = field(default_factory=dict)
    body_kind: str | None = None  # json | form | multipart | body
    body: Any = None
    content_type: str | None = None


@dataclass
class HttpResponseData:
    status: int
    headers: Mapping[str, str]  # case-insensitive mapping (httpx.Headers) or lower-cased dict
    content_type: str | None
    body: Any  # parsed JSON, text, or None when empty
    is_json: bool = False
    json_error: str | None = None
    empty: bool = True
    truncated: bool = False
    method: str = "GET"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media(media: str) -> bool:
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def match_media(actual: str, declared: Mapping[str, Any]) -> str | None:
    """The declared media-type key matching ``actual``: exact, then ``type/*``, then ``*/*``."""
    normalized = {media_type(key): key for key in declared}
    if actual in normalized:
        return normalized[actual]
    major = actual.split("/", 1)[0]
    if f"{major}/*" in normalized:
        return normalized[f"{major}/*"]
    return normalized.get("*/*")


def response_for(operation: Operation, status: int) -> tuple[str, ResponseSpec] | None:
    """Exact status, then the 1XX-5XX range, then default."""
    responses = operation.responses
    key = str(status)
    if key in responses:
        return key, responses[key]
    for candidate in (f"{key[0]}XX", f"{key[0]}xx"):
        if candidate in responses:
            return candidate, responses[candidate]
    if "default" in responses:
        return "default", responses["default"]
    return None


def _coerce(value: Any, schema: Any) -> Any:
    """Parameters and headers travel as strings; compare them as the type the schema declares."""
    if not isinstance(value, str) or not isinstance(schema, dict):
        return value
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types:
        return value
    try:
        if "integer" in types:
            return int(value)
        if "number" in types:
            return float(value)
    except ValueError:
        return value
    if "boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "array" in types:
        return value.split(",")
    return value


def _find(mapping: Mapping[str, Any], name: str, *, fold: bool) -> tuple[bool, Any]:
    if name in mapping:
        return True, mapping[name]
    if fold:
        lowered = name.lower()
        for key, value in mapping.items():
            if key.lower() == lowered:
                return True, value
    return False, None


class HttpContractValidator:
    """Undeclared status, undeclared content type, body schema and required headers -> CONTRACT_VIOLATION."""

    def __init__(self, *, validate_formats: bool = True) -> None:
        self.validate_formats = validate_formats

    def index(self, spec: SpecSummary) -> SpecIndex:
        return spec_index(spec, validate_formats=self.validate_formats)

    def warm(self, spec: SpecSummary) -> int:
        """Compile every body validator of the spec now (a run can call this before its first step).

        Compiling is lazy otherwise: the first step of an operation pays it (up to ~30 ms per
        response on the largest corpus spec), later steps reuse the cached validator.
        """
        index = self.index(spec)
        count = 0
        for operation in spec.operations:
            if operation.request_body is not None:
                for media, schema in operation.request_body.content.items():
                    if schema is not None:
                        index.validator((operation.id, "request", media), schema, "request")
                        count += 1
            for key, response in operation.responses.items():
                for media, schema in response.content.items():
                    if schema is not None and is_json_media(media_type(media)):
                        index.validator((operation.id, "response", key, media), schema, "response")
                        count += 1
        return count

    # ---- request -------------------------------------------------------------------------------

    def validate_request(self, spec: SpecSummary, operation: Operation, request: Any) -> list[Violation]:
        assert isinstance(request, HttpRequestData)
        index = self.index(spec)
        violations: list[Violation] = []
        where = {
            "path": request.path_params,
            "query": request.query,
            "header": request.headers,
            "cookie": request.cookies,
        }
        for param in operation.parameters:
            values = where.get(param.location)
            if values is None:
                continue
            present, value = _find(values, param.name, fold=param.location == "header")
            pointer = f"/{param.location}/{param.name}"
            if not present:
                if param.required or param.location == "path":
                    violations.append(
                        Violation(
                            type=INVALID,
                            code="MISSING_PARAMETER",
                            message=f"required {param.location} parameter {param.name!r} is missing",
                            details={
                                "operationId": operation.id,
                                "in": param.location,
                                "name": param.name,
                                "pointer": pointer,
                            },
                        )
                    )
                continue
            if param.schema_ is None:
                continue
            compiled = index.validator((operation.id, "param", param.location, param.name), param.schema_)
            for err in compiled.errors(_coerce(value, param.schema_)):
                violations.append(
                    Violation(
                        type=INVALID,
                        code="INVALID_PARAMETER",
                        message=f"{param.location} parameter {param.name!r}: {err.message}",
                        details={
                            "operationId": operation.id,
                            "in": param.location,
                            "name": param.name,
                            "pointer": pointer + err.pointer,
                            "schemaPointer": err.schema_pointer,
                        },
                    )
                )
        violations.extend(self._validate_request_body(index, operation, request))
        return violations

    def _validate_request_body(
        self, index: SpecIndex, operation: Operation, request: HttpRequestData
    ) -> list[Violation]:
        body_spec: MediaBody | None = operation.request_body
        if request.body_kind is None:
            if body_spec is not None and body_spec.required:
                return [
                    Violation(
                        type=INVALID,
                        code="MISSING_REQUEST_BODY",
                        message=f"operation {operation.id} requires a request body",
                        details={"operationId": operation.id, "pointer": "/body"},
                    )
                ]
            return []
        if body_spec is None or not body_spec.content:
            return []
        actual = media_type(request.content_type)
        declared = match_media(actual, body_spec.content)
        if declared is None:
            return [
                Violation(
                    type=INVALID,
                    code="UNDECLARED_REQUEST_CONTENT_TYPE",
                    message=f"request content type {actual!r} is not declared by {operation.id} "
                    f"(declared: {', '.join(body_spec.content)})",
                    details={
                        "operationId": operation.id,
                        "actual": actual,
                        "declared": list(body_spec.content),
                        "pointer": "/headers/content-type",
                    },
                )
            ]
        schema = body_spec.content[declared]
        if schema is None or request.body_kind not in ("json", "form", "multipart"):
            return []
        compiled = index.validator((operation.id, "request", declared), schema, "request")
        root = f"/{request.body_kind}"
        return [
            Violation(
                type=INVALID,
                code="INVALID_REQUEST_BODY",
                message=f"request body{err.pointer or ''}: {err.message}",
                details={
                    "operationId": operation.id,
                    "mediaType": declared,
                    "pointer": root + err.pointer,
                    "schemaPointer": err.schema_pointer,
                },
            )
            for err in compiled.errors(request.body)
        ]

    # ---- response ------------------------------------------------------------------------------

    def validate_response(self, spec: SpecSummary, operation: Operation, response: Any) -> list[Violation]:
        assert isinstance(response, HttpResponseData)
        index = self.index(spec)
        found = response_for(operation, response.status)
        base = {"operationId": operation.id, "status": response.status}
        if found is None:
            return [
                Violation(
                    type=CONTRACT,
                    code="UNDECLARED_STATUS",
                    message=f"status {response.status} is not declared by {operation.id} "
                    f"(declared: {', '.join(operation.responses) or 'none'})",
                    details={**base, "declared": list(operation.responses), "pointer": "/status"},
                )
            ]
        key, spec_response = found
        base["responseKey"] = key
        violations = self._check_headers(index, operation, key, spec_response, response, base)
        violations.extend(self._check_body(index, operation, key, spec_response, response, base))
        return violations

    def _check_headers(
        self,
        index: SpecIndex,
        operation: Operation,
        key: str,
        spec_response: ResponseSpec,
        response: HttpResponseData,
        base: dict[str, Any],
    ) -> list[Violation]:
        violations: list[Violation] = []
        for name, header in spec_response.headers.items():
            if name.lower() == "content-type" or not isinstance(header, dict):
                continue  # OpenAPI: a Content-Type header definition is ignored
            present, value = _find(response.headers, name, fold=True)
            pointer = f"/headers/{name.lower()}"
            if not present:
                if header.get("required"):
                    violations.append(
                        Violation(
                            type=CONTRACT,
                            code="MISSING_RESPONSE_HEADER",
                            message=f"required response header {name!r} is missing",
                            details={**base, "header": name, "pointer": pointer},
                        )
                    )
                continue
            schema = header.get("schema")
            if schema is None:
                continue
            compiled = index.validator((operation.id, "header", key, name.lower()), schema)
            for err in compiled.errors(_coerce(value, schema)):
                violations.append(
                    Violation(
                        type=CONTRACT,
                        code="INVALID_RESPONSE_HEADER",
                        message=f"response header {name!r}: {err.message}",
                        details={
                            **base,
                            "header": name,
                            "pointer": pointer + err.pointer,
                            "schemaPointer": err.schema_pointer,
                        },
                    )
                )
        return violations

    def _check_body(
        self,
        index: SpecIndex,
        operation: Operation,
        key: str,
        spec_response: ResponseSpec,
        response: HttpResponseData,
        base: dict[str, Any],
    ) -> list[Violation]:
        if not spec_response.content:
            return []  # nothing declared: an undocumented body is not checked (see docs/plugins.md)
        if response.empty:
            if response.method.upper() == "HEAD" or response.status in (204, 304):
                return []
            if all(schema is None for schema in spec_response.content.values()):
                return []
            return [
                Violation(
                    type=CONTRACT,
                    code="EMPTY_RESPONSE_BODY",
                    message=f"response {response.status} has no body but {operation.id} declares "
                    f"{', '.join(spec_response.content)}",
                    details={**base, "declared": list(spec_response.content), "pointer": ""},
                )
            ]
        actual = media_type(response.content_type)
        declared = match_media(actual, spec_response.content)
        if declared is None:
            return [
                Violation(
                    type=CONTRACT,
                    code="UNDECLARED_CONTENT_TYPE",
                    message=(
                        f"content type {actual!r} is not declared"
                        if actual
                        else "the response has no Content-Type"
                    )
                    + f" for status {key} of {operation.id} (declared: {', '.join(spec_response.content)})",
                    details={
                        **base,
                        "actual": actual,
                        "declared": list(spec_response.content),
                        "pointer": "/headers/content-type",
                    },
                )
            ]
        schema = spec_response.content[declared]
        if schema is None or response.truncated:
            return []
        base = {**base, "mediaType": declared}
        if is_json_media(actual) or is_json_media(media_type(declared)):
            if not response.is_json:
                return [
                    Violation(
                        type=CONTRACT,
                        code="INVALID_JSON_BODY",
                        message=f"response body is not valid JSON: {response.json_error}",
                        details={**base, "pointer": ""},
                    )
                ]
            instance = response.body
        elif isinstance(schema, dict) and schema.get("type") == "string":
            instance = response.body
        else:
            return []  # XML, binary, ...: only the content type is checked
        compiled = index.validator((operation.id, "response", key, declared), schema, "response")
        if compiled.unusable:
            return [
                Violation(
                    type=INVALID,
                    code="SPEC_SCHEMA_UNUSABLE",
                    message=f"the spec's schema for {operation.id} {key} {declared} cannot be compiled: "
                    f"{compiled.unusable}",
                    details={**base},
                )
            ]
        return [
            Violation(
                type=CONTRACT,
                code="RESPONSE_SCHEMA_MISMATCH",
                message=f"response body{err.pointer and ' at ' + err.pointer}: {err.message}",
                details={**base, "pointer": err.pointer, "schemaPointer": err.schema_pointer},
            )
            for err in compiled.errors(instance)
        ]

    # ---- schemaRefs ----------------------------------------------------------------------------

    def validate_schema_ref(
        self, spec: SpecSummary, ref: str, instance: Any, *, at: str = ""
    ) -> list[Violation]:
        """The instance against ``#/components/schemas/Name`` of the spec (expectations.schemaRefs)."""
        index = self.index(spec)
        schema = index.resolve_ref(ref)
        if schema is None:
            return [
                Violation(
                    type=INVALID,
                    code="UNKNOWN_SCHEMA_REF",
                    message=f"schemaRefs entry {ref!r} does not exist in the spec",
                    details={"ref": ref},
                )
            ]
        # schemaRefs select parts of the response, so writeOnly properties are not required there.
        compiled = index.validator(("schemaRef", ref), {"$ref": ref}, "response")
        return [
            Violation(
                type=CONTRACT,
                code="SCHEMA_REF_MISMATCH",
                message=f"{ref}: body{at}{err.pointer}: {err.message}",
                details={"ref": ref, "pointer": at + err.pointer, "schemaPointer": err.schema_pointer},
            )
            for err in compiled.errors(instance)
        ]


def body_preview(value: Any, limit: int = 2000) -> Any:
    """Request bodies recorded in results are capped like responses."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)[:limit]
    return value if len(text) <= limit else {"truncatedPreview": text[:limit] + "..."}
