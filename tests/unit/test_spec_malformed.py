"""Malformed specs: clean errors naming file/line/pointer, or warnings when a partial import is possible."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def specs(fixtures_dir: Path) -> Path:
    return fixtures_dir / "specs"


def test_broken_yaml_names_file_line_and_column(specs: Path) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(specs / "broken.yaml", filename="broken.yaml")
    assert err.value.kind == ErrorKind.SYNTAX
    assert (err.value.file, err.value.line, err.value.column) == ("broken.yaml", 4, 11)
    assert str(err.value).startswith("broken.yaml:4:11: broken YAML")


def test_broken_json_names_file_line_and_column(specs: Path) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(specs / "broken.json", filename="broken.json")
    assert (err.value.line, err.value.column) == (1, 44)
    assert "broken JSON" in str(err.value)


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [
        ("not-a-spec.json", ErrorKind.UNKNOWN_FORMAT, "not an API spec"),
        ("empty.yaml", ErrorKind.SYNTAX, "empty"),
    ],
)
def test_not_a_spec_and_empty_file(specs: Path, name: str, kind: ErrorKind, text: str) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(specs / name, filename=name)
    assert err.value.kind == kind and text in str(err.value) and name in str(err.value)


def test_scalar_yaml_is_not_a_spec() -> None:
    with pytest.raises(ImportError_, match="not an API spec"):
        import_spec(b"just a string\n", filename="words.yaml")


def test_missing_file_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(tmp_path / "nope.yaml", filename="nope.yaml")
    assert err.value.kind == ErrorKind.IO


def test_ref_to_missing_file_is_a_warning_when_partial_import_works(specs: Path) -> None:
    s = import_spec(specs / "missing-ref.yaml", filename="missing-ref.yaml")
    assert [o.id for o in s.operations] == ["ok"]
    pointers = sorted(w.pointer for w in s.warnings if w.code == "unresolved_ref")
    assert pointers == [
        "/paths/~1gone/$ref",
        "/paths/~1ok/get/responses/200/content/application~1json/schema/$ref",
    ]
    assert dangling_refs(s) == []


def test_ref_to_missing_file_for_the_root_is_an_error(specs: Path) -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(specs / "missing-root.yaml", filename="missing-root.yaml")
    assert err.value.kind == ErrorKind.UNRESOLVED_REF and err.value.pointer == "/paths/$ref"
    assert "all-paths.yaml" in str(err.value)


def test_ref_loops_are_warnings_with_pointers_never_recursion(specs: Path) -> None:
    s = import_spec(specs / "ref-loop.yaml", filename="ref-loop.yaml")
    loops = {w.pointer for w in s.warnings if w.code == "ref_loop"}
    assert "/paths/~1loop/$ref" in loops and "/components/schemas/Self" in loops
    assert [o.id for o in s.operations] == ["paramLoop"]
    assert s.operations[0].parameters == []
    assert "$ref" not in s.components["schemas"]["Self"]
    assert dangling_refs(s) == []


def test_ref_to_itself_in_bytes_document() -> None:
    doc = (
        b"openapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
        b"paths:\n  /a:\n    get:\n      $ref: '#/paths/~1a/get'\n"
    )
    s = import_spec(doc, filename="self.yaml")
    assert s.operations == [] and s.warnings[0].code == "ref_loop"
    assert s.warnings[0].pointer == "/paths/~1a/get/$ref"


def test_relative_ref_in_bytes_without_folder_is_a_warning() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "components": {"schemas": {"A": {"$ref": "x.yaml"}}},
    }
    s = import_spec(json.dumps(doc).encode(), filename="in-memory.json")
    assert s.warnings[0].code == "unresolved_ref" and "without a folder" in s.warnings[0].message
    # with base_dir, the same bytes resolve like a file in that folder
    s = import_spec(json.dumps(doc).encode(), filename="in-memory.json", base_dir="/nonexistent-dir")
    assert "does not exist" in s.warnings[0].message


@pytest.mark.parametrize("ref", ["file:///etc/hostname", "/etc/hostname", "../../etc/hostname#/x"])
def test_bytes_documents_never_read_local_files(ref: str) -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "components": {"schemas": {"A": {"$ref": ref}}},
    }
    s = import_spec(json.dumps(doc).encode(), filename="upload.json")
    assert [w.code for w in s.warnings] == ["unresolved_ref"]
    assert s.components["schemas"]["A"] == {"x-unresolved-ref": ref}


def test_remote_refs_are_off_by_default() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "components": {"schemas": {"A": {"$ref": "http://127.0.0.1:9/remote.yaml#/A"}}},
    }
    s = import_spec(json.dumps(doc).encode(), filename="remote.json")
    assert [w.code for w in s.warnings] == ["remote_ref_blocked"]
    assert s.components["schemas"]["A"] == {"x-unresolved-ref": "http://127.0.0.1:9/remote.yaml#/A"}


def test_yaml_alias_bomb_fails_cleanly() -> None:
    lines = [
        "openapi: 3.0.0",
        "info: {title: t, version: '1'}",
        "components:",
        "  schemas:",
        "    a0: &a0 {type: string}",
    ]
    for i in range(1, 30):
        lines.append(f"    a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]")
    with pytest.raises(ImportError_) as err:
        import_spec("\n".join(lines).encode(), filename="bomb.yaml")
    assert err.value.kind == ErrorKind.TOO_LARGE


def _generated_spec(target_bytes: int) -> bytes:
    paths = {}
    schemas = {}
    i = 0
    size = 0
    while size < target_bytes:
        name = f"Thing{i}"
        schemas[name] = {
            "type": "object",
            "description": "x" * 400,
            "properties": {f"field{j}": {"type": "string", "maxLength": j + 1} for j in range(20)}
            | {"next": {"$ref": f"#/components/schemas/Thing{i + 1 if i % 50 else i}"}},
        }
        paths[f"/things{i}/{{id}}"] = {
            "get": {
                "operationId": f"getThing{i}",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                    }
                },
            }
        }
        size += 1500
        i += 1
    schemas[f"Thing{i}"] = {"type": "object"}
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "big", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    return json.dumps(doc).encode()


def test_twenty_megabyte_spec_imports_and_memory_stays_bounded(tmp_path: Path) -> None:
    data = _generated_spec(20 * 1024 * 1024)
    assert len(data) >= 20 * 1024 * 1024
    path = tmp_path / "big.json"
    path.write_bytes(data)
    n_ops = data.count(b'"operationId"')
    del data
    s = import_spec(path, filename="big.json")
    assert len(s.operations) == n_ops
    assert (
        s.operations[-1]
        .responses["200"]
        .content["application/json"]["$ref"]
        .startswith("#/components/schemas/")
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < 4096, f"peak RSS {peak_mb:.0f} MB"


def test_size_cap_rejects_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b'{"openapi": "3.0.0", "x": "' + b"y" * 2048 + b'"}')
    with pytest.raises(ImportError_) as err:
        import_spec(path, filename="big.json", max_bytes=1024)
    assert err.value.kind == ErrorKind.TOO_LARGE and "1024" in str(err.value)
    with pytest.raises(ImportError_):
        import_spec(path.read_bytes(), filename="big.json", max_bytes=1024)


def _deep_schema(levels: int) -> str:
    return '{"type": "object", "properties": {"a": ' * levels + "{}" + "}}" * levels


@pytest.mark.parametrize("levels", [150, 600, 2000])
def test_deeply_nested_json_is_a_clean_error_not_recursion(levels: int) -> None:
    # 2000 levels broke json.loads with RecursionError; 150 imported but the summary could not be
    # serialised (pydantic stops at 255 levels), so storing it failed.
    doc = '{"openapi": "3.0.0", "paths": {}, "components": {"schemas": {"A": ' + _deep_schema(levels) + "}}}"
    with pytest.raises(ImportError_) as err:
        import_spec(doc.encode(), filename="deep.json")
    assert err.value.kind == ErrorKind.SYNTAX and "nested deeper than 128 levels" in str(err.value)
    if levels < 400:
        assert err.value.pointer.startswith("/components/schemas/A/properties/a/properties/a/")


def test_deeply_nested_yaml_and_lists_are_clean_errors() -> None:
    lines = ["openapi: 3.0.0", "paths: {}", "x:"] + [" " * (i + 1) + "a:" for i in range(300)]
    with pytest.raises(ImportError_, match="nested deeper"):
        import_spec("\n".join(lines).encode(), filename="deep.yaml")
    with pytest.raises(ImportError_, match="nested deeper"):
        import_spec(b'{"openapi": "3.0.0", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", filename="l.json")


def test_nesting_a_real_spec_uses_is_imported_and_storable() -> None:
    doc = '{"openapi": "3.0.0", "paths": {}, "components": {"schemas": {"A": ' + _deep_schema(50) + "}}}"
    s = import_spec(doc.encode(), filename="ok.json")
    json.dumps(s.to_json_dict())


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'{"openapi": "3.0.0",\n "info": {"version": 1' + b"0" * 5000 + b"}}", 2),
        (b"openapi: 3.0.0\npaths: {}\nx: 1" + b"0" * 5000 + b"\n", 3),
    ],
)
def test_number_too_large_is_a_clean_error_with_line(data: bytes, line: int) -> None:
    # Python refuses int() of more than 4300 digits with a ValueError that escaped import_spec.
    with pytest.raises(ImportError_) as err:
        import_spec(data, filename="big-number")
    assert err.value.line == line and "5001 digits" in str(err.value)


def test_lone_surrogate_escapes_are_replaced_so_the_summary_stays_storable() -> None:
    doc = b'{"openapi": "3.0.0", "info": {"title": "a\\ud800b", "version": "1"}, "paths": {"/\\udfff": {}}}'
    s = import_spec(doc, filename="s.json")
    assert s.title == "a\ufffdb"
    s.model_dump_json()
    json.dumps(s.to_json_dict()).encode()
    pair = import_spec(b'{"openapi": "3.0.0", "info": {"title": "\\ud83d\\ude00"}}', filename="p.json")
    assert pair.title == "\U0001f600"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_utf16_with_bom_and_utf8_bom_are_read(encoding: str) -> None:
    text = (
        "openapi: 3.0.0\ninfo: {title: café, version: '1'}\n"
        "paths:\n  /a: {get: {responses: {'200': {description: ok}}}}\n"
    )
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    s = import_spec(data, filename="u.yaml")
    assert s.title == "café" and [o.id for o in s.operations] == ["get_a"]


def test_yaml_with_tabs_is_a_syntax_error_with_line() -> None:
    with pytest.raises(ImportError_) as err:
        import_spec(b"openapi: 3.0.0\ninfo:\n\ttitle: t\n", filename="tabs.yaml")
    assert err.value.kind == ErrorKind.SYNTAX and err.value.line == 3
