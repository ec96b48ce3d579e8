"""Runs CPU-heavy pure work (parsing a file, generating a suite) in worker processes with a time budget.

A thread would not do: Python threads share one interpreter lock, so a parse burning CPU in a thread
still delays the event loop (the health check, every other user's page). A worker process has its own,
runs at a lower CPU priority, and can be killed when it runs past its budget, which a thread cannot.

* workers are plain ``python -m orchestra_app.services.isolation`` processes (not multiprocessing:
  its spawn/forkserver children re-import the parent's ``__main__``, i.e. the web server's CLI), kept
  warm between tasks, with the importers and generator preloaded, talking length-prefixed pickles
  over their stdin/stdout;
* at most ``ORCHESTRA_IMPORT_WORKERS`` tasks run at once (default: the CPU count, at least 2); others
  wait up to ``ORCHESTRA_IMPORT_QUEUE_S`` for a worker, then get BUSY (429);
* a task still running after ``ORCHESTRA_IMPORT_TIMEOUT_S`` has its worker killed: TIMEOUT (422)
  naming the file; a fresh worker takes its place on the next task;
* a task that stores something asks the parent first (``commit_gate()`` right before its commit): the
  parent answers "go" only within the budget and from then on waits for the answer instead of killing,
  so an import is never both reported as timed out and stored;
* a worker's address space is capped at ``ORCHESTRA_IMPORT_MEMORY_MB``: running out is TOO_LARGE
  (413) and the worker is replaced;
* an OrchestraError in the worker comes back as itself (kind, file, line, pointer); anything else
  comes back as ``IsolatedFailure`` with the worker's traceback, for the caller to log;
* each task carries the caller's configuration (``ORCHESTRA_*``, ``DB_URL``, ...), so a worker acts
  on the database and data folder the caller uses now.

``ORCHESTRA_IMPORT_ISOLATION=inline`` runs the work in the calling thread instead (debugging only).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any, TypeVar

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.settings import PROJECT_ROOT, get_settings

T = TypeVar("T")

# Imported by every worker at start, so a task pays only for its own work.
PRELOAD = ("orchestra_app.services.processes", "orchestra_app.services.specs")
WORKER_NICE = 10  # imports are batch work: the web process wins the CPU when both want it
WORKER_START_TIMEOUT_S = 120.0
MAX_TASKS_PER_WORKER = 200  # recycled after this many tasks (fragmented memory, leaked state)
_HEADER = struct.Struct("!Q")
_READY = b"orchestra-isolation-ready"
_GATE = b"orchestra-isolation-commit?"
_GO, _STOP = b"go", b"stop"
COMMIT_GRACE_S = 300.0  # after "go": storing is bounded work; a worker still silent then is stuck


class IsolatedFailure(Exception):
    """An unexpected exception inside a worker; ``child_traceback`` is its formatted traceback."""

    def __init__(self, message: str, child_traceback: str) -> None:
        super().__init__(message)
        self.child_traceback = child_traceback

    def __str__(self) -> str:
        return f"{self.args[0]}\n--- worker traceback ---\n{self.child_traceback}"


class _WorkerGone(Exception):
    """The worker exited (killed, out of memory, crashed) before answering."""


# ---------------------------------------------------------------------------------------------- framing


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:  # an unbuffered pipe may take part of it per call
        written = stream.write(view)
        view = view[written or 0 :]
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise _WorkerGone("end of stream")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes]) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return _read_exact(stream, size)


# ----------------------------------------------------------------------------------------------- parent


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        env = {**os.environ, "ORCHESTRA_ISOLATION_MEMORY_MB": str(memory_mb)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestra_app.services.isolation"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: select() on the pipe must see every byte the worker sent
            cwd=str(PROJECT_ROOT),
            env=env,
            start_new_session=True,  # a Ctrl-C in the server's terminal is the server's to handle
        )
        self.tasks = 0
        self.memory_mb = memory_mb
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        if not self._wait_readable(WORKER_START_TIMEOUT_S) or _read_frame(self.stdout) != _READY:
            self.kill()
            raise _WorkerGone("the import worker did not start")

    def _wait_readable(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.stdout], [], [], left)
            if ready:
                return True

    def call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], budget: float
    ) -> Any:
        """(status, payload) from the worker; None when the budget ran out (the worker is then killed)."""
        self.tasks += 1
        request = (fn, args, kwargs, configuration())
        try:
            _write_frame(self.stdin, pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError) as exc:
            raise _WorkerGone(str(exc)) from None
        deadline = time.monotonic() + budget
        answered_gate = False  # after a gate answer the worker owes its result: wait, never kill
        allowed = False
        while True:
            wait = COMMIT_GRACE_S if answered_gate else deadline - time.monotonic()
            if not self._wait_readable(wait):
                self.kill()
                if answered_gate:
                    raise _WorkerGone("the worker stopped answering while storing")
                return None
            frame = _read_frame(self.stdout)
            if frame != _GATE:
                return pickle.loads(frame)
            # The worker is about to commit: "go" only within the budget (a retried commit asks again).
            if not answered_gate:
                allowed = time.monotonic() < deadline
                answered_gate = True
            try:
                _write_frame(self.stdin, _GO if allowed else _STOP)
            except (BrokenPipeError, OSError) as exc:
                raise _WorkerGone(str(exc)) from None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL is not refused; bounded anyway
            self.proc.wait(10)
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.slots: threading.BoundedSemaphore | None = None
        self.size = 0

    def semaphore(self, size: int) -> threading.BoundedSemaphore:
        with self.lock:
            if self.slots is None or self.size != size:
                self.slots, self.size = threading.BoundedSemaphore(size), size
            return self.slots

    def take(self, memory_mb: int) -> _Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive() and worker.memory_mb == memory_mb:
                    return worker
                worker.kill()
        return _Worker(memory_mb)

    def give_back(self, worker: _Worker) -> None:
        if not worker.alive() or worker.tasks >= MAX_TASKS_PER_WORKER:
            worker.kill()
            return
        with self.lock:
            self.idle.append(worker)

    def shutdown(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.kill()


_pool = _Pool()
atexit.register(_pool.shutdown)


def run_isolated(fn: Callable[..., T], /, *args: Any, what: str, file: str | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker process under the import budget; ``fn`` must be importable."""
    settings = get_settings()
    if settings.import_isolation == "inline":
        return fn(*args, **kwargs)
    slots = _pool.semaphore(max(1, settings.import_workers or max(2, os.cpu_count() or 1)))
    if not slots.acquire(timeout=settings.import_queue_s):
        raise OrchestraError(
            f"the server is busy with other imports; {what} was not started, retry in a moment",
            kind=ErrorKind.BUSY,
            file=file,
        )
    try:
        return _run(fn, args, kwargs, what=what, file=file)
    finally:
        slots.release()


