"""Live run events: the Redis Streams (or in-process) event bus and followers that never miss one.

Streams (Redis, or an in-memory equivalent in the embedded default):

    orchestra:run:<run id>:events        every event of one run (MAXLEN-trimmed, expiring)
    orchestra:tenant:<tenant id>:events  the run-level events of a tenant's runs (dashboards)

Each entry holds one field ``e``: the event's JSON (``RunEvent.to_dict``). Publishing is best
effort: the database is the record, so a Redis outage only delays what followers see.

A follower (``follow_run``) first reads the database (stored step results, the run's status and
``event_seq``), then the run's stream from its start, skipping every event whose ``seq`` the
database already covered; a jump in ``seq`` (an event whose publish was lost) is filled from the
database, and an idle follower re-checks the database every ``resync_s`` so a lost terminal event
still ends it. Hence: no gap, no duplicate, in ``seq`` order, whenever the follower joins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestra_app.db.engine import session_scope
from orchestra_app.db.tables import TestRun, TestStepResult
from orchestra_app.db.types import utcnow
from orchestra_app.domain.errors import NotFound
from orchestra_app.domain.runs import TERMINAL_STATUSES, RunStatus
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.engine.events import (
    RunCancelled,
    RunEvent,
    RunFinished,
    RunState,
    StepFinished,
    StepStarted,
)
from orchestra_app.services.guards import require
from orchestra_app.settings import get_settings

log = logging.getLogger(__name__)

Entry = tuple[str, dict[str, Any]]


def run_stream(run_id: UUID) -> str:
    return f"orchestra:run:{run_id}:events"


def tenant_stream(tenant_id: UUID) -> str:
    return f"orchestra:tenant:{tenant_id}:events"


class BusUnavailable(Exception):
    """The bus cannot be read right now (Redis down); followers fall back to the database."""


class EventBus(Protocol):
    def publish(self, event: RunEvent) -> None:
        """Appends the event to its run's and tenant's streams; never raises."""

    def publish_many(self, events: Sequence[RunEvent]) -> None:
        """``publish`` for several events at once, in order."""

    def read(self, key: str, after: str, *, block_ms: int, count: int = 500) -> list[Entry]:
        """Entries after id ``after`` ("0": from the start), waiting up to ``block_ms`` for one."""

    def last_id(self, key: str) -> str:
        """Id of the newest entry ("0" when empty)."""


def _keys(event: RunEvent) -> list[str]:
    """Every event goes to its run's stream; the tenant's stream carries the run-level ones (queued,
    started, re-queued, finished): a dashboard of many runs needs those, a run's view follows the
    run's own stream for its steps."""
    keys = [run_stream(event.run_id)]
    if event.tenant_id is not None and not isinstance(event, StepStarted | StepFinished):
        keys.append(tenant_stream(event.tenant_id))
    return keys


