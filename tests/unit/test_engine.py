"""The pure engine: run modes, context recording, events, cancellation, timeouts, retries."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.runs import RunMode, RunStatus
from orchestra_app.domain.steps import (
    ActionDefinition,
    ScenarioStepSpec,
    StepResultData,
    StepStatus,
    Violation,
    ViolationType,
)
from orchestra_app.domain.templating import render
from orchestra_app.engine import (
    RunCancelled,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRunner,
    StepStarted,
    new_context,
    run_step,
    run_steps,
)
from orchestra_app.plugins.base import ExecutionEnvironment, ProtocolPlugin, StepRunContext
from orchestra_app.plugins.registry import PluginRegistry

pytestmark = pytest.mark.unit


class ScriptExecutor:
    """Behaves as ``step.action.meta`` says; renders inputTemplate so templates are exercised."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.flaky_left: dict[str, int] = {}
        self.lock = threading.Lock()

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        with self.lock:
            self.calls.append(step.alias)
        meta = step.action.meta
        body = render(step.action.input_template, run.template_scope())
        result = StepResultData(step_alias=step.alias, status=StepStatus.PASSED, response_body=body)
        if "sleep" in meta:
            time.sleep(meta["sleep"])
        if meta.get("poll"):
            # a long polling assertion: gives up as soon as the run is cancelled
            while not run.cancelled():
                time.sleep(0.01)
            result.violations.append(Violation(type=ViolationType.TIMEOUT, code="GAVE_UP", message="stop"))
        if meta.get("raise"):
            raise RuntimeError("plugin bug")
        if meta.get("fail"):
            result.violations.append(
                Violation(type=ViolationType.HTTP_ERROR, code="UNEXPECTED_STATUS", message="boom")
            )
        if "flaky" in meta:
            left = self.flaky_left.setdefault(step.alias, meta["flaky"])
            if left > 0:
                self.flaky_left[step.alias] = left - 1
                result.violations.append(
                    Violation(type=ViolationType.HTTP_ERROR, code="HTTP_SERVER_ERROR", message="503")
                )
        result.status = StepStatus.FAILED if result.violations else StepStatus.PASSED
        return result


class ScriptPlugin(ProtocolPlugin):
    id = "script"
    channel_types = ("HTTP_REST",)

    def __init__(self) -> None:
        self.step_executor = ScriptExecutor()


@pytest.fixture
def plugin() -> ScriptPlugin:
    return ScriptPlugin()


@pytest.fixture
def registry(plugin: ScriptPlugin) -> PluginRegistry:
    reg = PluginRegistry()
    reg.register(plugin)
    return reg


def step(index: int, alias: str | None = None, template: Any = None, **meta: Any) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        order_index=index,
        alias=alias or f"s{index}",
        name=f"step {index}",
        action=ActionDefinition(input_template=template or {"n": index}, meta=meta),
    )


def collect() -> tuple[list[RunEvent], Any]:
    events: list[RunEvent] = []
    return events, events.append


def env() -> ExecutionEnvironment:
    return ExecutionEnvironment(variables={"region": "eu"})


def test_run_all_steps_records_context_and_numbers_events(registry: PluginRegistry) -> None:
    steps = [
        step(0, "create", {"id": "o-{{data.n}}"}),
        step(1, "get", {"path": "/orders/{{step.create.response.body.id}}", "run": "{{run.id}}"}),
        step(2, "region", {"r": "{{env.region}}"}),
    ]
    run_id = uuid.uuid4()
    events, emit = collect()
    outcome = run_steps(
        steps,
        env(),
        new_context(run_id=run_id, data={"n": 7}),
        emit=emit,
        registry=registry,
        run_id=run_id,
        seq_start=4,
    )
    assert outcome.status == RunStatus.PASSED and outcome.passed
    assert outcome.results[1].response_body == {"path": "/orders/o-7", "run": str(run_id)}
    assert outcome.context.steps_by_alias["region"].response_body == {"r": "eu"}
    assert [type(e) for e in events] == [RunStarted] + [StepStarted, StepFinished] * 3 + [RunFinished]
    assert [e.seq for e in events] == list(range(5, 5 + len(events)))
    assert outcome.last_seq == events[-1].seq
    assert all(e.run_id == run_id for e in events)
    assert outcome.counts == {"PASSED": 3}


