"""BPMN importer: real-world quirks become warnings, never failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.bpmn import import_bpmn

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def graph(fixtures_dir: Path) -> ControlFlowGraph:
    return import_bpmn((fixtures_dir / "bpmn" / "quirks.bpmn").read_bytes(), filename="quirks.bpmn")


def codes(graph: ControlFlowGraph) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for warning in graph.warnings:
        found.setdefault(warning.code, []).append(warning.element_id)
    return found


def test_flows_without_id_get_synthetic_ids(graph: ControlFlowGraph) -> None:
    assert codes(graph)["FLOW_WITHOUT_ID"] == ["flow_1", "flow_2", "flow_3"]
    by_id = {f.id: f for f in graph.flows}
    assert (by_id["flow_2"].source, by_id["flow_2"].target) == ("S", "A")
    assert by_id["flow_1"].kind == "message"


def test_duplicate_ids_are_renamed_and_exact_duplicate_flows_dropped(graph: ControlFlowGraph) -> None:
    ids = [n.id for n in graph.nodes]
    assert ids.count("A") == 1 and "A__2" in ids
    assert [n.name for n in graph.nodes if n.id in ("A", "A__2")] == ["first A", "second A"]
    flow_ids = [f.id for f in graph.flows]
    assert flow_ids.count("F_Dup") == 1
    assert "F_AND1__2" in flow_ids
    assert codes(graph)["DUPLICATE_ELEMENT"] == ["F_Dup"]
    assert set(codes(graph)["DUPLICATE_ID"]) == {"A__2", "F_AND1__2", "Main__2", "S__2"}


def test_duplicate_process_ids_keep_references_inside_their_own_process(graph: ControlFlowGraph) -> None:
    assert [p.id for p in graph.processes] == ["Main", "Empty", "Main__2"]
    copy = next(f for f in graph.flows if f.id == "F_Copy")
    assert (copy.source, copy.target) == ("S__2", "E2")
    assert next(n for n in graph.nodes if n.id == "S__2").process_id == "Main__2"


def test_dangling_refs_cross_scope_links_and_empty_pools_are_warnings(graph: ControlFlowGraph) -> None:
    found = codes(graph)
    assert "F_Dangling" in found["DANGLING_REF"]
    assert "P3" in found["DANGLING_REF"]
    assert found["CROSS_SCOPE"] == ["F_Cross"]
    assert found["LINK_UNPAIRED"] == ["LT"]
    assert found["EMPTY_PROCESS"] == ["Empty"]
    assert "NO_DI" in found
    dangling = next(f for f in graph.flows if f.id == "F_Dangling")
    assert dangling.target == "Nowhere"  # kept as drawn; consumers skip ends that are not nodes


def test_implicit_and_split_is_a_warning_and_a_parallel_block(graph: ControlFlowGraph) -> None:
    assert "B" in codes(graph)["IMPLICIT_SPLIT"]
    block = next(b for b in graph.parallel_blocks if b.split == "B")
    assert block.branches == [["F_AND1"], ["F_AND2"]]
    assert block.join == "E"


def test_every_warning_has_a_code_and_message(graph: ControlFlowGraph) -> None:
    assert all(w.code and w.message for w in graph.warnings)
    located = [w for w in graph.warnings if w.code != "NO_DI"]
    assert all(w.line for w in located if w.code != "DANGLING_REF" or w.element_id != "P3")


def test_link_pairs_prefer_same_scope_and_report_ambiguity() -> None:
    data = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">
      <intermediateThrowEvent id="t"><linkEventDefinition name="L"/></intermediateThrowEvent>
      <intermediateCatchEvent id="c1" name="L"><linkEventDefinition/></intermediateCatchEvent>
      <intermediateCatchEvent id="c2"><linkEventDefinition name="L"/></intermediateCatchEvent>
      <intermediateThrowEvent id="t2" name="L"><linkEventDefinition/></intermediateThrowEvent>
    </process></definitions>"""
    graph = import_bpmn(data, filename="l.bpmn")
    links = sorted(f.id for f in graph.flows)
    assert links == ["link:t->c1", "link:t2->c1"]  # c1's link name falls back to its event name
    assert "LINK_AMBIGUOUS" in codes(graph)


def test_node_without_id_and_flow_outside_process() -> None:
    data = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs">
      <task id="orphan"/>
      <process id="p"><task name="no id"/></process></definitions>"""
    graph = import_bpmn(data, filename="o.bpmn")
    assert [n.process_id for n in graph.nodes] == ["defs", "p"]
    assert "defs" in [p.id for p in graph.processes]
    assert {"NODE_OUTSIDE_PROCESS", "MISSING_ID"} <= set(codes(graph))
    assert graph.nodes[1].id == "task_2"


def test_undefined_entity_and_broken_attribute_are_recovered_with_a_warning() -> None:
    data = b"""<?xml version="1.0"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">
  <task id="t" name="Caf&eacute;"/><task id="u"/>
</process></definitions>"""
    graph = import_bpmn(data, filename="e.bpmn")
    assert [n.id for n in graph.nodes] == ["t", "u"]
    warning = next(w for w in graph.warnings if w.code == "XML_RECOVERED")
    assert warning.line == 3 and "eacute" in warning.message


def test_wrong_declared_encoding_is_reread_as_cp1252() -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">'
        '<task id="t" name="Prüfung – Bestätigung"/></process></definitions>'
    )
    graph = import_bpmn(text.encode("cp1252"), filename="enc.bpmn")
    assert graph.nodes[0].name == "Prüfung – Bestätigung"
    assert "WRONG_ENCODING" in codes(graph)


def test_utf16_document_with_bom_imports() -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">'
        '<task id="t" name="Ärger"/></process></definitions>'
    )
    graph = import_bpmn(text.encode("utf-16"), filename="u16.bpmn")
    assert graph.nodes[0].name == "Ärger"


def test_empty_model_is_accepted_on_request() -> None:
    data = b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p"/></definitions>'
    graph = import_bpmn(data, filename="empty.bpmn", allow_empty=True)
    assert graph.nodes == [] and "EMPTY_MODEL" in codes(graph)
