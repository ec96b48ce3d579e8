"""Worker-side run storage: claim, record each event's row, heartbeats, cancel flags, the reaper.

Every write after the claim is conditional on the claim (``status = IN_PROGRESS AND worker_id =
me AND attempt = mine``): a worker whose run was taken away (its heartbeat stopped and the reaper
re-queued it) gets ``RunLost`` on its next write and stops, so two workers never record one run.
Step results are keyed by (run_id, order_index) with ``ON CONFLICT DO NOTHING``: a redelivered
message cannot record a step twice.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from orchestra_app.db.engine import WRITE_OPTION, get_engine
from orchestra_app.db.tables import ProtocolSpec, TestRun, TestStepResult
from orchestra_app.db.types import utcnow
from orchestra_app.domain.runs import RunMode, RunSnapshot, RunStatus
from orchestra_app.domain.secrets import (
    ChainSecretResolver,
    EnvSecretResolver,
    SecretResolver,
    SourceSecretResolver,
)
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import StepResultData, StepStatus, Violation
from orchestra_app.engine.events import (
    RunEvent,
    RunFinished,
    RunRequeued,
    RunStarted,
    StepFinished,
)
from orchestra_app.plugins.base import ExecutionEnvironment
from orchestra_app.services.hooks import after_commit
from orchestra_app.services.run_queue import (
    Announcement,
    announce_after_commit,
    dispatch,
    promote_pending,
    publish,
)

log = logging.getLogger(__name__)

RUN = TestRun.__table__  # type: ignore[attr-defined]
RESULT = TestStepResult.__table__  # type: ignore[attr-defined]


def _writing(engine: Engine | None) -> Engine:
    """The engine for a unit of work that reads and then writes: on SQLite its transactions start
    with BEGIN IMMEDIATE (the write lock from the first statement, so a concurrent commit cannot
    invalidate what it read); PostgreSQL locks rows itself."""
    return (engine or get_engine()).execution_options(**{WRITE_OPTION: True})


def _rows_changed(result: Any) -> int:
    """Rows an UPDATE changed (typed: Session.execute returns a generic Result)."""
    return int(result.rowcount)


class RunLost(Exception):
    """This worker no longer owns the run (re-queued by the reaper, or ended elsewhere)."""


@dataclass
class ClaimedRun:
    run_id: UUID
    tenant_id: UUID
    scenario_id: UUID
    worker_id: str
    attempt: int
    seq_start: int  # the engine numbers this attempt's events from seq_start + 1
    mode: RunMode
    start_index: int
    snapshot: RunSnapshot
    recorded: dict[int, StepResultData] = field(default_factory=dict)  # by an earlier attempt
    previous: dict[int, StepResultData] = field(default_factory=dict)  # of from_run_id
    previous_run_id: UUID | None = None
    cancel_requested: bool = False


def _now(conn: Connection | Session) -> Any:
    """The database's clock on PostgreSQL (one clock for every host), Python's UTC on SQLite."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return sa.func.now() if bind.dialect.name == "postgresql" else utcnow()


def _cutoff(conn: Connection | Session, seconds: float) -> Any:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name == "postgresql":
        return sa.func.now() - timedelta(seconds=seconds)
    return utcnow() - timedelta(seconds=seconds)


def result_from_row(row: TestStepResult | Any) -> StepResultData:
    payload = row.payload or {}
    return StepResultData(
        step_id=row.step_id,
        step_alias=row.step_alias,
        status=StepStatus(str(row.status)),
        duration_ms=int(row.duration_ms),
        actual_status_code=row.actual_status_code,
        response_body=payload.get("responseBody"),
        response_headers=payload.get("responseHeaders"),
        response_truncated=bool(payload.get("responseTruncated", False)),
        request=payload.get("request"),
        db_result=payload.get("dbResult"),
        kafka_message=payload.get("kafkaMessage"),
        queue_message=payload.get("queueMessage"),
        violations=[Violation.model_validate(v) for v in row.violations or []],
        flaky=payload.get("flaky"),
    )


