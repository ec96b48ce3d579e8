"""protoc compiles imported .proto files: descriptors kept with the summary, errors with line/column, imports
confined to the search roots (no absolute paths, no '..', no symlink out of the tree, no device files)."""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.protoc import scan_imports
from orchestra_app.importers.spec_detect import import_spec

pytestmark = pytest.mark.unit

ORDERS = b"""syntax = "proto3";
package orders.v1;
import "google/protobuf/timestamp.proto";
import "common/money.proto";
message CreateOrderRequest { string customer_id = 1; repeated Line lines = 2; }
message Line { string sku = 1; int32 qty = 2; common.Money price = 3; }
message Order { string id = 1; google.protobuf.Timestamp created_at = 2; optional string note = 3; }
service Orders { rpc CreateOrder(CreateOrderRequest) returns (Order); }
"""


def _descriptor_set(summary: object) -> descriptor_pb2.FileDescriptorSet:
    extra = summary.model_extra  # type: ignore[attr-defined]
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(base64.b64decode(extra["descriptorSet"]))
    return fds


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "money.proto").write_text(
        'syntax = "proto3";\npackage common;\nmessage Money { string currency = 1; int64 units = 2; }\n'
    )
    (tmp_path / "orders.proto").write_bytes(ORDERS)
    return tmp_path / "orders.proto"


def test_compiled_summary_keeps_the_descriptor_set(tmp_path: Path) -> None:
    s = import_spec(_tree(tmp_path))
    fds = _descriptor_set(s)
    names = [f.name for f in fds.file]
    assert names[-1] == "orders.proto" == s.model_extra["descriptorRoot"]  # type: ignore[index]
    assert {"google/protobuf/timestamp.proto", "common/money.proto"} <= set(names)
    assert s.warnings == []
    order = s.components["schemas"]["orders.v1.Order"]
    assert order["properties"]["createdAt"]["$ref"] == "#/components/schemas/google.protobuf.Timestamp"
    assert "x-proto-oneofs" not in order  # proto3 `optional` makes a synthetic oneof, not a real one
    assert s.components["schemas"]["common.Money"]["properties"]["units"]["format"] == "int64"
    (op,) = s.operations
    assert (op.id, op.input_type, op.output_type) == (  # type: ignore[attr-defined]
        "orders.v1.Orders/CreateOrder",
        "orders.v1.CreateOrderRequest",
        "orders.v1.Order",
    )


def test_an_unused_missing_import_is_a_warning_and_the_file_still_compiles() -> None:
    data = (
        b'syntax = "proto3";\nimport "nowhere/x.proto";\n'
        b"message A { int32 a = 1; }\nservice S { rpc M(A) returns (A); }\n"
    )
    s = import_spec(data, filename="a.proto")
    (warning,) = s.warnings
    assert (warning.code, warning.line) == ("missing_import", 2) and "nowhere/x.proto" in warning.message
    assert "descriptorSet" in (s.model_extra or {})


def test_a_used_missing_import_falls_back_to_the_lenient_parser() -> None:
    data = b'syntax = "proto3";\nimport "nowhere/x.proto";\nmessage A { x.B b = 1; }\n'
    s = import_spec(data, filename="a.proto")
    assert [w.code for w in s.warnings][:1] == ["missing_import"]
    assert "not_compiled" in [w.code for w in s.warnings]
    assert "descriptorSet" not in (s.model_extra or {})


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('syntax = "proto3";\nmessage A {\n  int32 a = 1;\n  int32 b = 1;\n}\n', 4, 13, "Field number 1"),
        ('syntax = "proto3";\nmessage A {\n  Missing m = 1;\n}\n', 3, 3, '"Missing" is not defined'),
        ('syntax = "proto3";\nenum E { A = 1; }\n', 2, 14, "first enum value"),
        ('syntax = "proto3";\nmessage A {\n  string a = 1\n  int32 b = 2;\n}\n', 4, 3, 'Expected ";"'),
        ('syntax = "proto3";\n/* never closed\nmessage A {}', 3, 13, "comment started at line 2, column 1"),
        ('syntax = "proto3";\nservice S { rpc M(A) returns B; }', 2, 30, 'Expected "("'),
    ],
)
def test_protoc_errors_name_file_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(text.encode(), filename="x.proto")
    assert err.value.kind == ErrorKind.SYNTAX
    assert (err.value.file, err.value.line, err.value.column) == ("x.proto", line, column), str(err.value)
    assert message in err.value.message


