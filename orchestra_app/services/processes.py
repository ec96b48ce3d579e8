"""Process use cases: import a diagram as a new ProcessVersion and store its generated ScenarioSuite."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import Process, ProcessVersion, ScenarioStep, ScenarioSuite, TestScenario
from orchestra_app.domain.errors import NotFound
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.generation import generate_suite, scenario_steps
from orchestra_app.importers.detect import import_process as parse_process
from orchestra_app.services import artifacts, audit
from orchestra_app.services.guards import check_upload, require

DEFAULT_MAX_SCENARIOS = 200


@dataclass
class ProcessImportResult:
    process_id: UUID
    process_key: str
    version_id: UUID
    version: int
    suite_id: UUID
    scenario_count: int
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    capped: bool = False


def graph_summary(graph: ControlFlowGraph) -> dict[str, Any]:
    types = Counter(n.type for n in graph.nodes)
    return {
        "sourceType": graph.source_type.value,
        "processes": len(graph.processes),
        "nodes": len(graph.nodes),
        "flows": sum(1 for f in graph.flows if f.kind == "sequence"),
        "messageFlows": sum(1 for f in graph.flows if f.kind == "message"),
        "gateways": sum(v for k, v in types.items() if k.endswith("Gateway")),
        "tasks": sum(v for k, v in types.items() if k.endswith("Task") or k == "task"),
        "events": sum(v for k, v in types.items() if k.endswith("Event")),
        "loops": len(graph.loops),
        "parallelBlocks": len(graph.parallel_blocks),
        "lanes": len(graph.lanes),
        "warnings": len(graph.warnings),
        "nodeTypes": dict(sorted(types.items())),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120] or "process"


def _default_key(graph: ControlFlowGraph, filename: str) -> str:
    return _slug(Path(filename).stem) if filename else _slug(graph.name or "process")


def import_process(
    *,
    session: Session,
    principal: Principal,
    data: bytes,
    filename: str,
    key: str | None = None,
    strategy: str = "edges",
    max_scenarios: int = DEFAULT_MAX_SCENARIOS,
    max_loop: int | None = None,
) -> ProcessImportResult:
    """Parses first and stores nothing on error; then one new version plus its suite, atomically."""
    require(principal, Role.TEST_DESIGNER)
    check_upload(data, filename)
    graph = parse_process(data, filename=filename, max_loop_iterations=max_loop)
    plan = generate_suite(graph, strategy=strategy, max_scenarios=max_scenarios, max_loop=max_loop)  # type: ignore[arg-type]

    process_key = _slug(key) if key else _default_key(graph, filename)
    process = session.exec(
        select(Process).where(Process.tenant_id == principal.tenant_id, Process.key == process_key)
    ).first()
    if process is None:
        process = Process(
            tenant_id=principal.tenant_id,
            key=process_key,
            name=graph.name or (graph.processes[0].name if graph.processes else None) or process_key,
            created_by=principal.user_id,
        )
        session.add(process)
        session.flush()
    last = session.exec(
        select(func.max(ProcessVersion.version)).where(col(ProcessVersion.process_id) == process.id)
    ).one()
    version_no = int(last or 0) + 1
    version = ProcessVersion(
        tenant_id=principal.tenant_id,
        process_id=process.id,
        version=version_no,
        source_type=graph.source_type,
        source_uri=artifacts.store(tenant_id=principal.tenant_id, data=data, filename=filename),
        control_flow_graph=graph.to_json_dict(),
        created_by=principal.user_id,
    )
    session.add(version)
    suite = ScenarioSuite(
        tenant_id=principal.tenant_id,
        process_id=process.id,
        process_version=version_no,
        name=f"{process.name} v{version_no}",
        tags=[strategy],
        generation={
            "strategy": strategy,
            "maxScenarios": max_scenarios,
            "maxLoop": max_loop,
            "coverage": plan.coverage.to_json_dict(),
            "capped": plan.capped,
            "pathCount": str(plan.path_count),
            "warnings": plan.warnings,
            "uncoveredFlows": [u.to_json_dict() for u in plan.uncovered_flows],
        },
        created_by=principal.user_id,
    )
    session.add(suite)
    session.flush()
    for generated in plan.scenarios:
        scenario = TestScenario(
            tenant_id=principal.tenant_id,
            suite_id=suite.id,
            key=generated.key,
            name=generated.name[:500],
            tags=[generated.kind.value],
            created_by=principal.user_id,
            updated_by=principal.user_id,
            path={
                "processId": generated.process_id,
                "nodes": generated.nodes,
                "flows": generated.flows,
                "decisions": generated.decisions,
                **({"note": generated.note} if generated.note else {}),
            },
        )
        session.add(scenario)
        session.flush()
        for index, step in enumerate(scenario_steps(graph, generated)):
            session.add(
                ScenarioStep(
                    tenant_id=principal.tenant_id,
                    scenario_id=scenario.id,
                    order_index=index,
                    alias=step.alias,
                    name=step.name[:500],
                    kind=step.kind,
                    channel_type=step.channel_type,
                    endpoint_ref=step.endpoint_ref.to_json_dict() if step.endpoint_ref else None,
                    action=step.action.to_json_dict(),
                    expectations=step.expectations.to_json_dict(),
                    source_node_id=step.source_node_id,
                )
            )
    audit.record(
        session=session,
        principal=principal,
        action="process.import",
        entity_type="process_version",
        entity_id=version.id,
        details={"key": process_key, "version": version_no, "file": filename},
    )
    session.flush()
    return ProcessImportResult(
        process_id=process.id,
        process_key=process_key,
        version_id=version.id,
        version=version_no,
        suite_id=suite.id,
        scenario_count=len(plan.scenarios),
        warnings=[_warning_text(w.code, w.message, w.element_id, w.line) for w in graph.warnings],
        summary=graph_summary(graph),
        coverage=plan.coverage.to_json_dict(),
        capped=plan.capped,
    )


def _warning_text(code: str, message: str, element_id: str | None, line: int | None) -> str:
    where = f"line {line}" if line else ""
    if element_id:
        where = f"{where} {element_id}".strip()
    return f"{code}: {message}" + (f" ({where})" if where else "")


def _decisions_text(decisions: dict[str, Any]) -> str:
    parts: list[str] = []
    for point, d in decisions.items():
        if not isinstance(d, dict):
            continue
        if d.get("loop"):
            parts.append(f"loop at {d.get('header', point)} x{d.get('iterations', 0)}")
        else:
            parts.append(f"{point} -> {d.get('flow', '')}")
    return "; ".join(parts)[:300]


def list_versions(*, session: Session, principal: Principal, process_id: UUID) -> list[dict[str, str]]:
    rows = session.exec(
        select(ProcessVersion)
        .where(ProcessVersion.tenant_id == principal.tenant_id, ProcessVersion.process_id == process_id)
        .order_by(col(ProcessVersion.version).desc())
    ).all()
    return [
        {
            "id": str(v.id),
            "version": str(v.version),
            "source": v.source_type.value,
            "file": v.source_uri.rsplit("/", 1)[-1],
            "status": v.status.value,
            "created_at": v.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for v in rows
    ]


def version_detail(*, session: Session, principal: Principal, version_id: UUID) -> dict[str, Any]:
    version = session.exec(
        select(ProcessVersion).where(
            ProcessVersion.tenant_id == principal.tenant_id, ProcessVersion.id == version_id
        )
    ).first()
    if version is None:
        raise NotFound(f"process version {version_id} not found")
    graph = ControlFlowGraph.model_validate(version.control_flow_graph)
    suite = session.exec(
        select(ScenarioSuite)
        .where(
            ScenarioSuite.tenant_id == principal.tenant_id,
            ScenarioSuite.process_id == version.process_id,
            ScenarioSuite.process_version == version.version,
        )
        .order_by(col(ScenarioSuite.created_at).desc())
    ).first()
    scenarios: list[dict[str, str]] = []
    if suite is not None:
        step_counts = dict(
            session.exec(
                select(ScenarioStep.scenario_id, func.count())
                .join(TestScenario, col(TestScenario.id) == col(ScenarioStep.scenario_id))
                .where(TestScenario.suite_id == suite.id, ScenarioStep.tenant_id == principal.tenant_id)
                .group_by(col(ScenarioStep.scenario_id))
            ).all()
        )
        for s in session.exec(
            select(TestScenario)
            .where(TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite.id)
            .order_by(col(TestScenario.key))
        ).all():
            scenarios.append(
                {
                    "key": s.key,
                    "name": s.name,
                    "kind": ", ".join(s.tags),
                    "nodes": str(len(s.path.get("nodes", []))),
                    "steps": str(step_counts.get(s.id, 0)),
                    "decisions": _decisions_text(s.path.get("decisions", {})),
                }
            )
    return {
        "version": version.version,
        "summary": graph_summary(graph),
        "warnings": [_warning_text(w.code, w.message, w.element_id, w.line) for w in graph.warnings],
        "suite": suite.generation if suite else {},
        "suite_id": str(suite.id) if suite else "",
        "scenarios": scenarios,
    }