def _results(session: Session, run_id: UUID) -> dict[int, StepResultData]:
    rows = session.exec(select(TestStepResult).where(TestStepResult.run_id == run_id)).all()
    return {r.order_index: result_from_row(r) for r in rows}


def outcome_history(
    run_id: UUID, window: int, *, engine: Engine | None = None
) -> dict[str, list[tuple[str, str]]]:
    """step alias -> (run id, "PASSED" | "FAILED") in the last ``window`` ended runs (PASSED/FAILED)
    of the same scenario, scenario version, data set, data row and environment as ``run_id``, newest
    first. Steps
    copied from another run (FROM_STEP) or not run (SKIPPED) do not count; FLAKY counts as passed."""
    if window <= 0:
        return {}
    with Session(_writing(engine)) as session:
        me = session.get(TestRun, run_id)
        if me is None:
            return {}
        data = (me.pinned or {}).get("data") or {}
        where: list[Any] = [
            TestRun.tenant_id == me.tenant_id,
            TestRun.scenario_id == me.scenario_id,
            TestRun.scenario_version == me.scenario_version,
            TestRun.id != me.id,
            col(TestRun.status).in_([RunStatus.PASSED, RunStatus.FAILED]),
            col(TestRun.finished_at).is_not(None),
            col(TestRun.data_set_id).is_(None)
            if me.data_set_id is None
            else TestRun.data_set_id == me.data_set_id,
            # another environment is another system: its different outcome is no flakiness
            col(TestRun.environment_id).is_(None)
            if me.environment_id is None
            else TestRun.environment_id == me.environment_id,
        ]
        candidates = session.exec(
            select(TestRun.id, TestRun.pinned)
            .where(*where)
            .order_by(col(TestRun.finished_at).desc(), col(TestRun.id))
            .limit(window * 4)
        ).all()
        # the same data row: a data set with several rows runs once per row, each its own history
        runs = [rid for rid, pinned in candidates if ((pinned or {}).get("data") or {}) == data][:window]
        if not runs:
            return {}
        rows = session.exec(
            select(TestStepResult.run_id, TestStepResult.step_alias, TestStepResult.status).where(
                col(TestStepResult.run_id).in_(runs),
                col(TestStepResult.status).in_([StepStatus.PASSED, StepStatus.FAILED, StepStatus.FLAKY]),
                col(TestStepResult.reused_from_run_id).is_(None),
            )
        ).all()
    order = {rid: i for i, rid in enumerate(runs)}
    out: dict[str, list[tuple[str, str]]] = {}
    for rid, alias, status in sorted(rows, key=lambda r: order[r[0]]):
        outcome = "FAILED" if str(status) == StepStatus.FAILED.value else "PASSED"
        out.setdefault(alias, []).append((str(rid), outcome))
    return out