def test_missing_template_variable_fails_only_that_step(registry: PluginRegistry) -> None:
    steps = [step(0, "a", {"x": "{{data.missing}}"}), step(1, "b")]
    outcome = run_steps(steps, env(), registry=registry)
    # The script plugin lets the TemplateError escape: the engine turns it into PLUGIN_ERROR, and
    # the next step still runs.
    assert outcome.results[0].status == StepStatus.FAILED
    assert "data.missing" in outcome.results[0].violations[0].message
    assert outcome.results[1].status == StepStatus.PASSED
    assert outcome.status == RunStatus.FAILED


def test_stop_on_first_failure_skips_the_rest(registry: PluginRegistry, plugin: ScriptPlugin) -> None:
    steps = [step(0), step(1, fail=True), step(2), step(3)]
    events, emit = collect()
    outcome = run_steps(steps, env(), mode=RunMode.STOP_ON_FIRST_FAILURE, emit=emit, registry=registry)
    assert outcome.status == RunStatus.FAILED
    assert [outcome.results[i].status for i in range(4)] == [
        StepStatus.PASSED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.SKIPPED,
    ]
    assert plugin.step_executor.calls == ["s0", "s1"]
    assert "s1" in (outcome.reason or "")
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.status for e in finished] == ["PASSED", "FAILED", "SKIPPED", "SKIPPED"]


def test_run_all_steps_keeps_going_after_a_failure(registry: PluginRegistry, plugin: ScriptPlugin) -> None:
    outcome = run_steps([step(0, fail=True), step(1), step(2)], env(), registry=registry)
    assert outcome.status == RunStatus.FAILED
    assert plugin.step_executor.calls == ["s0", "s1", "s2"]
    assert outcome.counts == {"FAILED": 1, "PASSED": 2}


def test_single_step_runs_one_step_with_the_supplied_context(
    registry: PluginRegistry, plugin: ScriptPlugin
) -> None:
    steps = [step(0, "create"), step(1, "get", {"id": "{{step.create.response.body.id}}"}), step(2)]
    earlier = {0: StepResultData(step_alias="create", status=StepStatus.PASSED, response_body={"id": "o-9"})}
    events, emit = collect()
    outcome = run_steps(
        steps,
        env(),
        mode=RunMode.SINGLE_STEP,
        start_index=1,
        previous_results=earlier,
        emit=emit,
        registry=registry,
    )
    assert outcome.status == RunStatus.PASSED
    assert list(outcome.results) == [1]
    assert outcome.results[1].response_body == {"id": "o-9"}
    assert plugin.step_executor.calls == ["get"]
    assert [type(e) for e in events] == [RunStarted, StepStarted, StepFinished, RunFinished]


@pytest.mark.parametrize("mode", [RunMode.SINGLE_STEP, RunMode.FROM_STEP])
def test_start_index_must_name_a_step(registry: PluginRegistry, mode: RunMode) -> None:
    with pytest.raises(ValidationFailed) as info:
        run_steps([step(0), step(1)], env(), mode=mode, start_index=5, registry=registry)
    assert info.value.field == "startStepIndex" and "0..1" in info.value.message


def test_duplicate_order_index_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(ValidationFailed, match="orderIndex 1"):
        run_steps([step(1, "a"), step(1, "b")], env(), registry=registry)


