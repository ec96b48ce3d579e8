"""Typed run events: the one stream the runner emits and every consumer (DB, Redis, metrics) reads.

Every event carries the run id and a ``seq`` that grows by one per event within a run (a resumed
attempt skips one number, see docs/engine.md). ``to_dict``/``from_dict`` give the wire form used on
Redis Streams and by followers; ``StepFinished.result`` (the full StepResultData, possibly with a
large response body) stays in-process and is not put on the wire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar
from uuid import UUID

from orchestra_app.domain.steps import StepResultData

EVENT_TYPES: dict[str, type[RunEvent]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_WIRE: dict[type, tuple[tuple[str, str], ...]] = {}


def _wire_fields(cls: type) -> tuple[tuple[str, str], ...]:
    """(attribute, camelCase key) of an event class's wire fields, computed once per class."""
    cached = _WIRE.get(cls)
    if cached is None:
        cached = tuple((f.name, _camel(f.name)) for f in fields(cls) if f.name != "result")
        _WIRE[cls] = cached
    return cached


@dataclass(kw_only=True)
class RunEvent:
    type: ClassVar[str] = "RunEvent"
    persisted: ClassVar[bool] = True  # False: a transient event the database does not record
    terminal: ClassVar[bool] = False

    run_id: UUID
    seq: int = 0
    tenant_id: UUID | None = None
    attempt: int = 0
    at: float = field(default_factory=time.time)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__
        EVENT_TYPES[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for name, key in _wire_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, UUID):
                value = str(value)
            out[key] = value
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> RunEvent:
        cls = EVENT_TYPES.get(str(data.get("type")))
        if cls is None:
            raise ValueError(f"unknown event type {data.get('type')!r}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            key = _camel(f.name)
            if key not in data:
                continue
            value = data[key]
            if f.name in ("run_id", "tenant_id", "scenario_id", "batch_id") and value is not None:
                value = UUID(str(value))
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(kw_only=True)
class RunQueued(RunEvent):
    status: str = "QUEUED"  # or PENDING when the tenant's parallel-run limit is reached
    scenario_id: UUID | None = None
    batch_id: UUID | None = None
    mode: str = "RUN_ALL_STEPS"


@dataclass(kw_only=True)
class RunStarted(RunEvent):
    worker: str = ""
    mode: str = "RUN_ALL_STEPS"
    step_count: int = 0
    resumed: bool = False  # a later attempt continuing after a lost worker


@dataclass(kw_only=True)
class RunRequeued(RunEvent):
    reason: str = ""


@dataclass(kw_only=True)
class StepStarted(RunEvent):
    persisted: ClassVar[bool] = False

    order_index: int
    alias: str
    name: str = ""
    kind: str = "ACTION"
    channel_type: str = "HTTP_REST"


@dataclass(kw_only=True)
class StepFinished(RunEvent):
    order_index: int
    alias: str
    name: str = ""
    kind: str = "ACTION"
    channel_type: str = "HTTP_REST"
    status: str = "PASSED"
    duration_ms: int = 0
    actual_status_code: int | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    reused_from_run_id: str | None = None  # FROM_STEP: copied from this earlier run
    flaky: str | None = None  # why the step is flaky (StepResultData.flaky)
    result: StepResultData | None = None  # in-process only (not on the wire)


@dataclass(kw_only=True)
class RunFinished(RunEvent):
    terminal: ClassVar[bool] = True

    status: str = "PASSED"  # PASSED, FAILED or CANCELLED
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # step status -> number of steps
    duration_ms: int = 0


@dataclass(kw_only=True)
class RunCancelled(RunFinished):
    """A RunFinished with status CANCELLED (a consumer checking RunFinished sees it too)."""

    status: str = "CANCELLED"


@dataclass(kw_only=True)
class RunState(RunEvent):
    """Not emitted by the runner: what the database says about a run when a follower joins."""

    persisted: ClassVar[bool] = False

    status: str = "QUEUED"
    worker: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None


def now_ms() -> int:
    return int(time.time() * 1000)
