"""Bind a suite's steps to endpoints of the suite's specs (EndpointMatcher), chain steps, with overrides.

Scope (docs/step-chaining.md): a suite binds only to the specs chosen for it (``suite_spec``), or to
the specs of an environment's services, or to spec ids named in the call; never to every spec of
the tenant, so "Cancel application" of one product cannot bind to another product's operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, delete, select

from orchestra_app.db.tables import (
    Environment,
    ProtocolSpec,
    ScenarioStep,
    ScenarioSuite,
    SuiteSpec,
    TestScenario,
)
from orchestra_app.domain.errors import NotFound, ValidationFailed
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import (
    ActionDefinition,
    ChannelType,
    EndpointRef,
    ScenarioStepSpec,
    StepExpectations,
    StepKind,
)
from orchestra_app.domain.templating import parse_expression
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.plugins.base import StepBinding
from orchestra_app.plugins.chaining import (
    META_KEY,
    ChainLink,
    Resolver,
    apply_chaining,
    existing_links,
    get_at,
)
from orchestra_app.plugins.matching import AMBIGUITY_MARGIN, find_explicit
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


@dataclass
class SuiteSpecRow:
    """A spec chosen for a suite, and whether a newer version of that service was imported since."""

    spec_id: UUID
    protocol_id: str
    service_name: str
    version: str
    operations: int
    newer_version: str | None = None

    def as_row(self) -> dict[str, str]:
        return {
            "spec_id": str(self.spec_id),
            "protocol": self.protocol_id,
            "service": self.service_name,
            "version": self.version,
            "operations": str(self.operations),
            "newer": self.newer_version or "",
        }


@dataclass
class ChainRow:
    """One wired input of one scenario step (the proposal or the designer's override)."""

    scenario: str
    step: str
    pointer: str
    source: str | None
    replaces: str
    source_step: str
    reason: str
    confidence: float
    overridden: bool

    def as_row(self) -> dict[str, str]:
        return {
            "scenario": self.scenario,
            "step": self.step,
            "pointer": self.pointer,
            "source": self.source or f"{self.replaces} (data)",
            "replaces": self.replaces,
            "source_step": self.source_step,
            "reason": self.reason,
            "confidence": f"{self.confidence:.2f}",
            "overridden": "yes" if self.overridden else "",
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
            reason = f"override {override!r} names no spec of this suite that serves {step.channel_type}"
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


def _parse_override(value: str) -> tuple[str | None, str]:
    """``service:operationId`` or ``operationId`` (or ``METHOD /path``)."""
    if ":" in value and value.split(":", 1)[0].upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
        service, op = value.split(":", 1)
        return service.strip() or None, op.strip()
    return None, value.strip()


# ---- the suite and its specs -------------------------------------------------------------------------


def get_suite(*, session: Session, principal: Principal, suite_id: UUID, lock: bool = False) -> ScenarioSuite:
    """The suite in the caller's tenant; ``lock`` takes its row lock (serialises writers of one suite)."""
    stmt = select(ScenarioSuite).where(
        ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == suite_id
    )
    if lock:
        stmt = stmt.with_for_update()
    suite = session.exec(stmt).first()
    if suite is None:
        raise NotFound(f"suite {suite_id} not found", field="suite_id")
    return suite


def _latest_by_service(rows: Sequence[ProtocolSpec]) -> list[ProtocolSpec]:
    latest: dict[tuple[str, str], ProtocolSpec] = {}
    for row in sorted(rows, key=lambda r: r.created_at, reverse=True):  # newest first
        latest.setdefault((row.protocol_id, row.service_name), row)
    return list(latest.values())


def _specs_by_id(session: Session, principal: Principal, spec_ids: Sequence[UUID]) -> list[ProtocolSpec]:
    wanted = list(dict.fromkeys(spec_ids))
    rows = session.exec(
        select(ProtocolSpec).where(
            ProtocolSpec.tenant_id == principal.tenant_id, col(ProtocolSpec.id).in_(wanted)
        )
    ).all()
    found = {row.id for row in rows}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise NotFound(f"spec(s) not found: {', '.join(missing)}", field="spec_ids")
    by_service: dict[tuple[str, str], ProtocolSpec] = {}
    for row in rows:
        other = by_service.setdefault((row.protocol_id, row.service_name), row)
        if other is not row:
            raise ValidationFailed(
                f"two versions of service {row.service_name!r} ({other.version} and {row.version}) were "
                "chosen: a suite binds to one version per service",
                field="spec_ids",
            )
    return sorted(rows, key=lambda r: (r.service_name, r.protocol_id))


def _spec_rows(session: Session, principal: Principal, specs: Sequence[ProtocolSpec]) -> list[SuiteSpecRow]:
    services = {s.service_name for s in specs}
    newest: dict[tuple[str, str], ProtocolSpec] = {}
    if services:
        for row in _latest_by_service(
            session.exec(
                select(ProtocolSpec).where(
                    ProtocolSpec.tenant_id == principal.tenant_id,
                    col(ProtocolSpec.service_name).in_(sorted(services)),
                )
            ).all()
        ):
            newest[(row.protocol_id, row.service_name)] = row
    out = []
    for spec in specs:
        latest = newest.get((spec.protocol_id, spec.service_name))
        newer = latest.version if latest is not None and latest.id != spec.id else None
        out.append(
            SuiteSpecRow(
                spec.id,
                spec.protocol_id,
                spec.service_name,
                spec.version,
                len(spec.parsed_summary.get("operations", [])),
                newer,
            )
        )
    return out


def _chosen_specs(session: Session, principal: Principal, suite_id: UUID) -> list[ProtocolSpec]:
    return list(
        session.exec(
            select(ProtocolSpec)
            .join(SuiteSpec, col(SuiteSpec.spec_id) == col(ProtocolSpec.id))
            .where(SuiteSpec.suite_id == suite_id, SuiteSpec.tenant_id == principal.tenant_id)
            .order_by(col(ProtocolSpec.service_name), col(ProtocolSpec.protocol_id))
        ).all()
    )


def suite_specs(*, session: Session, principal: Principal, suite_id: UUID) -> list[SuiteSpecRow]:
    """The specs chosen for a suite (empty when none were chosen yet)."""
    get_suite(session=session, principal=principal, suite_id=suite_id)
    return _spec_rows(session, principal, _chosen_specs(session, principal, suite_id))


def set_suite_specs(
    *, session: Session, principal: Principal, suite_id: UUID, spec_ids: Sequence[UUID]
) -> list[SuiteSpecRow]:
    """Replaces the suite's chosen specs (one version per service); an empty list clears the choice."""
    require(principal, Role.TEST_DESIGNER)
    suite = get_suite(session=session, principal=principal, suite_id=suite_id, lock=True)
    specs = _specs_by_id(session, principal, spec_ids) if spec_ids else []
    session.exec(delete(SuiteSpec).where(col(SuiteSpec.suite_id) == suite.id))  # type: ignore[call-overload]
    for spec in specs:
        session.add(
            SuiteSpec(
                suite_id=suite.id,
                spec_id=spec.id,
                tenant_id=principal.tenant_id,
                created_by=principal.user_id,
            )
        )
    audit.record(
        session=session,
        principal=principal,
        action="suite.specs",
        entity_type="scenario_suite",
        entity_id=suite.id,
        details={"specs": [f"{s.service_name}@{s.version}" for s in specs]},
    )
    session.flush()
    return _spec_rows(session, principal, specs)


def binding_scope(
    *,
    session: Session,
    principal: Principal,
    suite: ScenarioSuite,
    spec_ids: Sequence[UUID] | None = None,
    environment_id: UUID | None = None,
) -> tuple[list[ProtocolSpec], str]:
    """The specs a suite binds to and where that choice came from.

    Explicit spec ids win, then an environment named in the call (the latest spec of each of its
    services), then the specs chosen for the suite.
    """
    if spec_ids:
        return _specs_by_id(session, principal, spec_ids), "the specs named in the request"
    if environment_id is not None:
        env = session.exec(
            select(Environment).where(
                Environment.tenant_id == principal.tenant_id, Environment.id == environment_id
            )
        ).first()
        if env is None:
            raise NotFound(f"environment {environment_id} not found", field="environment_id")
        services = sorted(env.services)
        specs = _latest_by_service(
            session.exec(
                select(ProtocolSpec).where(
                    ProtocolSpec.tenant_id == principal.tenant_id,
                    col(ProtocolSpec.service_name).in_(services),
                )
            ).all()
        )
        if not specs:
            raise ValidationFailed(
                f"environment {env.name!r} configures services {', '.join(services) or '(none)'}, "
                "but no spec was imported under those service names",
                field="environment_id",
            )
        return specs, f"the specs of environment {env.name!r}'s services"
    chosen = _chosen_specs(session, principal, suite.id)
    if chosen:
        return chosen, f"the {len(chosen)} spec(s) chosen for suite {suite.name!r}"
    raise ValidationFailed(
        f"suite {suite.name!r} has no specs chosen: choose the specs it binds to "
        "(Suites page, `orchestra suite specs`, PUT /api/v1/suites/{id}/specs) or name spec ids or an "
        "environment; binding never searches every spec of the tenant",
        field="spec_ids",
    )


def suite_spec_summaries(*, session: Session, principal: Principal, suite_id: UUID) -> dict[str, SpecSummary]:
    """service name -> SpecSummary of the suite's chosen specs (what a run validates contracts with)."""
    get_suite(session=session, principal=principal, suite_id=suite_id)
    return {
        s.service_name: SpecSummary.model_validate(s.parsed_summary)
        for s in _chosen_specs(session, principal, suite_id)
    }


# ---- binding ------------------------------------------------------------------------------------------


def _step_spec(row: ScenarioStep) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        id=row.id,
        order_index=row.order_index,
        alias=row.alias,
        name=row.name,
        kind=row.kind,
        channel_type=row.channel_type,
        endpoint_ref=EndpointRef.model_validate(row.endpoint_ref) if row.endpoint_ref else None,
        action=ActionDefinition.model_validate(row.action),
        expectations=StepExpectations.model_validate(row.expectations),
        source_node_id=row.source_node_id,
    )


def _suite_steps(
    session: Session, principal: Principal, suite_id: UUID
) -> list[tuple[TestScenario, ScenarioStep]]:
    return list(
        session.exec(
            select(TestScenario, ScenarioStep)
            .join(ScenarioStep, col(TestScenario.id) == col(ScenarioStep.scenario_id))
            .where(TestScenario.suite_id == suite_id, ScenarioStep.tenant_id == principal.tenant_id)
            .order_by(col(TestScenario.key), col(TestScenario.version), col(ScenarioStep.order_index))
        ).all()
    )


def _resolver(candidates: Sequence[SpecCandidate]) -> Resolver:
    by_service = {c.service_name: c.summary for c in candidates}

    def resolve(step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
        if step.endpoint_ref is None or step.channel_type is not ChannelType.HTTP_REST:
            return None
        summary = by_service.get(step.endpoint_ref.service_name)
        if summary is None:
            return None
        op = find_explicit(step.endpoint_ref.endpoint_name, summary.operations)
        return (op, summary) if op is not None else None

    return resolve


def _chain_suite(
    session: Session, principal: Principal, suite_id: UUID, candidates: Sequence[SpecCandidate]
) -> int:
    """Re-runs chaining over every scenario of the suite; returns how many steps changed."""
    resolve = _resolver(candidates)
    by_scenario: dict[UUID, list[ScenarioStep]] = {}
    for scenario, row in _suite_steps(session, principal, suite_id):
        by_scenario.setdefault(scenario.id, []).append(row)
    changed = 0
    for rows in by_scenario.values():
        specs = [_step_spec(r) for r in rows]
        for row, chained in zip(rows, apply_chaining(specs, resolve), strict=True):
            action = chained.action.to_json_dict()
            if action != row.action:
                row.action = action
                session.add(row)
                changed += 1
    return changed


def bound_candidates(*, session: Session, principal: Principal, suite_id: UUID) -> list[SpecCandidate]:
    """The specs a suite's steps use: its chosen specs, plus the newest spec of any other bound service."""
    chosen = _chosen_specs(session, principal, suite_id)
    have = {(s.protocol_id, s.service_name) for s in chosen}
    wanted = {
        (ref["protocolId"], ref["serviceName"])
        for _, row in _suite_steps(session, principal, suite_id)
        if isinstance(ref := row.endpoint_ref, dict) and "serviceName" in ref
    } - have
    extra: list[ProtocolSpec] = []
    if wanted:
        rows = session.exec(
            select(ProtocolSpec).where(
                ProtocolSpec.tenant_id == principal.tenant_id,
                col(ProtocolSpec.service_name).in_(sorted({service for _, service in wanted})),
            )
        ).all()
        extra = [r for r in _latest_by_service(rows) if (r.protocol_id, r.service_name) in wanted]
    return _candidates([*chosen, *extra])


def _candidates(specs: Sequence[ProtocolSpec]) -> list[SpecCandidate]:
    return [
        SpecCandidate(spec.service_name, spec.protocol_id, SpecSummary.model_validate(spec.parsed_summary))
        for spec in specs
    ]


def bind_suite(
    *,
    session: Session,
    principal: Principal,
    suite_id: UUID,
    spec_ids: Sequence[UUID] | None = None,
    environment_id: UUID | None = None,
    overrides: Mapping[str, str] | None = None,
) -> list[BindingRow]:
    """Matches each distinct step node of the suite against the suite's specs, stores the best, chains.

    Overrides map a node id (or step alias) to ``service:operationId``; they win over the BPMN
    extension and similarity. Steps whose verdict is AMBIGUOUS or UNMATCHED keep their old binding.
    A step bound to a different operation than before gets a fresh starter inputTemplate. Then every
    scenario's inputs are chained to earlier responses (plugins/chaining.py).
    """
    require(principal, Role.TEST_DESIGNER)
    suite = get_suite(session=session, principal=principal, suite_id=suite_id, lock=True)
    specs, scope = binding_scope(
        session=session, principal=principal, suite=suite, spec_ids=spec_ids, environment_id=environment_id
    )
    rows = [row for _, row in _suite_steps(session, principal, suite.id) if row.kind == StepKind.ACTION]
    by_node: dict[str, list[ScenarioStep]] = {}
    for db_step in rows:
        by_node.setdefault(db_step.source_node_id or db_step.alias, []).append(db_step)
    candidates = _candidates(specs)
    overrides = dict(overrides or {})
    known = set(by_node) | {row.alias for row in rows}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValidationFailed(
            f"override(s) for {', '.join(map(repr, unknown))} name no task of this suite "
            "(use a node id or a step alias)",
            field="overrides",
        )
    results: list[BindingRow] = []
    for node_id, node_steps in by_node.items():
        first = _step_spec(node_steps[0])
        override = overrides.get(node_id) or overrides.get(first.alias)
        row, chosen = match_step(first, candidates, node_id=node_id, override=override)
        if chosen is not None:
            best, candidate, matcher = chosen
            for step_row in node_steps:
                current = _step_spec(step_row)
                bound = matcher.bind(current, best, candidate.summary, candidate.service_name)
                if current.endpoint_ref is not None and bound.endpoint_ref != current.endpoint_ref:
                    # another operation: the template and chaining belonged to the old one
                    meta = {k: v for k, v in current.action.meta.items() if k != META_KEY}
                    fresh = current.action.model_copy(update={"input_template": {}, "meta": meta})
                    current = current.model_copy(update={"action": fresh})
                    bound = matcher.bind(current, best, candidate.summary, candidate.service_name)
                ref: EndpointRef | None = bound.endpoint_ref
                step_row.endpoint_ref = ref.to_json_dict() if ref else None
                step_row.action = bound.action.to_json_dict()
                session.add(step_row)
                row.steps_updated += 1
        results.append(row)
    session.flush()
    chained = _chain_suite(session, principal, suite.id, candidates)
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
            "scope": scope,
            "specs": [f"{s.service_name}@{s.version}" for s in specs],
            "chainedSteps": chained,
        },
    )
    session.flush()
    return results


