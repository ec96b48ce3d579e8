"""HTTP ContractValidator: requests and responses checked against an OpenAPI operation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestra_app.domain.spec import (
    MediaBody,
    Operation,
    ResponseSpec,
    SourceRef,
    SpecSummary,
    part_source,
    template_variables,
)
from orchestra_app.domain.steps import Violation, ViolationType
from orchestra_app.plugins.http.locations import locate, spec_details
from orchestra_app.plugins.http.schemas import CompiledSchema, Direction, SchemaError_, SpecIndex, spec_index

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


def stand_in_response(operation: Operation, status: int) -> tuple[str, ResponseSpec] | None:
    """For an undeclared success status: the declared 2xx response whose body is described (the
    nearest code, the lower on a tie), so the body is still checked.

    A 201 under a spec that declares only 200 is checked against the 200 schema. (``default`` and
    ``2XX`` keys would have matched in ``response_for`` already.) Other classes get no stand-in: error
    bodies of different statuses differ too often for one to stand in for another.
    """
    prefix = str(status)[:1]
    if prefix != "2":
        return None
    best: tuple[int, int, str] | None = None
    for key, response in operation.responses.items():
        if len(key) != 3 or not key.isdigit() or key[0] != prefix or not response.content:
            continue
        rank = (abs(int(key) - status), int(key), key)
        if best is None or rank < best:
            best = rank
    return (best[2], operation.responses[best[2]]) if best else None


def _joined(source: SourceRef | None, *tokens: str) -> dict[str, Any]:
    """specPointer (and specFile) of ``source`` extended by ``tokens``; empty when unknown."""
    if source is None:
        return {}
    pointer = source.pointer + "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
    return {"specPointer": pointer, **({"specFile": source.file} if source.file else {})}


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
        variables: set[str] | None = None
        swagger = spec.format == "swagger"
        for param in operation.parameters:
            values = where.get(param.location)
            if values is None:
                continue
            if param.location == "path":
                variables = set(template_variables(operation.path)) if variables is None else variables
                if param.name not in variables:
                    continue  # a spec defect (warned at import): it can never be sent, so it is ignored
            present, value = _find(values, param.name, fold=param.location == "header")
            pointer = f"/{param.location}/{param.name}"
            key = ("parameter", param.location, param.name)
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
                                **_joined(part_source(swagger, operation, *key)),
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
                            **self._located(
                                spec,
                                index,
                                compiled,
                                param.schema_,
                                None,
                                part_source(swagger, operation, *key, "schema"),
                                err,
                            ),
                        },
                    )
                )
        violations.extend(self._validate_request_body(spec, index, operation, request))
        return violations

    @staticmethod
    def _located(
        spec: SpecSummary,
        index: SpecIndex,
        compiled: CompiledSchema,
        schema: Any,
        direction: Direction,
        start: SourceRef | None,
        err: SchemaError_,
    ) -> dict[str, Any]:
        """schemaPointer (relative to the checked schema), specPointer and specFile of one schema error."""
        return spec_details(locate(spec, index, direction, schema, compiled.root, start, err.schema_path))

    def _validate_request_body(
        self, spec: SpecSummary, index: SpecIndex, operation: Operation, request: HttpRequestData
    ) -> list[Violation]:
        body_spec: MediaBody | None = operation.request_body
        if request.body_kind is None:
            if body_spec is not None and body_spec.required:
                return [
                    Violation(
                        type=INVALID,
                        code="MISSING_REQUEST_BODY",
                        message=f"operation {operation.id} requires a request body",
                        details={
                            "operationId": operation.id,
                            "pointer": "/body",
                            **(
                                _joined(operation.source, "parameters")
                                if spec.format == "swagger"
                                else _joined(part_source(False, operation, "requestBody"))
                            ),
                        },
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
        start = part_source(spec.format == "swagger", operation, "request", declared)
        return [
            Violation(
                type=INVALID,
                code="INVALID_REQUEST_BODY",
                message=f"request body{err.pointer or ''}: {err.message}",
                details={
                    "operationId": operation.id,
                    "mediaType": declared,
                    "pointer": root + err.pointer,
                    **self._located(spec, index, compiled, schema, "request", start, err),
                },
            )
            for err in compiled.errors(request.body)
        ]

    # ---- response ------------------------------------------------------------------------------

    def validate_response(self, spec: SpecSummary, operation: Operation, response: Any) -> list[Violation]:
        assert isinstance(response, HttpResponseData)
        index = self.index(spec)
        found = response_for(operation, response.status)
        base: dict[str, Any] = {"operationId": operation.id, "status": response.status}
        if found is None:
            # Still check the body against the nearest declared response of the same class, so a 201
            # under a 200-only spec does not hide a broken body; its violations say which was used.
            stand_in = stand_in_response(operation, response.status)
            undeclared = Violation(
                type=CONTRACT,
                code="UNDECLARED_STATUS",
                message=f"status {response.status} is not declared by {operation.id} "
                f"(declared: {', '.join(operation.responses) or 'none'})"
                + (f"; its body was checked against the {stand_in[0]} response" if stand_in else ""),
                details={
                    **base,
                    "declared": list(operation.responses),
                    "pointer": "/status",
                    "bodyCheckedAgainst": stand_in[0] if stand_in else None,
                    **_joined(operation.source, "responses"),
                },
            )
            if stand_in is None:
                return [undeclared]
            key, spec_response = stand_in
            base = {**base, "responseKey": key, "standIn": True}
            return [undeclared, *self._check_body(spec, index, operation, key, spec_response, response, base)]
        key, spec_response = found
        base["responseKey"] = key
        violations = self._check_headers(spec, index, operation, key, spec_response, response, base)
        violations.extend(self._check_body(spec, index, operation, key, spec_response, response, base))
        return violations

    def _check_headers(
        self,
        spec: SpecSummary,
        index: SpecIndex,
        operation: Operation,
        key: str,
        spec_response: ResponseSpec,
        response: HttpResponseData,
        base: dict[str, Any],
    ) -> list[Violation]:
        violations: list[Violation] = []
        swagger = spec.format == "swagger"
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
                            details={
                                **base,
                                "header": name,
                                "pointer": pointer,
                                **_joined(part_source(swagger, operation, "response", key), "headers", name),
                            },
                        )
                    )
                continue
            schema = header.get("schema")
            if schema is None:
                continue
            compiled = index.validator((operation.id, "header", key, name.lower()), schema)
            start = part_source(swagger, operation, "response", key, "header", name)
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
                            **self._located(spec, index, compiled, schema, None, start, err),
                        },
                    )
                )
        return violations

    def _check_body(
        self,
        spec: SpecSummary,
        index: SpecIndex,
        operation: Operation,
        key: str,
        spec_response: ResponseSpec,
        response: HttpResponseData,
        base: dict[str, Any],
    ) -> list[Violation]:
        if not spec_response.content:
            return []  # nothing declared: an undocumented body is not checked (see docs/plugins.md)
        if base.get("standIn") and (
            response.empty or match_media(media_type(response.content_type), spec_response.content) is None
        ):
            return []  # a borrowed response: only a body it can describe is checked against it
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
        start = part_source(spec.format == "swagger", operation, "response", key, declared)
        against = (
            f" (checked against the {key} response: {response.status} is not declared)"
            if base.get("standIn")
            else ""
        )
        return [
            Violation(
                type=CONTRACT,
                code="RESPONSE_SCHEMA_MISMATCH",
                message=f"response body{err.pointer and ' at ' + err.pointer}: {err.message}{against}",
                details={
                    **base,
                    "pointer": err.pointer,
                    **self._located(spec, index, compiled, schema, "response", start, err),
                },
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
                details={
                    "ref": ref,
                    "pointer": at + err.pointer,
                    **self._located(spec, index, compiled, {"$ref": ref}, "response", None, err),
                },
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
