"""Wires the run queue into the services: create_runs, cancel and the reaper enqueue through it."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from orchestra_app.services import run_queue


def _send(run_ids: Sequence[UUID]) -> None:
    from executor.actors import execute_run

    for run_id in run_ids:
        execute_run.send(str(run_id))


def wire() -> None:
    """Idempotent; called by the app, the CLI and every worker process at import."""
    run_queue.set_dispatcher(_send)
