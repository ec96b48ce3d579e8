"""Dramatiq actors. Messages carry ids only; actors are idempotent. The run actor comes with the engine."""

from __future__ import annotations

import os
import socket

import dramatiq

import executor.broker  # noqa: F401  (sets the broker before actors are declared)


@dramatiq.actor(store_results=True, max_retries=0, queue_name="orchestra-health")
def ping(token: str) -> dict[str, str]:
    """Round trip through the queue: proves a worker is consuming (used by health checks and tests)."""
    return {"token": token, "worker": f"{socket.gethostname()}:{os.getpid()}"}