class RedisEventBus:
    """Redis Streams: XADD (MAXLEN ~, EXPIRE) per event, XRANGE/XREAD BLOCK for followers.

    ``publish`` only queues the event (a SimpleQueue: no lock taken by the run's thread): one daemon
    thread per process sends everything queued in one pipeline (one round trip for a burst), in
    order, so a run never waits on Redis. While Redis is away the thread keeps what it could not send
    and retries with a backoff; beyond ``queue_limit`` waiting events the oldest are dropped (the
    database has them; followers read them there).
    """

    def __init__(
        self,
        url: str,
        *,
        maxlen: int = 10_000,
        ttl_s: int = 86_400,
        tenant_maxlen: int = 50_000,
        queue_limit: int = 100_000,
    ):
        import redis

        self._redis = redis
        self.url = url
        self.maxlen = maxlen
        self.tenant_maxlen = tenant_maxlen
        self.ttl_s = ttl_s
        self.queue_limit = queue_limit
        # Short timeouts: a dead Redis must not stall the publisher for long.
        self._pub = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)
        self._readers = threading.local()
        self._queue: queue.SimpleQueue[list[tuple[list[str], str]]] = queue.SimpleQueue()
        self._busy = False  # something queued or being sent (flush() waits for False)
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._expired: dict[str, float] = {}  # stream key -> when its TTL was last set
        self.dropped = 0
        self.published = 0

    def publish(self, event: RunEvent) -> None:
        self.publish_many((event,))

    def publish_many(self, events: Sequence[RunEvent]) -> None:
        items = [(_keys(e), json.dumps(e.to_dict(), separators=(",", ":"))) for e in events]
        self._busy = True  # before the put: the sender clears it only once the queue is empty
        self._queue.put(items)
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._send_loop, name="orchestra-events", daemon=True)
                    thread.start()
                    self._thread = thread

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until everything queued was sent (or ``timeout``); True when it was (best effort:
        used at worker shutdown and by tests)."""
        deadline = time.monotonic() + timeout
        while self._busy or not self._queue.empty():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _send_loop(self) -> None:
        backoff = 0.1
        held: list[tuple[list[str], str]] = []  # what a failed send still owes
        while True:
            if not held:
                held.extend(self._queue.get())
                self._busy = True
            while True:
                try:
                    held.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            if len(held) > self.queue_limit:
                extra = len(held) - self.queue_limit
                del held[:extra]
                self.dropped += extra
            pipe = self._pub.pipeline(transaction=False)
            for keys, data in held:
                for key in keys:
                    maxlen = self.maxlen if key.startswith("orchestra:run:") else self.tenant_maxlen
                    pipe.xadd(key, {"e": data}, maxlen=maxlen, approximate=True)
            now = time.monotonic()
            for key in {key for keys, _ in held for key in keys}:
                # EXPIRE once a minute per stream, not with every event: the TTL is a day
                if now - self._expired.get(key, -1e9) > 60:
                    pipe.expire(key, self.ttl_s)
                    self._expired[key] = now
            if len(self._expired) > 10_000:
                self._expired = {k: t for k, t in self._expired.items() if now - t <= 60}
            try:
                pipe.execute()
            except self._redis.RedisError as exc:
                self._expired.clear()
                log.warning(
                    "event publish failed (%s: %s); retrying, followers catch up from the database",
                    type(exc).__name__,
                    exc,
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            self.published += len(held)
            held = []
            if self._queue.empty():
                self._busy = False

    def _reader(self, block_ms: int) -> Any:
        client = getattr(self._readers, "client", None)
        if client is None:
            client = self._redis.Redis.from_url(
                self.url, socket_connect_timeout=2.0, socket_timeout=block_ms / 1000 + 5.0
            )
            self._readers.client = client
        return client

    def read(self, key: str, after: str, *, block_ms: int, count: int = 500) -> list[Entry]:
        try:
            client = self._reader(block_ms)
            if after == "0":
                raw = client.xrange(key, "-", "+", count=count)
                if not raw:
                    raw_streams = client.xread({key: "0"}, count=count, block=block_ms or None)
                    raw = raw_streams[0][1] if raw_streams else []
            else:
                raw_streams = client.xread({key: after}, count=count, block=block_ms or None)
                raw = raw_streams[0][1] if raw_streams else []
        except self._redis.RedisError as exc:
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from None
        return [(_text(entry_id), json.loads(fields[b"e"])) for entry_id, fields in raw]

    def last_id(self, key: str) -> str:
        try:
            newest = self._reader(0).xrevrange(key, "+", "-", count=1)
        except self._redis.RedisError as exc:
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from None
        return _text(newest[0][0]) if newest else "0"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class InProcessEventBus:
    """The embedded default's bus: the same stream semantics in memory (one process)."""

    def __init__(self, *, maxlen: int = 10_000, max_streams: int = 2_000) -> None:
        self.maxlen = maxlen
        self.max_streams = max_streams
        self._streams: OrderedDict[str, list[tuple[int, dict[str, Any]]]] = OrderedDict()
        self._next = 0
        self._cond = threading.Condition()

    def publish_many(self, events: Sequence[RunEvent]) -> None:
        for event in events:
            self.publish(event)

    def publish(self, event: RunEvent) -> None:
        data = json.loads(json.dumps(event.to_dict()))  # the same wire form as Redis
        with self._cond:
            for key in _keys(event):
                self._next += 1
                entries = self._streams.setdefault(key, [])
                self._streams.move_to_end(key)
                entries.append((self._next, data))
                if len(entries) > self.maxlen:
                    del entries[: len(entries) - self.maxlen]
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)
            self._cond.notify_all()

    def read(self, key: str, after: str, *, block_ms: int, count: int = 500) -> list[Entry]:
        mark = int(after)
        deadline = time.monotonic() + block_ms / 1000

        def pending() -> list[Entry]:
            entries = self._streams.get(key, [])
            return [(str(i), d) for i, d in entries if i > mark][:count]

        with self._cond:
            found = pending()
            while not found and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
                found = pending()
            return found

    def last_id(self, key: str) -> str:
        with self._cond:
            entries = self._streams.get(key)
            return str(entries[-1][0]) if entries else "0"