def claim_run(run_id: UUID, worker_id: str, *, engine: Engine | None = None) -> ClaimedRun | None:
    """Takes a QUEUED run: IN_PROGRESS, this worker, attempt + 1, heartbeat now. None when the run
    is not QUEUED (already taken, ended, cancelled) or another worker is claiming it right now."""
    with Session(_writing(engine), expire_on_commit=False) as session:
        if session.get_bind().dialect.name == "postgresql":
            locked = session.exec(
                select(TestRun.id)
                .where(TestRun.id == run_id, TestRun.status == RunStatus.QUEUED)
                .with_for_update(skip_locked=True)
            ).first()
            if locked is None:
                return None
        # event_seq + 1: one number is left for an event the previous attempt may have published
        # after its last write (a StepStarted), so this attempt's numbers never collide with it.
        claimed = _rows_changed(
            session.execute(
                sa.update(RUN)
                .where(RUN.c.id == run_id, RUN.c.status == RunStatus.QUEUED.value)
                .values(
                    status=RunStatus.IN_PROGRESS.value,
                    worker_id=worker_id,
                    attempt=RUN.c.attempt + 1,
                    heartbeat_at=_now(session),
                    started_at=sa.func.coalesce(RUN.c.started_at, _now(session)),
                    event_seq=RUN.c.event_seq + 1,
                    error=None,
                )
            )
        )
        if claimed != 1:
            session.rollback()
            return None
        run = session.exec(select(TestRun).where(TestRun.id == run_id)).one()
        snapshot = RunSnapshot.model_validate(run.pinned or {})
        recorded = _results(session, run.id)
        previous = _results(session, run.from_run_id) if run.from_run_id else {}
        session.commit()
        return ClaimedRun(
            run_id=run.id,
            tenant_id=run.tenant_id,
            scenario_id=run.scenario_id,
            worker_id=worker_id,
            attempt=run.attempt,
            seq_start=run.event_seq,
            mode=run.mode,
            start_index=run.start_step_index or 0,
            snapshot=snapshot,
            recorded=recorded,
            previous=previous,
            previous_run_id=run.from_run_id,
            cancel_requested=run.cancel_requested,
        )


def _owned(claimed: ClaimedRun) -> Any:
    return sa.and_(
        RUN.c.id == claimed.run_id,
        RUN.c.status == RunStatus.IN_PROGRESS.value,
        RUN.c.worker_id == claimed.worker_id,
        RUN.c.attempt == claimed.attempt,
    )


