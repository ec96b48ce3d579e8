"""The documented controlFlowGraph schema matches the generated JSON Schema and imported graphs."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.bpmn import import_bpmn

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_documented_keys_exist_in_the_generated_schema() -> None:
    schema = ControlFlowGraph.model_json_schema(by_alias=True)
    keys = set(schema["properties"])
    for definition in schema["$defs"].values():
        keys.update(definition.get("properties", {}))
    doc = (ROOT / "docs" / "control-flow-graph.md").read_text().split("## Extension attributes")[0]
    table_keys = set(re.findall(r"^\| `([a-zA-Z]+)`", doc, flags=re.MULTILINE))
    inline = set(re.findall(r"`([a-z][a-zA-Z]+)\?`", doc))
    documented = (table_keys | inline) - {"type"}
    assert documented, "the doc lists no keys"
    assert documented <= keys | {"type"}, documented - keys
    structural = {
        "type", "id", "name", "line", "role", "incoming", "outgoing", "header", "backFlows", "nodes",
        "split", "join", "branches", "code", "message", "elementId", "source", "target", "kind",
        "condition", "isDefault", "processId", "nodeIds", "maxLoopIterations", "eventDefinitions",
        "extensions",
    }  # fmt: skip
    assert keys <= documented | structural, keys - documented - structural


def test_imported_graph_validates_against_the_generated_schema(fixtures_dir: Path) -> None:
    graph = import_bpmn((fixtures_dir / "bpmn" / "all_elements.bpmn").read_bytes(), filename="all.bpmn")
    schema = ControlFlowGraph.model_json_schema(by_alias=True)
    jsonschema.validate(graph.to_json_dict(), schema)
