"""Spec use cases: import OpenAPI/AsyncAPI/protobuf files as versioned ProtocolSpec rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from sqlmodel import Session, select

from orchestra_app.db.engine import make_engine
from orchestra_app.db.tables import ProtocolSpec
from orchestra_app.domain.errors import NotFound
from orchestra_app.domain.names import clean_name, slug
from orchestra_app.domain.params import parse_text
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.importers.spec_detect import import_spec as parse_spec
from orchestra_app.services import artifacts, audit
from orchestra_app.services.concurrency import advisory_lock
from orchestra_app.services.guards import check_upload, require
from orchestra_app.services.isolation import commit_gate, run_isolated
from orchestra_app.settings import get_settings

PROTOCOL_IDS = {"http": "http", "asyncapi": "kafka", "grpc": "grpc"}


@dataclass
class SpecImportResult:
    spec_id: UUID
    protocol_id: str
    service_name: str
    version: str
    operations: int
    created: bool
    warnings: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return slug(text, fallback="service")


def parse_spec_bytes(data: bytes, filename: str) -> SpecSummary:
    """The pure parse of an uploaded spec (no file or network access); run in a child process."""
    return parse_spec(data, filename=filename)


def protocol_id_for(summary: SpecSummary) -> str:
    """The plugin that serves the spec: http for OpenAPI, kafka for AsyncAPI (amqp-only -> queue), grpc."""
    if summary.protocol == "asyncapi":
        bindings = {str(b) for op in summary.operations for b in (getattr(op, "bindings", None) or {})}
        if bindings and bindings <= {"amqp", "amqp1"}:
            return "queue"
    return PROTOCOL_IDS.get(summary.protocol, summary.protocol)


def import_spec(
    *,
    session: Session,
    principal: Principal,
    data: bytes,
    filename: str,
    service_name: str | None = None,
    summary: SpecSummary | None = None,
) -> SpecImportResult:
    """Parses first (nothing stored on error); re-importing identical content returns the stored row.

    Safe under concurrency: callers importing the same service serialise on an advisory lock
    (PostgreSQL) or SQLite's write lock (``services.session.write``), so identical content is stored
    once and different content gets distinct ``+rN`` versions. ``summary`` skips the parse.
    """
    require(principal, Role.TEST_DESIGNER)
    check_upload(data, filename)
    service_text = parse_text(service_name, name="service", max_length=120)
    if summary is None:
        summary = parse_spec_bytes(data, filename)
    protocol_id = protocol_id_for(summary)
    service = _slug(service_text or clean_name(summary.title) or Path(filename).stem)
    version = clean_name(summary.version or "0")[:90] or "0"
    parsed = summary.to_json_dict()
    advisory_lock(session, "protocol_spec", principal.tenant_id, protocol_id, service)
    existing = session.exec(
        select(ProtocolSpec).where(
            ProtocolSpec.tenant_id == principal.tenant_id,
            ProtocolSpec.protocol_id == protocol_id,
            ProtocolSpec.service_name == service,
        )
    ).all()
    for row in existing:
        if row.parsed_summary == parsed:
            return SpecImportResult(
                row.id,
                protocol_id,
                service,
                row.version,
                len(summary.operations),
                created=False,
                warnings=[f"{w.code}: {w.message}" for w in summary.warnings],
            )
    taken = {row.version for row in existing}
    stored_version, revision = version, 1
    while stored_version in taken:  # same declared version, different content: keep both
        revision += 1
        stored_version = f"{version}+r{revision}"
    spec = ProtocolSpec(
        tenant_id=principal.tenant_id,
        protocol_id=protocol_id,
        service_name=service,
        version=stored_version,
        raw_spec_uri=artifacts.store(tenant_id=principal.tenant_id, data=data, filename=filename),
        parsed_summary=parsed,
        created_by=principal.user_id,
    )
    session.add(spec)
    session.flush()
    audit.record(
        session=session,
        principal=principal,
        action="spec.import",
        entity_type="protocol_spec",
        entity_id=spec.id,
        details={"service": service, "version": stored_version, "file": filename},
    )
    return SpecImportResult(
        spec.id,
        protocol_id,
        service,
        stored_version,
        len(summary.operations),
        created=True,
        warnings=[f"{w.code}: {w.message}" for w in summary.warnings],
    )


def import_file(
    principal: Principal, *, data: bytes, filename: str, service_name: str | None = None
) -> SpecImportResult:
    """The app's and API's spec import: parse and store (with retries) in an import worker process
    under the import budget (services/isolation.py)."""
    require(principal, Role.TEST_DESIGNER)
    check_upload(data, filename)
    parse_text(service_name, name="service", max_length=120)
    return run_isolated(
        import_in_worker, principal, data, filename, service_name, what="importing the spec", file=filename
    )


def import_in_worker(
    principal: Principal, data: bytes, filename: str, service_name: str | None
) -> SpecImportResult:
    """Inside an import worker: parse, then store on a short-lived engine of the worker's own."""
    from orchestra_app.services import session as svc

    summary = parse_spec_bytes(data, filename)
    engine = make_engine(get_settings().database_url)
    try:
        return svc.write_on(
            engine,
            import_spec,
            principal,
            before_commit=lambda: commit_gate(what="importing the spec", file=filename),
            data=data,
            filename=filename,
            service_name=service_name,
            summary=summary,
        )
    finally:
        engine.dispose()


def get_spec(*, session: Session, principal: Principal, spec_id: UUID) -> ProtocolSpec:
    spec = session.exec(
        select(ProtocolSpec).where(ProtocolSpec.tenant_id == principal.tenant_id, ProtocolSpec.id == spec_id)
    ).first()
    if spec is None:
        raise NotFound(f"spec {spec_id} not found")
    return spec


def spec_operations(*, session: Session, principal: Principal, spec_id: UUID) -> list[dict[str, str]]:
    spec = get_spec(session=session, principal=principal, spec_id=spec_id)
    return [
        {
            "id": str(op.get("id", "")),
            "method": str(op.get("method", "")).upper(),
            "path": str(op.get("path", "")),
            "summary": str(op.get("summary") or "")[:200],
        }
        for op in spec.parsed_summary.get("operations", [])
    ]