def _json_text(value: Any) -> str:
    """JSON text jsonb accepts: NaN/Infinity and NUL characters (a server may send both) are
    replaced by strings; everything else is serialised once."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = None
    if text is None or "\\u0000" in text:
        text = json.dumps(_json_safe(value), separators=(",", ":"), allow_nan=False)
    return text


def _json_safe(value: Any) -> Any:
    """jsonb takes neither NaN/Infinity nor NUL characters; a server may send both."""
    try:
        text = json.dumps(value, allow_nan=False)
    except ValueError:
        text = None
    if text is not None and "\\u0000" not in text:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        if isinstance(item, str):
            return item.replace("\x00", "\\u0000")
        if isinstance(item, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


# PostgreSQL: the step's row and the run's seq/heartbeat in ONE statement, sent on a connection
# in autocommit mode (one statement is atomic on its own): one round trip per step. The INSERT
# only happens if the UPDATE found the run still held by this worker; the count says which.
_PG_STEP = """
    WITH owned AS (
        UPDATE test_run SET event_seq = CAST(%(seq)s AS integer), heartbeat_at = now()
        WHERE id = CAST(%(run_id)s AS uuid) AND status = 'IN_PROGRESS'
          AND worker_id = CAST(%(worker_id)s AS varchar) AND attempt = CAST(%(attempt)s AS integer)
        RETURNING id
    ), inserted AS (
        INSERT INTO test_step_result (id, tenant_id, run_id, step_id, step_alias, order_index,
            status, duration_ms, actual_status_code, payload, violations, created_at, attempt, seq,
            reused_from_run_id)
        SELECT gen_random_uuid(), CAST(%(tenant_id)s AS uuid), owned.id,
            CAST(%(step_id)s AS uuid), CAST(%(step_alias)s AS varchar),
            CAST(%(order_index)s AS integer), CAST(%(status)s AS varchar),
            CAST(%(duration_ms)s AS bigint), CAST(%(actual_status_code)s AS integer),
            CAST(%(payload)s AS jsonb), CAST(%(violations)s AS jsonb), now(),
            CAST(%(attempt)s AS integer), CAST(%(seq)s AS integer), CAST(%(reused_from_run_id)s AS uuid)
        FROM owned
        ON CONFLICT (run_id, order_index) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM owned
    """
_PG_TOUCH = """
    UPDATE test_run SET event_seq = CAST(%(seq)s AS integer), heartbeat_at = now()
    WHERE id = CAST(%(run_id)s AS uuid) AND status = 'IN_PROGRESS'
      AND worker_id = CAST(%(worker_id)s AS varchar) AND attempt = CAST(%(attempt)s AS integer)
    """


class RunWriter:
    """The database consumer of one claimed run's events (the worker's DB writer).

    On PostgreSQL it keeps one connection for the run (no pool checkout or ping per step) and
    writes each step in a single round trip; on SQLite (embedded) a short transaction per step.
    """

    def __init__(self, claimed: ClaimedRun, *, engine: Engine | None = None) -> None:
        self.claimed = claimed
        self.engine = _writing(engine)
        self.postgres = self.engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._cursor: Any = None

    def write(self, event: RunEvent) -> None:
        if isinstance(event, StepFinished):
            self._step(event)
        elif isinstance(event, RunFinished):
            self._finish(event)
        elif isinstance(event, RunStarted):
            if self.postgres:
                self._autocommit(_PG_TOUCH, self._owner(event.seq), expect_rows=True)
            else:
                with self.engine.begin() as conn:
                    self._touch(conn, event.seq)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _owner(self, seq: int) -> dict[str, Any]:
        c = self.claimed
        return {"seq": seq, "run_id": c.run_id, "worker_id": c.worker_id, "attempt": c.attempt}

    def _lost(self) -> RunLost:
        return RunLost(f"run {self.claimed.run_id} is no longer held by {self.claimed.worker_id}")

    def _autocommit(self, sql: str, params: dict[str, Any], *, expect_rows: bool = False) -> int:
        """Runs one statement on the run's own autocommit connection, straight through psycopg (no
        statement building per step; psycopg prepares it server-side after a few runs); reconnects
        once when the connection was lost."""
        for retry in (False, True):
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                self._cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor = self._cursor
            try:
                cursor.execute(sql, params)
                if expect_rows:
                    return int(cursor.rowcount)
                row = cursor.fetchone()
                return int(row[0]) if row else 0
            except psycopg.OperationalError:
                raw = cursor.connection
                broken = raw.closed or raw.broken
                self._conn.invalidate()
                self.close()
                if retry or not broken:
                    raise
        raise AssertionError("unreachable")

    def _touch(self, conn: Connection, seq: int) -> None:
        done = conn.execute(
            sa.update(RUN).where(_owned(self.claimed)).values(event_seq=seq, heartbeat_at=_now(conn))
        ).rowcount
        if done != 1:
            raise self._lost()

    def _row(self, event: StepFinished) -> dict[str, Any]:
        result = event.result or StepResultData(step_alias=event.alias, status=StepStatus(event.status))
        # test_step_result.payload (StepResultPayload's camelCase shape, None left out) built directly:
        # a response body is serialised once, not validated and dumped three times per step.
        payload: dict[str, Any] = {"responseTruncated": result.response_truncated}
        for key, value in (
            ("responseBody", result.response_body),
            ("responseHeaders", result.response_headers),
            ("request", result.request),
            ("dbResult", result.db_result),
            ("kafkaMessage", result.kafka_message),
            ("queueMessage", result.queue_message),
            ("flaky", result.flaky),
        ):
            if value is not None:
                payload[key] = value
        return {
            "id": uuid4(),
            "tenant_id": self.claimed.tenant_id,
            "run_id": self.claimed.run_id,
            "step_id": result.step_id,
            "step_alias": event.alias[:200],
            "order_index": event.order_index,
            "status": event.status,
            "duration_ms": event.duration_ms,
            "actual_status_code": event.actual_status_code,
            "payload": payload,
            "violations": event.violations,
            "attempt": self.claimed.attempt,
            "seq": event.seq,
            "reused_from_run_id": UUID(event.reused_from_run_id) if event.reused_from_run_id else None,
        }

    def _step(self, event: StepFinished) -> None:
        row = self._row(event)
        if self.postgres:
            params = {
                **row,
                "payload": _json_text(row["payload"]),
                "violations": _json_text(row["violations"]),
                "worker_id": self.claimed.worker_id,
            }
            if self._autocommit(_PG_STEP, params) != 1:
                raise self._lost()
            return
        row["payload"] = _json_safe(row["payload"])
        row["violations"] = _json_safe(row["violations"])
        with self.engine.begin() as conn:
            conn.execute(
                sqlite.insert(RESULT)
                .values(**row, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["run_id", "order_index"])
            )
            self._touch(conn, event.seq)

    def _finish(self, event: RunFinished) -> None:
        self.close()
        with Session(self.engine, expire_on_commit=False) as session:
            done = _rows_changed(
                session.execute(
                    sa.update(RUN)
                    .where(_owned(self.claimed))
                    .values(
                        status=event.status,
                        finished_at=_now(session),
                        event_seq=event.seq,
                        heartbeat_at=None,
                        error=event.reason if event.status != RunStatus.PASSED.value else None,
                    )
                )
            )
            if done != 1:
                session.rollback()
                raise self._lost()
            announce_after_commit(session, promote_pending(session, self.claimed.tenant_id))
            session.commit()


def fail_unstarted(claimed: ClaimedRun, error: str, *, engine: Engine | None = None) -> RunFinished | None:
    """Ends a claimed run FAILED before any step ran (its environment or plan is unusable)."""
    with Session(_writing(engine), expire_on_commit=False) as session:
        run = session.exec(select(TestRun).where(TestRun.id == claimed.run_id)).one()
        event = RunFinished(
            run_id=claimed.run_id,
            tenant_id=claimed.tenant_id,
            seq=run.event_seq + 1,
            attempt=claimed.attempt,
            status=RunStatus.FAILED.value,
            reason=error,
        )
        done = _rows_changed(
            session.execute(
                sa.update(RUN)
                .where(_owned(claimed))
                .values(
                    status=RunStatus.FAILED.value,
                    finished_at=_now(session),
                    event_seq=event.seq,
                    heartbeat_at=None,
                    error=error[:4000],
                )
            )
        )
        if done != 1:
            session.rollback()
            return None
        announce_after_commit(session, promote_pending(session, claimed.tenant_id))
        after_commit(session, lambda: publish([event]))
        session.commit()
        return event


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def defer_run(run_id: UUID, *, engine: Engine | None = None) -> None:
    """A QUEUED run whose message a shutting-down worker received: the next reaper tick of any
    worker re-sends it (as if the message had been lost)."""
    with _writing(engine).begin() as conn:
        conn.execute(
            sa.update(RUN)
            .where(RUN.c.id == run_id, RUN.c.status == RunStatus.QUEUED.value)
            .values(dispatched_at=LONG_AGO)
        )


def release_run(claimed: ClaimedRun, reason: str, *, engine: Engine | None = None) -> bool:
    """Hands a held run back to the queue at once (graceful shutdown): QUEUED, resumed by the next
    worker from its first unrecorded step, without waiting for the heartbeat timeout."""
    with Session(_writing(engine), expire_on_commit=False) as session:
        run = session.exec(select(TestRun).where(TestRun.id == claimed.run_id)).one()
        seq = run.event_seq + 2  # as the reaper does: one number left for an unrecorded StepStarted
        done = _rows_changed(
            session.execute(
                sa.update(RUN)
                .where(_owned(claimed))
                .values(
                    status=RunStatus.QUEUED.value,
                    worker_id=None,
                    heartbeat_at=None,
                    # sent again now; should this draining process swallow the message, the next
                    # reaper tick anywhere sends it again
                    dispatched_at=LONG_AGO,
                    event_seq=seq,
                )
            )
        )
        if done != 1:
            session.rollback()
            return False
        event = RunRequeued(
            run_id=claimed.run_id,
            tenant_id=claimed.tenant_id,
            seq=seq,
            attempt=claimed.attempt,
            reason=reason,
        )

        def go() -> None:
            publish([event])
            dispatch([claimed.run_id])

        after_commit(session, go)
        session.commit()
        return True


def fail_if_held(run_id: UUID, worker_id: str, error: str, *, engine: Engine | None = None) -> bool:
    """The middleware's backstop: a run still IN_PROGRESS under this worker after its actor crashed
    ends FAILED with the error (never left IN_PROGRESS for the reaper to retry forever)."""
    with Session(_writing(engine), expire_on_commit=False) as session:
        run = session.exec(
            select(TestRun).where(
                TestRun.id == run_id, TestRun.status == RunStatus.IN_PROGRESS, TestRun.worker_id == worker_id
            )
        ).first()
        if run is None:
            return False
        claimed = ClaimedRun(
            run_id=run.id,
            tenant_id=run.tenant_id,
            scenario_id=run.scenario_id,
            worker_id=worker_id,
            attempt=run.attempt,
            seq_start=run.event_seq,
            mode=run.mode,
            start_index=run.start_step_index or 0,
            snapshot=RunSnapshot(),
        )
    return fail_unstarted(claimed, error, engine=engine) is not None


@dataclass
class HeldState:
    cancelled: set[UUID] = field(default_factory=set)
    lost: set[UUID] = field(default_factory=set)


def poll_held(
    held: Mapping[UUID, int], worker_id: str, *, beat: bool, engine: Engine | None = None
) -> HeldState:
    """One monitor tick for the runs this process holds (run id -> attempt): optionally write the
    heartbeat, then read which were cancelled and which this worker no longer owns."""
    state = HeldState()
    if not held:
        return state
    ids = list(held)
    with _writing(engine).begin() as conn:
        if beat:
            conn.execute(
                sa.update(RUN)
                .where(
                    RUN.c.id.in_(ids),
                    RUN.c.status == RunStatus.IN_PROGRESS.value,
                    RUN.c.worker_id == worker_id,
                )
                .values(heartbeat_at=_now(conn))
            )
        rows = conn.execute(
            sa.select(RUN.c.id, RUN.c.status, RUN.c.worker_id, RUN.c.attempt, RUN.c.cancel_requested).where(
                RUN.c.id.in_(ids)
            )
        ).all()
    for run_id, status, owner, attempt, cancel_requested in rows:
        if cancel_requested:
            state.cancelled.add(run_id)
        if str(status) != RunStatus.IN_PROGRESS.value or owner != worker_id or attempt != held[run_id]:
            state.lost.add(run_id)
    return state


@dataclass
class ReapReport:
    requeued: list[UUID] = field(default_factory=list)  # IN_PROGRESS whose worker stopped beating
    redispatched: list[UUID] = field(default_factory=list)  # QUEUED whose message went missing
    promoted: list[UUID] = field(default_factory=list)  # PENDING that found a free slot


def reap(
    *, heartbeat_timeout_s: float, requeue_after_s: float, engine: Engine | None = None, limit: int = 100
) -> ReapReport:
    """Re-queues runs whose worker died (SIGKILL, lost host) and re-sends messages Redis lost.

    Safe in every worker process at once: rows are taken with SKIP LOCKED on PostgreSQL and every
    change is conditional, so a run is re-queued once. The resumed attempt continues from the first
    step without a stored result.
    """
    report = ReapReport()
    with Session(_writing(engine), expire_on_commit=False) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        stale = (
            select(TestRun)
            .where(
                TestRun.status == RunStatus.IN_PROGRESS,
                col(TestRun.heartbeat_at) < _cutoff(session, heartbeat_timeout_s),
            )
            .limit(limit)
        )
        if postgres:
            stale = stale.with_for_update(skip_locked=True)
        announcements: list[Announcement] = []
        events: list[RunEvent] = []
        for run in session.exec(stale).all():
            previous_worker = run.worker_id
            run.status = RunStatus.QUEUED
            run.worker_id = None
            run.heartbeat_at = None
            run.dispatched_at = utcnow()
            run.event_seq += 2  # one number left for a StepStarted the dead worker may have published
            session.add(run)
            report.requeued.append(run.id)
            events.append(
                RunRequeued(
                    run_id=run.id,
                    tenant_id=run.tenant_id,
                    seq=run.event_seq,
                    attempt=run.attempt,
                    reason=f"worker {previous_worker} stopped sending heartbeats",
                )
            )
        lost = (
            select(TestRun)
            .where(
                TestRun.status == RunStatus.QUEUED,
                col(TestRun.dispatched_at) < _cutoff(session, requeue_after_s),
            )
            .limit(limit)
        )
        if postgres:
            lost = lost.with_for_update(skip_locked=True)
        for run in session.exec(lost).all():
            run.dispatched_at = utcnow()
            session.add(run)
            report.redispatched.append(run.id)
        pending_tenants = session.exec(
            select(TestRun.tenant_id).where(TestRun.status == RunStatus.PENDING).distinct().limit(limit)
        ).all()
        session.flush()
        for tenant_id in pending_tenants:
            promoted = promote_pending(session, tenant_id)
            report.promoted.extend(a.event.run_id for a in promoted)
            announcements.extend(promoted)
        resend = report.requeued + report.redispatched
        announce_after_commit(session, announcements)
        if resend or events:

            def go() -> None:
                publish(events)
                dispatch(resend)

            after_commit(session, go)
        session.commit()
    if report.requeued or report.redispatched or report.promoted:
        log.warning(
            "reaper: re-queued %d stale run(s), re-sent %d lost message(s), promoted %d pending run(s)",
            len(report.requeued),
            len(report.redispatched),
            len(report.promoted),
        )
    return report


# ---- the environment a run executes in ----------------------------------------------------------------


_SPECS: OrderedDict[UUID, SpecSummary] = OrderedDict()
_SPECS_LOCK = threading.Lock()
_SPECS_KEEP = 256


def _spec_summary(spec_id: UUID, engine: Engine) -> SpecSummary | None:
    """Spec rows never change (a changed document is a new row, with a new id): one parse per
    worker process, then the same object every run (plugins cache compiled validators per spec)."""
    with _SPECS_LOCK:
        cached = _SPECS.get(spec_id)
        if cached is not None:
            _SPECS.move_to_end(spec_id)
            return cached
    with Session(engine) as session:
        row = session.get(ProtocolSpec, spec_id)
        summary = SpecSummary.model_validate(row.parsed_summary) if row is not None else None
    if summary is not None:
        with _SPECS_LOCK:
            _SPECS[spec_id] = summary
            while len(_SPECS) > _SPECS_KEEP:
                _SPECS.popitem(last=False)
    return summary


def build_environment(snapshot: RunSnapshot, *, engine: Engine | None = None) -> ExecutionEnvironment:
    """The ExecutionEnvironment of a pinned run: services, connection profiles, specs, secrets (env
    vars ``ORCHESTRA_SECRET_<NAME>``). Raises ConfigurationError/ValidationError on a broken one."""
    engine = engine or get_engine()
    specs: dict[str, SpecSummary] = {}
    for service, spec_id in snapshot.spec_ids.items():
        summary = _spec_summary(spec_id, engine)
        if summary is not None:
            specs[service] = summary
    env = snapshot.environment
    secrets: SecretResolver = EnvSecretResolver()
    if env.secret_env or env.secret_files:
        sources = {name: {"env": var} for name, var in env.secret_env.items()}
        sources.update({name: {"file": path} for name, path in env.secret_files.items()})
        secrets = ChainSecretResolver([SourceSecretResolver(sources), secrets])
    return ExecutionEnvironment(
        name=env.name,
        services=env.services,
        specs=specs,
        variables=env.variables,
        secrets=secrets,
        plugin_config=env.plugin_config,
        profiles=env.profiles,
    )