# ---- chaining: report and overrides -----------------------------------------------------------------------


def suite_chaining(*, session: Session, principal: Principal, suite_id: UUID) -> list[ChainRow]:
    """Every wired input of every scenario step of the suite (latest scenario versions)."""
    get_suite(session=session, principal=principal, suite_id=suite_id)
    latest: dict[str, int] = {}
    pairs = _suite_steps(session, principal, suite_id)
    for scenario, _ in pairs:
        latest[scenario.key] = max(latest.get(scenario.key, 0), scenario.version)
    out: list[ChainRow] = []
    for scenario, row in pairs:
        if scenario.version != latest[scenario.key]:
            continue
        for pointer, link in sorted(existing_links(_step_spec(row)).items()):
            out.append(
                ChainRow(
                    scenario.key,
                    row.alias,
                    pointer,
                    link.source,
                    link.replaces,
                    link.step,
                    link.reason,
                    link.confidence,
                    link.overridden,
                )
            )
    return out


@dataclass
class ChainOverride:
    """A designer's choice for one input: ``source`` an expression, None for the data variable, or reset."""

    step: str
    pointer: str
    source: str | None = None
    scenario: str | None = None
    reset: bool = False

    @classmethod
    def parse(cls, value: Any, index: int) -> ChainOverride:
        where = f"overrides[{index}]"
        if not isinstance(value, Mapping):
            raise ValidationFailed(
                "an override is an object {step, pointer, source, scenario?, reset?}", field=where
            )
        unknown = sorted(set(value) - {"step", "pointer", "source", "scenario", "reset"})
        if unknown:
            raise ValidationFailed(f"unknown key(s) {unknown}", field=where)
        step, pointer = value.get("step"), value.get("pointer")
        if not isinstance(step, str) or not step:
            raise ValidationFailed("'step' (a step alias) is required", field=f"{where}.step")
        if not isinstance(pointer, str) or not pointer.startswith("/"):
            raise ValidationFailed(
                "'pointer' is a JSON pointer into the inputTemplate, e.g. /pathParams/orderId",
                field=f"{where}.pointer",
            )
        source = value.get("source")
        if source is not None and not isinstance(source, str):
            raise ValidationFailed("'source' is a placeholder string or null", field=f"{where}.source")
        scenario = value.get("scenario")
        if scenario is not None and not isinstance(scenario, str):
            raise ValidationFailed("'scenario' is a scenario key", field=f"{where}.scenario")
        reset = value.get("reset", False)
        if not isinstance(reset, bool):
            raise ValidationFailed("'reset' is true or false", field=f"{where}.reset")
        if source is not None:
            _check_source(source, f"{where}.source")
        return cls(step, pointer, source, scenario, reset)