def test_from_step_reuses_earlier_results_and_their_values(
    registry: PluginRegistry, plugin: ScriptPlugin
) -> None:
    steps = [step(0, "create"), step(1, "pay"), step(2, "get", {"id": "{{step.create.response.body.id}}"})]
    earlier_run = uuid.uuid4()
    previous = {
        0: StepResultData(step_alias="create", status=StepStatus.PASSED, response_body={"id": "o-5"}),
        1: StepResultData(step_alias="pay", status=StepStatus.PASSED, response_body={}),
    }
    events, emit = collect()
    outcome = run_steps(
        steps,
        env(),
        mode=RunMode.FROM_STEP,
        start_index=2,
        previous_results=previous,
        previous_run_id=earlier_run,
        emit=emit,
        registry=registry,
    )
    assert outcome.status == RunStatus.PASSED
    assert plugin.step_executor.calls == ["get"]
    assert outcome.results[2].response_body == {"id": "o-5"}
    reused = [e for e in events if isinstance(e, StepFinished) and e.reused_from_run_id]
    assert [e.order_index for e in reused] == [0, 1]
    assert all(e.reused_from_run_id == str(earlier_run) for e in reused)
    # the copies are independent of the earlier run's objects
    assert outcome.results[0] is not previous[0]


def test_from_step_without_the_earlier_results_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(ValidationFailed) as info:
        run_steps(
            [step(0), step(1), step(2)],
            env(),
            mode=RunMode.FROM_STEP,
            start_index=2,
            previous_results={0: StepResultData(step_alias="s0", status=StepStatus.PASSED)},
            registry=registry,
        )
    assert info.value.field == "fromRunId" and "orderIndex 1" in info.value.message


def test_recorded_results_are_restored_not_rerun(registry: PluginRegistry, plugin: ScriptPlugin) -> None:
    steps = [step(0, "create"), step(1, "get", {"id": "{{step.create.response.body.id}}"})]
    recorded = {0: StepResultData(step_alias="create", status=StepStatus.PASSED, response_body={"id": "r"})}
    events, emit = collect()
    outcome = run_steps(steps, env(), recorded=recorded, emit=emit, registry=registry, attempt=2)
    assert plugin.step_executor.calls == ["get"]
    assert outcome.results[1].response_body == {"id": "r"}
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.order_index for e in finished] == [1]
    started = events[0]
    assert isinstance(started, RunStarted) and started.resumed and started.attempt == 2


def test_cancel_between_steps_skips_the_rest(registry: PluginRegistry, plugin: ScriptPlugin) -> None:
    flag = threading.Event()
    steps = [step(0), step(1), step(2), step(3)]
    events: list[RunEvent] = []

    def emit(event: RunEvent) -> None:
        events.append(event)
        if isinstance(event, StepFinished) and event.order_index == 1:
            flag.set()  # the user presses Cancel while step 1 is being recorded

    outcome = run_steps(steps, env(), emit=emit, should_cancel=flag.is_set, registry=registry)
    assert outcome.status == RunStatus.CANCELLED
    assert plugin.step_executor.calls == ["s0", "s1"]
    assert [outcome.results[i].status for i in (2, 3)] == [StepStatus.SKIPPED, StepStatus.SKIPPED]
    assert isinstance(events[-1], RunCancelled) and isinstance(events[-1], RunFinished)
    assert not any(isinstance(e, StepStarted) and e.order_index >= 2 for e in events)


def test_polling_step_sees_cancellation(registry: PluginRegistry) -> None:
    flag = threading.Event()
    timer = threading.Timer(0.2, flag.set)
    timer.start()
    outcome = run_steps([step(0, poll=True), step(1)], env(), should_cancel=flag.is_set, registry=registry)
    timer.cancel()
    assert outcome.results[0].violations[0].code == "GAVE_UP"
    assert outcome.results[1].status == StepStatus.SKIPPED
    assert outcome.status == RunStatus.CANCELLED


def test_step_timeout_fails_the_step_and_the_run_goes_on(registry: PluginRegistry) -> None:
    outcome = run_steps([step(0, sleep=5), step(1)], env(), step_timeout_s=0.2, registry=registry)
    first = outcome.results[0]
    assert first.status == StepStatus.FAILED
    assert first.violations[0].type == ViolationType.TIMEOUT and first.violations[0].code == "STEP_TIMEOUT"
    assert outcome.results[1].status == StepStatus.PASSED
    assert outcome.status == RunStatus.FAILED


