"""Pushing a blocking event follower (services/run_events) into Reflex state from a background task.

The measured pattern of ../shared/examples/reflex-live: a follower thread reads the Redis stream (or
the in-process bus in embedded mode: same code), the background task drains everything that is
pending into ONE state update, and a token bucket caps updates per second so a burst of step events
cannot flood the websocket. Started from a page's on_load, so Reflex cancels it when the tab closes
or navigates away; cancellation sets the follower's ``stop`` flag, which ends its thread within one
blocking read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()


class Bucket:
    """On average at most ``rate`` updates per second, in bursts of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.t = float(burst), time.monotonic()

    def wait_s(self) -> float:
        """How long until a token is free (0 when one is)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.wait_s()
        self.tokens -= 1


async def pump(
    make_batches: Callable[[Callable[[], bool]], Iterator[list[T]]],
    apply: Callable[[list[T]], Awaitable[bool]],
    *,
    rate: float = 10.0,
    burst: int = 3,
    idle_s: Callable[[], float | None] | None = None,
) -> None:
    """Feeds batches of ``make_batches(stop)`` to ``apply`` (one call per state update, with every
    event pending at that moment) until the follower ends or ``apply`` returns False.

    ``idle_s()``: when it gives a number, ``apply([])`` is also called after that many seconds
    without events (a page that refreshes aggregate figures only while something is running)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stopped = threading.Event()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop closed (app shutdown)
            stopped.set()

    def produce() -> None:
        try:
            for batch in make_batches(stopped.is_set):
                if stopped.is_set():
                    return
                put(batch)
        except BaseException as exc:  # handed to the task, which raises it
            put(exc)
        finally:
            put(_DONE)

    threading.Thread(target=produce, name="live-follower", daemon=True).start()
    bucket = Bucket(rate, burst)
    try:
        while True:
            timeout = idle_s() if idle_s is not None else None
            try:
                first = await asyncio.wait_for(queue.get(), timeout) if timeout else await queue.get()
            except TimeoutError:
                first = []
            items = [first]
            wait = bucket.wait_s()
            if wait > 0:
                await asyncio.sleep(wait)  # updates come too fast: take what arrives meanwhile too
            while not queue.empty():
                items.append(queue.get_nowait())
            events: list[T] = []
            done = False
            for item in items:
                if item is _DONE:
                    done = True
                elif isinstance(item, BaseException):
                    raise item
                else:
                    events.extend(item)
            bucket.take()
            if (events or not done) and not await apply(events):
                return
            if done:
                return
    finally:
        stopped.set()