_bus: EventBus | None = None
_bus_lock = threading.Lock()


def get_event_bus() -> EventBus:
    """Redis Streams when REDIS_URL is set, else the in-process bus (created once per process)."""
    global _bus
    with _bus_lock:
        if _bus is None:
            settings = get_settings()
            if settings.redis_url:
                _bus = RedisEventBus(
                    settings.redis_url, maxlen=settings.event_stream_maxlen, ttl_s=settings.event_stream_ttl_s
                )
            else:
                _bus = InProcessEventBus(maxlen=settings.event_stream_maxlen)
        return _bus


def set_event_bus(bus: EventBus | None) -> None:
    """Replaces the process's bus (tests, benchmarks); None returns to the settings' default."""
    global _bus
    with _bus_lock:
        _bus = bus


# ---- followers -----------------------------------------------------------------------------------


def step_event(
    row: TestStepResult, run: TestRun, pinned: Mapping[int, dict[str, Any]] | None = None
) -> StepFinished:
    """The StepFinished a stored step result stands for (kind/channel from the pinned steps;
    ``pinned_steps(run)`` computed once when converting many rows)."""
    step = pinned.get(row.order_index, {}) if pinned is not None else _pinned_step(run, row.order_index)
    return StepFinished(
        run_id=run.id,
        tenant_id=run.tenant_id,
        seq=row.seq,
        attempt=row.attempt,
        at=row.created_at.timestamp() if row.created_at else time.time(),
        order_index=row.order_index,
        alias=row.step_alias,
        name=str(step.get("name", "")),
        kind=str(step.get("kind", "ACTION")),
        channel_type=str(step.get("channelType", "HTTP_REST")),
        status=str(row.status),
        duration_ms=int(row.duration_ms),
        actual_status_code=row.actual_status_code,
        violations=list(row.violations or []),
        reused_from_run_id=str(row.reused_from_run_id) if row.reused_from_run_id else None,
    )


def pinned_steps(run: TestRun) -> dict[int, dict[str, Any]]:
    """The run's pinned steps by orderIndex (a 10,000-step catch-up looks each one up once)."""
    return {int(step.get("orderIndex", 0)): step for step in (run.pinned or {}).get("steps", [])}


def _pinned_step(run: TestRun, order_index: int) -> dict[str, Any]:
    for step in (run.pinned or {}).get("steps", []):
        if step.get("orderIndex", 0) == order_index:
            return dict(step)
    return {}


def _counts(rows: list[TestStepResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.status)] = counts.get(str(row.status), 0) + 1
    return counts


