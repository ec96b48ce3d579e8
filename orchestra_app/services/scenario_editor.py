"""What the scenario editor offers: endpoints to bind a step to, and variables a template can use.

Endpoints come from the suite's chosen specs (else the tenant's newest per service); variables
are ``{{data.*}}`` paths from the data sets that apply to the scenario (global, its suite, the
scenario) and from other templates of the suite, and ``{{step.<alias>.response.*}}`` paths from the
response schema of the operation an earlier step is bound to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, or_, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    ProtocolSpec,
    ScenarioStep,
    SuiteSpec,
    TestDataSet,
    TestScenario,
)
from orchestra_app.domain.spec import Operation, SpecSummary, resolve_component_ref
from orchestra_app.domain.steps import ChannelType
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services.step_checks import placeholders

MAX_DEPTH = 4
MAX_PATHS = 300
CHANNEL_BY_PROTOCOL = {"http": ChannelType.HTTP_REST, "grpc": ChannelType.GRPC, "kafka": ChannelType.KAFKA}
SUCCESS = ("200", "201", "202", "2XX", "default")


@dataclass
class EditorContext:
    endpoints: list[dict[str, str]] = field(default_factory=list)
    data_paths: list[str] = field(default_factory=list)
    # endpoint value ("protocol|service|operation") -> paths below response (body.id, status, ...)
    response_paths: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


def endpoint_value(protocol_id: str, service: str, endpoint: str) -> str:
    return f"{protocol_id}|{service}|{endpoint}"


def suite_specs(*, session: Session, principal: Principal, suite_id: UUID) -> tuple[list[ProtocolSpec], bool]:
    """The specs a suite's steps bind to: the ones chosen for the suite (``suite_spec``, the Suites
    page), else every spec of the tenant, newest non-deprecated version per (protocol, service).
    The flag says whether the suite had chosen them."""
    chosen = list(
        session.exec(
            select(ProtocolSpec)
            .join(SuiteSpec, col(SuiteSpec.spec_id) == col(ProtocolSpec.id))
            .where(SuiteSpec.suite_id == suite_id, SuiteSpec.tenant_id == principal.tenant_id)
        ).all()
    )
    if chosen:
        return sorted(chosen, key=lambda s: (s.service_name, s.protocol_id)), True
    rows = session.exec(
        select(ProtocolSpec)
        .where(
            ProtocolSpec.tenant_id == principal.tenant_id,
            ProtocolSpec.status != ArtifactStatus.DEPRECATED,
        )
        .order_by(col(ProtocolSpec.created_at).desc())
    ).all()
    latest: dict[tuple[str, str], ProtocolSpec] = {}
    for row in rows:
        latest.setdefault((row.protocol_id, row.service_name), row)
    return sorted(latest.values(), key=lambda s: (s.service_name, s.protocol_id)), False


def _label(op: Operation, service: str) -> str:
    what = f"{op.method.upper()} {op.path}" if op.method.lower() not in ("rpc",) else op.path
    return f"{what} · {op.id} · {service}"


def _resolve(schema: Any, components: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen:
            return {}
        seen = seen | {ref}
        schema = resolve_component_ref(dict(components), ref) or {}
    return schema


def schema_paths(
    schema: Any, components: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> Iterator[str]:
    """Dotted paths into values a schema describes (``items[0].sku``), a few levels deep."""
    schema = _resolve(schema, components)
    if not isinstance(schema, Mapping) or depth >= MAX_DEPTH:
        return
    for combo in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combo) or []:
            yield from schema_paths(part, components, prefix, depth)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            yield path
            yield from schema_paths(sub, components, path, depth + 1)
    items = schema.get("items")
    if isinstance(items, Mapping) and prefix:
        yield from schema_paths(items, components, f"{prefix}[0]", depth + 1)


def response_paths(op: Operation, summary: SpecSummary) -> list[str]:
    out: list[str] = ["status"]
    for code in SUCCESS:
        response = op.responses.get(code)
        if response is None:
            continue
        for name in response.headers:
            out.append(f"headers.{name}")
        for media, schema in response.content.items():
            if "json" in media and schema:
                out.extend(f"body.{p}" for p in schema_paths(schema, summary.components))
                break
        break
    return list(dict.fromkeys(out))[:MAX_PATHS]


def _flatten(value: Any, prefix: str, depth: int = 0) -> Iterator[str]:
    if depth >= MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}.{key}"
            yield path
            yield from _flatten(item, path, depth + 1)
    elif isinstance(value, list) and value:
        yield from _flatten(value[0], f"{prefix}[0]", depth + 1)


def editor_context(*, session: Session, principal: Principal, scenario_id: UUID) -> EditorContext:
    scenario = session.exec(
        select(TestScenario).where(
            TestScenario.tenant_id == principal.tenant_id, TestScenario.id == scenario_id
        )
    ).first()
    context = EditorContext()
    if scenario is None:
        return context
    specs, chosen = suite_specs(session=session, principal=principal, suite_id=scenario.suite_id)
    if not chosen and specs:
        context.note = (
            "This suite has no chosen specs yet (Suites page): the endpoints of every spec are offered."
        )
    for spec in specs:
        summary = SpecSummary.model_validate(spec.parsed_summary)
        channel = CHANNEL_BY_PROTOCOL.get(spec.protocol_id, ChannelType.HTTP_REST)
        if spec.protocol_id == "queue":
            channel = ChannelType.QUEUE
        for op in summary.operations:
            value = endpoint_value(spec.protocol_id, spec.service_name, op.id)
            context.endpoints.append(
                {
                    "value": value,
                    "label": _label(op, spec.service_name),
                    "service": spec.service_name,
                    "channel": channel.value,
                    "search": f"{op.method} {op.path} {op.id} {spec.service_name} {op.summary or ''}".lower(),
                }
            )
            context.response_paths[value] = response_paths(op, summary)
    versions = session.exec(
        select(TestScenario.id).where(
            TestScenario.tenant_id == principal.tenant_id,
            TestScenario.suite_id == scenario.suite_id,
            TestScenario.key == scenario.key,
        )
    ).all()
    data_sets = session.exec(
        select(TestDataSet).where(
            TestDataSet.tenant_id == principal.tenant_id,
            or_(
                col(TestDataSet.scope) == "GLOBAL",
                col(TestDataSet.suite_id) == scenario.suite_id,
                col(TestDataSet.scenario_id).in_(list(versions)),
            ),
        )
    ).all()
    paths: dict[str, None] = {}
    for ds in data_sets:
        for path in _flatten(ds.data, "data"):
            paths.setdefault(path)
    # {{data.*}} the suite's other steps already use (a data set the designer has not written yet)
    used = session.exec(
        select(ScenarioStep.action)
        .join(TestScenario, col(TestScenario.id) == col(ScenarioStep.scenario_id))
        .where(TestScenario.suite_id == scenario.suite_id, ScenarioStep.tenant_id == principal.tenant_id)
        .limit(5000)
    ).all()
    for action in used:
        for _pointer, expr in placeholders(action or {}):
            if expr.startswith("data.") and len(paths) < MAX_PATHS:
                paths.setdefault(expr.strip())
    context.data_paths = sorted(paths)[:MAX_PATHS]
    return context
