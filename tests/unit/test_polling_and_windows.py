"""The polling helper (on a fake clock) and the observation-window registry."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra_app.domain.steps import (
    ActionDefinition,
    ChannelType,
    ScenarioStepSpec,
    StepKind,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.polling import PollEnd, poll_until
from orchestra_app.plugins.windows import TimeWindow, close_windows, registry, remember_window, take_window

pytestmark = pytest.mark.unit


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_first_look_is_immediate_and_success_stops_polling() -> None:
    t = FakeTime()
    outcome = poll_until(
        lambda b: 1, lambda v: v == 1, timeout_s=5, interval_s=1, clock=t.clock, sleep=t.sleep
    )
    assert outcome.end is PollEnd.SATISFIED and outcome.attempts == 1 and t.sleeps == []


def test_polls_at_the_interval_and_keeps_the_last_observation() -> None:
    t = FakeTime()
    seen: list[float] = []

    def observe(budget: float) -> float:
        seen.append(t.now)
        return t.now

    outcome = poll_until(
        observe,
        lambda v: False,
        timeout_s=1.0,
        interval_s=0.25,
        clock=t.clock,
        sleep=t.sleep,
        cancel_check_s=1,
    )
    assert outcome.end is PollEnd.TIMED_OUT
    assert [round(s - 100, 2) for s in seen] == [
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
    ]  # the last look is at the deadline
    assert outcome.last == seen[-1] and outcome.attempts == 5


def test_interval_counts_from_the_start_of_each_attempt() -> None:
    t = FakeTime()
    starts: list[float] = []

    def slow(budget: float) -> None:
        starts.append(t.now)
        t.now += 0.2  # each observation takes 200 ms

    poll_until(
        slow, lambda v: False, timeout_s=1.0, interval_s=0.5, clock=t.clock, sleep=t.sleep, cancel_check_s=1
    )
    assert [round(s - 100, 2) for s in starts] == [0.0, 0.5, 1.0]


def test_zero_timeout_observes_exactly_once() -> None:
    t = FakeTime()
    outcome = poll_until(
        lambda b: b, lambda v: False, timeout_s=0, interval_s=1, clock=t.clock, sleep=t.sleep
    )
    assert outcome.end is PollEnd.TIMED_OUT and outcome.attempts == 1 and outcome.last == 0


def test_budget_is_capped_by_block_and_by_the_time_left() -> None:
    t = FakeTime()
    budgets: list[float] = []

    def observe(budget: float) -> None:
        budgets.append(budget)
        t.now += budget

    poll_until(
        observe, lambda v: False, timeout_s=0.25, interval_s=0, block_s=0.1, clock=t.clock, sleep=t.sleep
    )
    assert [round(b, 2) for b in budgets] == [0.1, 0.1, 0.05]


def test_cancellation_is_noticed_during_the_wait() -> None:
    t = FakeTime()
    outcome = poll_until(
        lambda b: None,
        lambda v: False,
        timeout_s=60,
        interval_s=10,
        should_cancel=lambda: t.now >= 100.3,
        clock=t.clock,
        sleep=t.sleep,
    )
    assert outcome.end is PollEnd.CANCELLED and outcome.attempts == 1
    assert max(t.sleeps) <= 0.05 and t.now < 100.5


def test_errors_from_the_observer_propagate_and_bad_arguments_are_refused() -> None:
    def boom(budget: float) -> None:
        raise KeyError("final")

    with pytest.raises(KeyError):
        poll_until(boom, lambda v: True, timeout_s=1, interval_s=0.1)
    with pytest.raises(ValueError):
        poll_until(lambda b: 1, lambda v: True, timeout_s=-1, interval_s=0.1)


# ---- windows ---------------------------------------------------------------------------------------


class Closing(TimeWindow):
    closed = 0

    def close(self) -> None:
        Closing.closed += 1


def step(meta: dict[str, Any]) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias="s", kind=StepKind.ASSERTION, channel_type=ChannelType.DB, action=ActionDefinition(meta=meta)
    )


def test_windows_are_per_run_and_closed_once() -> None:
    env = ExecutionEnvironment()
    first, second = StepRunContext(environment=env), StepRunContext(environment=env)
    import uuid

    second.context.run_id = uuid.uuid4()
    s = step({})
    Closing.closed = 0
    remember_window(first, s, Closing())
    remember_window(second, s, Closing())
    assert take_window(first, s) is not take_window(second, s)
    assert close_windows(first) == 1 and take_window(first, s) is None and take_window(second, s) is not None
    assert close_windows(first) == 0
    env.close()  # the environment closes what is left
    assert Closing.closed == 2 and registry(second).open_count() == 0