def state_event(run: TestRun, rows: list[TestStepResult]) -> RunEvent:
    """A terminal run as RunFinished/RunCancelled, else a RunState (status as stored)."""
    common: dict[str, Any] = {
        "run_id": run.id,
        "tenant_id": run.tenant_id,
        "seq": run.event_seq,
        "attempt": run.attempt,
    }
    if run.status in TERMINAL_STATUSES:
        cls = RunCancelled if run.status == RunStatus.CANCELLED else RunFinished
        duration = 0
        if run.started_at and run.finished_at:
            duration = int((run.finished_at - run.started_at).total_seconds() * 1000)
        return cls(
            **common, status=str(run.status), reason=run.error, counts=_counts(rows), duration_ms=duration
        )
    return RunState(
        **common, status=str(run.status), worker=run.worker_id, counts=_counts(rows), reason=run.error
    )


def _load_run(session: Session, principal: Principal, run_id: UUID) -> TestRun:
    run = session.exec(
        select(TestRun).where(TestRun.id == run_id, TestRun.tenant_id == principal.tenant_id)
    ).first()
    if run is None:
        raise NotFound(f"test run {run_id} not found", field="runId")
    return run


def _rows(
    session: Session, run_id: UUID, after_seq: int, before_seq: int | None = None
) -> list[TestStepResult]:
    stmt = select(TestStepResult).where(TestStepResult.run_id == run_id, TestStepResult.seq > after_seq)
    if before_seq is not None:
        stmt = stmt.where(TestStepResult.seq < before_seq)
    return list(session.exec(stmt.order_by(col(TestStepResult.seq), col(TestStepResult.order_index))).all())


def _catch_up(
    engine: Engine | None, principal: Principal, run_id: UUID, after_seq: int
) -> tuple[list[RunEvent], RunEvent, bool]:
    """Stored step results after ``after_seq`` (as StepFinished, by seq), the run's state event
    (RunState, or RunFinished/RunCancelled when it ended) and whether it ended."""
    with session_scope(engine) as session:
        run = _load_run(session, principal, run_id)  # first the run, then its rows: no row is missed
        rows = _rows(session, run_id, after_seq)
        all_rows = (
            rows
            if after_seq == 0
            else list(session.exec(select(TestStepResult).where(TestStepResult.run_id == run_id)).all())
        )
        pinned = pinned_steps(run) if rows else {}
        steps: list[RunEvent] = [step_event(r, run, pinned) for r in rows]
        state = state_event(run, all_rows)
        state.seq = max([run.event_seq, *(r.seq for r in rows)])
        return steps, state, run.status in TERMINAL_STATUSES


def follow_run_batches(
    run_id: UUID,
    *,
    principal: Principal,
    bus: EventBus | None = None,
    engine: Engine | None = None,
    block_ms: int = 1000,
    resync_s: float = 2.0,
    stop: Callable[[], bool] | None = None,
) -> Iterator[list[RunEvent]]:
    """Batches of one run's events: first what the database holds, then live, until the run ends.

    The first batch is the stored StepFinished events plus a RunState (or the RunFinished of a run
    that already ended). Every later StepFinished/RunFinished arrives exactly once, in ``seq``
    order, whether it comes from the stream or (after a lost publish or a Redis outage) from the
    database. ``stop()`` returning True ends the follower (a closed browser tab).
    """
    require(principal, Role.VIEWER, Role.TEST_RUNNER, Role.TEST_DESIGNER)
    bus = bus or get_event_bus()
    steps, state, ended = _catch_up(engine, principal, run_id, 0)
    cursor = state.seq
    yield [*steps, state]
    if ended:
        return
    key = run_stream(run_id)
    after = "0"
    last_check = time.monotonic()
    while not (stop and stop()):
        batch: list[RunEvent] = []
        try:
            entries = bus.read(key, after, block_ms=block_ms)
            healthy = True
        except BusUnavailable as exc:
            log.info("following run %s from the database: %s", run_id, exc)
            entries, healthy = [], False
            time.sleep(min(block_ms / 1000, resync_s))
        for entry_id, data in entries:
            after = entry_id
            event = RunEvent.from_dict(data)
            if event.seq <= cursor:
                continue
            if event.seq > cursor + 1:
                # an event between was published to nobody (Redis was down): the database has it
                with session_scope(engine) as session:
                    run = _load_run(session, principal, run_id)
                    pinned = pinned_steps(run)
                    batch.extend(
                        step_event(r, run, pinned) for r in _rows(session, run_id, cursor, event.seq)
                    )
            batch.append(event)
            cursor = event.seq
            if event.terminal:
                yield batch
                return
        if not healthy or (not entries and time.monotonic() - last_check >= resync_s):
            # idle or blind: the database tells whether something (even the end) was not published
            last_check = time.monotonic()
            steps, state, ended = _catch_up(engine, principal, run_id, cursor)
            batch.extend(steps)
            cursor = max([cursor, *(e.seq for e in steps)])
            if ended:
                state.seq = max(state.seq, cursor)
                batch.append(state)
                yield batch
                return
        if batch:
            yield batch


