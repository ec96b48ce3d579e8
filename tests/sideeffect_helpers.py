"""Builders shared by the side-effect plugin tests (db, kafka, queue)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from orchestra_app.domain.secrets import StaticSecretResolver
from orchestra_app.domain.steps import (
    ActionDefinition,
    ActionMode,
    ChannelType,
    ExecutionContext,
    ScenarioStepSpec,
    StepExpectations,
    StepKind,
    StepResultData,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext


def assertion(
    channel: ChannelType, meta: dict[str, Any], rules: Any = None, *, alias: str = "check"
) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias,
        kind=StepKind.ASSERTION,
        channel_type=channel,
        action=ActionDefinition(meta=meta),
        expectations=StepExpectations(business_rules=rules or []),
    )


def action(
    channel: ChannelType,
    meta: dict[str, Any],
    *,
    alias: str = "publish",
    mode: ActionMode = ActionMode.SYNC,
    input_template: dict[str, Any] | None = None,
) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias,
        kind=StepKind.ACTION,
        channel_type=channel,
        action=ActionDefinition(meta=meta, mode=mode, input_template=input_template or {}),
    )


def environment(profiles: dict[str, Any], secrets: dict[str, str] | None = None) -> ExecutionEnvironment:
    return ExecutionEnvironment(profiles=profiles, secrets=StaticSecretResolver(secrets or {}))


def run_context(
    env: ExecutionEnvironment,
    data: dict[str, Any] | None = None,
    steps: dict[str, StepResultData] | None = None,
    **attrs: Any,
) -> StepRunContext:
    ctx = ExecutionContext(variables={"data": data or {}}, steps_by_alias=steps or {})
    run = StepRunContext(environment=env, context=ctx)
    for name, value in attrs.items():  # e.g. cancelled=..., before the engine adds them to the class
        setattr(run, name, value)
    return run


def codes(result: StepResultData) -> list[tuple[str, str]]:
    return [(str(v.type), v.code) for v in result.violations]


def dumped(result: StepResultData) -> str:
    return json.dumps(result.model_dump(mode="json"), default=str)


def later(seconds: float, action_fn: Callable[[], None]) -> threading.Thread:
    """Run ``action_fn`` in a thread after ``seconds`` (a side effect happening while a step polls)."""
    event = threading.Event()

    def body() -> None:
        event.wait(seconds)
        action_fn()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread
