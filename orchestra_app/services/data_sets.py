"""Test data use cases: scaffold a suite's data set (every `{{data.*}}` with example values), store it.

Stored scaffolds are SUITE-scoped TestDataSets (origin MANUAL: the designer's starting point). Storing
again under the same name keeps every value already there and only adds the variables that are new,
so a designer's edits survive a re-scaffold after the suite changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    DataSetOrigin,
    DataSetScope,
    ScenarioStep,
    TestDataSet,
    TestScenario,
)
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.plugins.data_scaffold import Resolver, Scaffold, scaffold
from orchestra_app.plugins.matching import find_explicit
from orchestra_app.services import audit
from orchestra_app.services.binding import _step_spec, bound_candidates, get_suite
from orchestra_app.services.guards import require

DEFAULT_NAME = "scaffold"


@dataclass
class ScaffoldResult:
    data: dict[str, Any]
    variables: list[dict[str, Any]]
    notes: list[str]
    data_set_id: UUID | None = None
    created: bool = False
    added: list[str] = field(default_factory=list)  # variables added to an existing data set


def merge_missing(existing: Any, fresh: Any, path: str = "") -> tuple[Any, list[str]]:
    """``existing`` with what only ``fresh`` has added (existing values always win)."""
    if isinstance(existing, dict) and isinstance(fresh, dict):
        out = dict(existing)
        added: list[str] = []
        for key, value in fresh.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in out:
                out[key] = value
                added.append(where)
            else:
                out[key], more = merge_missing(out[key], value, where)
                added.extend(more)
        return out, added
    if isinstance(existing, list) and isinstance(fresh, list) and len(fresh) > len(existing):
        return [*existing, *fresh[len(existing) :]], [
            f"{path}[{i}]" for i in range(len(existing), len(fresh))
        ]
    return existing, []


def _suite_steps(
    session: Session, principal: Principal, suite_id: UUID
) -> list[tuple[str, list[ScenarioStepSpec]]]:
    latest: dict[str, TestScenario] = {}
    for row in session.exec(
        select(TestScenario)
        .where(TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id)
        .order_by(col(TestScenario.key), col(TestScenario.version))
    ).all():
        latest[row.key] = row
    current = {k: s for k, s in latest.items() if s.status is not ArtifactStatus.DEPRECATED}
    by_id: dict[UUID, list[ScenarioStepSpec]] = {s.id: [] for s in current.values()}
    if by_id:
        for step_row in session.exec(
            select(ScenarioStep)
            .where(
                ScenarioStep.tenant_id == principal.tenant_id, col(ScenarioStep.scenario_id).in_(list(by_id))
            )
            .order_by(col(ScenarioStep.order_index))
        ).all():
            by_id[step_row.scenario_id].append(_step_spec(step_row))
    return [(key, by_id[s.id]) for key, s in sorted(current.items())]


def _resolver(session: Session, principal: Principal, suite_id: UUID) -> Resolver:
    """Operations by step: the suite's chosen specs, else the newest spec of each service its steps name."""
    specs = {
        c.service_name: c.summary
        for c in bound_candidates(session=session, principal=principal, suite_id=suite_id)
    }

    def resolve(step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
        if step.endpoint_ref is None or step.channel_type is not ChannelType.HTTP_REST:
            return None
        summary = specs.get(step.endpoint_ref.service_name)
        if summary is None:
            return None
        op = find_explicit(step.endpoint_ref.endpoint_name, summary.operations)
        return (op, summary) if op is not None else None

    return resolve


def _result(built: Scaffold) -> ScaffoldResult:
    return ScaffoldResult(built.data, [asdict(v) for v in built.variables], built.notes)


def scaffold_suite_data(
    *, session: Session, principal: Principal, suite_id: UUID, store: bool = False, name: str = DEFAULT_NAME
) -> ScaffoldResult:
    """The data set the suite needs; with ``store`` also saved (or completed) as a SUITE data set."""
    if store:
        require(principal, Role.TEST_DESIGNER)
        name = (name or "").strip()
        if not name or len(name) > 300:
            raise ValidationFailed("a data set name has 1 to 300 characters", field="name")
    suite = get_suite(session=session, principal=principal, suite_id=suite_id, lock=store)
    steps = _suite_steps(session, principal, suite.id)
    result = _result(scaffold(steps, _resolver(session, principal, suite.id)))
    if not store:
        return result
    existing = session.exec(
        select(TestDataSet)
        .where(
            TestDataSet.tenant_id == principal.tenant_id,
            TestDataSet.suite_id == suite.id,
            TestDataSet.scope == DataSetScope.SUITE,
            TestDataSet.name == name,
        )
        .order_by(col(TestDataSet.created_at).desc())
    ).first()
    if existing is None:
        existing = TestDataSet(
            tenant_id=principal.tenant_id,
            scope=DataSetScope.SUITE,
            suite_id=suite.id,
            name=name,
            tags=["scaffold"],
            origin=DataSetOrigin.MANUAL,
            data=result.data,
            created_by=principal.user_id,
        )
        session.add(existing)
        result.created = True
        result.added = [v["path"] for v in result.variables]
    else:
        merged, added = merge_missing(existing.data, result.data)
        if added:
            existing.data = merged
            session.add(existing)
        result.added = added
        result.data = merged
    session.flush()
    result.data_set_id = existing.id
    audit.record(
        session=session,
        principal=principal,
        action="dataset.scaffold",
        entity_type="test_data_set",
        entity_id=existing.id,
        details={"suite": str(suite.id), "name": name, "created": result.created, "added": len(result.added)},
    )
    return result