def follow_run(run_id: UUID, **kwargs: Any) -> Iterator[RunEvent]:
    """``follow_run_batches`` one event at a time (the CLI's live progress)."""
    for batch in follow_run_batches(run_id, **kwargs):
        yield from batch


RECENT_FINISHED = timedelta(minutes=5)


def _tenant_snapshot(engine: Engine | None, principal: Principal) -> tuple[list[RunEvent], dict[UUID, int]]:
    """RunStates of the tenant's active runs and of runs that ended in the last minutes."""
    with session_scope(engine) as session:
        active = col(TestRun.status).in_([RunStatus.PENDING, RunStatus.QUEUED, RunStatus.IN_PROGRESS])
        recent = col(TestRun.finished_at) >= utcnow() - RECENT_FINISHED
        runs = list(
            session.exec(
                select(TestRun)
                .where(TestRun.tenant_id == principal.tenant_id, active | recent)
                .order_by(col(TestRun.created_at))
            ).all()
        )
        states: list[RunEvent] = [
            RunState(
                run_id=run.id,
                tenant_id=run.tenant_id,
                seq=run.event_seq,
                attempt=run.attempt,
                status=str(run.status),
                worker=run.worker_id,
                reason=run.error,
            )
            for run in runs
        ]
        return states, {r.id: r.event_seq for r in runs}


def follow_tenant_batches(
    *,
    principal: Principal,
    bus: EventBus | None = None,
    engine: Engine | None = None,
    block_ms: int = 1000,
    stop: Callable[[], bool] | None = None,
) -> Iterator[list[RunEvent]]:
    """Batches of the caller's tenant's run-level events: first a RunState per active (or just
    finished) run, then RunQueued/RunStarted/RunRequeued/RunFinished live, each once (per-run ``seq``
    dedup). After a Redis outage the follower
    re-reads the database and starts again with fresh RunStates, so a dashboard never shows stale
    statuses; step-level detail of one run is ``follow_run``'s job."""
    require(principal, Role.VIEWER, Role.TEST_RUNNER, Role.TEST_DESIGNER)
    bus = bus or get_event_bus()
    key = tenant_stream(principal.tenant_id)
    while not (stop and stop()):
        try:
            after = bus.last_id(key)  # before the snapshot: nothing between the two is lost
        except BusUnavailable:
            time.sleep(block_ms / 1000)
            continue
        states, cursors = _tenant_snapshot(engine, principal)
        yield states
        while not (stop and stop()):
            try:
                entries = bus.read(key, after, block_ms=block_ms)
            except BusUnavailable:
                break  # resnapshot once the bus is back
            batch: list[RunEvent] = []
            for entry_id, data in entries:
                after = entry_id
                event = RunEvent.from_dict(data)
                if event.seq <= cursors.get(event.run_id, 0):
                    continue
                cursors[event.run_id] = event.seq
                batch.append(event)
            if batch:
                yield batch


async def aiter_batches(batches: Iterator[list[RunEvent]]) -> AsyncIterator[list[RunEvent]]:
    """Drives a blocking follower from async code (Reflex background events) in a worker thread."""
    done = object()
    while True:
        batch = await asyncio.to_thread(next, batches, done)
        if batch is done:
            return
        yield batch  # type: ignore[misc]
