"""Bind a suite's steps to endpoints of the tenant's specs (EndpointMatcher), with designer overrides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, select

from orchestra_app.db.tables import ProtocolSpec, ScenarioStep, ScenarioSuite, TestScenario
from orchestra_app.domain.errors import NotFound, ValidationFailed
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ActionDefinition, EndpointRef, ScenarioStepSpec, StepKind
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.plugins.base import StepBinding
from orchestra_app.plugins.matching import AMBIGUITY_MARGIN
from orchestra_app.plugins.registry import PluginError, default_registry
from orchestra_app.services import audit
from orchestra_app.services.guards import require


@dataclass
class BindingRow:
    """One process node's verdict (all scenario steps made from that node share it)."""

    node_id: str
    step_name: str
    status: str
    service: str = ""
    operation: str = ""
    confidence: float = 0.0
    reason: str = ""
    candidates: list[str] = field(default_factory=list)
    steps_updated: int = 0

    def as_row(self) -> dict[str, str]:
        data = asdict(self)
        data["confidence"] = f"{self.confidence:.2f}"
        data["candidates"] = ", ".join(self.candidates)
        data["steps_updated"] = str(self.steps_updated)
        data["endpoint"] = f"{self.service}:{self.operation}" if self.operation else "-"
        return data


@dataclass
class SpecCandidate:
    service_name: str
    protocol_id: str
    summary: SpecSummary


Chosen = tuple[StepBinding, SpecCandidate, Any]


def match_step(
    step: ScenarioStepSpec,
    candidates: Sequence[SpecCandidate],
    *,
    node_id: str,
    override: str | None = None,
) -> tuple[BindingRow, Chosen | None]:
    """Best verdict for one step across every spec whose plugin serves the step's channel (pure).

    Returns the report row and, when the step can be bound (EXPLICIT or MATCHED), the verdict with
    its spec and matcher. Two specs matching equally well make the step AMBIGUOUS.
    """
    registry = default_registry()
    verdicts: list[tuple[StepBinding, SpecCandidate, Any]] = []
    for candidate in candidates:
        try:
            plugin = registry.get(candidate.protocol_id)
        except PluginError:
            continue
        matcher = getattr(plugin, "endpoint_matcher", None)
        if matcher is None or str(step.channel_type) not in {str(c) for c in plugin.channel_types}:
            continue
        spec_override: dict[str, str] = {}
        if override:
            service, op = _parse_override(override)
            if service is not None and service != candidate.service_name:
                continue
            spec_override = {step.alias: op}
        [verdict] = matcher.match([step], candidate.summary, overrides=spec_override)
        verdicts.append((verdict, candidate, matcher))
    if not verdicts:
        reason = f"no {step.channel_type} spec can serve this step"
        if override:
            reason = f"override {override!r} names no imported spec that serves {step.channel_type}"
        return BindingRow(node_id, step.name, "UNMATCHED", reason=reason), None
    # Explicit bindings win; otherwise the most similar operation across specs, whatever its status.
    verdicts.sort(key=lambda v: (v[0].status != "EXPLICIT", -v[0].confidence, v[1].service_name))
    best, candidate, matcher = verdicts[0]
    status, reason = best.status, best.reason
    runner_up = verdicts[1] if len(verdicts) > 1 else None
    if (
        status == "MATCHED"
        and runner_up is not None
        and runner_up[0].status in ("MATCHED", "AMBIGUOUS")
        and best.confidence - runner_up[0].confidence < AMBIGUITY_MARGIN
    ):
        status = "AMBIGUOUS"
        reason = (
            f"{candidate.service_name}:{best.operation_id} and {runner_up[1].service_name}:"
            f"{runner_up[0].operation_id} match equally; bind one explicitly"
        )
    bindable = status in ("EXPLICIT", "MATCHED")
    row = BindingRow(
        node_id,
        step.name,
        status,
        service=candidate.service_name if bindable else "",
        operation=(best.operation_id or "") if bindable else "",
        confidence=best.confidence,
        reason=reason,
        candidates=[f"{v[1].service_name}:{c['operationId']}" for v in verdicts for c in v[0].candidates[:2]][
            :4
        ],
    )
    return row, ((best, candidate, matcher) if bindable else None)


