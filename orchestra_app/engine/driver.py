"""StepRunner: the small entry point for running one step or a list of steps by hand.

    with StepRunner(services={"orders": {"baseUrl": url}}, specs={"orders": spec}, data={"sku": "a-1"}) as r:
        created = r.run({"alias": "create", "endpointRef": {...}, "action": {"inputTemplate": {...}}})
        fetched = r.run({"alias": "get", "action": {"inputTemplate": {
            "method": "GET", "path": "/orders/{{step.create.response.body.id}}"}}})

Each result is recorded into ``runner.context`` as it finishes, so ``{{step.<alias>...}}`` resolves
in the next step without handling ExecutionContext, StepRunContext or plugins yourself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.runs import RunMode
from orchestra_app.domain.secrets import SecretResolver
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ExecutionContext, ScenarioStepSpec, StepResultData
from orchestra_app.engine.context import new_context
from orchestra_app.engine.runner import Emit, RunOutcome, run_step, run_steps
from orchestra_app.plugins.base import ExecutionEnvironment, ServiceConfig, StepRunContext
from orchestra_app.plugins.registry import PluginRegistry

StepLike = ScenarioStepSpec | Mapping[str, Any]


def as_step(step: StepLike, order_index: int | None = None) -> ScenarioStepSpec:
    """A ScenarioStepSpec from itself or its JSON form (camelCase keys); errors name the field."""
    if isinstance(step, ScenarioStepSpec):
        return step
    data = dict(step)
    if order_index is not None and "orderIndex" not in data and "order_index" not in data:
        data["orderIndex"] = order_index
    try:
        return ScenarioStepSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"invalid step: {first['msg']}", field=where or "step") from None


class StepRunner:
    """Runs steps against an environment, keeping one ExecutionContext across calls."""

    def __init__(
        self,
        environment: ExecutionEnvironment | None = None,
        *,
        services: Mapping[str, ServiceConfig | Mapping[str, Any]] | None = None,
        specs: Mapping[str, SpecSummary] | None = None,
        data: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        env: Mapping[str, Any] | None = None,
        secrets: SecretResolver | None = None,
        context: ExecutionContext | None = None,
        registry: PluginRegistry | None = None,
        step_timeout_s: float | None = None,
        run_id: UUID | None = None,
    ) -> None:
        self._owns_environment = environment is None
        self.environment = environment or ExecutionEnvironment(
            services=services, specs=specs, variables=env, secrets=secrets
        )
        self.context = context or new_context(run_id=run_id, data=data, variables=variables)
        self.registry = registry
        self.step_timeout_s = step_timeout_s
        self.run_id = run_id

    def run(self, step: StepLike) -> StepResultData:
        """Runs one step and records its result under its alias."""
        return run_step(
            as_step(step),
            StepRunContext(self.environment, self.context),
            self.registry,
            timeout_s=self.step_timeout_s,
        )

    def run_all(
        self,
        steps: Sequence[StepLike],
        *,
        mode: RunMode = RunMode.RUN_ALL_STEPS,
        start_index: int = 0,
        previous_results: Mapping[int, StepResultData] | None = None,
        emit: Emit | None = None,
        should_cancel: Callable[[], bool] | None = None,
        run_timeout_s: float | None = None,
    ) -> RunOutcome:
        """Runs a list of steps in a run mode (steps without orderIndex are numbered by position)."""
        specs = [as_step(s, i) for i, s in enumerate(steps)]
        return run_steps(
            specs,
            self.environment,
            self.context,
            mode=mode,
            start_index=start_index,
            previous_results=previous_results,
            emit=emit,
            should_cancel=should_cancel,
            step_timeout_s=self.step_timeout_s,
            run_timeout_s=run_timeout_s,
            registry=self.registry,
            run_id=self.run_id,
        )

    def result(self, alias: str) -> StepResultData:
        try:
            return self.context.steps_by_alias[alias]
        except KeyError:
            known = ", ".join(self.context.steps_by_alias) or "none"
            raise ValidationFailed(f"no step {alias!r} has run (ran: {known})", field="alias") from None

    def close(self) -> None:
        if self._owns_environment:
            self.environment.close()

    def __enter__(self) -> StepRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
