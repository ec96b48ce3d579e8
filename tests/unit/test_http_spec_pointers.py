"""Absolute pointers into the spec document: importer sources and schema error paths mapped back."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from orchestra_app.domain.spec import SpecSummary, part_source
from orchestra_app.domain.steps import Violation
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.http.contract import HttpContractValidator, HttpRequestData, HttpResponseData
from orchestra_app.plugins.http.locations import locate
from orchestra_app.plugins.http.schemas import CompiledSchema, spec_index

pytestmark = pytest.mark.unit

SPEC = """
openapi: 3.0.3
info: {title: pointers, version: "1"}
paths:
  /shapes/{kind}:
    get:
      operationId: getShape
      parameters:
        - {name: kind, in: path, required: true, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, maximum: 10}}
        - {$ref: "#/components/parameters/Trace"}
      responses:
        "200":
          description: a shape
          headers:
            X-Rate: {schema: {type: integer}}
            X-Req: {required: true, schema: {type: string}}
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Shape"}
        "400": {$ref: "#/components/responses/Problem"}
  /codes:
    post:
      operationId: postCode
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                code: {$ref: "#/components/schemas/Code"}
                price: {type: number, minimum: 0, exclusiveMinimum: true}
      responses:
        "200":
          description: echo
          content:
            application/json:
              schema:
                type: object
                properties:
                  code: {$ref: "#/components/schemas/Code"}
                  meta:
                    nullable: true
                    allOf: [{type: object, properties: {n: {type: integer}}}]
components:
  parameters:
    Trace: {name: X-Trace, in: header, schema: {type: string, minLength: 4}}
  responses:
    Problem:
      description: problem
      content:
        application/problem+json:
          schema: {type: object, required: [title], properties: {title: {type: string}}}
  schemas:
    Code: {type: string, pattern: "^(?P<n>a)(?P=n)$"}
    Shape:
      oneOf: [{$ref: "#/components/schemas/Circle"}, {$ref: "#/components/schemas/Square"}]
      discriminator:
        propertyName: kind
        mapping: {round: "#/components/schemas/Circle", sq: "#/components/schemas/Square"}
    Circle:
      type: object
      required: [kind, r]
      properties: {kind: {type: string}, r: {type: number}}
    Square:
      type: object
      required: [kind, side]
      properties: {kind: {type: string}, side: {type: integer}}
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> SpecSummary:
    path = tmp_path_factory.mktemp("pointers") / "pointers.yaml"
    path.write_text(textwrap.dedent(SPEC))
    return import_spec(path)


def response(
    status: int, body: Any, headers: dict[str, str] | None = None, ctype: str = "application/json"
) -> HttpResponseData:
    return HttpResponseData(
        status=status,
        headers=httpx.Headers({"content-type": ctype, "x-req": "r", **(headers or {})}),
        content_type=ctype,
        body=body,
        is_json=True,
        empty=False,
    )


def check(spec: SpecSummary, operation_id: str, observed: HttpResponseData) -> list[Violation]:
    operation = next(op for op in spec.operations if op.id == operation_id)
    return HttpContractValidator().validate_response(spec, operation, observed)


def where(violations: list[Violation]) -> list[tuple[str, str | None, str | None]]:
    return [(v.code, v.details.get("specPointer"), v.details.get("schemaPointer")) for v in violations]


def test_importer_records_where_each_part_came_from(spec: SpecSummary) -> None:
    operation = next(op for op in spec.operations if op.id == "getShape")
    assert operation.source is not None and operation.source.pointer == "/paths/~1shapes~1{kind}/get"

    def at(*tokens: str) -> str | None:
        found = part_source(False, operation, *tokens)
        return found.pointer if found else None

    assert at("parameter", "query", "limit", "schema") == "/paths/~1shapes~1{kind}/get/parameters/1/schema"
    assert at("parameter", "header", "X-Trace") == "/components/parameters/Trace"
    assert at("parameter", "header", "X-Trace", "schema") == "/components/parameters/Trace/schema"
    assert at("response", "200", "application/json") == (
        "/paths/~1shapes~1{kind}/get/responses/200/content/application~1json/schema"
    )
    assert at("response", "400") == "/components/responses/Problem"
    assert at("response", "400", "application/problem+json") == (
        "/components/responses/Problem/content/application~1problem+json/schema"
    )
    assert (
        at("response", "200", "header", "X-Rate")
        == "/paths/~1shapes~1{kind}/get/responses/200/headers/X-Rate/schema"
    )
    # Only what cannot be derived from its parent is stored: parameters (by index) and $ref'd parts.
    assert sorted(operation.sources) == [
        "parameter/header/X-Trace",
        "parameter/path/kind",
        "parameter/query/limit",
        "response/400",
    ]
    assert spec.source_file and spec.source_file.endswith("pointers.yaml")