def _check_source(source: str, field_name: str) -> None:
    text = source.strip()
    if not (text.startswith("{{") and text.endswith("}}")) or text.count("{{") != 1:
        raise ValidationFailed(
            "a source is exactly one placeholder, e.g. {{step.create_order.response.body.id}}",
            field=field_name,
        )
    try:
        parsed = parse_expression(text[2:-2].strip())
    except ValueError as exc:
        raise ValidationFailed(str(exc.args[0] if exc.args else exc), field=field_name) from None
    if parsed.kind == "path" and parsed.segments[0] not in ("step", "data", "env", "run"):
        raise ValidationFailed(
            f"unknown root {parsed.segments[0]!r} (use step, data, env or run)", field=field_name
        )


def override_chaining(
    *, session: Session, principal: Principal, suite_id: UUID, overrides: Sequence[Any]
) -> list[ChainRow]:
    """Applies designer overrides to chained inputs, re-chains the rest, returns the new report."""
    require(principal, Role.TEST_DESIGNER)
    parsed = [ChainOverride.parse(value, i) for i, value in enumerate(overrides)]
    suite = get_suite(session=session, principal=principal, suite_id=suite_id, lock=True)
    pairs = _suite_steps(session, principal, suite.id)
    by_scenario: dict[UUID, list[tuple[TestScenario, ScenarioStep]]] = {}
    for scenario, row in pairs:
        by_scenario.setdefault(scenario.id, []).append((scenario, row))
    for i, override in enumerate(parsed):
        matched = 0
        for steps in by_scenario.values():
            scenario = steps[0][0]
            if override.scenario is not None and scenario.key != override.scenario:
                continue
            aliases = [row.alias for _, row in steps]
            if override.step not in aliases:
                continue
            row = steps[aliases.index(override.step)][1]
            _apply_override(row, override, aliases[: aliases.index(override.step)], scenario.key, i)
            session.add(row)
            matched += 1
        if not matched:
            where = f" in scenario {override.scenario!r}" if override.scenario else ""
            raise ValidationFailed(
                f"no step {override.step!r}{where} in this suite", field=f"overrides[{i}].step"
            )
    session.flush()
    _chain_suite(
        session,
        principal,
        suite.id,
        bound_candidates(session=session, principal=principal, suite_id=suite.id),
    )
    audit.record(
        session=session,
        principal=principal,
        action="suite.chaining",
        entity_type="scenario_suite",
        entity_id=suite.id,
        details={"overrides": [asdict(o) for o in parsed]},
    )
    session.flush()
    return suite_chaining(session=session, principal=principal, suite_id=suite.id)


