"""Run admission and dispatch: QUEUED vs PENDING under the tenant's maxParallelRuns, promotion of
PENDING runs when a slot frees, and the queue message that carries only the run id.

Admission is serialised per tenant: on PostgreSQL by a row lock on the tenant (``SELECT ... FOR
UPDATE``), on SQLite (one process: the embedded default) by a process lock, both held until the
transaction ends. Messages and RunQueued events leave only after COMMIT (services/hooks.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import Tenant, TestRun
from orchestra_app.db.types import utcnow
from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.runs import ACTIVE_STATUSES, RunStatus
from orchestra_app.domain.tenancy import TenantSettings
from orchestra_app.engine.events import RunEvent, RunQueued
from orchestra_app.observability import metrics
from orchestra_app.services.hooks import after_commit, hold_until_end
from orchestra_app.services.run_events import get_event_bus

Dispatcher = Callable[[Sequence[UUID]], None]

_dispatcher: Dispatcher | None = None
_sqlite_admission = threading.Lock()


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Wires the queue (executor/bootstrap.py does it for the app, the CLI and workers)."""
    global _dispatcher
    _dispatcher = dispatcher


def dispatch(run_ids: Sequence[UUID]) -> None:
    if not run_ids:
        return
    if _dispatcher is None:
        raise ConfigurationError("no run queue is wired: call executor.bootstrap.wire() at start-up")
    _dispatcher(run_ids)


def require_dispatcher() -> None:
    if _dispatcher is None:
        raise ConfigurationError("no run queue is wired: call executor.bootstrap.wire() at start-up")


def lock_admission(session: Session, tenant_id: UUID) -> TenantSettings:
    """Serialises admission for one tenant until the transaction ends; returns its settings."""
    if session.get_bind().dialect.name == "postgresql":
        tenant = session.exec(select(Tenant).where(Tenant.id == tenant_id).with_for_update()).first()
    else:
        hold_until_end(session, _sqlite_admission)
        tenant = session.get(Tenant, tenant_id)
    return TenantSettings.model_validate(tenant.settings if tenant else {})


def active_runs(session: Session, tenant_id: UUID) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(TestRun)
            .where(TestRun.tenant_id == tenant_id, col(TestRun.status).in_(ACTIVE_STATUSES))
        ).one()
    )


@dataclass
class Announcement:
    """A run that became QUEUED (or PENDING) in this transaction: its event and, if QUEUED, its message."""

    event: RunQueued
    dispatch: bool


def announce_after_commit(session: Session, announcements: Sequence[Announcement]) -> None:
    """After COMMIT: publish each RunQueued, count it, and enqueue the QUEUED ones (ids only)."""
    if not announcements:
        return
    to_dispatch = [a.event.run_id for a in announcements if a.dispatch]
    events = [a.event for a in announcements]

    def go() -> None:
        publish(events)
        dispatch(to_dispatch)

    after_commit(session, go)


def publish(events: Sequence[RunEvent]) -> None:
    bus = get_event_bus()
    for event in events:
        bus.publish(event)
        metrics.observe(event)


def promote_pending(session: Session, tenant_id: UUID) -> list[Announcement]:
    """Moves the oldest PENDING runs of the tenant to QUEUED while slots are free.

    Call with the admission lock held (``lock_admission``); the caller commits. Returns what to
    announce after COMMIT (``announce_after_commit``).
    """
    settings = lock_admission(session, tenant_id)
    free = settings.max_parallel_runs - active_runs(session, tenant_id)
    if free <= 0:
        return []
    stmt = (
        select(TestRun)
        .where(TestRun.tenant_id == tenant_id, TestRun.status == RunStatus.PENDING)
        .order_by(col(TestRun.created_at), col(TestRun.id))
        .limit(free)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    out: list[Announcement] = []
    now = utcnow()
    for run in session.exec(stmt).all():
        run.status = RunStatus.QUEUED
        run.dispatched_at = now
        run.event_seq += 1
        session.add(run)
        out.append(
            Announcement(
                RunQueued(
                    run_id=run.id,
                    tenant_id=run.tenant_id,
                    seq=run.event_seq,
                    status=RunStatus.QUEUED.value,
                    scenario_id=run.scenario_id,
                    batch_id=run.batch_id,
                    mode=str(run.mode),
                ),
                dispatch=True,
            )
        )
    session.flush()
    return out
