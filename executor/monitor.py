"""Per-process run monitor: heartbeats for held runs, cancel flags, and the reaper.

One daemon thread per worker process (started by the middleware at worker boot):

* every ``cancel_poll_s``: reads which held runs were cancelled or taken away (the runner checks
  ``should_stop(run_id)`` between steps, and polling plugins through ``cancelled()``);
* every ``heartbeat_interval_s``: writes ``heartbeat_at`` of the held runs;
* every ``reaper_interval_s`` (with jitter): re-queues IN_PROGRESS runs whose heartbeat is older
  than ``heartbeat_timeout_s`` and re-sends QUEUED runs whose message was lost.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from uuid import UUID

from orchestra_app.services import run_store
from orchestra_app.settings import Settings, get_settings

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunMonitor:
    def __init__(self, settings: Settings | None = None, *, reaper: bool = True) -> None:
        self.settings = settings or get_settings()
        self.worker_id = worker_id()
        self.reaper = reaper
        self._held: dict[UUID, int] = {}
        self._cancelled: set[UUID] = set()
        self._lost: set[UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.draining = False  # the worker is shutting down: release runs at the next step boundary

    # ---- held runs (called from actor threads) ------------------------------------------------

    def hold(self, run_id: UUID, attempt: int, *, cancelled: bool = False) -> None:
        with self._lock:
            self._held[run_id] = attempt
            self._lost.discard(run_id)
            if cancelled:
                self._cancelled.add(run_id)
            else:
                self._cancelled.discard(run_id)

    def release(self, run_id: UUID) -> None:
        with self._lock:
            self._held.pop(run_id, None)
            self._cancelled.discard(run_id)
            self._lost.discard(run_id)

    def should_stop(self, run_id: UUID) -> bool:
        """True once the run was cancelled, or taken from this worker (then its next write fails)."""
        return run_id in self._cancelled or run_id in self._lost

    # ---- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="orchestra-run-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def tick(self, *, beat: bool) -> None:
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        state = run_store.poll_held(held, self.worker_id, beat=beat)
        with self._lock:
            for run_id in held:
                if run_id not in self._held:
                    continue
                if run_id in state.cancelled:
                    self._cancelled.add(run_id)
                if run_id in state.lost:
                    self._lost.add(run_id)

    def reap(self) -> run_store.ReapReport:
        s = self.settings
        return run_store.reap(heartbeat_timeout_s=s.heartbeat_timeout_s, requeue_after_s=s.requeue_after_s)

    def _loop(self) -> None:
        s = self.settings
        now = time.monotonic()
        next_beat = now + s.heartbeat_interval_s
        # first reap soon after boot: a worker restarting after a crash picks its runs up quickly
        next_reap = now + random.uniform(0.2, 1.0) * min(s.reaper_interval_s, 2.0)
        while not self._stop.is_set():
            now = time.monotonic()
            beat = now >= next_beat
            try:
                self.tick(beat=beat)
            except Exception as exc:  # the database may be briefly away; runs keep going
                log.warning("run monitor tick failed: %s: %s", type(exc).__name__, exc)
            if beat:
                next_beat = now + s.heartbeat_interval_s
            if self.reaper and now >= next_reap:
                try:
                    self.reap()
                except Exception as exc:
                    log.warning("reaper failed: %s: %s", type(exc).__name__, exc)
                next_reap = now + s.reaper_interval_s * random.uniform(0.8, 1.2)
            self._wake.wait(s.cancel_poll_s)


_current: RunMonitor | None = None
_current_lock = threading.Lock()


def current() -> RunMonitor:
    """This process's monitor (started on first use if the middleware has not started one)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = RunMonitor()
            _current.start()
        return _current


def stop_current() -> None:
    """Worker shutdown: held runs are released at their next step boundary, no new run starts in
    this process (``current()`` keeps returning the draining monitor), the thread stops."""
    with _current_lock:
        if _current is not None:
            _current.draining = True
            _current.stop()


def reset_current() -> None:
    """Stops and forgets this process's monitor without draining (the next ``current()`` starts a
    fresh one): for a process that switches databases, i.e. tests driving the in-process worker."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.stop()
            _current = None
