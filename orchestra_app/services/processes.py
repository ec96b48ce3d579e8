"""Process use cases: import a diagram as a new ProcessVersion and store its generated ScenarioSuite."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlmodel import Session, col, func, select

from orchestra_app.db.engine import make_engine
from orchestra_app.db.tables import Process, ProcessVersion, ScenarioStep, ScenarioSuite, TestScenario
from orchestra_app.db.types import utcnow
from orchestra_app.domain.diagram import decisions_text, describe_decisions
from orchestra_app.domain.errors import Conflict, NotFound, ValidationFailed
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.domain.names import MAX_KEY_LENGTH, clean_name, has_word_character, slug
from orchestra_app.domain.params import parse_text
from orchestra_app.domain.steps import ScenarioStepSpec
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.generation import SuitePlan, generate_suite, scenario_steps
from orchestra_app.generation.params import GenerationParams, parse_generation_params
from orchestra_app.importers.detect import import_process as parse_process
from orchestra_app.services import artifacts, audit
from orchestra_app.services.concurrency import insert_ignore, locked
from orchestra_app.services.guards import check_upload, require
from orchestra_app.services.isolation import commit_gate, run_isolated
from orchestra_app.settings import get_settings

DEFAULT_MAX_SCENARIOS = 200  # the app stores every scenario; the CLI's defaults are the generator's
# Warnings that mean the stored graph lost part of the file (the import is partial, not a success).
LOSSY_WARNINGS = frozenset({"XML_RECOVERED"})


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
    # "ok": imported as is; "warning": imported with warnings; "partial": the file was damaged and
    # recovery lost flows, or a scenario has no step: the suite does not test the whole file.
    outcome: str = "ok"
    problems: list[str] = field(default_factory=list)


@dataclass
class PreparedProcess:
    """Everything an import computes before it touches the database (built in a child process)."""

    graph: ControlFlowGraph
    plan: SuitePlan
    steps: list[list[ScenarioStepSpec]]


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


def _explicit_key(text: str) -> str:
    if not has_word_character(clean_name(text)):
        raise ValidationFailed(f"key must contain a letter or digit, got {text[:60]!r}", field="key")
    return slug(text)


def _default_key(graph: ControlFlowGraph, filename: str) -> str:
    return slug(Path(filename).stem) if filename else slug(graph.name or "process")


def prepare_process(
    data: bytes, filename: str, params: GenerationParams, default_max_scenarios: int = DEFAULT_MAX_SCENARIOS
) -> PreparedProcess:
    """Parse, clean names, generate the suite and its steps: pure CPU work, run in a child process."""
    graph = parse_process(data, filename=filename, max_loop_iterations=params.max_loop)
    graph.name = clean_name(graph.name) or None
    for node in graph.nodes:
        if node.name:
            node.name = clean_name(node.name) or None
    for process in graph.processes:
        if process.name:
            process.name = clean_name(process.name) or None
    plan = generate_suite(
        graph,
        strategy=params.strategy,
        max_scenarios=params.max_scenarios or default_max_scenarios,
        max_loop=params.max_loop,
        parallel=params.parallel,
    )
    steps = [scenario_steps(graph, scenario) for scenario in plan.scenarios]
    return PreparedProcess(graph, plan, steps)


def import_process(
    *,
    session: Session,
    principal: Principal,
    data: bytes,
    filename: str,
    key: str | None = None,
    strategy: str = "edges",
    max_scenarios: int | None = None,
    max_loop: int | None = None,
    parallel: str = "pairwise",
    prepared: PreparedProcess | None = None,
) -> ProcessImportResult:
    """Parses first and stores nothing on error; then one new version plus its suite, atomically.

    Safe under concurrency: the process row is created with INSERT ... ON CONFLICT DO NOTHING and
    locked (FOR UPDATE on PostgreSQL) before the next version number is read. Run it through
    ``services.session.write`` so SQLite holds its write lock and a collision that still escapes is
    retried. ``prepared`` (from ``prepare_process``) skips the parse.
    """
    require(principal, Role.TEST_DESIGNER)
    check_upload(data, filename)
    params = parse_generation_params(
        {"strategy": strategy, "max_scenarios": max_scenarios, "max_loop": max_loop, "parallel": parallel}
    )
    key_text = parse_text(key, name="key", max_length=MAX_KEY_LENGTH)
    if prepared is None:
        prepared = prepare_process(data, filename, params)
    graph, plan = prepared.graph, prepared.plan
    process_key = _explicit_key(key_text) if key_text else _default_key(graph, filename)

    process: Process | None = None
    for _ in range(3):
        insert_ignore(
            session,
            Process,
            {
                "id": uuid4(),
                "tenant_id": principal.tenant_id,
                "key": process_key,
                "name": (graph.name or (graph.processes[0].name if graph.processes else None) or process_key)[
                    :300
                ],
                "created_at": utcnow(),
                "created_by": principal.user_id,
            },
        )
        process = session.exec(
            locked(
                session,
                select(Process).where(Process.tenant_id == principal.tenant_id, Process.key == process_key),
            )
        ).first()
        if process is not None:
            break
        # deleted by a concurrent delete_process between the insert and the lock: insert it again
    if process is None:
        raise Conflict(
            f"process {process_key!r} was deleted while this version was imported; retry", field="key"
        )
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
    max_cap = params.max_scenarios or DEFAULT_MAX_SCENARIOS
    suite = ScenarioSuite(
        tenant_id=principal.tenant_id,
        process_id=process.id,
        process_version=version_no,
        name=f"{process.name} v{version_no}"[:300],
        tags=[params.strategy],
        generation={
            "strategy": params.strategy,
            "maxScenarios": max_cap,
            "maxLoop": params.max_loop,
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
    for generated, steps in zip(plan.scenarios, prepared.steps, strict=True):
        scenario = TestScenario(
            tenant_id=principal.tenant_id,
            suite_id=suite.id,
            key=generated.key,
            name=clean_name(generated.name)[:500],
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
        for index, step in enumerate(steps):
            session.add(
                ScenarioStep(
                    tenant_id=principal.tenant_id,
                    scenario_id=scenario.id,
                    order_index=index,
                    alias=step.alias,
                    name=clean_name(step.name)[:500],
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
    warnings = [_warning_text(w.code, w.message, w.element_id, w.line) for w in graph.warnings]
    problems = _problems(prepared)
    return ProcessImportResult(
        process_id=process.id,
        process_key=process_key,
        version_id=version.id,
        version=version_no,
        suite_id=suite.id,
        scenario_count=len(plan.scenarios),
        warnings=warnings,
        summary=graph_summary(graph),
        coverage=plan.coverage.to_json_dict(),
        capped=plan.capped,
        outcome="partial" if problems else ("warning" if warnings or plan.warnings else "ok"),
        problems=problems,
    )


def _problems(prepared: PreparedProcess) -> list[str]:
    """Why a stored import does not test the whole file (empty when it does)."""
    problems: list[str] = []
    for w in prepared.graph.warnings:
        if w.code in LOSSY_WARNINGS:
            where = f" at line {w.line}" if w.line else ""
            problems.append(
                f"the file is damaged{where}: only what comes before it was recovered; anything after it "
                "(flows, tasks) is missing from the suite"
            )
    # A step-less scenario the generator kept on purpose carries a note (it alone covers some flow or
    # outcome); one without a note means the steps were lost.
    empty = [
        s.key
        for s, steps in zip(prepared.plan.scenarios, prepared.steps, strict=True)
        if not steps and not s.note
    ]
    if empty:
        problems.append(f"{len(empty)} scenario(s) have no step to run ({', '.join(empty[:10])})")
    if not prepared.plan.scenarios:
        problems.append("no scenario was generated")
    return problems


def import_file(
    principal: Principal,
    *,
    data: bytes,
    filename: str,
    key: str | None = None,
    params: GenerationParams | None = None,
) -> ProcessImportResult:
    """The app's and API's import: the whole import (parse, generate, store with retries) runs in an
    import worker process under the import budget (services/isolation.py), so neither its CPU work nor
    the storing of a large suite competes with the web server's event loop.

    Blocking; async callers run it in a thread.
    """
    require(principal, Role.TEST_DESIGNER)
    check_upload(data, filename)
    params = params or GenerationParams()
    key_text = parse_text(key, name="key", max_length=MAX_KEY_LENGTH)
    if key_text:
        _explicit_key(key_text)  # refuse a bad key before the parse, not after
    return run_isolated(
        import_in_worker, principal, data, filename, key, params, what="importing the process", file=filename
    )


def import_in_worker(
    principal: Principal, data: bytes, filename: str, key: str | None, params: GenerationParams
) -> ProcessImportResult:
    """Inside an import worker: prepare, then store on a short-lived engine of the worker's own."""
    from orchestra_app.services import session as svc

    prepared = prepare_process(data, filename, params)
    engine = make_engine(get_settings().database_url)
    try:
        return svc.write_on(
            engine,
            import_process,
            principal,
            before_commit=lambda: commit_gate(what="importing the process", file=filename),
            data=data,
            filename=filename,
            key=key,
            strategy=params.strategy,
            max_scenarios=params.max_scenarios,
            max_loop=params.max_loop,
            parallel=params.parallel,
            prepared=prepared,
        )
    finally:
        engine.dispose()