def test_an_error_inside_an_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "dep.proto").write_text('syntax = "proto3";\nmessage D {\n  int32 x = ;\n}\n')
    (tmp_path / "root.proto").write_text('syntax = "proto3";\nimport "dep.proto";\nmessage R { D d = 1; }\n')
    with pytest.raises(ImportError_) as err:
        import_spec(tmp_path / "root.proto")
    assert (err.value.file, err.value.line) == ("dep.proto", 3)


def test_imports_cannot_leave_the_search_roots(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tmp_path / "secret.proto").write_text('syntax = "proto3";\nmessage Secret { string s = 1; }\n')
    (tree / "sub" / "link.proto").symlink_to(tmp_path / "secret.proto")
    (tree / "sub" / "zero.proto").symlink_to("/dev/zero")
    os.mkfifo(tree / "sub" / "fifo.proto")
    root = tree / "sub" / "root.proto"
    root.write_text(
        'syntax = "proto3";\n'
        'import "/etc/passwd";\n'
        'import "../secret.proto";\n'
        'import "link.proto";\n'
        'import "zero.proto";\n'
        'import "fifo.proto";\n'
        "message R { int32 a = 1; }\n"
    )
    # Only the file's own folder is a search root here (an include path names the root explicitly).
    s = import_spec(root.read_bytes(), filename="root.proto", include_paths=[tree / "sub"])
    codes = {(w.code, w.line) for w in s.warnings}
    assert ("import_refused", 2) in codes and ("import_refused", 3) in codes
    assert ("import_refused", 4) in codes  # the symlink leaves the tree
    assert ("import_refused", 5) in codes and ("import_refused", 6) in codes  # not regular files
    assert "Secret" not in str(s.to_json_dict())


def test_scan_imports_ignores_comments_and_strings() -> None:
    text = (
        'syntax = "proto3";\n// import "no1.proto";\n/* import "no2.proto"; */\n'
        'option x = "import \\"no3.proto\\";";\nimport public "yes1.proto"; import weak "yes2.proto";\n'
        'import\n  "yes3.proto"\n;\n'
    )
    assert scan_imports(text) == [("yes1.proto", 5), ("yes2.proto", 5), ("yes3.proto", 6)]


def test_concurrent_compiles_agree(tmp_path: Path) -> None:
    path = _tree(tmp_path)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: import_spec(path).to_json_dict(), range(50)))
    assert all(r == results[0] for r in results)


def test_ancestors_are_searched_only_inside_a_named_root(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "s.proto").write_text(
        'syntax = "proto3";\npackage secret;\nmessage S { int32 a = 1; }\n'
    )
    (tmp_path / "a" / "b").mkdir(parents=True)
    root = tmp_path / "a" / "b" / "x.proto"
    root.write_text(
        'syntax = "proto3";\nimport "secret/s.proto";\nimport "etc/hostname";\nmessage X { int32 a = 1; }\n'
    )
    confined = import_spec(root)
    assert [(w.code, w.line) for w in confined.warnings] == [("missing_import", 2), ("missing_import", 3)]
    opened = import_spec(root, include_paths=[tmp_path])  # the flag that names another root
    assert [(w.code, w.line) for w in opened.warnings] == [("missing_import", 3)]
    assert "secret/s.proto" in [f.name for f in _descriptor_set(opened).file]