def test_declared_step_timeout_extends_the_default(registry: PluginRegistry) -> None:
    # meta.timeoutMs of 3 s gives the step 4 s although the run's default is 0.1 s
    outcome = run_steps([step(0, sleep=0.3, timeoutMs=3000)], env(), step_timeout_s=0.1, registry=registry)
    assert outcome.results[0].status == StepStatus.PASSED


def test_run_timeout_cuts_the_current_step_and_skips_the_rest(registry: PluginRegistry) -> None:
    steps = [step(0, sleep=3), step(1, sleep=3), step(2)]
    outcome = run_steps(steps, env(), run_timeout_s=0.5, registry=registry)
    assert outcome.status == RunStatus.FAILED
    assert "run timeout" in (outcome.reason or "")
    codes = [v.code for r in outcome.results.values() for v in r.violations]
    assert codes == ["RUN_TIMEOUT"]
    assert outcome.results[2].status == StepStatus.SKIPPED


def test_plugin_exception_and_missing_plugin_fail_the_step(registry: PluginRegistry) -> None:
    kafka = ScenarioStepSpec(order_index=1, alias="k", channel_type="KAFKA")
    outcome = run_steps([step(0, **{"raise": True}), kafka, step(2)], env(), registry=registry)
    assert outcome.results[0].violations[0].code == "PLUGIN_ERROR"
    assert "plugin bug" in outcome.results[0].violations[0].message
    assert outcome.results[1].violations[0].code == "NO_PLUGIN"
    assert "KAFKA" in outcome.results[1].violations[0].message
    assert outcome.results[2].status == StepStatus.PASSED


def test_retries_make_a_late_pass_flaky(registry: PluginRegistry, plugin: ScriptPlugin) -> None:
    outcome = run_steps([step(0, flaky=2, retries=3), step(1, flaky=5, retries=1)], env(), registry=registry)
    flaky, failed = outcome.results[0], outcome.results[1]
    assert flaky.status == StepStatus.FLAKY
    assert [v.details["attempt"] for v in flaky.violations] == [1, 2]
    assert flaky.flaky == "failed on attempt 1, 2 of its retry policy (meta.retries=3), passed on attempt 3"
    assert failed.status == StepStatus.FAILED and failed.flaky is None
    assert plugin.step_executor.calls == ["s0", "s0", "s0", "s1", "s1"]
    assert outcome.status == RunStatus.FAILED


def test_flaky_alone_counts_as_passed(registry: PluginRegistry) -> None:
    outcome = run_steps([step(0, flaky=1, retries=1)], env(), registry=registry)
    assert outcome.status == RunStatus.PASSED and outcome.counts == {"FLAKY": 1}


def test_a_scenario_without_steps_does_not_pass(registry: PluginRegistry) -> None:
    outcome = run_steps([], env(), registry=registry)
    assert outcome.status == RunStatus.FAILED and "no steps" in (outcome.reason or "")


def test_an_emit_failure_stops_the_run(registry: PluginRegistry, plugin: ScriptPlugin) -> None:
    class Lost(Exception):
        pass

    def emit(event: RunEvent) -> None:
        if isinstance(event, StepFinished):
            raise Lost

    with pytest.raises(Lost):
        run_steps([step(0), step(1)], env(), emit=emit, registry=registry)
    assert plugin.step_executor.calls == ["s0"]


def test_events_round_trip_through_their_wire_form() -> None:
    run_id, tenant = uuid.uuid4(), uuid.uuid4()
    original = StepFinished(
        run_id=run_id,
        tenant_id=tenant,
        seq=3,
        attempt=1,
        order_index=2,
        alias="get",
        status="FAILED",
        violations=[{"type": "HTTP_ERROR", "code": "X", "message": "m"}],
        result=StepResultData(step_alias="get", response_body={"big": "x" * 100}),
    )
    wire = original.to_dict()
    assert "result" not in wire and wire["orderIndex"] == 2 and wire["runId"] == str(run_id)
    back = RunEvent.from_dict(wire)
    assert isinstance(back, StepFinished) and back.run_id == run_id and back.tenant_id == tenant
    assert back.violations == original.violations and back.result is None
    cancelled = RunEvent.from_dict(RunCancelled(run_id=run_id, seq=9).to_dict())
    assert isinstance(cancelled, RunFinished) and cancelled.status == "CANCELLED" and cancelled.terminal
    with pytest.raises(ValueError, match="unknown event type"):
        RunEvent.from_dict({"type": "Nope"})