def _warning_text(code: str, message: str, element_id: str | None, line: int | None) -> str:
    where = f"line {line}" if line else ""
    if element_id:
        where = f"{where} {element_id}".strip()
    return f"{code}: {message}" + (f" ({where})" if where else "")


def node_count_text(nodes: list[str]) -> str:
    """Node visits of a scenario; when nodes repeat (loop turns, one visit per parallel token after a
    join) the distinct count is shown beside it, so 19 visits of a 14-node graph make sense."""
    distinct = len(set(nodes))
    if distinct == len(nodes):
        return str(len(nodes))
    return f"{len(nodes)} ({distinct} distinct; repeats are loop turns or parallel tokens)"


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
    paths: dict[str, list[str]] = {}
    if suite is not None:
        latest = latest_scenarios(session=session, principal=principal, suite_id=suite.id)
        step_counts = dict(
            session.exec(
                select(ScenarioStep.scenario_id, func.count())
                .where(
                    ScenarioStep.tenant_id == principal.tenant_id,
                    col(ScenarioStep.scenario_id).in_([s.id for s in latest]),
                )
                .group_by(col(ScenarioStep.scenario_id))
            ).all()
        )
        for s in latest:
            names, ids = decisions_text(
                describe_decisions(graph, s.path.get("decisions", {}), s.path.get("nodes", []))
            )
            scenarios.append(
                {
                    "id": str(s.id),
                    "key": s.key,
                    "name": s.name,
                    "kind": ", ".join(s.tags),
                    "version": str(s.version),
                    "status": s.status.value,
                    "nodes": node_count_text(s.path.get("nodes", [])),
                    "steps": str(step_counts.get(s.id, 0)),
                    "decisions": names,
                    "decision_ids": ids,
                }
            )
            paths[str(s.id)] = [*dict.fromkeys([*s.path.get("nodes", []), *s.path.get("flows", [])])]
    return {
        "version": version.version,
        "summary": graph_summary(graph),
        "warnings": [_warning_text(w.code, w.message, w.element_id, w.line) for w in graph.warnings],
        "suite": suite.generation if suite else {},
        "suite_id": str(suite.id) if suite else "",
        "scenarios": scenarios,
        "paths": paths,
        "sequence_flows": [f.id for f in graph.flows if f.kind == "sequence"],
    }


def latest_scenarios(*, session: Session, principal: Principal, suite_id: UUID) -> list[TestScenario]:
    """One row per scenario key of a suite: its newest version (older versions stay for old runs),
    ordered by key."""
    latest: dict[str, TestScenario] = {}
    for row in session.exec(
        select(TestScenario)
        .where(TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id)
        .order_by(col(TestScenario.key), col(TestScenario.version))
    ).all():
        latest[row.key] = row
    return list(latest.values())
