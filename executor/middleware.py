"""Cross-cutting worker concerns in one Dramatiq middleware (not in each actor).

* worker boot / shutdown: start and stop this process's RunMonitor (heartbeats, cancel flags, reaper);
  on shutdown, runs in progress are re-queued at their next step boundary (executor/execution.py);
* log context: execute() binds tenantId/runId/scenarioId to every record of a run (JSON logs);
* final status on crash: a run still IN_PROGRESS under this worker after its actor raised ends
  FAILED with the error, instead of waiting for the reaper to retry it;
* session cleanup: every unit of work closes its session itself (session_scope / RunWriter), so
  nothing is left to close here.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from executor import monitor as run_monitor
from orchestra_app.services import run_store
from orchestra_app.services.run_events import get_event_bus

log = logging.getLogger(__name__)


class OrchestraMiddleware(Middleware):
    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        # one INFO line per HTTP request would be one per step: keep worker logs about runs
        logging.getLogger("httpx").setLevel(logging.WARNING)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        run_monitor.current()  # starts the monitor thread of this process

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Runs in progress finish their current step, then go back to the queue (not CANCELLED).
        run_monitor.stop_current()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        flush = getattr(get_event_bus(), "flush", None)
        if flush is not None:
            flush(5.0)  # the last events of finished or released runs still reach followers

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if message.actor_name != "execute_run" or not message.args or exception is None:
            return
        try:
            run_id = UUID(str(message.args[0]))
        except ValueError:
            return
        error = f"worker error: {type(exception).__name__}: {exception}"
        try:
            if run_store.fail_if_held(run_id, run_monitor.worker_id(), error[:4000]):
                log.error("run %s ended FAILED after its actor crashed: %s", run_id, error)
        except Exception:
            log.exception("could not record the failure of run %s", run_id)