def test_run_step_records_into_the_context(registry: PluginRegistry) -> None:
    run = StepRunContext(env(), new_context(data={"v": 1}))
    result = run_step(step(0, "one", {"v": "{{data.v}}"}), run, registry)
    assert result.response_body == {"v": 1}
    assert run.context.steps_by_alias["one"] is result


def test_step_runner_takes_json_steps(registry: PluginRegistry) -> None:
    with StepRunner(data={"sku": "a-1"}, registry=registry) as runner:
        runner.run({"alias": "create", "action": {"inputTemplate": {"sku": "{{data.sku}}"}}})
        second = runner.run(
            {"alias": "get", "action": {"inputTemplate": {"sku": "{{step.create.response.body.sku}}"}}}
        )
        assert second.response_body == {"sku": "a-1"}
        assert runner.result("create").status == StepStatus.PASSED
        outcome = runner.run_all([{"alias": "x"}, {"alias": "y"}], mode=RunMode.STOP_ON_FIRST_FAILURE)
        assert sorted(outcome.results) == [0, 1] and outcome.passed
        with pytest.raises(ValidationFailed) as info:
            runner.run({"alias": "bad", "kind": "NOPE"})
        assert info.value.field == "kind"
        with pytest.raises(ValidationFailed, match="no step 'zzz'"):
            runner.result("zzz")


class WindowPlugin(ProtocolPlugin):
    """An ASSERTION plugin with an observation window opened by ``prepare`` before the first step."""

    id = "windows"
    channel_types = ("KAFKA",)

    def __init__(self, fail: bool = False) -> None:
        self.step_executor = ScriptExecutor()
        self.prepared: list[str] = []
        self.fail = fail

    def prepare(self, step: ScenarioStepSpec, run: StepRunContext) -> bool:
        if self.fail:
            raise ValidationFailed("broker alias 'events' is unknown", field="meta.clusterAlias")
        self.prepared.append(f"{step.alias}:{len(run.context.steps_by_alias)}")
        return True


def assertion(index: int, alias: str) -> ScenarioStepSpec:
    return ScenarioStepSpec(order_index=index, alias=alias, kind="ASSERTION", channel_type="KAFKA")


def test_assertion_windows_are_prepared_before_the_first_step(registry: PluginRegistry) -> None:
    windows = WindowPlugin()
    registry.register(windows)
    outcome = run_steps(
        [step(0, "act"), assertion(1, "seen"), step(2), assertion(3, "also")], env(), registry=registry
    )
    assert outcome.status == RunStatus.PASSED
    assert windows.prepared == ["seen:0", "also:0"]  # both before any step had run


def test_a_window_that_cannot_open_fails_the_run_before_any_step(
    registry: PluginRegistry, plugin: ScriptPlugin
) -> None:
    registry.register(WindowPlugin(fail=True))
    outcome = run_steps([step(0, "act"), assertion(1, "seen")], env(), registry=registry)
    assert outcome.status == RunStatus.FAILED
    assert "'seen'" in (outcome.reason or "") and "events" in (outcome.reason or "")
    assert plugin.step_executor.calls == []
    assert [r.status for r in outcome.results.values()] == [StepStatus.SKIPPED, StepStatus.SKIPPED]


class PoliteExecutor(ScriptExecutor):
    """Waits as ``meta.sleep`` says but never past ``run.deadline`` (then reports its own TIMEOUT)."""

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        self.calls.append(threading.current_thread().name)
        wanted = float(step.action.meta.get("sleep", 0))
        left = run.remaining_s()
        time.sleep(min(wanted, left) if left is not None else wanted)
        if left is not None and wanted > left:
            violation = Violation(
                type=ViolationType.TIMEOUT, code="READ_TIMEOUT", message="gave up at the limit"
            )
            return StepResultData(step_alias=step.alias, status=StepStatus.FAILED, violations=[violation])
        return StepResultData(step_alias=step.alias, status=StepStatus.PASSED)


