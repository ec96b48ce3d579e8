"""Diagram use cases: a process version's drawing from its stored source file, run statuses per node,
and a suite's coverage over its last runs.

Source files are read through the tenant's artifact store only (``artifact://<tenant>/...`` of the
caller's tenant); a version of another tenant, or a URI pointing elsewhere, is not found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lxml import etree
from sqlmodel import Session, col, select

from orchestra_app.db.tables import (
    Process,
    ProcessVersion,
    ScenarioStep,
    ScenarioSuite,
    TestRun,
    TestScenario,
    TestStepResult,
)
from orchestra_app.domain.diagram import (
    Coverage,
    element_labels,
    exercised_flows,
    node_statuses,
)
from orchestra_app.domain.errors import NotFound, OrchestraError
from orchestra_app.domain.graph import ControlFlowGraph, SourceType
from orchestra_app.domain.tenancy import Principal
from orchestra_app.importers.bpmn_layout import add_layout, graph_to_bpmn
from orchestra_app.importers.sequence import looks_like_sequence, parse_sequence
from orchestra_app.importers.sequence_render import document_to_mermaid, graph_to_mermaid
from orchestra_app.importers.xml_safety import parse_xml
from orchestra_app.services import artifacts

MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
# Namespace spellings the importer accepts (stray spaces, the pre-release URI) that bpmn-js does not.
_NS_DECL = re.compile(
    r"""(xmlns(?::[\w.-]+)?\s*=\s*)(["'])\s*(http://www\.omg\.org/spec/BPMN/20100524/(?:MODEL|DI)"""
    r"""|http://schema\.omg\.org/spec/BPMN/2\.0)\s*\2"""
)
COVERAGE_RUNS = 200  # the newest runs a coverage overlay reads


@dataclass
class Diagram:
    """What the version page draws. ``kind`` is ``bpmn`` or ``sequence``."""

    kind: str
    file: str
    source: str = ""  # BPMN XML, or the stored mermaid text
    generated: str = ""  # sequence: mermaid text generated from the model
    has_layout: bool = True  # BPMN: the file carries BPMNDI shapes
    labels: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)  # sequence: msg node ids in order
    problem: str = ""  # why the stored file could not be used (the drawing falls back)


def _version(session: Session, principal: Principal, version_id: UUID) -> ProcessVersion:
    version = session.exec(
        select(ProcessVersion).where(
            ProcessVersion.tenant_id == principal.tenant_id, ProcessVersion.id == version_id
        )
    ).first()
    if version is None:
        raise NotFound(f"process version {version_id} not found", field="version")
    return version


def source_bytes(principal: Principal, uri: str) -> bytes:
    """The stored source file of the caller's tenant; NotFound for anything else."""
    prefix = f"artifact://{principal.tenant_id}/"
    if not uri.startswith(prefix):
        raise NotFound("the source file of this version is not stored")
    try:
        return artifacts.load(uri)
    except (OSError, ValueError):
        raise NotFound("the source file of this version is no longer in the artifact store") from None


def bpmn_for_viewer(data: bytes, filename: str, graph: ControlFlowGraph | None = None) -> tuple[str, bool]:
    """(XML text bpmn-js can read, whether the file has its own layout): parsed by the hardened
    reader (no entities, no network, encoding fixes), namespace spellings normalised; a file without
    BPMNDI gets Orchestra's layout made from ``graph`` (importers/bpmn_layout.py)."""
    parsed = parse_xml(data, filename=filename)
    has_layout = next(parsed.root.iter(f"{{{DI_NS}}}BPMNShape", "{*}BPMNShape"), None) is not None
    text = etree.tostring(parsed.root, encoding="unicode")
    text = _NS_DECL.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{DI_NS if m.group(3).endswith('/DI') else MODEL_NS}{m.group(2)}",
        text,
    )
    if not has_layout and graph is not None:
        # our own serialisation of an already vetted document: the plain parser is safe here
        root = etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
        if add_layout(root, graph):
            text = etree.tostring(root, encoding="unicode")
    return text, has_layout


