"""OpenAPI -> JSON Schema conversion, compiled-validator cache and the jsonschema fallback."""

from __future__ import annotations

import pytest

from orchestra_app.domain.spec import Operation, ResponseSpec, SpecSummary
from orchestra_app.plugins.http.contract import (
    HttpContractValidator,
    HttpResponseData,
    match_media,
    response_for,
)
from orchestra_app.plugins.http.schemas import CompiledSchema, spec_index, to_json_schema

pytestmark = pytest.mark.unit


def test_nullable_becomes_type_union() -> None:
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert to_json_schema({"$ref": "#/components/schemas/X", "nullable": True}) == {
        "anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]
    }
    assert to_json_schema({"type": "string", "nullable": False}) == {"type": "string"}


def test_boolean_exclusive_bounds_and_dropped_keys() -> None:
    converted = to_json_schema(
        {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "maximum": 9,
            "exclusiveMaximum": False,
            "example": 3,
            "x-internal": 1,
            "xml": {},
        }
    )
    assert converted == {"type": "number", "exclusiveMinimum": 0, "maximum": 9}


def test_conversion_recurses_into_subschemas_only() -> None:
    converted = to_json_schema(
        {
            "type": "object",
            "properties": {
                "nullable": {"type": "integer", "nullable": True},  # a property *named* nullable
                "list": {"type": "array", "items": {"type": "string", "nullable": True}},
            },
            "default": {"nullable": True},
        }
    )
    assert converted["properties"]["nullable"] == {"type": ["integer", "null"]}
    assert converted["properties"]["list"]["items"] == {"type": ["string", "null"]}
    assert converted["default"] == {"nullable": True}  # values are data, not schemas


def test_openapi_31_schemas_pass_through() -> None:
    schema = {"type": ["string", "null"], "prefixItems": [{"const": 1}], "exclusiveMinimum": 3}
    assert to_json_schema(schema) == schema


def test_ecma_patterns_are_accepted() -> None:
    compiled = CompiledSchema(
        {"type": "string", "pattern": to_json_schema({"pattern": "^[\\w-.]+$"})["pattern"]}
    )
    assert compiled.engine == "jsonschema-rs" and compiled.errors("a-b.c") == []
    assert compiled.errors("a b")[0].pointer == ""


def test_fallback_to_python_jsonschema() -> None:
    compiled = CompiledSchema({"type": "string", "pattern": "^(?P<n>a)(?P=n)$"})  # Python-only syntax
    assert compiled.engine == "jsonschema"
    assert compiled.errors("aa") == []
    assert len(compiled.errors("ab")) == 1


def test_unusable_schema_is_reported() -> None:
    compiled = CompiledSchema({"type": "string", "pattern": "[\\"})
    assert compiled.unusable is not None and compiled.errors("x") == []


def test_validators_are_cached_per_key() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        components={"schemas": {"A": {"type": "integer", "nullable": True}}},
    )
    index = spec_index(spec)
    assert spec_index(spec) is index
    first = index.validator(("op", "response", "200", "application/json"), {"$ref": "#/components/schemas/A"})
    assert index.validator(("op", "response", "200", "application/json"), {}) is first
    assert first.errors(None) == [] and first.errors("x")[0].schema_pointer.endswith("/type")


def test_response_lookup_order() -> None:
    operation = Operation(
        id="o",
        method="get",
        path="/",
        responses={
            "200": ResponseSpec(),
            "4XX": ResponseSpec(description="range"),
            "default": ResponseSpec(description="d"),
        },
    )
    assert response_for(operation, 200)[0] == "200"  # type: ignore[index]
    assert response_for(operation, 404)[0] == "4XX"  # type: ignore[index]
    assert response_for(operation, 500)[0] == "default"  # type: ignore[index]
    assert response_for(Operation(id="o", method="get", path="/"), 200) is None


def test_media_type_matching() -> None:
    declared = {"application/json; charset=utf-8": None, "image/*": None}
    assert match_media("application/json", declared) == "application/json; charset=utf-8"
    assert match_media("image/png", declared) == "image/*"
    assert match_media("text/plain", declared) is None
    assert match_media("text/plain", {"*/*": None}) == "*/*"


def test_empty_body_where_schema_declared() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            Operation(
                id="o",
                method="get",
                path="/",
                responses={"200": ResponseSpec(content={"application/json": {"type": "object"}})},
            )
        ],
    )
    response = HttpResponseData(status=200, headers={}, content_type=None, body=None, empty=True)
    [violation] = HttpContractValidator().validate_response(spec, spec.operations[0], response)
    assert violation.code == "EMPTY_RESPONSE_BODY"


def test_warm_compiles_every_body_validator() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            Operation(
                id="o",
                method="get",
                path="/",
                responses={
                    "200": ResponseSpec(
                        content={"application/json": {"type": "object"}, "text/html": {"type": "string"}}
                    ),
                    "404": ResponseSpec(content={"application/problem+json": {"type": "object"}}),
                },
            )
        ],
    )
    assert HttpContractValidator().warm(spec) == 2
