"""ExecutionContext handling (seed 4.6): data, run variables and every earlier step's result by alias."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from orchestra_app.domain.steps import ExecutionContext, StepResultData


def new_context(
    *,
    run_id: UUID | None = None,
    data: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> ExecutionContext:
    """A fresh context: ``{{data.*}}`` from the data set, ``{{run.id}}``, plus extra run variables."""
    merged: dict[str, Any] = dict(variables or {})
    merged["data"] = dict(data or {})
    run = dict(merged.get("run") or {})
    if run_id is not None:
        run["id"] = str(run_id)
    merged["run"] = run
    return ExecutionContext(run_id=run_id, variables=merged)


def record(context: ExecutionContext, result: StepResultData) -> None:
    """Makes ``result`` visible to later steps as ``{{step.<alias>.response.*}}``."""
    context.steps_by_alias[result.step_alias] = result


def restore(context: ExecutionContext, results: Iterable[StepResultData]) -> None:
    """Loads earlier results (a resumed attempt, FROM_STEP, SINGLE_STEP) into the context, in order."""
    for result in results:
        record(context, result)