def version_diagram(*, session: Session, principal: Principal, version_id: UUID) -> Diagram:
    version = _version(session, principal, version_id)
    graph = ControlFlowGraph.model_validate(version.control_flow_graph)
    filename = version.source_uri.rsplit("/", 1)[-1]
    labels = element_labels(graph)
    if graph.source_type == SourceType.SEQUENCE:
        return _sequence(principal, version.source_uri, filename, graph, labels)
    try:
        text, has_layout = bpmn_for_viewer(source_bytes(principal, version.source_uri), filename, graph)
    except OrchestraError as exc:
        if not graph.nodes:
            return Diagram(kind="bpmn", file=filename, has_layout=False, labels=labels, problem=str(exc))
        # Drawn from the imported graph instead (Orchestra's layout): the page still shows the process.
        root = graph_to_bpmn(graph)
        add_layout(root, graph)
        return Diagram(
            kind="bpmn",
            file=filename,
            source=etree.tostring(root, encoding="unicode"),
            has_layout=False,
            labels=labels,
            problem=f"{exc}; drawn from the imported process graph instead",
        )
    return Diagram(kind="bpmn", file=filename, source=text, has_layout=has_layout, labels=labels)


def _sequence(
    principal: Principal, uri: str, filename: str, graph: ControlFlowGraph, labels: dict[str, str]
) -> Diagram:
    messages = sorted(
        (n.id for n in graph.nodes if re.fullmatch(r"msg_\d+", n.id)), key=lambda i: int(i.split("_")[1])
    )
    diagram = Diagram(kind="sequence", file=filename, labels=labels, messages=messages)
    try:
        data = source_bytes(principal, uri)
        text = data.decode("utf-8-sig")
        diagram.generated = document_to_mermaid(parse_sequence(text, filename=filename).document)
        if looks_like_sequence(text) == "mermaid":
            diagram.source = text
    except (OrchestraError, UnicodeDecodeError) as exc:
        diagram.problem = str(exc)
        diagram.generated = graph_to_mermaid(graph)
    return diagram


# ---- runs on the diagram -------------------------------------------------------------------------


def _run(session: Session, principal: Principal, run_id: UUID) -> TestRun:
    run = session.exec(
        select(TestRun).where(TestRun.tenant_id == principal.tenant_id, TestRun.id == run_id)
    ).first()
    if run is None:
        raise NotFound(f"run {run_id} not found", field="run")
    return run


def _step_nodes(session: Session, principal: Principal, scenario_id: UUID) -> list[tuple[int, str | None]]:
    return [
        (row.order_index, row.source_node_id)
        for row in session.exec(
            select(ScenarioStep).where(
                ScenarioStep.tenant_id == principal.tenant_id, ScenarioStep.scenario_id == scenario_id
            )
        ).all()
    ]


def _results(session: Session, principal: Principal, run_id: UUID) -> list[tuple[int, str]]:
    return [
        (row.order_index, row.status.value)
        for row in session.exec(
            select(TestStepResult).where(
                TestStepResult.tenant_id == principal.tenant_id, TestStepResult.run_id == run_id
            )
        ).all()
    ]


def run_node_statuses(*, session: Session, principal: Principal, run_id: UUID) -> dict[str, str]:
    """{node id: step status} for one run (steps linked to nodes by ScenarioStep.source_node_id; the
    steps are those of the scenario version the run ran; a node with several steps shows the worst)."""
    run = _run(session, principal, run_id)
    steps = _step_nodes(session, principal, run.scenario_id)
    if run.mode.value == "SINGLE_STEP":
        ran = {i for i, _ in _results(session, principal, run.id)}
        steps = [(i, n) for i, n in steps if i in ran]
    return node_statuses(steps, _results(session, principal, run.id))


