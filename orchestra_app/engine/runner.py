"""The step runner: one step (`run_step`) or a scenario's steps in a run mode (`run_steps`).

Pure: no database, no Redis, no Reflex. Plugins are chosen by the step's channelType through the
plugin registry; every result is recorded into the ExecutionContext so later steps can reference it
(`{{step.<alias>.response.body.id}}`). The runner emits typed events (engine/events.py) through one
``emit`` callable; the worker's consumers persist, publish and count them.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from orchestra_app.domain.errors import OrchestraError, ValidationFailed
from orchestra_app.domain.runs import RunMode, RunStatus
from orchestra_app.domain.steps import (
    ExecutionContext,
    ScenarioStepSpec,
    StepKind,
    StepResultData,
    StepStatus,
    Violation,
    ViolationType,
    outcome,
)
from orchestra_app.engine.context import new_context, record, restore
from orchestra_app.engine.events import (
    RunCancelled,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import PluginError, PluginRegistry, default_registry
from orchestra_app.plugins.windows import close_windows

log = logging.getLogger(__name__)

MAX_RETRIES = 10
COOPERATIVE_GRACE_S = 0.25  # a cooperative plugin that overruns its limit by more is failed anyway
Emit = Callable[[RunEvent], None]


# ---- daemon threads for steps with a timeout -----------------------------------------------------


_Outcome = tuple[bool, Any]  # (ok, result or exception)


class _StepTimedOut(Exception):
    """The step did not finish within its limit (the plugin call goes on, abandoned, on its thread)."""


class _StepThread(threading.Thread):
    def __init__(self, pool: _StepThreads) -> None:
        super().__init__(daemon=True, name="orchestra-step")
        self.pool = pool
        self.jobs: queue.SimpleQueue[tuple[Callable[[], StepResultData], queue.SimpleQueue[_Outcome]]] = (
            queue.SimpleQueue()
        )

    def run(self) -> None:
        while True:
            fn, reply = self.jobs.get()
            try:
                outcome: _Outcome = (True, fn())
            except BaseException as exc:
                outcome = (False, exc)
            reply.put(outcome)
            if not self.pool.release(self):
                return


class _StepThreads:
    """Reusable daemon threads: a step that overruns its timeout is abandoned, never joined.

    Daemon threads (unlike ThreadPoolExecutor's) cannot keep a worker process alive at exit, and
    an abandoned plugin call only holds its own thread until its own I/O timeout fires. Results come
    back through a SimpleQueue (cheaper than a Future's condition variable, on every step).
    """

    def __init__(self, keep_idle: int = 16) -> None:
        self._idle: list[_StepThread] = []
        self._lock = threading.Lock()
        self._keep_idle = keep_idle

    def call(self, fn: Callable[[], StepResultData], timeout: float) -> StepResultData:
        """``fn()`` on a pooled thread; ``_StepTimedOut`` when it is not done within ``timeout``."""
        reply: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        with self._lock:
            thread = self._idle.pop() if self._idle else None
        if thread is None:
            thread = _StepThread(self)
            thread.jobs.put((fn, reply))
            thread.start()
        else:
            thread.jobs.put((fn, reply))
        try:
            ok, value = reply.get(timeout=timeout)
        except queue.Empty:
            raise _StepTimedOut from None
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def release(self, thread: _StepThread) -> bool:
        with self._lock:
            if len(self._idle) >= self._keep_idle:
                return False
            self._idle.append(thread)
            return True


_THREADS = _StepThreads()


# ---- one step ------------------------------------------------------------------------------------


def _violation(vtype: ViolationType, code: str, message: str, **details: Any) -> Violation:
    return Violation(type=vtype, code=code, message=message, details=details)


def _failed(step: ScenarioStepSpec, violation: Violation, duration_ms: int = 0) -> StepResultData:
    return StepResultData(
        step_id=step.id,
        step_alias=step.alias,
        status=StepStatus.FAILED,
        duration_ms=duration_ms,
        violations=[violation],
    )


def skipped(step: ScenarioStepSpec) -> StepResultData:
    return StepResultData(step_id=step.id, step_alias=step.alias, status=StepStatus.SKIPPED)


def _int_meta(step: ScenarioStepSpec, key: str, default: int, upper: int) -> int:
    value = step.action.meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(0, min(int(value), upper))


def step_timeout_for(step: ScenarioStepSpec, default_s: float | None) -> float | None:
    """The engine's limit for one step: the run's step timeout, or longer when the step declares
    its own ``meta.timeoutMs`` (a polling assertion that waits 60 s gets 60 s plus one second)."""
    declared = step.action.meta.get("timeoutMs")
    if isinstance(declared, int | float) and not isinstance(declared, bool) and declared > 0:
        own = declared / 1000 + 1.0
        return own if default_s is None else max(default_s, own)
    return default_s


def _timeout_violation(step: ScenarioStepSpec, timeout_s: float | None, code: str) -> Violation:
    what = "run" if code == "RUN_TIMEOUT" else "step"
    limit = f"{timeout_s:.3g} s" if timeout_s is not None else "its limit"
    return _violation(
        ViolationType.TIMEOUT,
        code,
        f"step {step.alias!r} did not finish within the {what} timeout ({limit})",
        timeoutS=timeout_s,
    )


def _as_engine_timeout(result: StepResultData, engine: Violation) -> None:
    """A cooperative plugin stopped at the engine's limit: its own TIMEOUT finding becomes the
    engine's (STEP_TIMEOUT / RUN_TIMEOUT), with the plugin's code and message kept in details."""
    own = [v for v in result.violations if v.type == ViolationType.TIMEOUT]
    if not own:
        return
    engine.details["plugin"] = {"code": own[0].code, "message": own[0].message}
    result.violations = [engine, *(v for v in result.violations if v.type != ViolationType.TIMEOUT)]
    result.status = StepStatus.FAILED


def _attempt(
    step: ScenarioStepSpec,
    run: StepRunContext,
    registry: PluginRegistry,
    timeout_s: float | None,
    timeout_code: str,
) -> StepResultData:
    started = time.perf_counter()
    try:
        plugin = registry.plugin_for(step.channel_type)
    except PluginError as exc:
        return _failed(step, _violation(ViolationType.VALIDATION_ERROR, "NO_PLUGIN", exc.message))

    def call() -> StepResultData:
        return plugin.execute(step, run)

    try:
        if timeout_s is None:
            result = call()
        elif getattr(plugin, "cooperative_timeout", False):
            # the plugin caps its own waits by run.remaining_s(): no watchdog thread needed
            result = call()
            if time.perf_counter() - started > timeout_s + COOPERATIVE_GRACE_S:
                raise _StepTimedOut
            if run.deadline is not None and time.monotonic() >= run.deadline - 0.002:
                _as_engine_timeout(result, _timeout_violation(step, timeout_s, timeout_code))
        else:
            # the caller's context variables (log fields such as the run id) travel with the step
            context = contextvars.copy_context()
            result = _THREADS.call(lambda: context.run(call), max(timeout_s, 0.0))
    except _StepTimedOut:
        elapsed = round((time.perf_counter() - started) * 1000)
        return _failed(step, _timeout_violation(step, timeout_s, timeout_code), elapsed)
    except Exception as exc:  # a plugin bug must fail its step, never the run
        log.exception("plugin %s raised on step %s", plugin.id, step.alias)
        return _failed(
            step,
            _violation(
                ViolationType.VALIDATION_ERROR,
                "PLUGIN_ERROR",
                f"plugin {plugin.id!r} failed: {type(exc).__name__}: {exc}",
                plugin=plugin.id,
            ),
            round((time.perf_counter() - started) * 1000),
        )
    if not isinstance(result, StepResultData):
        return _failed(
            step,
            _violation(
                ViolationType.VALIDATION_ERROR,
                "PLUGIN_ERROR",
                f"plugin {plugin.id!r} returned {type(result).__name__}, not a StepResultData",
                plugin=plugin.id,
            ),
        )
    if result.status not in (StepStatus.PASSED, StepStatus.FAILED, StepStatus.FLAKY, StepStatus.SKIPPED):
        result.status = outcome(result.violations)  # warning-level findings do not fail a step
    return result


def _run_step(
    step: ScenarioStepSpec,
    run: StepRunContext,
    registry: PluginRegistry,
    timeout_s: float | None,
    timeout_code: str = "STEP_TIMEOUT",
) -> StepResultData:
    retries = _int_meta(step, "retries", 0, MAX_RETRIES)
    delay_s = _int_meta(step, "retryDelayMs", 0, 600_000) / 1000
    failures: list[Violation] = []
    started = time.perf_counter()
    result = _attempt(step, run, registry, timeout_s, timeout_code)
    for attempt in range(1, retries + 1):
        if result.status != StepStatus.FAILED or run.cancelled():
            break
        for violation in result.violations:
            details = {**violation.details, "attempt": attempt}
            failures.append(violation.model_copy(update={"details": details}))
        if delay_s and _wait_cancellable(delay_s, run.cancelled):
            break
        result = _attempt(step, run, registry, timeout_s, timeout_code)
    if failures and result.status == StepStatus.PASSED:
        # Passed only after failing: FLAKY, with what failed on the earlier attempts kept for the report.
        result.status = StepStatus.FLAKY
        failed = sorted({int(v.details.get("attempt", 0)) for v in failures})
        result.flaky = (
            f"failed on attempt {', '.join(map(str, failed))} of its retry policy (meta.retries={retries}), "
            f"passed on attempt {failed[-1] + 1}"
        )
        result.violations = failures + result.violations
    if failures:
        result.duration_ms = round((time.perf_counter() - started) * 1000)
    result.step_id = step.id
    result.step_alias = step.alias
    record(run.context, result)
    return result


def _wait_cancellable(seconds: float, cancelled: Callable[[], bool]) -> bool:
    """Sleeps up to ``seconds``; True when cancelled meanwhile."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancelled():
            return True
        time.sleep(min(left, 0.05))
    return cancelled()


def run_step(
    step: ScenarioStepSpec,
    run_context: StepRunContext,
    registry: PluginRegistry | None = None,
    *,
    timeout_s: float | None = None,
) -> StepResultData:
    """Runs one step through the plugin of its channelType and records the result into
    ``run_context.context`` (so ``{{step.<alias>...}}`` resolves in later steps).

    Never raises for a failing system under test or a broken plugin: those become violations.
    ``timeout_s`` (or the step's own ``meta.timeoutMs``) bounds it with a TIMEOUT violation;
    ``meta.retries`` re-runs a failing step, and a later pass makes it FLAKY.
    """
    return _run_step(step, run_context, registry or default_registry(), step_timeout_for(step, timeout_s))


# ---- a run ---------------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    status: RunStatus  # PASSED, FAILED or CANCELLED
    results: dict[int, StepResultData]  # order_index -> result, for every step of the plan
    context: ExecutionContext
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    last_seq: int = 0
    duration_ms: int = 0

    @property
    def passed(self) -> bool:
        return self.status == RunStatus.PASSED


class _Emitter:
    def __init__(
        self, emit: Emit | None, run_id: UUID | None, tenant_id: UUID | None, attempt: int, seq: int
    ) -> None:
        self.emit = emit
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.attempt = attempt
        self.seq = seq

    def __call__(self, cls: type[RunEvent], **payload: Any) -> None:
        if self.emit is None:
            return
        self.seq += 1
        event = cls(
            run_id=self.run_id or UUID(int=0),
            seq=self.seq,
            tenant_id=self.tenant_id,
            attempt=self.attempt,
            **payload,
        )
        self.emit(event)


def _step_fields(step: ScenarioStepSpec) -> dict[str, Any]:
    return {
        "order_index": step.order_index,
        "alias": step.alias,
        "name": step.name,
        "kind": str(step.kind),
        "channel_type": str(step.channel_type),
    }


def plan_steps(steps: Sequence[ScenarioStepSpec], mode: RunMode, start_index: int) -> list[ScenarioStepSpec]:
    """The steps a run covers, in order; raises ValidationFailed naming ``startStepIndex``."""
    ordered = sorted(steps, key=lambda s: s.order_index)
    seen: set[int] = set()
    for step in ordered:
        if step.order_index in seen:
            raise ValidationFailed(f"two steps share orderIndex {step.order_index}", field="steps")
        seen.add(step.order_index)
    if mode in (RunMode.SINGLE_STEP, RunMode.FROM_STEP) and start_index not in seen:
        known = f"{ordered[0].order_index}..{ordered[-1].order_index}" if ordered else "none"
        raise ValidationFailed(
            f"{mode.value} needs a step with orderIndex {start_index} (steps: {known})",
            field="startStepIndex",
        )
    if mode == RunMode.SINGLE_STEP:
        return [s for s in ordered if s.order_index == start_index]
    return ordered


def run_steps(
    steps: Sequence[ScenarioStepSpec],
    environment: ExecutionEnvironment,
    context: ExecutionContext | None = None,
    *,
    mode: RunMode = RunMode.RUN_ALL_STEPS,
    start_index: int = 0,
    previous_results: Mapping[int, StepResultData] | None = None,
    previous_run_id: UUID | None = None,
    recorded: Mapping[int, StepResultData] | None = None,
    emit: Emit | None = None,
    should_cancel: Callable[[], bool] | None = None,
    step_timeout_s: float | None = None,
    run_timeout_s: float | None = None,
    registry: PluginRegistry | None = None,
    run_id: UUID | None = None,
    tenant_id: UUID | None = None,
    attempt: int = 1,
    seq_start: int = 0,
    worker: str = "",
    history: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> RunOutcome:
    """Runs a scenario's steps in one of the seed's modes (5.3) and returns the outcome.

    * RUN_ALL_STEPS: every step runs, every violation is recorded.
    * STOP_ON_FIRST_FAILURE: after the first FAILED step the rest are SKIPPED.
    * SINGLE_STEP: only the step with orderIndex ``start_index`` runs, with the supplied ``context``
      (``previous_results`` are loaded into it first, e.g. from an earlier run).
    * FROM_STEP: steps before ``start_index`` reuse ``previous_results`` (an earlier run's results,
      response bodies included, so later templates resolve); the rest run.

    ``recorded`` holds results an earlier attempt of this same run already stored (a worker died):
    they are restored into the context silently and not run again. Between steps the run stops when
    ``should_cancel()`` turns True (CANCELLED) or ``run_timeout_s`` has passed (FAILED); the remaining
    steps are SKIPPED. Events are numbered from ``seq_start + 1``. An exception raised by ``emit``
    (e.g. the worker lost the run) propagates and ends the run where it is.

    ``history`` (step alias -> (run id, "PASSED" | "FAILED") of earlier runs of the same scenario
    version and data, newest first; loaded by the worker) marks a step whose outcome differs from
    them as flaky (``flaky_across_runs``); ``meta.retries`` marks one that passed only on a retry.
    """
    registry = registry or default_registry()
    cancel = should_cancel or (lambda: False)
    plan = plan_steps(steps, mode, start_index)
    previous = dict(previous_results or {})
    if mode == RunMode.FROM_STEP:
        missing = [
            s.order_index for s in plan if s.order_index < start_index and s.order_index not in previous
        ]
        if missing and not all(i in (recorded or {}) for i in missing):
            raise ValidationFailed(
                f"FROM_STEP reuses steps before {start_index}, but the referenced run has no result for "
                f"orderIndex {', '.join(map(str, missing))}",
                field="fromRunId",
            )
    context = context if context is not None else new_context(run_id=run_id)
    if mode == RunMode.SINGLE_STEP and previous:
        restore(context, [previous[i] for i in sorted(previous) if i != start_index])
    done = dict(recorded or {})
    emitter = _Emitter(emit, run_id, tenant_id, attempt, seq_start)
    run_started = time.monotonic()
    deadline = run_started + run_timeout_s if run_timeout_s is not None else None
    emitter(
        RunStarted,
        worker=worker,
        mode=mode.value,
        step_count=len(plan),
        resumed=bool(done) or attempt > 1,
    )
    results: dict[int, StepResultData] = {}
    stop: RunStatus | None = None
    reason: str | None = None
    to_run = [
        s
        for s in plan
        if s.order_index not in done and not (mode == RunMode.FROM_STEP and s.order_index < start_index)
    ]
    run_context = StepRunContext(environment, context, cancelled=cancel)
    try:
        problem = missing_connections(to_run, environment, registry) or _prepare(
            to_run, run_context, registry
        )
        if problem is not None:
            stop, reason = RunStatus.FAILED, problem
        for step in plan:
            index = step.order_index
            if index in done:
                restore(context, [done[index]])
                results[index] = done[index]
                continue
            if stop is None and mode == RunMode.FROM_STEP and index < start_index:
                reused = previous[index].model_copy(deep=True)
                record(context, reused)
                results[index] = reused
                emitter(
                    StepFinished,
                    **_step_fields(step),
                    **_result_fields(reused),
                    reused_from_run_id=str(previous_run_id) if previous_run_id else None,
                    result=reused,
                )
                continue
            if stop is None and cancel():
                stop, reason = RunStatus.CANCELLED, "cancelled"
            if stop is None and deadline is not None and time.monotonic() >= deadline:
                stop, reason = RunStatus.FAILED, f"run timeout ({run_timeout_s:g} s) reached"
            if stop is not None:
                result = skipped(step)
                results[index] = result
                emitter(StepFinished, **_step_fields(step), **_result_fields(result), result=result)
                continue
            emitter(StepStarted, **_step_fields(step))
            timeout = step_timeout_for(step, step_timeout_s)
            timeout_code = "STEP_TIMEOUT"
            if deadline is not None:
                left = max(deadline - time.monotonic(), 0.0)
                if timeout is None or left < timeout:
                    timeout, timeout_code = left, "RUN_TIMEOUT"
            step_deadline = time.monotonic() + timeout if timeout is not None else None
            run = StepRunContext(
                environment, context, cancelled=_until(cancel, step_deadline), deadline=step_deadline
            )
            result = _run_step(step, run, registry, timeout, timeout_code)
            if history:
                flaky_across_runs(result, history.get(step.alias, ()))
            results[index] = result
            emitter(StepFinished, **_step_fields(step), **_result_fields(result), result=result)
            if result.status == StepStatus.FAILED and mode == RunMode.STOP_ON_FIRST_FAILURE:
                stop, reason = RunStatus.FAILED, f"stopped after step {step.alias!r} failed"
            if timeout_code == "RUN_TIMEOUT" and any(v.code == "RUN_TIMEOUT" for v in result.violations):
                stop, reason = RunStatus.FAILED, f"run timeout ({run_timeout_s:g} s) reached"
    finally:
        close_windows(run_context)  # tap queues deleted, broker connections closed, whatever happened
    counts = dict(Counter(str(r.status) for r in results.values()))
    if stop == RunStatus.CANCELLED:
        status = RunStatus.CANCELLED
    elif not plan:
        status, reason = RunStatus.FAILED, "the scenario has no steps to run"
    elif stop == RunStatus.FAILED or any(r.status == StepStatus.FAILED for r in results.values()):
        status = RunStatus.FAILED
    else:
        status = RunStatus.PASSED
    duration_ms = round((time.monotonic() - run_started) * 1000)
    finished_cls = RunCancelled if status == RunStatus.CANCELLED else RunFinished
    emitter(finished_cls, status=status.value, reason=reason, counts=counts, duration_ms=duration_ms)
    return RunOutcome(
        status=status,
        results=results,
        context=context,
        reason=reason,
        counts=counts,
        last_seq=emitter.seq,
        duration_ms=duration_ms,
    )


def flaky_across_runs(result: StepResultData, earlier: Sequence[tuple[str, str]]) -> None:
    """Marks ``result`` flaky when its outcome differs from the same step's in earlier runs of the same
    scenario version and data (``earlier``: (run id, "PASSED" | "FAILED"), newest first). A pass
    becomes FLAKY (it still counts as passed); a failure stays FAILED and says it passed before."""
    if result.status not in (StepStatus.PASSED, StepStatus.FAILED, StepStatus.FLAKY) or not earlier:
        return
    now = "FAILED" if result.status == StepStatus.FAILED else "PASSED"
    other = [run_id for run_id, outcome in earlier if outcome != now]
    if not other:
        return
    verb = "failed" if now == "PASSED" else "passed"
    across = (
        f"{verb} in {len(other)} of the last {len(earlier)} runs of this scenario version with the same "
        f"data (latest: run {other[0]})"
    )
    result.flaky = f"{result.flaky}; {across}" if result.flaky else across
    if result.status == StepStatus.PASSED:
        result.status = StepStatus.FLAKY


def _until(cancel: Callable[[], bool], deadline: float | None) -> Callable[[], bool]:
    """What a polling plugin sees as ``cancelled()``: the run is cancelled or the step is out of time."""
    if deadline is None:
        return cancel
    return lambda: cancel() or time.monotonic() >= deadline


_KIND_NAMES = {"service": "service", "db": "db profile", "kafka": "kafka profile", "queue": "queue profile"}


def missing_connections(
    steps: Sequence[ScenarioStepSpec], environment: ExecutionEnvironment, registry: PluginRegistry
) -> str | None:
    """Resolves every alias the steps name (services, db/kafka/queue profiles; each plugin says which
    through ``ProtocolPlugin.connections``) against the environment before the first step. Missing ones
    fail the run before any step runs; the reason names each alias, the step needing it, and what the
    environment has."""
    needed: dict[tuple[str, str], str] = {}
    for step in steps:
        try:
            plugin = registry.plugin_for(step.channel_type)
        except PluginError:
            continue  # the step itself fails with NO_PLUGIN
        connections = getattr(plugin, "connections", None)
        if connections is None:
            continue
        try:
            wanted = list(connections(step))
        except Exception:  # a plugin bug must not hide the step's own failure
            log.exception("plugin %s failed to list the connections of step %s", plugin.id, step.alias)
            continue
        for kind, name in wanted:
            needed.setdefault((kind, name), step.alias)
    problems: list[str] = []
    for (kind, name), alias in needed.items():
        known = environment.services if kind == "service" else environment.profiles.get(kind, {})
        if name in known:
            continue
        what = _KIND_NAMES.get(kind, f"{kind} profile")
        problems.append(
            f"environment {environment.name!r} has no {what} {name!r} (step {alias!r} names it; "
            f"known: {', '.join(sorted(known)) or 'none'})"
        )
    return "; ".join(problems) or None


def _prepare(steps: Sequence[ScenarioStepSpec], run: StepRunContext, registry: PluginRegistry) -> str | None:
    """Lets each ASSERTION step's plugin open its observation window before the first step
    (``ProtocolPlugin.prepare``, see plugins/windows.py): a broker tap must exist before the action
    that publishes. A prepare that fails fails the run before any step; the reason names the step."""
    for step in steps:
        if step.kind != StepKind.ASSERTION:
            continue
        try:
            plugin = registry.plugin_for(step.channel_type)
        except PluginError:
            continue  # the step itself fails with NO_PLUGIN
        prepare = getattr(plugin, "prepare", None)
        if prepare is None:
            continue
        try:
            prepare(step, run)
        except OrchestraError as exc:
            return f"step {step.alias!r} could not be prepared: {exc}"
        except Exception as exc:  # a plugin bug: same outcome, with the exception named
            log.exception("plugin %s failed to prepare step %s", plugin.id, step.alias)
            return f"step {step.alias!r} could not be prepared: {type(exc).__name__}: {exc}"
    return None


def _result_fields(result: StepResultData) -> dict[str, Any]:
    return {
        "status": str(result.status),
        "duration_ms": result.duration_ms,
        "actual_status_code": result.actual_status_code,
        "violations": [v.to_json_dict() for v in result.violations],
        "flaky": result.flaky,
    }
