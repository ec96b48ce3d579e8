"""The one polling helper every side-effect assertion uses: monotonic deadline, interval, last observation.

``poll_until(observe, satisfied, timeout_s=..., interval_s=...)`` calls ``observe(budget_s)`` until
``satisfied(observation)`` holds, the deadline passes or ``should_cancel()`` turns True, and returns a
``PollOutcome`` that keeps the last observation (for the failure message), the number of attempts and
why it stopped. Shape after Awaitility / Citrus ``waitFor``:

* the first observation is made at once; later ones every ``interval_s`` (measured start to start);
* one last observation is made at the deadline itself, so an effect that lands just before the
  timeout is still seen;
* ``budget_s`` tells a blocking observer (Kafka consume, AMQP pump, Redis ``XREAD BLOCK``) how long it
  may wait inside ``observe``: the time left, capped by ``block_s`` (default: ``interval_s``); such
  observers pass ``interval_s=0`` and a small ``block_s`` and do their waiting inside ``observe``;
* sleeps are cut into slices of at most ``cancel_check_s`` so cancellation is noticed promptly;
* an exception raised by ``observe`` or ``satisfied`` ends polling and propagates: the caller decides
  which errors are final (a SQL syntax error) and which are observations (a refused connection).

Time comes from an injectable monotonic ``clock`` and ``sleep`` so the behaviour is unit-tested without
waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_CANCEL_CHECK_S = 0.05


class PollEnd(StrEnum):
    SATISFIED = "SATISFIED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"


@dataclass
class PollOutcome(Generic[T]):
    end: PollEnd
    last: T | None  # the last observation (None only when cancelled before the first one)
    attempts: int
    elapsed_s: float

    @property
    def satisfied(self) -> bool:
        return self.end is PollEnd.SATISFIED

    @property
    def elapsed_ms(self) -> int:
        return round(self.elapsed_s * 1000)


def poll_until(
    observe: Callable[[float], T],
    satisfied: Callable[[T], bool],
    *,
    timeout_s: float,
    interval_s: float,
    should_cancel: Callable[[], bool] | None = None,
    block_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    cancel_check_s: float = DEFAULT_CANCEL_CHECK_S,
) -> PollOutcome[T]:
    """Observe until ``satisfied`` holds or ``timeout_s`` passes (0: exactly one observation)."""
    if timeout_s < 0 or interval_s < 0 or (block_s is not None and block_s < 0):
        raise ValueError("timeout_s, interval_s and block_s must not be negative")
    slice_s = interval_s if block_s is None else block_s
    cancelled = should_cancel or _never
    start = clock()
    deadline = start + timeout_s
    attempts = 0
    last: T | None = None
    while True:
        if cancelled():
            return PollOutcome(PollEnd.CANCELLED, last, attempts, clock() - start)
        attempt_started = clock()
        budget = max(0.0, min(slice_s, deadline - attempt_started))
        last = observe(budget)
        attempts += 1
        if satisfied(last):
            return PollOutcome(PollEnd.SATISFIED, last, attempts, clock() - start)
        now = clock()
        if now >= deadline:
            return PollOutcome(PollEnd.TIMED_OUT, last, attempts, now - start)
        # Next attempt at the interval, or at the deadline itself for the final look.
        wake = min(attempt_started + interval_s, deadline)
        while True:
            now = clock()
            if now >= wake:
                break
            if cancelled():
                return PollOutcome(PollEnd.CANCELLED, last, attempts, now - start)
            sleep(min(wake - now, cancel_check_s))


def _never() -> bool:
    return False
