"""Dramatiq actors. Messages carry ids only; actors are idempotent."""

from __future__ import annotations

import logging
import os
import socket
from uuid import UUID

import dramatiq

import executor.broker  # noqa: F401  (sets the broker before actors are declared)
from executor import bootstrap
from executor.execution import execute
from orchestra_app.settings import get_settings

RUN_QUEUE = "orchestra-runs"
log = logging.getLogger(__name__)


@dramatiq.actor(store_results=True, max_retries=0, queue_name="orchestra-health")
def ping(token: str) -> dict[str, str]:
    """Round trip through the queue: proves a worker is consuming (used by health checks and tests)."""
    return {"token": token, "worker": f"{socket.gethostname()}:{os.getpid()}"}


# No Dramatiq retries: a failed run is a result, and a lost worker is the reaper's job. The time
# limit only backs up the engine's own run timeout.
@dramatiq.actor(
    queue_name=RUN_QUEUE,
    max_retries=0,
    time_limit=int((get_settings().run_timeout_s + 300) * 1000),
)
def execute_run(run_id: str) -> None:
    """Claims and executes one test run (a no-op when it is not QUEUED any more)."""
    outcome = execute(UUID(run_id))
    log.info("run %s: %s", run_id, outcome)


bootstrap.wire()