def _source_step(source: str | None) -> str:
    """The step alias a ``{{step.<alias>...}}`` source reads, else ""."""
    if source is None:
        return ""
    parsed = parse_expression(source.strip()[2:-2].strip())
    if parsed.kind == "path" and parsed.segments[0] == "step" and len(parsed.segments) > 1:
        return str(parsed.segments[1])
    return ""


def _apply_override(
    row: ScenarioStep, override: ChainOverride, earlier: list[str], scenario: str, i: int
) -> None:
    action = ActionDefinition.model_validate(row.action)
    links = {p: link.to_meta() for p, link in existing_links(_step_spec(row)).items()}
    current_link = links.get(override.pointer)
    value = get_at(action.input_template, override.pointer)
    if current_link is None and not isinstance(value, str):
        raise ValidationFailed(
            f"step {row.alias!r} has no text input at {override.pointer} to wire",
            field=f"overrides[{i}].pointer",
        )
    source_alias = _source_step(override.source)
    if source_alias and source_alias not in earlier:
        raise ValidationFailed(
            f"step {source_alias!r} does not run before {row.alias!r} in scenario {scenario}",
            field=f"overrides[{i}].source",
        )
    if override.reset:
        if current_link is not None and current_link.get("overridden"):
            current_link["overridden"] = False
    else:
        replaces = current_link["replaces"] if current_link else value
        links[override.pointer] = ChainLink(
            override.pointer,
            str(replaces),
            override.source,
            source_alias,
            "designer override",
            1.0,
            overridden=True,
        ).to_meta()
    meta = {**action.meta, META_KEY: links}
    row.action = action.model_copy(update={"meta": meta}).to_json_dict()