class PolitePlugin(ProtocolPlugin):
    id = "polite"
    channel_types = ("GRPC",)
    cooperative_timeout = True

    def __init__(self, executor: ScriptExecutor | None = None) -> None:
        self.step_executor = executor or PoliteExecutor()


def grpc_step(index: int, **meta: Any) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        order_index=index, alias=f"g{index}", channel_type="GRPC", action=ActionDefinition(meta=meta)
    )


def test_cooperative_plugins_run_on_the_runs_thread_and_their_timeouts_become_the_engines(
    registry: PluginRegistry,
) -> None:
    polite = PolitePlugin()
    registry.register(polite)
    outcome = run_steps(
        [grpc_step(0), grpc_step(1, sleep=5), grpc_step(2)], env(), step_timeout_s=0.3, registry=registry
    )
    assert polite.step_executor.calls == [threading.current_thread().name] * 3  # no watchdog thread
    timed_out = outcome.results[1]
    assert timed_out.status == StepStatus.FAILED
    assert [v.code for v in timed_out.violations] == ["STEP_TIMEOUT"]
    assert timed_out.violations[0].details["plugin"]["code"] == "READ_TIMEOUT"
    assert outcome.results[2].status == StepStatus.PASSED


def test_a_cooperative_plugin_that_overruns_is_failed_anyway(registry: PluginRegistry) -> None:
    registry.register(PolitePlugin(ScriptExecutor()))  # claims to cooperate, then sleeps regardless
    outcome = run_steps([grpc_step(0, sleep=0.8)], env(), step_timeout_s=0.2, registry=registry)
    assert outcome.results[0].violations[0].code == "STEP_TIMEOUT"


def test_an_outcome_differing_from_recent_runs_is_flaky(registry: PluginRegistry) -> None:
    history = {
        "s0": [("r3", "FAILED"), ("r2", "PASSED")],  # passes now, failed in r3: FLAKY
        "s1": [("r3", "PASSED"), ("r2", "PASSED")],  # fails now, passed before: FAILED, flagged
        "s2": [("r3", "PASSED"), ("r2", "PASSED")],  # passes as always: nothing to say
    }
    events, emit = collect()
    outcome = run_steps(
        [step(0), step(1, fail=True), step(2)], env(), registry=registry, history=history, emit=emit
    )
    s0, s1, s2 = (outcome.results[i] for i in range(3))
    assert s0.status == StepStatus.FLAKY
    assert (
        s0.flaky
        == "failed in 1 of the last 2 runs of this scenario version with the same data (latest: run r3)"
    )
    assert s1.status == StepStatus.FAILED and s1.flaky is not None and "passed in 2 of the last 2" in s1.flaky
    assert s2.status == StepStatus.PASSED and s2.flaky is None
    assert outcome.status == RunStatus.FAILED and outcome.counts == {"FLAKY": 1, "FAILED": 1, "PASSED": 1}
    finished = {e.alias: e for e in events if isinstance(e, StepFinished)}
    assert finished["s0"].status == "FLAKY" and finished["s0"].flaky == s0.flaky
    assert finished["s1"].flaky == s1.flaky and finished["s2"].flaky is None
    # the reason travels on the wire (live progress shows it)
    assert StepFinished.from_dict(finished["s0"].to_dict()).flaky == s0.flaky


def test_retry_flakiness_and_run_history_combine(registry: PluginRegistry) -> None:
    outcome = run_steps(
        [step(0, flaky=1, retries=1)], env(), registry=registry, history={"s0": [("r1", "FAILED")]}
    )
    result = outcome.results[0]
    assert result.status == StepStatus.FLAKY
    assert result.flaky == (
        "failed on attempt 1 of its retry policy (meta.retries=1), passed on attempt 2; "
        "failed in 1 of the last 1 runs of this scenario version with the same data (latest: run r1)"
    )