def scenario_runs(
    *, session: Session, principal: Principal, scenario_key: str, suite_id: UUID, limit: int = 20
) -> list[dict[str, str]]:
    """The newest runs of every version of one scenario (key) of a suite, newest first."""
    ids = list(
        session.exec(
            select(TestScenario.id).where(
                TestScenario.tenant_id == principal.tenant_id,
                TestScenario.suite_id == suite_id,
                TestScenario.key == scenario_key,
            )
        ).all()
    )
    if not ids:
        return []
    rows = session.exec(
        select(TestRun)
        .where(TestRun.tenant_id == principal.tenant_id, col(TestRun.scenario_id).in_(ids))
        .order_by(col(TestRun.created_at).desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": str(r.id),
            "status": r.status.value,
            "mode": r.mode.value,
            "version": str(r.scenario_version),
            "created_at": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        for r in rows
    ]


def suite_coverage(
    *, session: Session, principal: Principal, suite_id: UUID, last: int = COVERAGE_RUNS
) -> Coverage:
    """Across the suite's newest ``last`` runs (SINGLE_STEP debugging runs left out): which sequence
    flows some run went through, and each node's status in the newest run that reached it."""
    suite = session.exec(
        select(ScenarioSuite).where(
            ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == suite_id
        )
    ).first()
    if suite is None:
        raise NotFound(f"suite {suite_id} not found", field="suite")
    version = session.exec(
        select(ProcessVersion).where(
            ProcessVersion.tenant_id == principal.tenant_id,
            ProcessVersion.process_id == suite.process_id,
            ProcessVersion.version == suite.process_version,
        )
    ).first()
    graph = ControlFlowGraph.model_validate(version.control_flow_graph if version else {})
    flows = {f.id: f for f in graph.flows if f.kind == "sequence"}
    scenarios = {
        s.id: s
        for s in session.exec(
            select(TestScenario).where(
                TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id
            )
        ).all()
    }
    coverage = Coverage(flows_total=len(flows))
    if not scenarios:
        return coverage
    runs = session.exec(
        select(TestRun)
        .where(
            TestRun.tenant_id == principal.tenant_id,
            col(TestRun.scenario_id).in_(list(scenarios)),
            TestRun.mode != "SINGLE_STEP",
        )
        .order_by(col(TestRun.created_at).desc())
        .limit(last)
    ).all()
    if not runs:
        return coverage
    covered: set[str] = set()
    steps: dict[UUID, list[tuple[int, str | None]]] = {}
    for row in session.exec(
        select(ScenarioStep).where(
            ScenarioStep.tenant_id == principal.tenant_id,
            col(ScenarioStep.scenario_id).in_({r.scenario_id for r in runs}),
        )
    ).all():
        steps.setdefault(row.scenario_id, []).append((row.order_index, row.source_node_id))
    results: dict[UUID, list[tuple[int, str]]] = {}
    for result in session.exec(
        select(TestStepResult).where(
            TestStepResult.tenant_id == principal.tenant_id,
            col(TestStepResult.run_id).in_([r.id for r in runs]),
        )
    ).all():
        results.setdefault(result.run_id, []).append((result.order_index, result.status.value))
    for run in runs:  # newest first: the first status seen for a node is its last one
        statuses = node_statuses(steps.get(run.scenario_id, []), results.get(run.id, []))
        path: dict[str, Any] = scenarios[run.scenario_id].path or {}
        covered |= exercised_flows(flows, path.get("nodes", []), path.get("flows", []), statuses)
        for node, status in statuses.items():
            if status not in ("PENDING",):
                coverage.node_status.setdefault(node, status)
        coverage.runs += 1
    coverage.flows_covered = sorted(covered & set(flows))
    return coverage


def process_of_version(*, session: Session, principal: Principal, version_id: UUID) -> dict[str, str]:
    """Headline facts of a version for the page title: process key and name, version number, suite."""
    version = _version(session, principal, version_id)
    process = session.exec(
        select(Process).where(Process.tenant_id == principal.tenant_id, Process.id == version.process_id)
    ).one()
    suite = session.exec(
        select(ScenarioSuite)
        .where(
            ScenarioSuite.tenant_id == principal.tenant_id,
            ScenarioSuite.process_id == version.process_id,
            ScenarioSuite.process_version == version.version,
        )
        .order_by(col(ScenarioSuite.created_at).desc())
    ).first()
    return {
        "process_id": str(process.id),
        "key": process.key,
        "name": process.name,
        "version": str(version.version),
        "source": version.source_type.value,
        "suite_id": str(suite.id) if suite else "",
    }
