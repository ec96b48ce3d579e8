"""protobuf import: tokenizer, parser, services, message schemas, imports and syntax errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.protobuf import json_name, parse_proto
from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def protos(fixtures_dir: Path) -> Path:
    return fixtures_dir / "specs" / "proto"


def test_services_rpcs_and_streaming(protos: Path) -> None:
    s = import_spec(protos / "shop.proto", filename="shop.proto")
    assert (s.protocol, s.format, s.spec_version, s.schema_dialect) == (
        "grpc",
        "protobuf",
        "proto3",
        "protobuf",
    )
    assert s.package == "shop.v1"  # type: ignore[attr-defined]
    assert s.options["go_package"] == "example.test/shop/v1;shopv1"  # type: ignore[attr-defined]
    got = [(o.id, o.method, o.path, o.client_streaming, o.server_streaming) for o in s.operations]  # type: ignore[attr-defined]
    assert got == [
        ("shop.v1.ShopService/GetOrder", "rpc", "/shop.v1.ShopService/GetOrder", False, False),
        ("shop.v1.ShopService/WatchOrders", "rpc", "/shop.v1.ShopService/WatchOrders", False, True),
        ("shop.v1.ShopService/Upload", "rpc", "/shop.v1.ShopService/Upload", True, False),
        ("shop.v1.ShopService/Chat", "rpc", "/shop.v1.ShopService/Chat", True, True),
    ]
    get = s.operations[0]
    assert get.input_type == "shop.v1.GetOrderRequest" and get.output_type == "shop.v1.Order"  # type: ignore[attr-defined]
    assert s.operations[1].deprecated
    assert get.request_body is not None
    assert get.request_body.content["application/grpc"] == {
        "$ref": "#/components/schemas/shop.v1.GetOrderRequest"
    }
    assert dangling_refs(s) == []


def test_message_schemas_nested_enum_oneof_map_and_imports(protos: Path) -> None:
    s = import_spec(protos / "shop.proto", filename="shop.proto")
    schemas = s.components["schemas"]
    order = schemas["shop.v1.Order"]["properties"]
    assert order["status"]["$ref"] == "#/components/schemas/shop.v1.Order.Status"
    assert order["lines"]["items"]["$ref"] == "#/components/schemas/shop.v1.Order.Line"
    assert order["labels"]["additionalProperties"] == {"type": "string"}
    assert order["createdAt"]["$ref"] == "#/components/schemas/google.protobuf.Timestamp"
    assert schemas["google.protobuf.Timestamp"] == {"type": "string", "format": "date-time"}
    assert order["gift"]["$ref"] == "#/components/schemas/shop.v1.Order.Line"
    assert order["parent"]["$ref"] == "#/components/schemas/shop.v1.Order"  # recursion stays a ref
    assert schemas["shop.v1.Order"]["x-proto-oneofs"] == {"payment": ["cardToken", "gift"]}
    assert schemas["shop.v1.Order.Status"]["enum"][:3] == ["STATUS_UNSPECIFIED", "PAID", "SHIPPED"]
    line = schemas["shop.v1.Order.Line"]["properties"]
    assert line["price"]["$ref"] == "#/components/schemas/common.Money"  # from the resolved import
    assert line["quantity"]["type"] == ["string", "integer"]
    assert "common.Money" in schemas
    assert schemas["shop.v1.GetOrderRequest"]["properties"]["orderID"]["x-proto-name"] == "order_id"
    # protoc cannot compile shop.proto (an import is missing and a custom option is undefined): the
    # lenient parser gives the summary, the warnings say why and no descriptors are stored.
    missing, not_compiled = s.warnings
    assert missing.code == "missing_import" and missing.line == 8 and "missing/thing.proto" in missing.message
    assert not_compiled.code == "not_compiled" and "custom.service_option" in not_compiled.message
    assert "descriptorSet" not in (s.model_extra or {})


def test_proto2_required_groups_extensions(protos: Path) -> None:
    s = import_spec(protos / "legacy.proto", filename="legacy.proto")
    req = s.components["schemas"]["legacy.Request"]
    assert req["required"] == ["name"]
    assert req["properties"]["item"]["items"]["$ref"] == "#/components/schemas/legacy.Request.Item"
    assert s.operations[0].input_type == "legacy.Request"  # type: ignore[attr-defined]
    assert s.spec_version == "proto2"


def test_include_paths_resolve_imports(protos: Path, tmp_path: Path) -> None:
    data = (protos / "shop.proto").read_bytes()
    s = import_spec(data, filename="shop.proto", include_paths=[protos])
    assert "common.Money" in s.components["schemas"]


def test_syntax_error_names_file_line_column(protos: Path) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(protos / "bad.proto", filename="bad.proto")
    assert err.value.kind == ErrorKind.SYNTAX
    assert (err.value.file, err.value.line, err.value.column) == ("bad.proto", 4, 17)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('syntax = "proto3";\n/* never closed\nmessage A {}', 2),
        ('syntax = "proto3";\nmessage A {\n  string a = 1;\n', 4),
        ('syntax = "proto3";\nservice S { rpc M(A) returns B; }', 2),
        ("syntax = 'proto3';\nmessage A { string s = 1 [default = \"x]; }", 2),
    ],
)
def test_more_syntax_errors(text: str, line: int) -> None:
    with pytest.raises(ImportError_) as err:
        parse_proto(text, "x.proto")
    assert err.value.line == line and err.value.file == "x.proto"


def test_comments_and_odd_but_valid_syntax() -> None:
    text = """
    // leading comment
    syntax = "proto3"; package a.b;
    message M { // trailing
      /* inline */ int32 message = 1; string option = 2; repeated M stream = 3;
      map<int64, M> by_id = 4 [(x.y).z = { a: 1 b: [1, 2] }];
      reserved "a", "b";
    }
    enum E { option allow_alias = true; A = 0; B = 0; C = -1; }
    service S { rpc stream (stream M) returns (.a.b.M); }
    """
    f = parse_proto(text, "odd.proto")
    assert [fl.name for fl in f.messages[0].fields] == ["message", "option", "stream", "by_id"]
    assert f.enums[0].values == {"A": 0, "B": 0, "C": -1}
    rpc = f.services[0].rpcs[0]
    assert (rpc.name, rpc.client_streaming, rpc.input_type, rpc.output_type) == (
        "stream",
        True,
        "M",
        ".a.b.M",
    )


def test_json_name() -> None:
    assert json_name("created_at") == "createdAt" and json_name("a_b_c") == "aBC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 2000 nested messages hit RecursionError in the recursive-descent parser.
        ('syntax = "proto3";\n' + "message A { " * 2000 + "}" * 2000, "maximum recursion limit"),
        ('syntax = "proto3";\noption (x) = 1' + "0" * 5000 + ";", 'Option "(x)" unknown'),
        ('syntax = "proto3";\nmessage A { int32 a = 1' + "0" * 5000 + "; }", "Integer out of range"),
        ('syntax = "proto3";\nmessage A {}\n/* never closed', "End-of-file inside block comment"),
    ],
)
def test_pathological_proto_is_a_clean_syntax_error(text: str, message: str) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(text.encode(), filename="bad.proto")
    assert err.value.kind == ErrorKind.SYNTAX and message in str(err.value)
    assert len(str(err.value)) < 300


def test_proto_surrogate_escape_is_replaced_so_the_summary_stays_storable() -> None:
    data = b'syntax = "proto3";\noption java_package = "a\\ud800";\nmessage A {}'
    s = import_spec(data, filename="s.proto")
    assert s.model_extra is not None and s.model_extra["options"]["java_package"] == "a\ufffd"
    s.model_dump_json()
