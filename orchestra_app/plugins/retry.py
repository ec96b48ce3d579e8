"""Step retry policy (``action.meta.retry``) and the FLAKY verdict it gives (seed 4.8).

    "retry": {"attempts": 3, "delayMs": 500}

``attempts`` counts every execution (1 = no retry, at most 10); ``delayMs`` (0..60000) is the pause
between two attempts. The first PASSED attempt ends the step. A step that failed at least once and
then passed is FLAKY; a step that never passed is FAILED with its last attempt's violations. When
more than one attempt ran, ``result.attempts`` lists each one (status, duration, violation codes and
messages) so the report can say why the step is flaky. Cancellation (``run.cancelled``) stops the
retries. Retrying an ACTION repeats its side effect (a second publish, a second POST): only ask for it
where the system under test is idempotent.

The cross-run part of flakiness (outcome differs across the last N runs) is the engine's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.steps import (
    ScenarioStepSpec,
    StepResultData,
    StepStatus,
    Violation,
    ViolationType,
)

if TYPE_CHECKING:
    from orchestra_app.plugins.base import StepRunContext

MAX_ATTEMPTS = 10


class RetryPolicy(DomainModel):
    attempts: int = Field(default=1, ge=1, le=MAX_ATTEMPTS)
    delay_ms: int = Field(default=0, ge=0, le=60_000)


class InvalidRetryPolicy(ValueError):
    pass


def retry_policy(step: ScenarioStepSpec) -> RetryPolicy:
    raw = step.action.meta.get("retry")
    if raw is None:
        return RetryPolicy()
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"attempts": raw}
    try:
        return RetryPolicy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        raise InvalidRetryPolicy(
            f"action.meta.retry{'.' + where.replace('/', '.') if where else ''}: {first['msg']}"
        ) from None


def _summary(number: int, result: StepResultData) -> dict[str, Any]:
    return {
        "attempt": number,
        "status": str(result.status),
        "durationMs": result.duration_ms,
        "violations": [
            {"type": str(v.type), "code": v.code, "message": v.message} for v in result.violations[:10]
        ],
    }


def execute_with_retries(
    execute_once: Callable[[ScenarioStepSpec, StepRunContext], StepResultData],
    step: ScenarioStepSpec,
    run: StepRunContext,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> StepResultData:
    try:
        policy = retry_policy(step)
    except InvalidRetryPolicy as exc:
        return StepResultData(
            step_id=step.id,
            step_alias=step.alias,
            status=StepStatus.FAILED,
            violations=[
                Violation(
                    type=ViolationType.VALIDATION_ERROR,
                    code="INVALID_RETRY_POLICY",
                    message=str(exc),
                    details={"pointer": "/action/meta/retry"},
                )
            ],
        )
    cancelled: Callable[[], bool] = getattr(run, "cancelled", None) or (lambda: False)
    summaries: list[dict[str, Any]] = []
    result = execute_once(step, run)
    summaries.append(_summary(1, result))
    total_ms = result.duration_ms
    number = 1
    while result.status != StepStatus.PASSED and number < policy.attempts and not cancelled():
        if policy.delay_ms:
            _pause(policy.delay_ms / 1000, cancelled, sleep)
            if cancelled():
                break
        number += 1
        result = execute_once(step, run)
        summaries.append(_summary(number, result))
        total_ms += result.duration_ms
    if number > 1:
        result.attempts = summaries
        result.duration_ms = total_ms
        if result.status == StepStatus.PASSED:
            result.status = StepStatus.FLAKY
    return result


def _pause(seconds: float, cancelled: Callable[[], bool], sleep: Callable[[float], None]) -> None:
    deadline = time.monotonic() + seconds
    while not cancelled():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sleep(min(left, 0.05))