def _latest_specs(
    session: Session, principal: Principal, spec_ids: Sequence[UUID] | None
) -> list[ProtocolSpec]:
    stmt = select(ProtocolSpec).where(ProtocolSpec.tenant_id == principal.tenant_id)
    if spec_ids:
        stmt = stmt.where(col(ProtocolSpec.id).in_(list(spec_ids)))
    rows = session.exec(stmt.order_by(col(ProtocolSpec.created_at).desc())).all()
    latest: dict[tuple[str, str], ProtocolSpec] = {}
    for row in rows:  # newest first: keep one version per (protocol, service)
        latest.setdefault((row.protocol_id, row.service_name), row)
    return list(latest.values())


def _parse_override(value: str) -> tuple[str | None, str]:
    """``service:operationId`` or ``operationId`` (or ``METHOD /path``)."""
    if ":" in value and value.split(":", 1)[0].upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
        service, op = value.split(":", 1)
        return service.strip() or None, op.strip()
    return None, value.strip()


def bind_suite(
    *,
    session: Session,
    principal: Principal,
    suite_id: UUID,
    spec_ids: Sequence[UUID] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> list[BindingRow]:
    """Matches each distinct step node of the suite against every candidate spec and stores the best.

    Overrides map a node id (or step alias) to ``service:operationId``; they win over the BPMN
    extension and similarity. Steps whose verdict is AMBIGUOUS or UNMATCHED keep their old binding.
    """
    require(principal, Role.TEST_DESIGNER)
    suite = session.exec(
        select(ScenarioSuite).where(
            ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == suite_id
        )
    ).first()
    if suite is None:
        raise NotFound(f"suite {suite_id} not found")
    steps = session.exec(
        select(ScenarioStep)
        .join(TestScenario, col(TestScenario.id) == col(ScenarioStep.scenario_id))
        .where(
            TestScenario.suite_id == suite.id,
            ScenarioStep.tenant_id == principal.tenant_id,
            ScenarioStep.kind == StepKind.ACTION,
        )
        .order_by(col(ScenarioStep.order_index))
    ).all()
    by_node: dict[str, list[ScenarioStep]] = {}
    for db_step in steps:
        by_node.setdefault(db_step.source_node_id or db_step.alias, []).append(db_step)
    specs = _latest_specs(session, principal, spec_ids)
    if not specs:
        raise ValidationFailed("no specs to bind against: import the services' specs first", field="spec_ids")

    candidates = [
        SpecCandidate(spec.service_name, spec.protocol_id, SpecSummary.model_validate(spec.parsed_summary))
        for spec in specs
    ]
    overrides = dict(overrides or {})
    results: list[BindingRow] = []
    for node_id, node_steps in by_node.items():
        first = node_steps[0]
        spec_step = ScenarioStepSpec(
            alias=first.alias,
            name=first.name,
            kind=first.kind,
            channel_type=first.channel_type,
            action=ActionDefinition.model_validate(first.action),
        )
        override = overrides.get(node_id) or overrides.get(first.alias)
        row, chosen = match_step(spec_step, candidates, node_id=node_id, override=override)
        if chosen is not None:
            best, candidate, matcher = chosen
            for step_row in node_steps:
                current = ScenarioStepSpec(
                    alias=step_row.alias,
                    name=step_row.name,
                    kind=step_row.kind,
                    channel_type=step_row.channel_type,
                    action=ActionDefinition.model_validate(step_row.action),
                )
                bound = matcher.bind(current, best, candidate.summary, candidate.service_name)
                ref: EndpointRef | None = bound.endpoint_ref
                step_row.endpoint_ref = ref.to_json_dict() if ref else None
                step_row.action = bound.action.to_json_dict()
                session.add(step_row)
                row.steps_updated += 1
        results.append(row)
    audit.record(
        session=session,
        principal=principal,
        action="suite.bind",
        entity_type="scenario_suite",
        entity_id=suite.id,
        details={
            "bound": sum(r.steps_updated > 0 for r in results),
            "nodes": len(results),
            "overrides": overrides,
        },
    )
    session.flush()
    return results
