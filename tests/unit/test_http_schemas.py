"""OpenAPI -> JSON Schema conversion, compiled-validator cache and the jsonschema fallback."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra_app.domain.spec import MediaBody, Operation, ResponseSpec, SpecSummary
from orchestra_app.plugins.http.contract import (
    HttpContractValidator,
    HttpRequestData,
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
    # no type, or an applicator that could reject null: null passes, the rest keeps exact errors
    assert to_json_schema({"$ref": "#/components/schemas/X", "nullable": True}) == {
        "if": {"type": "null"},
        "else": {"$ref": "#/components/schemas/X"},
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
    assert compiled.unusable is not None
    [error] = compiled.errors("x")  # never a silent pass: the unchecked body is a violation
    assert "not verified" in error.message


def test_validator_failing_while_validating_reports_instead_of_passing() -> None:
    # jsonschema-rs refuses the dangling $ref at compile time; the Python fallback accepts the schema
    # and only fails when validation reaches the $ref. That must not look like a valid body.
    compiled = CompiledSchema({"type": "object", "properties": {"a": {"$ref": "#/nope"}}})
    assert compiled.engine == "jsonschema" and compiled.unusable is None
    first = compiled.errors({"a": 1})
    assert len(first) == 1 and "not verified" in first[0].message and "/nope" in first[0].message
    assert compiled.unusable is not None and compiled.errors({"a": 2}) == first


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


# ---- readOnly / writeOnly: direction-aware conversion ------------------------------------------------

_USERS_COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Timestamp": {"type": "string", "readOnly": True},
        "Secret": {"allOf": [{"type": "string"}, {"writeOnly": True}]},
        "User": {
            "type": "object",
            "required": ["id", "name", "password", "createdAt", "pin"],
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "name": {"type": "string"},
                "password": {"type": "string", "writeOnly": True},
                "createdAt": {"$ref": "#/components/schemas/Timestamp"},  # readOnly through a $ref
                "pin": {"$ref": "#/components/schemas/Secret"},  # writeOnly through $ref + allOf
                "manager": {"allOf": [{"$ref": "#/components/schemas/User"}], "nullable": True},  # cycle
                "reports": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
                "tags": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["key", "etag"],
                        "properties": {
                            "key": {"type": "string"},
                            "etag": {"type": "string", "readOnly": True},
                        },
                    },
                },
            },
        },
        "Admin": {
            "allOf": [
                {"$ref": "#/components/schemas/User"},
                # `id` is declared (readOnly) in the sibling User, required here
                {"type": "object", "required": ["level", "id"], "properties": {"level": {"type": "integer"}}},
            ]
        },
        "Users": {"oneOf": [{"$ref": "#/components/schemas/User"}, {"$ref": "#/components/schemas/Admin"}]},
    }
}


def _users_spec(schema_name: str = "User") -> SpecSummary:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    return SpecSummary(
        protocol="http",
        format="openapi",
        components=_USERS_COMPONENTS,
        operations=[
            Operation(
                id="put",
                method="put",
                path="/users",
                request_body=MediaBody(required=True, content={"application/json": ref}),
                responses={"200": ResponseSpec(content={"application/json": ref})},
            )
        ],
    )


def _request_errors(spec: SpecSummary, body: Any) -> list[tuple[str, str]]:
    request = HttpRequestData(
        method="PUT", path="/users", body_kind="json", body=body, content_type="application/json"
    )
    found = HttpContractValidator().validate_request(spec, spec.operations[0], request)
    return [(v.code, v.details["pointer"]) for v in found]


def _response_errors(spec: SpecSummary, body: Any) -> list[tuple[str, str]]:
    response = HttpResponseData(
        status=200, headers={}, content_type="application/json", body=body, is_json=True, empty=False
    )
    found = HttpContractValidator().validate_response(spec, spec.operations[0], response)
    return [(v.code, v.details["pointer"]) for v in found]


def test_read_only_required_is_not_required_in_requests() -> None:
    spec = _users_spec()
    request_body = {"name": "n", "password": "p", "pin": "1234"}
    assert _request_errors(spec, request_body) == []
    # still required: a plain property and a writeOnly one
    assert _request_errors(spec, {"password": "p", "pin": "1"}) == [("INVALID_REQUEST_BODY", "/json")]
    assert _request_errors(spec, {"name": "n", "pin": "1"}) == [("INVALID_REQUEST_BODY", "/json")]
    # lenient: a readOnly property that is sent anyway is accepted (but still type-checked)
    assert _request_errors(spec, {**request_body, "id": "u-1", "createdAt": "t"}) == []
    assert _request_errors(spec, {**request_body, "id": 5}) == [("INVALID_REQUEST_BODY", "/json/id")]
    # nested through the circular $ref, items and additionalProperties
    nested = {
        **request_body,
        "manager": {"name": "m", "password": "p", "pin": "1"},
        "reports": [{"name": "r", "password": "p", "pin": "1"}],
        "tags": {"a": {"key": "k"}},
    }
    assert _request_errors(spec, nested) == []
    assert _request_errors(spec, {**request_body, "reports": [{"name": "r", "pin": "1"}]}) == [
        ("INVALID_REQUEST_BODY", "/json/reports/0")
    ]


def test_write_only_required_is_not_required_in_responses() -> None:
    spec = _users_spec()
    response_body = {"id": "u-1", "name": "n", "createdAt": "t"}
    assert _response_errors(spec, response_body) == []
    # readOnly ones stay required in responses
    assert _response_errors(spec, {"name": "n", "createdAt": "t"}) == [("RESPONSE_SCHEMA_MISMATCH", "")]
    assert _response_errors(spec, {"id": "u-1", "name": "n"}) == [("RESPONSE_SCHEMA_MISMATCH", "")]
    nested = {
        **response_body,
        "manager": {"id": "m", "name": "m", "createdAt": "t"},
        "reports": [{"id": "r", "name": "r", "createdAt": "t"}],
        "tags": {"a": {"key": "k", "etag": "e"}},
    }
    assert _response_errors(spec, nested) == []
    assert _response_errors(spec, {**response_body, "tags": {"a": {"key": "k"}}}) == [
        ("RESPONSE_SCHEMA_MISMATCH", "/tags/a")
    ]


def test_read_only_declared_in_an_all_of_sibling() -> None:
    spec = _users_spec("Admin")
    assert _request_errors(spec, {"name": "n", "password": "p", "pin": "1", "level": 2}) == []
    assert _response_errors(spec, {"id": "a", "name": "n", "createdAt": "t", "level": 2}) == []
    assert _response_errors(spec, {"name": "n", "createdAt": "t", "level": 2}) != []
    union = _users_spec("Users")
    assert _request_errors(union, {"name": "n", "password": "p", "pin": "1"}) == []


def test_direction_variants_are_cached_separately() -> None:
    spec = _users_spec()
    index = spec_index(spec)
    ref = {"$ref": "#/components/schemas/User"}
    request = index.validator(("schemaRef", "#/components/schemas/User"), ref, direction="request")
    response = index.validator(("schemaRef", "#/components/schemas/User"), ref, direction="response")
    assert request is not response
    assert index.validator(("schemaRef", "#/components/schemas/User"), ref, direction="request") is request
    assert request.errors({"name": "n", "password": "p", "pin": "1"}) == []
    assert response.errors({"name": "n", "password": "p", "pin": "1"}) != []
    neutral = index.validator(("schemaRef", "#/components/schemas/User"), ref)
    assert neutral.errors({"id": "u", "name": "n", "createdAt": "t"}) != []  # no direction: all required


def test_schema_refs_are_checked_as_responses() -> None:
    spec = _users_spec()
    found = HttpContractValidator().validate_schema_ref(
        spec, "#/components/schemas/User", {"id": "u-1", "name": "n", "createdAt": "t"}
    )
    assert found == []


def test_direction_conversion_of_required_lists() -> None:
    schema = {
        "type": "object",
        "required": ["a", "b", "c"],
        "properties": {"a": {"readOnly": True}, "b": {"writeOnly": True}, "c": {}},
    }
    assert to_json_schema(schema)["required"] == ["a", "b", "c"]
    assert to_json_schema(schema, direction="request")["required"] == ["b", "c"]
    assert to_json_schema(schema, direction="response")["required"] == ["a", "c"]
    assert "required" not in to_json_schema(
        {"required": ["a"], "properties": {"a": {"readOnly": True}}}, direction="request"
    )


# ---- OpenAPI 3.0 nullable and discriminator details ----------------------------------------------------


def test_nullable_next_to_all_of_ref_accepts_null() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        components={
            "schemas": {
                "Address": {
                    "type": "object",
                    "required": ["city"],
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string", "nullable": True}},
                }
            }
        },
    )
    index = spec_index(spec)
    ref = {"$ref": "#/components/schemas/Address"}
    for i, schema in enumerate(
        [
            {"allOf": [ref], "nullable": True},
            {"type": "object", "allOf": [ref], "nullable": True},  # typed: null must pass the allOf too
            {"oneOf": [ref], "nullable": True},
            {"anyOf": [ref, {"type": "string"}], "nullable": True},
        ]
    ):
        compiled = index.validator(("nullable", i), schema, direction="response")
        assert compiled.errors(None) == [], schema
        assert compiled.errors({"city": "c", "zip": None}) == [], schema  # nullable inside the component
        assert compiled.errors("x" if i != 3 else 5) != [], schema
    typed = index.validator(("nullable", 1), {}, direction="response")
    # errors keep their exact pointer (no "not valid under any of anyOf" at the root)
    assert [e.pointer for e in typed.errors({"city": 1})] == ["/city"]
    not_nullable = index.validator(("nullable", "no"), {"allOf": [ref]}, direction="response")
    assert not_nullable.errors(None) != []


def test_discriminator_mapping_in_both_directions() -> None:
    components = {
        "schemas": {
            "Shape": {
                "oneOf": [{"$ref": "#/components/schemas/Circle"}, {"$ref": "#/components/schemas/Square"}],
                "discriminator": {
                    "propertyName": "kind",
                    "mapping": {"round": "#/components/schemas/Circle", "sq": "Square"},
                },
            },
            "Circle": {
                "type": "object",
                "required": ["kind", "r", "id"],
                "properties": {"kind": {"type": "string"}, "r": {"type": "number"}, "id": {"readOnly": True}},
            },
            "Square": {
                "type": "object",
                "required": ["kind", "side"],
                "properties": {"kind": {"type": "string"}, "side": {"type": "number"}},
            },
        }
    }
    spec = SpecSummary(protocol="http", format="openapi", components=components)
    index = spec_index(spec)
    ref = {"$ref": "#/components/schemas/Shape"}
    request = index.validator(("shape",), ref, direction="request")
    response = index.validator(("shape",), ref, direction="response")
    assert request.errors({"kind": "round", "r": 1}) == []  # id is readOnly
    assert [e.pointer for e in response.errors({"kind": "round", "r": 1})] == [""]  # id required
    assert response.errors({"kind": "round", "r": 1, "id": "c"}) == []
    assert response.errors({"kind": "sq", "side": 2}) == []
    assert [e.pointer for e in response.errors({"kind": "sq", "side": "2"})] == ["/side"]
    assert [e.pointer for e in response.errors({"kind": "Circle", "r": 1, "id": "c"})] == ["/kind"]


# ---- response media types --------------------------------------------------------------------------------


def _media_spec() -> SpecSummary:
    obj = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}
    return SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            Operation(
                id="m",
                method="get",
                path="/",
                responses={
                    "200": ResponseSpec(content={"application/json": obj}),
                    "400": ResponseSpec(content={"application/problem+json": obj}),
                    "202": ResponseSpec(content={"application/*": obj}),
                    "203": ResponseSpec(content={"*/*": obj}),
                },
            )
        ],
    )


@pytest.mark.parametrize(
    "status,content_type,body,expected",
    [
        (200, "application/json; charset=utf-8", {"ok": True}, []),
        (200, "Application/JSON;charset=UTF-8", {"ok": 1}, [("RESPONSE_SCHEMA_MISMATCH", "/ok")]),
        (400, "application/problem+json", {"ok": True}, []),
        (400, "application/problem+json; charset=utf-8", {}, [("RESPONSE_SCHEMA_MISMATCH", "")]),
        (202, "application/hal+json", {"ok": True}, []),
        (202, "application/vnd.x+json", {"ok": "no"}, [("RESPONSE_SCHEMA_MISMATCH", "/ok")]),
        (203, "application/json", {}, [("RESPONSE_SCHEMA_MISMATCH", "")]),
        (203, "text/plain", "hello", []),  # */* with a non-JSON body: content type only
        (200, "text/html", "<p>", [("UNDECLARED_CONTENT_TYPE", "/headers/content-type")]),
        (400, "application/json", {"ok": True}, [("UNDECLARED_CONTENT_TYPE", "/headers/content-type")]),
        (200, None, {"ok": True}, [("UNDECLARED_CONTENT_TYPE", "/headers/content-type")]),
    ],
)
def test_response_media_type_matching(
    status: int, content_type: str | None, body: Any, expected: list[tuple[str, str]]
) -> None:
    spec = _media_spec()
    response = HttpResponseData(
        status=status,
        headers={},
        content_type=content_type,
        body=body,
        is_json=not isinstance(body, str),
        empty=False,
    )
    found = HttpContractValidator().validate_response(spec, spec.operations[0], response)
    assert [(v.code, v.details["pointer"]) for v in found] == expected
    assert all(str(v.type) == "CONTRACT_VIOLATION" for v in found)
