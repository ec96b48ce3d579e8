"""The orchestra-sequence/1 JSON format: validation errors carry JSON pointers; valid files import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.sequence import import_sequence, looks_like_sequence, parse_sequence

pytestmark = pytest.mark.unit


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "orchestra-sequence/1",
        "participants": [{"id": "a"}, {"id": "b"}],
        "items": [{"from": "a", "to": "b", "label": "hi"}],
    }
    doc.update(overrides)
    return doc


def test_fixture_imports(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "sequence" / "order.json").read_bytes()
    assert looks_like_sequence(data.decode()) == "json"
    graph = import_sequence(data, filename="order.json")
    assert graph.name == "Place order"
    types = {n.id: n.type for n in graph.nodes}
    assert [i for i in types if i.startswith("msg_")] == [f"msg_{i}" for i in range(1, 9)]
    assert types["msg_1"] == "serviceTask"
    assert types["msg_3"] == "receiveTask"
    assert types["msg_5"] == "sendTask"
    assert {
        "alt_1_split",
        "alt_1_join",
        "break_1_split",
        "break_1_end",
        "par_1_split",
        "loop_1_check",
    } <= set(types)
    notes = next(n for n in graph.nodes if n.id == "msg_6").extensions["notes"]
    assert notes == [
        {"text": "the client polls until shipped", "position": "right", "participants": ["client"]}
    ]
    assert [lane.name for lane in graph.lanes] == ["Client", "Order service", "Stock service", "Kafka"]
    assert graph.warnings == []


def test_a_referenced_but_undeclared_participant_is_reported_with_its_pointer(fixtures_dir: Path) -> None:
    with pytest.raises(ImportError_) as info:
        import_sequence((fixtures_dir / "sequence" / "bad_reference.json").read_bytes(), filename="bad.json")
    assert info.value.pointer == "/items/1/branches/0/items/0/to"
    assert info.value.kind == ErrorKind.INVALID_SPEC
    assert str(info.value).startswith(
        "bad.json at /items/1/branches/0/items/0/to: unknown participant 'stok'"
    )


@pytest.mark.parametrize(
    ("doc", "pointer", "fragment"),
    [
        (_doc(format="orchestra-sequence/2"), "/format", "orchestra-sequence/1"),
        ({"participants": []}, "/format", "format"),
        (_doc(items=[{"from": "a", "to": "b", "kind": "rpc"}]), "/items/0/kind", "sync"),
        (_doc(items=[{"from": "a"}]), "/items/0/to", "required"),
        (_doc(items=[{"from": "a", "to": "b", "colour": "red"}]), "/items/0/colour", "Extra"),
        (_doc(items=[{"fragment": "switch", "branches": [{"items": []}]}]), "/items/0/fragment", "alt"),
        (_doc(items=[{"fragment": "alt", "branches": []}]), "/items/0/branches", "at least 1"),
        (
            _doc(items=[{"fragment": "loop", "branches": [{"items": []}, {"items": []}]}]),
            "/items/0/branches",
            "exactly one branch",
        ),
        (
            _doc(items=[{"fragment": "par", "branches": [{"items": [{"from": "a", "to": "c"}]}]}]),
            "/items/0/branches/0/items/0/to",
            "unknown participant 'c'",
        ),
        (_doc(participants=[{"id": "a"}, {"id": "a"}], items=[]), "/participants/1/id", "duplicate"),
        (_doc(participants=[{"id": "a", "kind": "robot"}], items=[]), "/participants/0/kind", "actor"),
        (_doc(participants=[{"id": ""}], items=[]), "/participants/0/id", "at least 1"),
        (
            _doc(items=[{"note": "n", "participants": ["zz"]}]),
            "/items/0/participants/0",
            "unknown participant",
        ),
        ([1, 2], "", "JSON object"),
    ],
)
def test_validation_errors_point_at_the_offending_value(doc: Any, pointer: str, fragment: str) -> None:
    with pytest.raises(ImportError_) as info:
        import_sequence(json.dumps(doc), filename="doc.json")
    assert info.value.pointer == pointer
    assert info.value.file == "doc.json"
    assert fragment in info.value.message


def test_json_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ImportError_) as info:
        import_sequence('{\n  "format": "orchestra-sequence/1",\n  "items": [}\n', filename="broken.json")
    assert (info.value.line, info.value.column) == (3, 13)
    assert info.value.kind == ErrorKind.SYNTAX


def test_round_trip_of_a_parsed_diagram_validates_again(fixtures_dir: Path) -> None:
    parsed = parse_sequence(
        (fixtures_dir / "sequence" / "checkout.mmd").read_bytes(), filename="checkout.mmd"
    )
    dumped = parsed.document.model_dump(mode="json", by_alias=True, exclude_none=True)
    again = parse_sequence(json.dumps(dumped), filename="checkout.json")
    assert again.dialect == "json"
    assert again.document == parsed.document