def test_discriminator_branch_points_at_the_mapped_component(spec: SpecSummary) -> None:
    found = check(spec, "getShape", response(200, {"kind": "sq", "side": "2"}))
    assert where(found) == [
        (
            "RESPONSE_SCHEMA_MISMATCH",
            "/components/schemas/Square/properties/side/type",
            "/$ref/allOf/1/then/$ref/properties/side/type",
        )
    ]


def test_unknown_discriminator_tag_points_at_the_discriminator(spec: SpecSummary) -> None:
    found = check(spec, "getShape", response(200, {"kind": "hex"}))
    assert {v.details["specPointer"] for v in found} == {"/components/schemas/Shape/discriminator"}


def test_python_fallback_paths_get_their_ref_hops_back(spec: SpecSummary) -> None:
    found = check(spec, "postCode", response(200, {"code": "ab"}))
    assert where(found) == [
        ("RESPONSE_SCHEMA_MISMATCH", "/components/schemas/Code/pattern", "/properties/code/$ref/pattern")
    ]
    operation = next(op for op in spec.operations if op.id == "postCode")
    compiled = spec_index(spec).validator(
        (operation.id, "response", "200", "application/json"),
        operation.responses["200"].content["application/json"],
        "response",
    )
    assert compiled.engine == "jsonschema"  # the pattern is Python-only syntax


def test_request_violations_point_into_the_spec(spec: SpecSummary) -> None:
    validator = HttpContractValidator()
    shape = next(op for op in spec.operations if op.id == "getShape")
    request = HttpRequestData(
        method="GET",
        path="/shapes/{kind}",
        path_params={"kind": "sq"},
        query={"limit": "50"},
        headers={"X-Trace": "ab"},
    )
    assert where(validator.validate_request(spec, shape, request)) == [
        ("INVALID_PARAMETER", "/paths/~1shapes~1{kind}/get/parameters/1/schema/maximum", "/maximum"),
        ("INVALID_PARAMETER", "/components/parameters/Trace/schema/minLength", "/minLength"),
    ]
    missing = validator.validate_request(spec, shape, HttpRequestData(method="GET", path="/shapes/{kind}"))
    assert where(missing) == [("MISSING_PARAMETER", "/paths/~1shapes~1{kind}/get/parameters/0", None)]
    code = next(op for op in spec.operations if op.id == "postCode")
    body = HttpRequestData(
        method="POST", path="/codes", body_kind="json", body={"price": 0}, content_type="application/json"
    )
    assert where(validator.validate_request(spec, code, body)) == [
        (
            "INVALID_REQUEST_BODY",
            "/paths/~1codes/post/requestBody/content/application~1json/schema/properties/price/exclusiveMinimum",
            "/properties/price/exclusiveMinimum",
        )
    ]


def test_header_and_referenced_response_pointers(spec: SpecSummary) -> None:
    found = check(spec, "getShape", response(200, {"kind": "round", "r": 1}, {"x-rate": "many"}))
    assert where(found) == [
        (
            "INVALID_RESPONSE_HEADER",
            "/paths/~1shapes~1{kind}/get/responses/200/headers/X-Rate/schema/type",
            "/type",
        )
    ]
    missing = HttpResponseData(
        status=200,
        headers=httpx.Headers({"content-type": "application/json"}),
        content_type="application/json",
        body={"kind": "round", "r": 1},
        is_json=True,
        empty=False,
    )
    assert where(check(spec, "getShape", missing)) == [
        ("MISSING_RESPONSE_HEADER", "/paths/~1shapes~1{kind}/get/responses/200/headers/X-Req", None)
    ]
    problem = check(spec, "getShape", response(400, {}, ctype="application/problem+json"))
    assert where(problem) == [
        (
            "RESPONSE_SCHEMA_MISMATCH",
            "/components/responses/Problem/content/application~1problem+json/schema/required",
            "/required",
        )
    ]


def test_schema_refs_point_at_the_component(spec: SpecSummary) -> None:
    found = HttpContractValidator().validate_schema_ref(spec, "#/components/schemas/Square", {"kind": "sq"})
    assert where(found) == [("SCHEMA_REF_MISMATCH", "/components/schemas/Square/required", "/$ref/required")]


def test_summaries_without_sources_still_locate_referenced_components(spec: SpecSummary) -> None:
    old = spec.model_copy(deep=True)
    for operation in old.operations:
        operation.sources = {}
        operation.source = None
    inline = check(old, "postCode", response(200, {"code": 5}))
    assert where(inline) == [
        ("RESPONSE_SCHEMA_MISMATCH", "/components/schemas/Code/type", "/properties/code/$ref/type")
    ]
    stored = SpecSummary.model_validate({"protocol": "http", "format": "openapi"})
    assert stored.component_sources == {}


