"""Observation windows: what an ASSERTION step may see, opened before the action that causes it.

A side-effect assertion usually comes AFTER the action that causes the effect, yet some brokers only
show a message to a watcher that existed when it was published (a RabbitMQ tap queue), and the
others need a point in time or a position to read from (Kafka offsets by time, a Redis stream id).
So the engine opens every assertion step's window before the run's first step:

    prepare_windows(steps, run, plugin_for)   # before the step sequence (ProtocolPlugin.prepare)
    ... run the steps; an assertion step takes its window with take_window(run, step) ...
    close_windows(run)                         # after the run, whatever happened (idempotent)

Windows live in the environment (``resources``), keyed by the run id and the step alias, so any
StepRunContext of the same run finds them. A step executed without a prepared window (SINGLE_STEP
debugging, an engine that does not call prepare) opens one when it starts; each plugin documents what
it then cannot see.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec, StepKind

log = logging.getLogger(__name__)
_RESOURCE_KEY = "windows:registry"


@runtime_checkable
class ObservationWindow(Protocol):
    """An open window of one assertion step; ``opened_at`` is wall-clock epoch seconds."""

    opened_at: float

    def close(self) -> None: ...


@dataclass
class TimeWindow:
    """A window that is only a point in time (and optionally a broker position), nothing to close."""

    opened_at: float = field(default_factory=time.time)
    position: Any = None

    def close(self) -> None:
        return None


class WindowRegistry:
    """Open windows by (run id, step alias); thread-safe; closing a run closes its windows once."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], ObservationWindow] = {}
        self._lock = threading.Lock()

    def put(self, run_key: str, alias: str, window: ObservationWindow) -> None:
        with self._lock:
            old = self._windows.pop((run_key, alias), None)
            self._windows[(run_key, alias)] = window
        if old is not None:
            _close_quietly(old)

    def get(self, run_key: str, alias: str) -> ObservationWindow | None:
        with self._lock:
            return self._windows.get((run_key, alias))

    def close_run(self, run_key: str) -> int:
        with self._lock:
            keys = [k for k in self._windows if k[0] == run_key]
            windows = [self._windows.pop(k) for k in keys]
        for window in windows:
            _close_quietly(window)
        return len(windows)

    def open_count(self) -> int:
        with self._lock:
            return len(self._windows)

    def close(self) -> None:
        """Called by ExecutionEnvironment.close(): nothing may stay open past the environment."""
        with self._lock:
            windows = list(self._windows.values())
            self._windows.clear()
        for window in windows:
            _close_quietly(window)


def _close_quietly(window: ObservationWindow) -> None:
    try:
        window.close()
    except Exception as exc:  # a broken broker connection must not stop the others from closing
        log.warning("closing an observation window failed: %s: %s", type(exc).__name__, exc)


def run_key(run: Any) -> str:
    run_id = run.context.run_id
    return str(run_id) if run_id is not None else ""


def registry(run: Any) -> WindowRegistry:
    registry: WindowRegistry = run.environment.resource(_RESOURCE_KEY, WindowRegistry)
    return registry


def take_window(run: Any, step: ScenarioStepSpec) -> ObservationWindow | None:
    """The window prepared for ``step`` in this run (it stays registered until the run closes)."""
    return registry(run).get(run_key(run), step.alias)


def remember_window(run: Any, step: ScenarioStepSpec, window: ObservationWindow) -> None:
    registry(run).put(run_key(run), step.alias, window)


def prepare_windows(
    steps: Iterable[ScenarioStepSpec],
    run: Any,
    plugin_for: Callable[[ChannelType | str], Any],
) -> int:
    """Calls ``prepare(step, run)`` of each ASSERTION step's plugin; returns how many were prepared.

    A plugin's ``prepare`` raises an OrchestraError when the window cannot be opened (unknown alias,
    broker down): the engine then fails the run before its first step, naming the step.
    """
    prepared = 0
    for step in steps:
        if step.kind != StepKind.ASSERTION:
            continue
        plugin = plugin_for(step.channel_type)
        prepare = getattr(plugin, "prepare", None)
        if prepare is None:
            continue
        if prepare(step, run):
            prepared += 1
    return prepared


def close_windows(run: Any) -> int:
    """Closes every window of the run (tap queues deleted, connections closed); idempotent."""
    return registry(run).close_run(run_key(run))
