"""Suites as code: export a suite to the `orchestra-suite/1` YAML format and import it back (upsert).

Export is deterministic (no ids, no timestamps, sorted keys), so export -> import -> export gives the
same text. Import checks the whole file first (file:line:field errors, nothing stored on refusal),
then, under the process row's lock, creates or updates the suite by (process, name): a scenario whose
content changed gets a new version (older versions are DEPRECATED), an unchanged one is left alone,
one missing from the file is retired (DEPRECATED); data sets are upserted by (scope, scenario, name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlmodel import Session, col, delete, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    DataSetOrigin,
    DataSetScope,
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioStep,
    ScenarioSuite,
    SuiteSpec,
    TestDataSet,
    TestScenario,
)
from orchestra_app.domain.errors import NotFound
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ActionDefinition, ActionMode, EndpointRef, StepExpectations
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.importers.suite_yaml import (
    ENDPOINT,
    FORMAT,
    SECRET_FIELDS,
    SECRET_HEADERS,
    DataSetDoc,
    Located,
    ScenarioDoc,
    StepDoc,
    SuiteDocument,
    SuiteFileError,
    canonical,
    canonical_input,
    dump_suite,
    parse_suite,
)
from orchestra_app.plugins.chaining import META_KEY
from orchestra_app.plugins.matching import find_explicit
from orchestra_app.services import audit
from orchestra_app.services.binding import get_suite
from orchestra_app.services.guards import check_upload, require

# action.meta keys naming connection profiles, by profile kind (seed 4.5 meta examples)
PROFILE_META_KEYS = {"db": ("dataSource", "dbAlias"), "kafka": ("clusterAlias",), "queue": ("brokerAlias",)}


@dataclass
class SuiteExport:
    text: str
    suite_id: UUID
    scenarios: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class SuiteImportResult:
    suite_id: UUID
    suite_created: bool
    scenarios_created: int = 0
    scenarios_updated: int = 0
    scenarios_unchanged: int = 0
    scenarios_retired: int = 0
    data_sets_created: int = 0
    data_sets_updated: int = 0
    warnings: list[str] = field(default_factory=list)


# ---- rows -> document ------------------------------------------------------------------------------------


def _step_doc(row: ScenarioStep, warnings: list[str], scenario_key: str) -> dict[str, Any]:
    action = ActionDefinition.model_validate(row.action)
    expectations = StepExpectations.model_validate(row.expectations)
    template = _masked(action.input_template, warnings, f"{scenario_key}/{row.alias}")
    meta = {k: v for k, v in action.meta.items() if k != META_KEY}
    doc: dict[str, Any] = {"alias": row.alias}
    if row.name:
        doc["name"] = row.name
    doc["kind"] = str(row.kind)
    doc["channel"] = str(row.channel_type)
    if row.source_node_id:
        doc["node"] = row.source_node_id
    if row.endpoint_ref:
        ref = EndpointRef.model_validate(row.endpoint_ref)
        doc["endpoint"] = f"{ref.protocol_id}:{ref.service_name}:{ref.endpoint_name}"
    if action.mode is not ActionMode.SYNC:
        doc["mode"] = str(action.mode)
    if template:
        doc["input"] = canonical_input(template)
    if meta:
        doc["meta"] = canonical(_masked(meta, warnings, f"{scenario_key}/{row.alias} meta"))
    chaining = action.meta.get(META_KEY)
    if isinstance(chaining, dict) and chaining:
        doc["chaining"] = {pointer: _chain_entry(chaining[pointer]) for pointer in sorted(chaining)}
    expect: dict[str, Any] = {}
    if expectations.expected_status_code is not None:
        expect["status"] = expectations.expected_status_code
    if expectations.business_rules:
        expect["rules"] = canonical(expectations.business_rules)
    if expectations.schema_refs:
        expect["schemaRefs"] = canonical(expectations.schema_refs)
    if expect:
        doc["expect"] = expect
    return doc


CHAIN_ORDER = ("source", "replaces", "step", "reason", "confidence", "overridden")


def _chain_entry(entry: Any) -> Any:
    """A chaining entry with its keys in reading order (source first), other keys sorted after."""
    if not isinstance(entry, dict):
        return canonical(entry)
    keys = [k for k in CHAIN_ORDER if k in entry] + sorted(k for k in entry if k not in CHAIN_ORDER)
    return {k: canonical(entry[k]) for k in keys}


def _masked(template: dict[str, Any], warnings: list[str], where: str) -> dict[str, Any]:
    """Literal credentials are never written to a file: they become secret references (with a warning)."""
    out = dict(template)
    auth = out.get("auth")
    if isinstance(auth, dict):
        auth = dict(auth)
        for key in SECRET_FIELDS:
            value = auth.get(key)
            if isinstance(value, str) and value and "{{" not in value:
                name = f"{where.split('/')[-1].split(' ')[0]}_{key}".upper().replace("-", "_")
                auth[key] = {"secret": name}
                warnings.append(
                    f"{where}: auth.{key} held a literal secret; exported as secret reference {name}"
                )
        out["auth"] = auth
    headers = out.get("headers")
    if isinstance(headers, dict):
        headers = dict(headers)
        for name, value in headers.items():
            if str(name).lower() in SECRET_HEADERS and isinstance(value, str) and value and "{{" not in value:
                ref = f"{where.split('/')[-1].split(' ')[0]}_{name}".upper().replace("-", "_")
                headers[name] = "{{secret:" + ref + "}}"
                warnings.append(
                    f"{where}: header {name} held a literal credential; exported as {{{{secret:{ref}}}}}"
                )
        out["headers"] = headers
    return out


def _scenario_doc(scenario: TestScenario, steps: list[ScenarioStep], warnings: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"key": scenario.key, "name": scenario.name}
    if scenario.tags:
        doc["tags"] = list(scenario.tags)
    if not scenario.active:
        doc["active"] = False
    doc["steps"] = [_step_doc(s, warnings, scenario.key) for s in sorted(steps, key=lambda s: s.order_index)]
    path = scenario.path or {}
    covers = {
        k: canonical(path[src])
        for k, src in (
            ("processId", "processId"),
            ("nodes", "nodes"),
            ("flows", "flows"),
            ("decisions", "decisions"),
        )
        if path.get(src)
    }
    if covers:
        doc["covers"] = covers
    return doc


def _requires(scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    services: set[str] = set()
    profiles: dict[str, set[str]] = {}
    for scenario in scenarios:
        for step in scenario["steps"]:
            match = ENDPOINT.match(step.get("endpoint") or "")
            if match:
                services.add(match.group(2))
            meta = step.get("meta") or {}
            if isinstance(meta.get("service"), str):
                services.add(meta["service"])
            for kind, keys in PROFILE_META_KEYS.items():
                for key in keys:
                    if isinstance(meta.get(key), str) and meta[key]:
                        profiles.setdefault(kind, set()).add(meta[key])
    out: dict[str, Any] = {}
    if services:
        out["services"] = sorted(services)
    if profiles:
        out["profiles"] = {k: sorted(v) for k, v in sorted(profiles.items())}
    return out


def _current_scenarios(session: Session, principal: Principal, suite_id: UUID) -> dict[str, TestScenario]:
    """Latest version of every scenario key of the suite (including retired ones)."""
    latest: dict[str, TestScenario] = {}
    for row in session.exec(
        select(TestScenario)
        .where(TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id)
        .order_by(col(TestScenario.key), col(TestScenario.version))
    ).all():
        latest[row.key] = row
    return latest


def _steps_of(
    session: Session, principal: Principal, scenario_ids: list[UUID]
) -> dict[UUID, list[ScenarioStep]]:
    out: dict[UUID, list[ScenarioStep]] = {i: [] for i in scenario_ids}
    if not scenario_ids:
        return out
    for row in session.exec(
        select(ScenarioStep)
        .where(ScenarioStep.tenant_id == principal.tenant_id, col(ScenarioStep.scenario_id).in_(scenario_ids))
        .order_by(col(ScenarioStep.order_index))
    ).all():
        out[row.scenario_id].append(row)
    return out


def _data_set_docs(
    session: Session, principal: Principal, suite_id: UUID, keys_by_id: dict[UUID, str], warnings: list[str]
) -> list[dict[str, Any]]:
    rows = session.exec(
        select(TestDataSet)
        .where(TestDataSet.tenant_id == principal.tenant_id)
        .where(
            (col(TestDataSet.suite_id) == suite_id)
            | (col(TestDataSet.scenario_id).in_(list(keys_by_id) or [UUID(int=0)]))
        )
        .order_by(col(TestDataSet.created_at).desc())
    ).all()
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:  # newest first: a duplicate (scope, scenario, name) keeps the newest
        scenario_key = keys_by_id.get(row.scenario_id) if row.scenario_id else None
        if row.scope is DataSetScope.SCENARIO and scenario_key is None:
            continue
        scope = "SCENARIO" if row.scope is DataSetScope.SCENARIO else "SUITE"
        key = (scope, scenario_key or "", row.name)
        if key in seen:
            warnings.append(f"data set {row.name!r} ({scope}) exists twice; the newest is exported")
            continue
        doc: dict[str, Any] = {"name": row.name, "scope": scope}
        if scenario_key:
            doc["scenario"] = scenario_key
        if row.tags:
            doc["tags"] = list(row.tags)
        doc["origin"] = str(row.origin)
        doc["data"] = canonical(row.data)
        seen[key] = doc
    return [seen[k] for k in sorted(seen)]


def suite_document(
    *, session: Session, principal: Principal, suite_id: UUID
) -> tuple[dict[str, Any], list[str]]:
    """The suite as a plain `orchestra-suite/1` document, plus warnings (masked literal secrets)."""
    suite = get_suite(session=session, principal=principal, suite_id=suite_id)
    process = session.exec(
        select(Process).where(Process.tenant_id == principal.tenant_id, Process.id == suite.process_id)
    ).one()
    warnings: list[str] = []
    specs = session.exec(
        select(ProtocolSpec)
        .join(SuiteSpec, col(SuiteSpec.spec_id) == col(ProtocolSpec.id))
        .where(SuiteSpec.suite_id == suite.id, SuiteSpec.tenant_id == principal.tenant_id)
    ).all()
    header: dict[str, Any] = {
        "name": suite.name,
        "process": {"key": process.key, "version": suite.process_version},
    }
    if suite.tags:
        header["tags"] = list(suite.tags)
    request_validation = (suite.generation or {}).get("requestValidation")
    if request_validation:
        header["requestValidation"] = request_validation
    if specs:
        header["specs"] = [
            {"service": s.service_name, "protocol": s.protocol_id, "version": s.version}
            for s in sorted(specs, key=lambda s: (s.service_name, s.protocol_id))
        ]
    current = {
        k: v
        for k, v in _current_scenarios(session, principal, suite.id).items()
        if v.status is not ArtifactStatus.DEPRECATED
    }
    steps = _steps_of(session, principal, [s.id for s in current.values()])
    scenarios = [_scenario_doc(s, steps[s.id], warnings) for _, s in sorted(current.items())]
    document: dict[str, Any] = {"format": FORMAT, "suite": header}
    requires = _requires(scenarios)
    if requires:
        document["requires"] = requires
    document["scenarios"] = scenarios
    keys_by_id = {
        row_id: key
        for row_id, key in session.exec(
            select(TestScenario.id, TestScenario.key).where(
                TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite.id
            )
        ).all()
        if key in current
    }
    data_sets = _data_set_docs(session, principal, suite.id, keys_by_id, warnings)
    if data_sets:
        document["dataSets"] = data_sets
    return document, warnings


def export_suite(*, session: Session, principal: Principal, suite_id: UUID) -> SuiteExport:
    document, warnings = suite_document(session=session, principal=principal, suite_id=suite_id)
    return SuiteExport(dump_suite(document), suite_id, len(document["scenarios"]), warnings)


# ---- document -> rows ---------------------------------------------------------------------------------


def _step_row(step: StepDoc, index: int, principal: Principal, scenario_id: UUID) -> ScenarioStep:
    endpoint = None
    if step.endpoint:
        match = ENDPOINT.match(step.endpoint)
        assert match is not None  # checked by the model
        endpoint = EndpointRef(
            protocol_id=match.group(1), service_name=match.group(2), endpoint_name=match.group(3)
        ).to_json_dict()
    meta = dict(step.meta)
    if step.chaining:
        meta[META_KEY] = {p: link.model_dump(by_alias=True) for p, link in step.chaining.items()}
    action = ActionDefinition(input_template=step.input, meta=meta, mode=step.mode)
    expectations = StepExpectations(
        expected_status_code=step.expect.status,
        business_rules=step.expect.rules,
        schema_refs=step.expect.schema_refs,
    )
    return ScenarioStep(
        tenant_id=principal.tenant_id,
        scenario_id=scenario_id,
        order_index=index,
        alias=step.alias,
        name=step.name,
        kind=step.kind,
        channel_type=step.channel,
        endpoint_ref=endpoint,
        action=action.to_json_dict(),
        expectations=expectations.to_json_dict(),
        source_node_id=step.node,
    )


def _scenario_row(doc: ScenarioDoc, principal: Principal, suite_id: UUID, version: int) -> TestScenario:
    return TestScenario(
        tenant_id=principal.tenant_id,
        suite_id=suite_id,
        key=doc.key,
        name=doc.name,
        version=version,
        tags=list(doc.tags),
        active=doc.active,
        path=doc.covers.model_dump(by_alias=True),
        created_by=principal.user_id,
        updated_by=principal.user_id,
    )


def _comparable(scenario: TestScenario, steps: list[ScenarioStep]) -> dict[str, Any]:
    return _scenario_doc(scenario, steps, [])


def _lookup_process(session: Session, principal: Principal, doc: SuiteDocument, located: Located) -> Process:
    process = session.exec(
        select(Process)
        .where(Process.tenant_id == principal.tenant_id, Process.key == doc.suite.process.key)
        .with_for_update()
    ).first()
    if process is None:
        raise located.error(
            f"process {doc.suite.process.key!r} is not imported here: import its diagram first "
            "(orchestra process import, the Processes page or POST /api/v1/processes)",
            ("suite", "process", "key"),
        )
    version = session.exec(
        select(ProcessVersion).where(
            ProcessVersion.process_id == process.id, ProcessVersion.version == doc.suite.process.version
        )
    ).first()
    if version is None:
        raise located.error(
            f"process {process.key!r} has no version {doc.suite.process.version}",
            ("suite", "process", "version"),
        )
    return process


def _lookup_specs(
    session: Session, principal: Principal, doc: SuiteDocument, located: Located
) -> list[ProtocolSpec]:
    found: list[ProtocolSpec] = []
    services: dict[tuple[str, str], int] = {}
    for i, ref in enumerate(doc.suite.specs):
        key = (ref.protocol, ref.service)
        if key in services:
            raise located.error(
                f"service {ref.service!r} is listed twice (also suite.specs[{services[key]}]): "
                "one version per service",
                ("suite", "specs", i),
            )
        services[key] = i
        row = session.exec(
            select(ProtocolSpec).where(
                ProtocolSpec.tenant_id == principal.tenant_id,
                ProtocolSpec.protocol_id == ref.protocol,
                ProtocolSpec.service_name == ref.service,
                ProtocolSpec.version == ref.version,
            )
        ).first()
        if row is None:
            versions = sorted(
                session.exec(
                    select(ProtocolSpec.version).where(
                        ProtocolSpec.tenant_id == principal.tenant_id,
                        ProtocolSpec.protocol_id == ref.protocol,
                        ProtocolSpec.service_name == ref.service,
                    )
                ).all()
            )
            if versions:
                raise located.error(
                    f"no {ref.protocol} spec {ref.service!r} version {ref.version!r} is imported here "
                    f"(imported versions: {', '.join(versions)})",
                    ("suite", "specs", i, "version"),
                )
            raise located.error(
                f"no {ref.protocol} spec {ref.service!r} is imported here: import it first",
                ("suite", "specs", i, "service"),
            )
        found.append(row)
    by_service = {
        (s.protocol_id, s.service_name): SpecSummary.model_validate(s.parsed_summary) for s in found
    }
    if found:
        for s_index, scenario in enumerate(doc.scenarios):
            for i, step in enumerate(scenario.steps):
                match = ENDPOINT.match(step.endpoint or "")
                if match is None:
                    continue
                summary = by_service.get((match.group(1), match.group(2)))
                where = ("scenarios", s_index, "steps", i, "endpoint")
                if summary is None:
                    raise located.error(
                        f"{step.endpoint} names service {match.group(2)!r}, which is not in suite.specs",
                        where,
                    )
                if find_explicit(match.group(3), summary.operations) is None:
                    raise located.error(
                        f"operation {match.group(3)!r} is not in spec {match.group(2)!r} {match.group(1)}",
                        where,
                    )
    return found


def _upsert_data_set(
    session: Session,
    principal: Principal,
    suite_id: UUID,
    doc: DataSetDoc,
    scenario_ids: dict[str, UUID],
    result: SuiteImportResult,
) -> None:
    scenario_id = scenario_ids.get(doc.scenario or "") if doc.scope == "SCENARIO" else None
    existing = session.exec(
        select(TestDataSet)
        .where(
            TestDataSet.tenant_id == principal.tenant_id,
            TestDataSet.name == doc.name,
            TestDataSet.scope == DataSetScope(doc.scope),
            (col(TestDataSet.suite_id) == suite_id)
            if doc.scope == "SUITE"
            else (
                col(TestDataSet.scenario_id).in_(
                    _all_versions(session, principal, suite_id, doc.scenario or "")
                )
            ),
        )
        .order_by(col(TestDataSet.created_at).desc())
    ).first()
    origin = DataSetOrigin(doc.origin)
    if existing is None:
        session.add(
            TestDataSet(
                tenant_id=principal.tenant_id,
                scope=DataSetScope(doc.scope),
                suite_id=suite_id,
                scenario_id=scenario_id,
                name=doc.name,
                tags=list(doc.tags),
                origin=origin,
                data=doc.data,
                created_by=principal.user_id,
            )
        )
        result.data_sets_created += 1
        return
    if (
        canonical(existing.data) != canonical(doc.data)
        or list(existing.tags) != list(doc.tags)
        or existing.origin is not origin
        or existing.scenario_id != scenario_id
    ):
        existing.data, existing.tags, existing.origin, existing.scenario_id = (
            doc.data,
            list(doc.tags),
            origin,
            scenario_id,
        )
        session.add(existing)
        result.data_sets_updated += 1


def _all_versions(session: Session, principal: Principal, suite_id: UUID, key: str) -> list[UUID]:
    return list(
        session.exec(
            select(TestScenario.id).where(
                TestScenario.tenant_id == principal.tenant_id,
                TestScenario.suite_id == suite_id,
                TestScenario.key == key,
            )
        ).all()
    )


def import_suite(
    *, session: Session, principal: Principal, text: str | bytes, filename: str = "suite.yaml"
) -> SuiteImportResult:
    """Checks the whole file, then creates or updates the suite it describes (see the module docstring)."""
    require(principal, Role.TEST_DESIGNER)
    raw = text.encode() if isinstance(text, str) else text
    check_upload(raw, filename)
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SuiteFileError(f"not UTF-8 text (byte {exc.start})", file=filename) from None
    doc, located = parse_suite(decoded, filename)
    process = _lookup_process(session, principal, doc, located)  # locks the process: imports queue up here
    specs = _lookup_specs(session, principal, doc, located)

    suite = session.exec(
        select(ScenarioSuite)
        .where(
            ScenarioSuite.tenant_id == principal.tenant_id,
            ScenarioSuite.process_id == process.id,
            ScenarioSuite.name == doc.suite.name,
        )
        .order_by(col(ScenarioSuite.created_at))
    ).first()
    created = suite is None
    if suite is None:
        suite = ScenarioSuite(
            tenant_id=principal.tenant_id,
            process_id=process.id,
            process_version=doc.suite.process.version,
            name=doc.suite.name,
            tags=list(doc.suite.tags),
            generation=_generation({"strategy": "imported", "warnings": []}, doc.suite.request_validation),
            created_by=principal.user_id,
        )
        session.add(suite)
        session.flush()
    else:
        generation = _generation(suite.generation or {}, doc.suite.request_validation)
        if (
            suite.process_version != doc.suite.process.version
            or list(suite.tags) != list(doc.suite.tags)
            or generation != (suite.generation or {})
        ):
            suite.process_version, suite.tags = doc.suite.process.version, list(doc.suite.tags)
            suite.generation = generation
            session.add(suite)
    result = SuiteImportResult(suite.id, created)

    chosen = sorted(s.id for s in specs)
    stored = sorted(session.exec(select(SuiteSpec.spec_id).where(SuiteSpec.suite_id == suite.id)).all())
    if chosen != stored:
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

    current = _current_scenarios(session, principal, suite.id)
    steps = _steps_of(session, principal, [s.id for s in current.values()])
    scenario_ids: dict[str, UUID] = {}
    for scenario_doc in doc.scenarios:
        existing = current.get(scenario_doc.key)
        version = existing.version + 1 if existing is not None else 1
        candidate = _scenario_row(scenario_doc, principal, suite.id, version)
        candidate_steps = [_step_row(s, i, principal, candidate.id) for i, s in enumerate(scenario_doc.steps)]
        if (
            existing is not None
            and existing.status is not ArtifactStatus.DEPRECATED
            and _comparable(existing, steps[existing.id]) == _comparable(candidate, candidate_steps)
        ):
            result.scenarios_unchanged += 1
            scenario_ids[scenario_doc.key] = existing.id
            continue
        if existing is not None:
            _retire(session, existing)
            result.scenarios_updated += 1
        else:
            result.scenarios_created += 1
        session.add(candidate)
        session.flush()
        session.add_all(candidate_steps)
        scenario_ids[scenario_doc.key] = candidate.id
    listed = {s.key for s in doc.scenarios}
    for key, existing in current.items():
        if key not in listed and existing.status is not ArtifactStatus.DEPRECATED:
            _retire(session, existing)
            result.scenarios_retired += 1
    session.flush()
    for data_set in doc.data_sets:
        _upsert_data_set(session, principal, suite.id, data_set, scenario_ids, result)
    audit.record(
        session=session,
        principal=principal,
        action="suite.import",
        entity_type="scenario_suite",
        entity_id=suite.id,
        details={
            "file": filename,
            "created": created,
            "scenarios": {
                "created": result.scenarios_created,
                "updated": result.scenarios_updated,
                "unchanged": result.scenarios_unchanged,
                "retired": result.scenarios_retired,
            },
        },
    )
    session.flush()
    return result


def _generation(generation: dict[str, Any], request_validation: str | None) -> dict[str, Any]:
    """The suite's generation record with the file's default request check (absent: none)."""
    out = {k: v for k, v in generation.items() if k != "requestValidation"}
    if request_validation is not None:
        out["requestValidation"] = request_validation
    return out


def _retire(session: Session, scenario: TestScenario) -> None:
    scenario.status = ArtifactStatus.DEPRECATED
    scenario.active = False
    session.add(scenario)


def find_suite(*, session: Session, principal: Principal, ref: str) -> ScenarioSuite:
    """A suite by id, or by name (newest first), or by process key (its newest suite)."""
    try:
        return get_suite(session=session, principal=principal, suite_id=UUID(ref))
    except ValueError:
        pass
    by_name = session.exec(
        select(ScenarioSuite)
        .where(ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.name == ref)
        .order_by(col(ScenarioSuite.created_at).desc())
    ).first()
    if by_name is not None:
        return by_name
    by_process = session.exec(
        select(ScenarioSuite)
        .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
        .where(ScenarioSuite.tenant_id == principal.tenant_id, Process.key == ref)
        .order_by(col(ScenarioSuite.created_at).desc())
    ).first()
    if by_process is None:
        raise NotFound(f"no suite with id, name or process key {ref!r}", field="suite")
    return by_process


__all__ = [
    "SuiteExport",
    "SuiteImportResult",
    "export_suite",
    "find_suite",
    "import_suite",
    "suite_document",
]
