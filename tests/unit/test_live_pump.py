"""state/live.pump: a blocking follower's batches reach ``apply`` in order, none lost or repeated,
bursts coalesced into fewer updates, the follower told to stop when the page goes away."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from state.live import Bucket, pump


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run in a thread of its own: a session fixture (Playwright's sync API) may hold a
    running loop in the main thread."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _follower(batches: list[list[int]], started: threading.Event | None = None):  # type: ignore[no-untyped-def]
    seen_stop: list[bool] = []

    def make(stop: Callable[[], bool]) -> Iterator[list[int]]:
        def gen() -> Iterator[list[int]]:
            for batch in batches:
                if stop():
                    seen_stop.append(True)
                    return
                yield batch
            if started is not None:
                started.set()
            while not stop():  # a live follower idles until told to stop
                threading.Event().wait(0.01)
            seen_stop.append(True)

        return gen()

    return make, seen_stop


def test_every_event_arrives_once_in_order_and_bursts_coalesce() -> None:
    batches = [[i, i + 1] for i in range(0, 2000, 2)]
    make, _ = _follower(batches[:])
    got: list[int] = []
    calls = 0

    async def apply(events: list[int]) -> bool:
        nonlocal calls
        calls += 1
        got.extend(events)
        return len(got) < 2000

    run(pump(make, apply, rate=10.0, burst=3))
    assert got == list(range(2000))
    assert calls < len(batches)  # 1,000 batches in a burst became far fewer state updates


def test_apply_returning_false_stops_the_follower_thread() -> None:
    started = threading.Event()
    make, seen_stop = _follower([[1], [2]], started)
    got: list[int] = []

    async def apply(events: list[int]) -> bool:
        got.extend(events)
        return 2 not in got

    run(pump(make, apply))
    assert got == [1, 2]
    assert started.wait(10)
    deadline = threading.Event()
    for _ in range(500):
        if seen_stop:
            break
        deadline.wait(0.01)
    assert seen_stop == [True]


def test_a_cancelled_task_stops_the_follower() -> None:
    started = threading.Event()
    make, seen_stop = _follower([[1]], started)

    async def apply(events: list[int]) -> bool:
        return True

    async def main() -> None:
        task = asyncio.ensure_future(pump(make, apply))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    for _ in range(500):
        if seen_stop:
            break
        threading.Event().wait(0.01)
    assert seen_stop == [True]


def test_a_follower_error_reaches_the_task() -> None:
    def make(stop: Callable[[], bool]) -> Iterator[list[int]]:
        yield [1]
        raise RuntimeError("redis went away")

    async def apply(events: list[int]) -> bool:
        return True

    with pytest.raises(RuntimeError, match="redis went away"):
        run(pump(make, apply))


def test_idle_calls_apply_with_nothing_while_asked() -> None:
    started = threading.Event()
    make, _ = _follower([[7]], started)
    calls: list[list[int]] = []

    async def apply(events: list[int]) -> bool:
        calls.append(events)
        return len(calls) < 3

    run(pump(make, apply, idle_s=lambda: 0.05))
    assert calls[0] == [7] and calls[1:] == [[], []]


def test_bucket_allows_a_burst_then_asks_to_wait() -> None:
    bucket = Bucket(rate=1.0, burst=2)
    assert bucket.wait_s() == 0
    bucket.take()
    bucket.take()
    assert bucket.wait_s() > 0.5
