"""Stores a suite built from files (`orchestra run PROCESS_FILE --spec ...`) so runs can be created from it.

`services/file_suite.py` generates, binds and chains in memory; runs need rows (a TestRun pins its
scenario's steps and references its scenario and suite). This upsert keeps repeated runs from the
same files on one suite, so `--db` histories and FROM_STEP (which reuses a run of the *same*
scenario) work across invocations:

* specs: imported like `spec import` (identical content is stored once);
* process: a new version (with its suite) only when the diagram's graph changed; otherwise the
  newest version's suite is reused;
* scenarios: an unchanged scenario is left alone, a changed one gets a new version (the old one
  is DEPRECATED), one the files no longer produce is retired;
* the suite's chosen specs (`suite_spec`) are the given spec files, so runs validate against them.

Race-safe: the process row is inserted with ON CONFLICT DO NOTHING and locked (FOR UPDATE on
PostgreSQL, BEGIN IMMEDIATE on SQLite via ``services.session.write``) before anything is compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlmodel import Session, col, delete, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    Process,
    ProcessVersion,
    ScenarioStep,
    ScenarioSuite,
    SuiteSpec,
    TestScenario,
)
from orchestra_app.db.types import utcnow
from orchestra_app.domain.names import clean_name
from orchestra_app.domain.steps import ScenarioStepSpec, StepKind
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import audit, specs
from orchestra_app.services.concurrency import insert_ignore, locked
from orchestra_app.services.file_suite import FileScenario, FileSuite, read_file
from orchestra_app.services.guards import require
from orchestra_app.services.processes import PreparedProcess, _default_key, _explicit_key, import_process
from orchestra_app.services.runs import step_spec


@dataclass
class LeftOut:
    """A step the files imply but that cannot run as generated (a placeholder assertion)."""

    scenario: str
    alias: str
    channel: str
    why: str


def runnable(scenario: FileScenario) -> tuple[FileScenario, list[LeftOut]]:
    """The scenario without the ASSERTION placeholders the generator adds for message catches,
    receives and data stores: they carry no query, topic or broker until a designer configures them
    (a suite file), and would fail every run. Steps are renumbered; what was left out is reported."""
    kept: list[ScenarioStepSpec] = []
    left: list[LeftOut] = []
    for step in scenario.steps:
        if step.kind is StepKind.ASSERTION and step.action.meta.get("placeholder") is True:
            what = step.action.meta.get("dataStore") or step.action.meta.get("nodeType") or "event"
            left.append(
                LeftOut(
                    scenario.key,
                    step.alias,
                    str(step.channel_type),
                    f"a placeholder {step.channel_type} assertion for {what!s} (not configured)",
                )
            )
            continue
        kept.append(step.model_copy(update={"order_index": len(kept)}))
    return FileScenario(scenario.key, scenario.name, list(scenario.tags), kept), left


@dataclass
class StoredSuite:
    suite_id: UUID
    suite_name: str
    process_key: str
    process_version: int
    created_version: bool  # a new process version (and suite) was stored
    scenarios_created: int = 0
    scenarios_updated: int = 0
    scenarios_unchanged: int = 0
    scenarios_retired: int = 0
    spec_ids: dict[str, UUID] = field(default_factory=dict)


def _comparable(steps: list[ScenarioStepSpec]) -> list[dict[str, Any]]:
    return [
        s.model_copy(update={"id": None}).to_json_dict() for s in sorted(steps, key=lambda s: s.order_index)
    ]


def _path_of(suite: FileSuite, key: str) -> dict[str, Any]:
    for generated in suite.plan.scenarios if suite.plan else []:
        if generated.key == key:
            return {
                "processId": generated.process_id,
                "nodes": generated.nodes,
                "flows": generated.flows,
                "decisions": generated.decisions,
                **({"note": generated.note} if generated.note else {}),
            }
    return {}


def _add_scenario(
    session: Session,
    principal: Principal,
    suite_id: UUID,
    scenario: FileScenario,
    version: int,
    path: dict[str, Any],
) -> None:
    row = TestScenario(
        tenant_id=principal.tenant_id,
        suite_id=suite_id,
        key=scenario.key,
        name=scenario.name,
        version=version,
        tags=list(scenario.tags),
        path=path,
        created_by=principal.user_id,
        updated_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    for step in scenario.steps:
        session.add(
            ScenarioStep(
                tenant_id=principal.tenant_id,
                scenario_id=row.id,
                order_index=step.order_index,
                alias=step.alias,
                name=step.name,
                kind=step.kind,
                channel_type=step.channel_type,
                endpoint_ref=step.endpoint_ref.to_json_dict() if step.endpoint_ref else None,
                action=step.action.to_json_dict(),
                expectations=step.expectations.to_json_dict(),
                source_node_id=step.source_node_id,
            )
        )


def store_file_suite(
    *,
    session: Session,
    principal: Principal,
    suite: FileSuite,
    process_file: Path,
    key: str | None = None,
) -> StoredSuite:
    """Stores (or finds) the process, specs and suite of ``suite``; see the module docstring."""
    require(principal, Role.TEST_DESIGNER)
    spec_ids: dict[str, UUID] = {}
    for candidate in suite.candidates:  # specs first, in a fixed order: their locks never cross the process's
        path = suite.sources[candidate.service_name]
        result = specs.import_spec(
            session=session,
            principal=principal,
            data=read_file(path),
            filename=path.name,
            service_name=candidate.service_name,
            summary=candidate.summary,
        )
        spec_ids[candidate.service_name] = result.spec_id
    if suite.plan is None or [g.key for g in suite.plan.scenarios] != [s.key for s in suite.scenarios]:
        raise ValueError("the file suite's scenarios must be the plan's, in order")  # programming error
    scenarios = [_cleaned(s) for s in suite.scenarios]
    data = read_file(process_file)
    prepared = PreparedProcess(suite.graph, suite.plan, [s.steps for s in scenarios])
    process_key = _explicit_key(key) if key else _default_key(suite.graph, process_file.name)
    insert_ignore(
        session,
        Process,
        {
            "id": uuid4(),
            "tenant_id": principal.tenant_id,
            "key": process_key,
            "name": (clean_name(suite.name) or process_key)[:300],
            "created_at": utcnow(),
            "created_by": principal.user_id,
        },
    )
    process = session.exec(
        locked(
            session,
            select(Process).where(Process.tenant_id == principal.tenant_id, Process.key == process_key),
        )
    ).one()
    newest = session.exec(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == process.id)
        .order_by(col(ProcessVersion.version).desc())
    ).first()
    graph_json = suite.graph.to_json_dict()
    stored_suite = None
    if newest is not None and newest.control_flow_graph == graph_json:
        stored_suite = session.exec(
            select(ScenarioSuite)
            .where(
                ScenarioSuite.tenant_id == principal.tenant_id,
                ScenarioSuite.process_id == process.id,
                ScenarioSuite.process_version == newest.version,
            )
            .order_by(col(ScenarioSuite.created_at))
        ).first()
    if stored_suite is None:
        imported = import_process(
            session=session,
            principal=principal,
            data=data,
            filename=process_file.name,
            key=process_key,
            prepared=prepared,
        )
        stored_suite = session.exec(select(ScenarioSuite).where(ScenarioSuite.id == imported.suite_id)).one()
        out = StoredSuite(
            stored_suite.id,
            stored_suite.name,
            process_key,
            imported.version,
            True,
            scenarios_created=len(suite.scenarios),
            spec_ids=spec_ids,
        )
    else:
        out = StoredSuite(
            stored_suite.id, stored_suite.name, process_key, stored_suite.process_version, False
        )
        out.spec_ids = spec_ids
        _upsert_scenarios(session, principal, stored_suite.id, suite, scenarios, out)
    chosen = sorted(spec_ids.values())
    current = sorted(
        session.exec(select(SuiteSpec.spec_id).where(SuiteSpec.suite_id == stored_suite.id)).all()
    )
    if chosen != current:
        session.exec(delete(SuiteSpec).where(col(SuiteSpec.suite_id) == stored_suite.id))  # type: ignore[call-overload]
        for spec_id in chosen:
            session.add(
                SuiteSpec(
                    suite_id=stored_suite.id,
                    spec_id=spec_id,
                    tenant_id=principal.tenant_id,
                    created_by=principal.user_id,
                )
            )
    if out.created_version or out.scenarios_created or out.scenarios_updated or out.scenarios_retired:
        audit.record(
            session=session,
            principal=principal,
            action="suite.store_files",
            entity_type="scenario_suite",
            entity_id=stored_suite.id,
            details={
                "file": process_file.name,
                "specs": sorted(spec_ids),
                "scenarios": {
                    "created": out.scenarios_created,
                    "updated": out.scenarios_updated,
                    "unchanged": out.scenarios_unchanged,
                    "retired": out.scenarios_retired,
                },
            },
        )
    session.flush()
    return out


def _cleaned(scenario: FileScenario) -> FileScenario:
    """Names as the database keeps them (import_process cleans them the same way)."""
    steps = [s.model_copy(update={"name": clean_name(s.name)[:500]}) for s in scenario.steps]
    return FileScenario(scenario.key, clean_name(scenario.name)[:500], list(scenario.tags), steps)


def _upsert_scenarios(
    session: Session,
    principal: Principal,
    suite_id: UUID,
    suite: FileSuite,
    scenarios: list[FileScenario],
    out: StoredSuite,
) -> None:
    rows = session.exec(
        select(TestScenario).where(
            TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id
        )
    ).all()
    latest: dict[str, TestScenario] = {}
    for row in rows:
        if row.key not in latest or row.version > latest[row.key].version:
            latest[row.key] = row
    steps: dict[UUID, list[ScenarioStepSpec]] = {row.id: [] for row in latest.values()}
    if steps:
        for step in session.exec(
            select(ScenarioStep).where(col(ScenarioStep.scenario_id).in_(list(steps)))
        ).all():
            steps[step.scenario_id].append(step_spec(step))
    for scenario in scenarios:
        existing = latest.get(scenario.key)
        if (
            existing is not None
            and existing.active
            and existing.status is not ArtifactStatus.DEPRECATED
            and existing.name == scenario.name
            and _comparable(steps[existing.id]) == _comparable(scenario.steps)
        ):
            out.scenarios_unchanged += 1
            continue
        if existing is not None:
            _retire(session, existing)
            out.scenarios_updated += 1
        else:
            out.scenarios_created += 1
        version = existing.version + 1 if existing is not None else 1
        _add_scenario(session, principal, suite_id, scenario, version, _path_of(suite, scenario.key))
    produced = {s.key for s in scenarios}
    for key, existing in latest.items():
        if key not in produced and existing.status is not ArtifactStatus.DEPRECATED:
            _retire(session, existing)
            out.scenarios_retired += 1


def _retire(session: Session, scenario: TestScenario) -> None:
    scenario.status = ArtifactStatus.DEPRECATED
    scenario.active = False
    session.add(scenario)
