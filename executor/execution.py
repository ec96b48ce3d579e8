"""Executes one run in a worker: claim, build its environment, run the engine, record every event.

The engine's events go to three consumers, in this order: the database (RunWriter: each step's
result is committed before anything else hears of it), the event bus (Redis Streams / in-process)
and the Prometheus metrics.
"""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import ValidationError

from executor import monitor as run_monitor
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.runs import RunMode
from orchestra_app.engine import new_context, restore, run_steps
from orchestra_app.engine.events import RunEvent, StepFinished, StepStarted
from orchestra_app.observability import metrics
from orchestra_app.observability.logging import log_context
from orchestra_app.plugins.base import ExecutionEnvironment
from orchestra_app.plugins.registry import PluginRegistry
from orchestra_app.services import run_store
from orchestra_app.services.run_events import EventBus, get_event_bus
from orchestra_app.settings import get_settings

log = logging.getLogger(__name__)


class WorkerDraining(Exception):
    """The worker is shutting down: the run is handed back to the queue between two steps."""


def execute(
    run_id: UUID,
    *,
    monitor: run_monitor.RunMonitor | None = None,
    bus: EventBus | None = None,
    registry: PluginRegistry | None = None,
) -> str:
    """Runs ``run_id`` if it is QUEUED; returns what happened ("PASSED", "skipped", "lost", ...).

    Idempotent: a second message for the same run finds it claimed or ended and does nothing.
    """
    monitor = monitor or run_monitor.current()
    if monitor.draining:
        # this process is shutting down: leave the run QUEUED for another worker (re-sent soon)
        run_store.defer_run(run_id)
        return "deferred"
    claimed = run_store.claim_run(run_id, monitor.worker_id)
    if claimed is None:
        return "skipped"
    with log_context(tenant_id=claimed.tenant_id, run_id=run_id, scenario_id=claimed.scenario_id):
        return _execute_claimed(claimed, monitor, bus or get_event_bus(), registry)


def _execute_claimed(
    claimed: run_store.ClaimedRun,
    monitor: run_monitor.RunMonitor,
    bus: EventBus,
    registry: PluginRegistry | None,
) -> str:
    run_id = claimed.run_id
    settings = get_settings()
    snapshot = claimed.snapshot
    monitor.hold(run_id, claimed.attempt, cancelled=claimed.cancel_requested)
    environment: ExecutionEnvironment | None = None
    writer: run_store.RunWriter | None = None
    try:
        try:
            environment = run_store.build_environment(snapshot)
        except (OrchestraError, ValidationError) as exc:
            run_store.fail_unstarted(claimed, f"environment {snapshot.environment.name!r}: {_reason(exc)}")
            return "FAILED"
        writer = run_store.RunWriter(claimed)
        write = writer.write

        held: list[RunEvent] = []

        def emit(event: RunEvent) -> None:
            if monitor.draining and isinstance(event, StepStarted):
                if held:
                    bus.publish_many(held)
                    held.clear()
                raise WorkerDraining  # before the step runs: it is left for the next worker
            if event.persisted:
                write(event)  # raises RunLost when the run was taken from this worker
            metrics.observe(event)
            # A StepFinished waits for the event right behind it (the next StepStarted, emitted
            # microseconds later) so both go to the bus at once: half the hand-offs per step.
            held.append(event)
            if not isinstance(event, StepFinished):
                bus.publish_many(held)
                held.clear()

        context = new_context(run_id=run_id, data=snapshot.data, variables=snapshot.variables)
        previous = claimed.previous
        if claimed.mode == RunMode.SINGLE_STEP:
            # the referenced run's results first, then the supplied ones (they win for an alias)
            restore(context, [previous[i] for i in sorted(previous) if i != claimed.start_index])
            previous = {}
        restore(context, snapshot.step_results.values())
        try:
            outcome = run_steps(
                snapshot.steps,
                environment,
                context,
                mode=claimed.mode,
                start_index=claimed.start_index,
                previous_results=previous,
                previous_run_id=claimed.previous_run_id,
                recorded=claimed.recorded,
                emit=emit,
                should_cancel=lambda: monitor.should_stop(run_id),
                step_timeout_s=snapshot.step_timeout_s or settings.step_timeout_s,
                run_timeout_s=snapshot.run_timeout_s or settings.run_timeout_s,
                registry=registry,
                run_id=run_id,
                tenant_id=claimed.tenant_id,
                attempt=claimed.attempt,
                seq_start=claimed.seq_start,
                worker=monitor.worker_id,
                history=run_store.outcome_history(run_id, settings.flaky_window),
            )
        except OrchestraError as exc:  # the pinned plan is unusable (e.g. FROM_STEP results missing)
            run_store.fail_unstarted(claimed, str(exc))
            return "FAILED"
        return outcome.status.value
    except run_store.RunLost as exc:
        log.warning("%s; this worker stops running it", exc)
        return "lost"
    except WorkerDraining:
        released = run_store.release_run(claimed, "the worker shut down")
        log.warning("worker shutting down: run %s %s", run_id, "re-queued" if released else "was lost")
        return "released"
    finally:
        monitor.release(run_id)
        if writer is not None:
            writer.close()
        if environment is not None:
            environment.close()


def _reason(exc: Exception) -> str:
    """One readable line: the error's location and message (a pydantic error's first problem)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)
