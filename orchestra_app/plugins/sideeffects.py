"""Shared parts of the side-effect plugins (db, kafka, queue): step meta, violations, matching, redaction."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import ConfigDict, Field, ValidationError

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.rules import RuleError, RuleSet, parse_rules
from orchestra_app.domain.secrets import redact_text, redact_value
from orchestra_app.domain.steps import (
    ScenarioStepSpec,
    StepResultData,
    StepStatus,
    Violation,
    ViolationType,
)
from orchestra_app.domain.templating import TemplateScope, render
from orchestra_app.plugins.base import StepRunContext

M = TypeVar("M", bound="StepMeta")

MAX_TIMEOUT_MS = 600_000
MIN_POLL_INTERVAL_MS = 10


class StepFailed(Exception):
    """Ends a step early with these violations (raised inside a plugin, caught by ``run_step``)."""

    def __init__(self, *violations: Violation) -> None:
        super().__init__(violations[0].message if violations else "step failed")
        self.violations = list(violations)


def violation(vtype: ViolationType, code: str, message: str, **details: Any) -> Violation:
    return Violation(type=vtype, code=code, message=message, details=details)


def invalid(code: str, message: str, **details: Any) -> StepFailed:
    return StepFailed(violation(ViolationType.VALIDATION_ERROR, code, message, **details))


class StepMeta(DomainModel):
    """Base of a plugin's ``action.meta`` shape: camelCase keys, unknown keys refused (typos caught)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Read by the engine, not the plugin: re-runs of a failing step (a later pass is FLAKY).
    retries: int | None = Field(default=None, ge=0, le=10)
    retry_delay_ms: int | None = Field(default=None, ge=0, le=600_000)
    description: str | None = None
    # Written by other parts of Orchestra (generation from the process model, endpoint binding,
    # chaining); carried along, not used by the side-effect plugins.
    node_type: Any = None
    participant: Any = None
    placeholder: Any = None
    reply_to: Any = None
    data_store: Any = None
    operation: Any = None
    operation_id: Any = None
    chaining: Any = None


class PollingMeta(StepMeta):
    timeout_ms: int = Field(default=10_000, ge=0, le=MAX_TIMEOUT_MS)
    poll_interval_ms: int = Field(default=250, ge=MIN_POLL_INTERVAL_MS, le=60_000)


def parse_meta(model: type[M], step: ScenarioStepSpec) -> M:
    """The step's meta as ``model``; a bad or unknown key fails the step naming its JSON pointer."""
    try:
        return model.model_validate(step.action.meta)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "/".join(str(p) for p in first["loc"])
        pointer = f"/action/meta/{loc}" if loc else "/action/meta"
        if first["type"] == "extra_forbidden":
            known = sorted(
                {f.alias or name for name, f in model.model_fields.items()}
                - {f.alias or name for name, f in StepMeta.model_fields.items()}
            )
            message = f"unknown meta key {loc!r} for a {step.channel_type} step; known: {', '.join(known)}"
        elif first["type"] == "missing":
            message = f"meta key {loc!r} is required for a {step.channel_type} {step.kind} step"
        else:
            message = f"meta {loc}: {first['msg']}"
        raise invalid("INVALID_STEP_META", message, pointer=pointer) from None


def render_value(template: Any, scope: TemplateScope, pointer: str) -> Any:
    """Render a template; an unresolvable placeholder fails the step naming its pointer."""
    try:
        return render(template, scope, pointer)
    except OrchestraError as exc:
        raise invalid("TEMPLATE_ERROR", exc.message, pointer=exc.pointer or pointer) from None


def compile_rules(step: ScenarioStepSpec) -> RuleSet:
    try:
        return parse_rules(step.expectations.business_rules)
    except RuleError as exc:
        raise invalid(
            "INVALID_BUSINESS_RULE", exc.message, pointer="/expectations/businessRules" + (exc.pointer or "")
        ) from None