def _run(
    fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], *, what: str, file: str | None
) -> T:
    settings = get_settings()
    budget, mb = settings.import_timeout_s, settings.import_memory_mb
    worker = _pool.take(mb)
    try:
        answer = worker.call(fn, args, kwargs, budget)
    except _WorkerGone:
        worker.kill()
        raise OrchestraError(
            f"{what} ended abnormally (the worker exited with {worker.proc.returncode}); the file is too "
            "large or complex",
            kind=ErrorKind.TOO_LARGE,
            file=file,
        ) from None
    except BaseException:
        worker.kill()
        raise
    if answer is None:
        raise OrchestraError(
            f"{what} took longer than its {budget:g} s budget and was stopped; the file is too complex "
            "(lower max_loop / max_scenarios, or split the model)",
            kind=ErrorKind.TIMEOUT,
            file=file,
        )
    status, payload = answer
    if status == "memory":
        worker.kill()
        raise OrchestraError(
            f"{what} needs more than the {mb} MB memory limit; the file is too large or complex",
            kind=ErrorKind.TOO_LARGE,
            file=file,
        )
    _pool.give_back(worker)
    if status == "ok":
        return payload  # type: ignore[no-any-return]
    if status == "error":
        raise payload
    message, child_traceback = payload
    raise IsolatedFailure(f"{what} failed: {message}", child_traceback)


# ----------------------------------------------------------------------------------------------- worker

# The settings of orchestra_app/settings.py come from these variables; each task carries the caller's
# values, so a worker started long ago works with the configuration the caller has now.
_SETTINGS_VARS = ("DB_URL", "REDIS_URL", "MQ_URL", "OIDC_ISSUER", "AI_SERVICE_URL")


def configuration() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("ORCHESTRA_") or k in _SETTINGS_VARS}


def _configure(env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("ORCHESTRA_") or k in _SETTINGS_VARS]:
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
    get_settings.cache_clear()


def _answer(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    try:
        result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except OrchestraError as exc:
        result = ("error", exc)
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:  # reported to the parent, which logs it with this traceback
        result = ("failure", (f"{type(exc).__name__}: {exc}"[:2000], traceback.format_exc()[-20_000:]))
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(("memory", None))
    except Exception as exc:  # e.g. an unpicklable result: our bug, still reported
        return pickle.dumps(("failure", (f"cannot send the result: {type(exc).__name__}: {exc}", "")))


_channel: tuple[IO[bytes], IO[bytes]] | None = None  # (to parent, from parent) inside a worker


def commit_gate(*, what: str = "the import", file: str | None = None) -> None:
    """Called by isolated work right before it commits: returns when the parent allows the commit,
    raises TIMEOUT (nothing is stored) when the budget ran out first. A no-op outside a worker."""
    if _channel is None:
        return
    out, inp = _channel
    _write_frame(out, _GATE)
    if _read_frame(inp) != _GO:
        raise OrchestraError(
            f"{what} took longer than its {get_settings().import_timeout_s:g} s budget and was stopped "
            "before anything was stored",
            kind=ErrorKind.TIMEOUT,
            file=file,
        )


def _worker_main() -> None:
    global _channel
    # The protocol owns the real stdout; anything the work prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb")
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    mb = int(os.environ.get("ORCHESTRA_ISOLATION_MEMORY_MB", "0") or 0)
    if mb > 0:
        import resource

        limit = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    _write_frame(out, _READY)
    _channel = (out, inp)
    while True:
        try:
            request = _read_frame(inp)
        except _WorkerGone:
            return  # the parent closed the pipe: its server stopped
        fn, args, kwargs, env = pickle.loads(request)
        _configure(env)
        _write_frame(out, _answer(fn, args, kwargs))


if __name__ == "__main__":
    # Run the canonical module's loop (not this __main__ copy), so commit_gate() imported by the work
    # sees the channel set here.
    from orchestra_app.services import isolation

    isolation._worker_main()
