"""OpenAPI 3.0/3.1 and Swagger 2.0 import against hand-written fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def specs(fixtures_dir: Path) -> Path:
    return fixtures_dir / "specs"


def op(summary, op_id):  # type: ignore[no-untyped-def]
    return next(o for o in summary.operations if o.id == op_id)


def test_openapi_30_operations_parameters_bodies_and_responses(specs: Path) -> None:
    s = import_spec(specs / "petstore-3.0.yaml", filename="petstore-3.0.yaml")
    assert (s.protocol, s.format, s.spec_version, s.schema_dialect) == (
        "http",
        "openapi",
        "3.0.3",
        "openapi-3.0",
    )
    assert s.version == "2024-01-01"  # YAML date stays a string
    assert s.servers[0].url == "https://{env}.example.test/v1"
    assert [o.id for o in s.operations] == [
        "listPets",
        "createPet",
        "get_pets_id",
        "listPets_2",
        "getTree",
        "awsStyle",
    ]
    lst = op(s, "listPets")
    params = {(p.location, p.name): p for p in lst.parameters}
    # path-level $ref'd parameter merged, then overridden by the operation-level one
    assert params[("header", "X-Trace-Id")].schema_ == {"type": "string", "format": "uuid"}
    assert params[("query", "limit")].schema_ == {"type": "integer", "maximum": 100}
    ok = lst.responses["200"]  # YAML key 200 became "200"
    assert ok.headers["X-Next"] == {"required": True, "schema": {"type": "string"}}
    assert ok.headers["X-Rate"]["schema"] == {"type": "integer"}
    assert ok.content["application/json"] == {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
    assert lst.responses["default"].content["application/json"] == {"$ref": "#/components/schemas/Error"}
    assert lst.security == [{"bearer": []}] and lst.tags == ["pets"] and lst.summary == "List pets"
    create = op(s, "createPet")
    assert create.security == []
    assert create.request_body is not None and create.request_body.required
    assert set(create.request_body.content) == {"application/json", "application/x-www-form-urlencoded"}
    synth = op(s, "get_pets_id")
    assert synth.synthesized_id and synth.parameters[0].required  # path params are always required
    assert s.security_schemes == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert s.components["schemas"]["NewPet"]["properties"]["on"] == {"type": "boolean"}  # "on" stays a key
    assert dangling_refs(s) == []


def test_duplicate_operation_id_is_a_warning_with_pointer(specs: Path) -> None:
    s = import_spec(specs / "petstore-3.0.yaml", filename="petstore-3.0.yaml")
    dup = [w for w in s.warnings if w.code == "duplicate_operation_id"]
    assert len(dup) == 1 and dup[0].pointer == "/paths/~1pets~1{id}/delete/operationId"


def test_circular_schema_refs_stay_refs(specs: Path) -> None:
    s = import_spec(specs / "petstore-3.0.yaml", filename="petstore-3.0.yaml")
    node = s.components["schemas"]["Node"]
    assert node["properties"]["parent"] == {"$ref": "#/components/schemas/Node"}
    assert op(s, "getTree").responses["200"].content["application/json"] == {
        "$ref": "#/components/schemas/Node"
    }
    json.dumps(s.to_json_dict())  # finite


def test_odd_ref_names_and_hash_in_path_keys(specs: Path) -> None:
    s = import_spec(specs / "petstore-3.0.yaml", filename="petstore-3.0.yaml")
    aws = op(s, "awsStyle")
    assert aws.path == "/aws#X-Amz-Target=Service.Do"
    assert aws.responses["200"].content["application/json"] == {"$ref": "#/components/schemas/Odd%20Name"}
    assert "Odd Name" in s.components["schemas"]


def test_multi_file_spec_is_bundled_into_components(specs: Path) -> None:
    s = import_spec(specs / "multi" / "root.yaml", filename="multi/root.yaml")
    assert [o.id for o in s.operations] == ["listPets", "getOwner"]
    lst = op(s, "listPets")
    assert lst.parameters[0].name == "limit"
    assert lst.parameters[0].schema_ == {"$ref": "#/components/schemas/Limit"}
    items = lst.responses["200"].content["application/json"]["items"]
    pet = s.components["schemas"][items["$ref"].rsplit("/", 1)[1]]
    owner_ref = pet["properties"]["owner"]["$ref"]
    owner = s.components["schemas"][owner_ref.rsplit("/", 1)[1]]
    assert owner["properties"]["pets"]["items"] == items  # circular across two files, each bundled once
    assert lst.responses["500"].description == "server error"
    # a missing file is a warning naming the file and the pointer where the ref sits
    missing = [w for w in s.warnings if w.code == "unresolved_ref"]
    assert missing and missing[0].file == "multi/operations.yaml"
    assert missing[0].pointer == "/getOwner/responses/404/content/application~1json/schema/$ref"
    schema_404 = op(s, "getOwner").responses["404"].content["application/json"]
    assert schema_404 == {"x-unresolved-ref": "schemas/does-not-exist.yaml"}
    assert dangling_refs(s) == []


def test_swagger_2_is_converted(specs: Path) -> None:
    s = import_spec(specs / "swagger2.yaml", filename="swagger2.yaml")
    assert (s.format, s.spec_version, s.schema_dialect) == ("swagger", "2.0", "openapi-3.0")
    assert [x.url for x in s.servers] == ["https://api.example.test/v2", "http://api.example.test/v2"]
    lst = op(s, "listPets")
    assert lst.parameters[0].schema_ == {"type": "integer", "maximum": 50}
    assert lst.parameters[1].schema_ == {"type": "array", "items": {"type": "string"}}
    ok = lst.responses["200"]
    assert set(ok.content) == {"application/json", "application/xml"}
    assert ok.content["application/json"] == {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
    assert ok.headers["X-Total"]["schema"] == {"type": "integer"}
    add = op(s, "addPet")
    assert add.request_body is not None and add.request_body.required
    assert add.request_body.content == {"application/json": {"$ref": "#/components/schemas/Pet"}}
    assert add.security == [{"oauth": ["read"]}]
    upload = op(s, "uploadPhoto")
    assert upload.request_body is not None
    form = upload.request_body.content["multipart/form-data"]
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}
    assert form["required"] == ["file"]
    assert upload.responses["200"].content["application/json"] == {"type": "string", "format": "binary"}
    pet = s.components["schemas"]["Pet"]
    assert pet["discriminator"] == {"propertyName": "kind"}
    assert pet["properties"]["nickname"]["nullable"] is True
    schemes = s.security_schemes
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert schemes["oauth"]["flows"]["clientCredentials"]["tokenUrl"] == "https://auth.example.test/token"
    assert [w.code for w in s.warnings] == ["file_type_outside_form"]
    assert dangling_refs(s) == []


def test_openapi_31_webhooks_and_boolean_exclusive_minimum(specs: Path) -> None:
    s = import_spec(specs / "openapi-3.1.yaml", filename="openapi-3.1.yaml")
    assert s.schema_dialect == "openapi-3.1"
    assert [o.id for o in s.operations] == ["numbers", "noResponses"]
    assert [w["id"] for w in s.webhooks] == ["onNewPet"]  # type: ignore[attr-defined]
    assert op(s, "numbers").parameters[0].schema_ == {"type": "integer", "exclusiveMinimum": 5}
    assert [w.code for w in s.warnings] == ["boolean_exclusive_bound"]


def test_json_source_bytes_and_yaml_json_equivalence(specs: Path) -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t\u00e9st", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": {"description": "\\u escapes \U0001f600"}}}}},
    }
    s = import_spec(json.dumps(doc).encode(), filename="inline.json")
    assert s.title == "t\u00e9st" and s.operations[0].id == "get_a"
    assert s.operations[0].responses["200"].description == "\\u escapes \U0001f600"


def test_ref_to_a_key_with_a_literal_percent_sequence() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/100%25Pure"}}
                            },
                        },
                        "201": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/A%20B"}}
                            },
                        },
                    }
                }
            }
        },
        "components": {"schemas": {"100%25Pure": {"type": "string"}, "A B": {"type": "integer"}}},
    }
    s = import_spec(json.dumps(doc).encode(), filename="pct.json")
    assert s.warnings == []
    responses = s.operations[0].responses
    assert responses["200"].content["application/json"] == {"$ref": "#/components/schemas/100%2525Pure"}
    assert responses["201"].content["application/json"] == {"$ref": "#/components/schemas/A%20B"}
    assert dangling_refs(s) == []
