"""The execution engine (pure: domain and plugins only; no database, Redis or Reflex).

* ``run_step`` / ``run_steps``: one step, or a scenario's steps in a run mode (runner.py)
* ``StepRunner``: the small by-hand entry point keeping one ExecutionContext (driver.py)
* typed run events (events.py) and ExecutionContext helpers (context.py)

The worker (executor/) and services/runs.py wrap this with storage, the queue and live events.
"""

from orchestra_app.domain.runs import RunMode, RunStatus
from orchestra_app.engine.context import new_context, record, restore
from orchestra_app.engine.driver import StepRunner, as_step
from orchestra_app.engine.events import (
    RunCancelled,
    RunEvent,
    RunFinished,
    RunQueued,
    RunRequeued,
    RunStarted,
    RunState,
    StepFinished,
    StepStarted,
)
from orchestra_app.engine.runner import RunOutcome, plan_steps, run_step, run_steps, step_timeout_for

__all__ = [
    "RunCancelled",
    "RunEvent",
    "RunFinished",
    "RunMode",
    "RunOutcome",
    "RunQueued",
    "RunRequeued",
    "RunStarted",
    "RunState",
    "RunStatus",
    "StepFinished",
    "StepRunner",
    "StepStarted",
    "as_step",
    "new_context",
    "plan_steps",
    "record",
    "restore",
    "run_step",
    "run_steps",
    "step_timeout_for",
]