def test_multi_file_specs_name_the_file(fixtures_dir: Path) -> None:
    spec = import_spec(fixtures_dir / "specs" / "multi" / "root.yaml")
    found = check(spec, "listPets", response(200, [{"name": 3}]))
    assert len(found) == 1
    details = found[0].details
    assert details["specPointer"] == "/properties/name/type"
    assert details["specFile"].endswith("schemas/pet.yaml")
    assert details["schemaPointer"] == "/items/$ref/properties/name/type"
    error = check(spec, "listPets", response(500, {"message": 1}))
    assert error[0].details["specPointer"] == "/definitions/Error/properties/message/type"
    assert error[0].details["specFile"].endswith("schemas/common.yaml")


def test_swagger2_pointers(tmp_path: Path) -> None:
    path = tmp_path / "swagger.yaml"
    path.write_text(
        textwrap.dedent(
            """
            swagger: "2.0"
            info: {title: s, version: "1"}
            paths:
              /items:
                get:
                  operationId: listItems
                  parameters:
                    - {name: limit, in: query, type: integer, maximum: 5}
                  responses:
                    "200":
                      description: items
                      schema: {type: array, items: {$ref: "#/definitions/Item"}}
            definitions:
              Item: {type: object, properties: {qty: {type: integer, x-nullable: true}}}
            """
        )
    )
    spec = import_spec(path)
    found = check(spec, "listItems", response(200, [{"qty": None}, {"qty": "x"}]))
    assert where(found) == [
        (
            "RESPONSE_SCHEMA_MISMATCH",
            "/definitions/Item/properties/qty/type",
            "/items/$ref/properties/qty/type",
        )
    ]
    operation = spec.operations[0]
    params = HttpContractValidator().validate_request(
        spec, operation, HttpRequestData(method="GET", path="/items", query={"limit": "9"})
    )
    assert where(params) == [("INVALID_PARAMETER", "/paths/~1items/get/parameters/0/maximum", "/maximum")]


def test_locate_follows_implicit_refs_like_the_python_validator_reports_them(spec: SpecSummary) -> None:
    index = spec_index(spec)
    schema = {"type": "object", "properties": {"shape": {"$ref": "#/components/schemas/Circle"}}}
    root = {**schema, "components": index.components_for("response")}
    compiled = CompiledSchema(root)
    compiled._rs = None  # force the Python engine to get its path shape
    compiled._py = jsonschema.Draft202012Validator(root)
    [err] = compiled.errors({"shape": {"kind": "round", "r": "one"}})
    assert err.schema_path == ("properties", "shape", "properties", "r", "type")
    location = locate(spec, index, "response", schema, root, None, err.schema_path)
    assert location.schema_pointer == "/properties/shape/$ref/properties/r/type"
    assert (
        location.spec is not None and location.spec.pointer == "/components/schemas/Circle/properties/r/type"
    )


def test_nullable_wrapper_is_stepped_through(spec: SpecSummary) -> None:
    assert check(spec, "postCode", response(200, {"meta": None})) == []
    found = check(spec, "postCode", response(200, {"meta": {"n": "x"}}))
    assert where(found) == [
        (
            "RESPONSE_SCHEMA_MISMATCH",
            "/paths/~1codes/post/responses/200/content/application~1json/schema/properties/meta/allOf/0/properties/n/type",
            "/properties/meta/else/allOf/0/properties/n/type",
        )
    ]


def test_missing_request_body_points_at_the_request_body(fixtures_dir: Path) -> None:
    flows = import_spec(fixtures_dir / "http" / "shapes" / "openapi31-servers.yaml")
    create = next(op for op in flows.operations if op.id == "createFlow")
    found = HttpContractValidator().validate_request(
        flows, create, HttpRequestData(method="POST", path="/flows")
    )
    assert where(found) == [("MISSING_REQUEST_BODY", "/paths/~1flows/post/requestBody", None)]
    inventory = import_spec(fixtures_dir / "http" / "shapes" / "swagger2-basepath.yaml")
    item = next(op for op in inventory.operations if op.id == "createItem")
    found = HttpContractValidator().validate_request(
        inventory, item, HttpRequestData(method="POST", path="/items")
    )
    assert where(found) == [("MISSING_REQUEST_BODY", "/paths/~1items/post/parameters", None)]
    body = HttpRequestData(
        method="POST", path="/items", body_kind="json", body={"qty": -1}, content_type="application/json"
    )
    assert where(HttpContractValidator().validate_request(inventory, item, body)) == [
        ("INVALID_REQUEST_BODY", "/definitions/NewItem/required", "/$ref/required"),
        (
            "INVALID_REQUEST_BODY",
            "/definitions/NewItem/properties/qty/minimum",
            "/$ref/properties/qty/minimum",
        ),
    ]
