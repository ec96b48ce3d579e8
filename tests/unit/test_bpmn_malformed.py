"""BPMN importer: hostile and malformed inputs give a clear, located error and never crash."""

# ruff: noqa: E501 - inline XML fixtures read better unwrapped

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_, OrchestraError
from orchestra_app.importers.bpmn import import_bpmn, import_bpmn_file

pytestmark = pytest.mark.unit

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
OPEN = '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">\n'


def fails(data: bytes, kind: ErrorKind, **options: object) -> ImportError_:
    with pytest.raises(ImportError_) as caught:
        import_bpmn(data, filename="in.bpmn", **options)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, OrchestraError)
    assert error.kind is kind, str(error)
    assert error.file == "in.bpmn"
    assert str(error).startswith("in.bpmn")
    return error


def test_billion_laughs_is_refused_before_expansion() -> None:
    lol = "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "lol"}">\n' for i in range(10)
    )
    data = f'{HEAD}<!DOCTYPE definitions [\n{lol}]>\n{OPEN}<process id="p"><task id="t" name="&lol9;"/></process></definitions>'
    error = fails(data.encode(), ErrorKind.UNSAFE_XML)
    assert (error.line, error.column) == (3, 1)
    assert "entities" in error.message


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (
        f'{HEAD}<!DOCTYPE definitions [ <!ENTITY xxe SYSTEM "file://{secret}"> ]>\n'
        f'{OPEN}<process id="p"><task id="t" name="&xxe;"/></process></definitions>'
    )
    error = fails(data.encode(), ErrorKind.UNSAFE_XML)
    assert error.line == 2 and "TOP-SECRET" not in str(error)
    passwd = data.replace(f"file://{secret}", "file:///etc/passwd")
    fails(passwd.encode(), ErrorKind.UNSAFE_XML)


def test_parameter_entity_in_utf16_is_refused() -> None:
    data = f'{HEAD}<!DOCTYPE d [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]>{OPEN}</definitions>'
    fails(data.replace("UTF-8", "UTF-16").encode("utf-16"), ErrorKind.UNSAFE_XML)


def test_plain_doctype_without_entities_is_only_a_warning() -> None:
    data = f'{HEAD}<!DOCTYPE definitions SYSTEM "http://example.invalid/bpmn.dtd">\n{OPEN}<process id="p"><task id="t"/></process></definitions>'
    graph = import_bpmn(data.encode(), filename="in.bpmn")
    assert "DOCTYPE_IGNORED" in {w.code for w in graph.warnings}


def test_fifty_megabyte_file_is_too_large(tmp_path: Path) -> None:
    big = tmp_path / "big.bpmn"
    with big.open("wb") as out:
        out.write((HEAD + OPEN + '<process id="p">').encode())
        chunk = b'<task id="t" name="padding padding padding padding padding"/>\n' * 16_000
        while out.tell() < 50 * 1024 * 1024:
            out.write(chunk)
        out.write(b"</process></definitions>")
    with pytest.raises(ImportError_) as from_file:
        import_bpmn_file(big)
    assert from_file.value.kind is ErrorKind.TOO_LARGE
    assert "limit is 20,971,520 bytes" in str(from_file.value)
    error = fails(big.read_bytes(), ErrorKind.TOO_LARGE)
    assert "52," in error.message  # the size is named


def test_custom_size_limit() -> None:
    data = f'{HEAD}{OPEN}<process id="p"><task id="t"/></process></definitions>'.encode()
    fails(data, ErrorKind.TOO_LARGE, max_bytes=100)
    assert import_bpmn(data, filename="in.bpmn", max_bytes=len(data)).nodes


@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        (b"hello, this is plain text\nnot a model\n", 1, 1),
        (b"", 1, 1),
        (b"   \n\n", 1, 1),
        (b'{"nodes": []}', 1, 1),
    ],
)
def test_not_xml(data: bytes, line: int, column: int) -> None:
    error = fails(data, ErrorKind.NOT_XML)
    assert (error.line, error.column) == (line, column)


def test_truncated_xml_is_recovered_with_a_located_warning() -> None:
    full = f'{HEAD}{OPEN}<process id="p">\n<startEvent id="s"/>\n<task id="t"/>\n<sequenceFlow id="f" sourceRef="s" targetRef="t"/>\n</process></definitions>'
    cut = full[: full.index("<sequenceFlow") + 20]
    graph = import_bpmn(cut.encode(), filename="in.bpmn")
    assert [n.id for n in graph.nodes] == ["s", "t"]
    warning = next(w for w in graph.warnings if w.code == "XML_RECOVERED")
    assert warning.line == 6


def test_truncated_before_any_node_is_a_no_process_error_naming_the_break() -> None:
    cut = f'{HEAD}{OPEN}<process id="p">\n<startEv'
    error = fails(cut.encode(), ErrorKind.NO_PROCESS)
    assert "broken at line 4" in error.message
    assert error.line == 3


def test_non_bpmn_xml_names_root_and_location() -> None:
    data = b'<?xml version="1.0"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n</project>'
    error = fails(data, ErrorKind.NOT_BPMN)
    assert (error.line, error.column) == (2, 1)
    assert "<project>" in error.message


def test_definitions_in_a_foreign_namespace_is_not_bpmn() -> None:
    data = b'<definitions xmlns="http://not-bpmn"><process id="p"><task id="t"/></process></definitions>'
    error = fails(data, ErrorKind.NOT_BPMN)
    assert "http://not-bpmn" in error.message


def test_empty_process_is_a_no_process_error() -> None:
    data = f'{HEAD}{OPEN}  <process id="Empty_1" isExecutable="true">\n  </process>\n</definitions>'.encode()
    error = fails(data, ErrorKind.NO_PROCESS)
    assert (error.line, error.column) == (3, 3)
    assert "'Empty_1'" in error.message


def test_definitions_without_process_is_a_no_process_error() -> None:
    data = (
        f'{HEAD}{OPEN}<collaboration id="c"><participant id="pool"/></collaboration></definitions>'.encode()
    )
    error = fails(data, ErrorKind.NO_PROCESS)
    assert (error.line, error.column) == (2, 1)
    assert "black-box pool" in error.message


def test_error_dict_for_cli_and_api() -> None:
    error = fails(b"<<<", ErrorKind.NOT_XML)
    data = error.to_dict()
    assert data["kind"] == "not_xml" and data["file"] == "in.bpmn" and data["line"] == 1