def cancel_check(run: StepRunContext) -> Callable[[], bool]:
    """The engine's cancellation signal (``run.cancelled``) when it provides one."""
    check = getattr(run, "cancelled", None)
    return check if callable(check) else _never


def _never() -> bool:
    return False


def step_timeout_s(run: StepRunContext, timeout_ms: int) -> float:
    """The step's own timeout, cut to the engine's deadline for the step when it sets one."""
    seconds = timeout_ms / 1000
    deadline = getattr(run, "deadline", None)
    if isinstance(deadline, int | float):
        seconds = max(0.0, min(seconds, deadline - time.monotonic()))
    return seconds


@contextmanager
def step_result(
    step: ScenarioStepSpec, run: StepRunContext
) -> Iterator[tuple[StepResultData, TemplateScope]]:
    """A RUNNING result; StepFailed / OrchestraError inside become violations; status and time set at
    exit; every resolved secret is redacted from the whole result."""
    started = time.perf_counter()
    result = StepResultData(step_id=step.id, step_alias=step.alias, status=StepStatus.RUNNING)
    scope = run.template_scope()
    try:
        yield result, scope
    except StepFailed as exc:
        result.violations.extend(exc.violations)
    except OrchestraError as exc:  # configuration problems: a readable reason, never a traceback
        details = {k: v for k, v in exc.to_dict().items() if k != "message"}
        result.violations.append(
            violation(ViolationType.VALIDATION_ERROR, "CONFIGURATION_ERROR", str(exc), **details)
        )
    if scope.secrets_used:
        redact_result(result, scope.secrets_used)
    result.duration_ms = round((time.perf_counter() - started) * 1000)
    if result.status == StepStatus.RUNNING:
        result.status = StepStatus.FAILED if result.violations else StepStatus.PASSED


def redact_result(result: StepResultData, secrets: set[str]) -> None:
    for item in result.violations:
        item.message = redact_text(item.message, secrets)
        item.details = redact_value(item.details, secrets)
    for name in ("db_result", "kafka_message", "queue_message", "request", "response_body"):
        value = getattr(result, name)
        if value is not None:
            setattr(result, name, redact_value(value, secrets))


# ---- JSON-safe values ---------------------------------------------------------------------------


def json_safe(value: Any, depth: int = 0) -> Any:
    """Driver/broker values as JSON: Decimal -> int/float, dates -> ISO text, bytes -> text or base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > 64:
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in value]
    return str(value)


def preview(value: Any, limit: int = 300) -> Any:
    """A short form of a value for failure summaries."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= limit:
        return value
    return {"truncatedPreview": text[:limit] + "..."}


# ---- PARTIAL_MATCH -------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def subset_differences(expected: Any, actual: Any, pointer: str = "") -> list[dict[str, Any]]:
    """Where ``actual`` does not contain ``expected``: objects are subsets (extra keys allowed), lists
    match element by element (the actual list may be longer), scalars are JSON-equal (1 == 1.0,
    true != 1). Each difference names its JSON pointer."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [{"pointer": pointer or "/", "expected": "an object", "actual": preview(actual, 120)}]
        out: list[dict[str, Any]] = []
        for key, want in expected.items():
            at = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key not in actual:
                out.append({"pointer": at, "expected": preview(want, 120), "actual": "missing"})
            else:
                out.extend(subset_differences(want, actual[key], at))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [{"pointer": pointer or "/", "expected": "an array", "actual": preview(actual, 120)}]
        if len(actual) < len(expected):
            return [
                {
                    "pointer": pointer or "/",
                    "expected": f"at least {len(expected)} items",
                    "actual": f"{len(actual)} items",
                }
            ]
        return [
            d
            for i, want in enumerate(expected)
            for d in subset_differences(want, actual[i], f"{pointer}/{i}")
        ]
    if _same(expected, actual):
        return []
    return [{"pointer": pointer or "/", "expected": preview(expected, 120), "actual": preview(actual, 120)}]
