"""What `orchestra run` reports when its runs end: the JSON summary, JUnit suites and the exit code.

The JSON summary (format ``orchestra-run/1``, documented in docs/cli-run.md) is built from the
stored runs (``services.runs.get_run``), so it says exactly what the database holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from orchestra_app.domain.runs import RunStatus
from orchestra_app.domain.steps import StepResultData, StepStatus
from orchestra_app.reporting.junit import JUnitSuite, case_from_step
from orchestra_app.services.runs import StepResultView, TestRunDetail

FORMAT = "orchestra-run/1"

EXIT_PASSED = 0
EXIT_FAILED = 1  # a run failed or was cancelled: the system under test did not do what the suite says
EXIT_USAGE = 2  # bad options or configuration: nothing, or nothing meaningful, was run
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: the runs were cancelled


def could_not_start(run: TestRunDetail) -> bool:
    """FAILED before any step ran (its environment could not be built, a step could not be prepared)."""
    return (
        run.status == RunStatus.FAILED
        and bool(run.error)
        and all(s.status in ("SKIPPED", "PENDING") for s in run.steps)
    )


def exit_code(runs: Sequence[TestRunDetail]) -> int:
    """0 when every run PASSED; 2 when a run could not start (configuration); 1 otherwise."""
    if any(could_not_start(r) for r in runs):
        return EXIT_USAGE
    if runs and all(r.status == RunStatus.PASSED for r in runs):
        return EXIT_PASSED
    return EXIT_FAILED


def _duration_ms(run: TestRunDetail) -> int | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return max(int((run.finished_at - run.started_at).total_seconds() * 1000), 0)


def _step_json(step: StepResultView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "orderIndex": step.order_index,
        "alias": step.alias,
        "name": step.name,
        "kind": step.kind,
        "channelType": step.channel_type,
        "status": step.status,
        "durationMs": step.duration_ms,
        "actualStatusCode": step.actual_status_code,
        "violations": [v.to_json_dict() for v in step.violations],
    }
    if step.reused_from_run_id is not None:
        out["reusedFromRunId"] = str(step.reused_from_run_id)
    return out


def run_json(run: TestRunDetail) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "scenarioId": str(run.scenario_id),
        "scenarioKey": run.scenario_key,
        "scenarioName": run.scenario_name,
        "scenarioVersion": run.scenario_version,
        "status": run.status.value,
        "error": run.error,
        "mode": run.mode.value,
        "startStepIndex": run.start_step_index,
        "fromRunId": str(run.from_run_id) if run.from_run_id else None,
        "environment": run.environment_name,
        "dataSet": run.data_set_name,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "durationMs": _duration_ms(run),
        "counts": dict(run.counts),
        "steps": [_step_json(s) for s in run.steps],
    }


def summary(
    runs: Sequence[TestRunDetail],
    *,
    source: dict[str, Any],
    suite: dict[str, Any] | None,
    notes: Sequence[str] = (),
    duration_ms: int,
    code: int | None = None,
) -> dict[str, Any]:
    """The ``orchestra-run/1`` document for runs that were created (see docs/cli-run.md)."""
    code = exit_code(runs) if code is None else code
    statuses = Counter(r.status.value for r in runs)
    steps: Counter[str] = Counter()
    for run in runs:
        steps.update(s.status for s in run.steps)
    if code == EXIT_PASSED:
        status = "PASSED"
    elif code == EXIT_INTERRUPTED or (runs and all(r.status == RunStatus.CANCELLED for r in runs)):
        status = "CANCELLED"
    elif code == EXIT_USAGE:
        status = "ERROR"
    else:
        status = "FAILED"
    return {
        "format": FORMAT,
        "status": status,
        "exitCode": code,
        "batchId": str(runs[0].batch_id) if runs and runs[0].batch_id else None,
        "mode": runs[0].mode.value if runs else None,
        "source": source,
        "suite": suite,
        "durationMs": duration_ms,
        "totals": {
            "runs": len(runs),
            "passed": statuses.get("PASSED", 0),
            "failed": statuses.get("FAILED", 0),
            "cancelled": statuses.get("CANCELLED", 0),
            "steps": dict(sorted(steps.items())),
        },
        "notes": list(notes),
        "runs": [run_json(r) for r in runs],
        "error": None,
    }


def error_summary(
    message: str, problems: Sequence[str] = (), *, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``orchestra-run/1`` document when nothing ran (exit code 2)."""
    return {
        "format": FORMAT,
        "status": "ERROR",
        "exitCode": EXIT_USAGE,
        "batchId": None,
        "mode": None,
        "source": source or {},
        "suite": None,
        "durationMs": 0,
        "totals": {"runs": 0, "passed": 0, "failed": 0, "cancelled": 0, "steps": {}},
        "notes": [],
        "runs": [],
        "error": {"message": message, "problems": list(problems)},
    }


def _skip_reason(run: TestRunDetail) -> str:
    if run.status == RunStatus.CANCELLED:
        return "not run: the run was cancelled"
    if run.error:
        return f"not run: {run.error}"
    return "not run: an earlier step failed"


def junit_suites(runs: Sequence[TestRunDetail], *, suite_name: str, classname: str) -> list[JUnitSuite]:
    """One JUnit <testsuite> per run, one <testcase> per planned step (reporting/junit.py)."""
    out: list[JUnitSuite] = []
    for run in runs:
        suite = JUnitSuite(
            name=f"{suite_name}/{run.scenario_key} {run.scenario_name}".strip(),
            timestamp=run.started_at or run.created_at,
            properties={
                k: v
                for k, v in {
                    "runId": str(run.id),
                    "status": run.status.value,
                    "mode": run.mode.value,
                    "environment": run.environment_name or "",
                    "dataSet": run.data_set_name or "",
                    "fromRunId": str(run.from_run_id) if run.from_run_id else "",
                }.items()
                if v
            },
            error=(run.error or "") if could_not_start(run) else "",
        )
        out.append(suite)
        for position, step in enumerate(run.steps, start=1):
            result = StepResultData(
                step_alias=step.alias,
                status=StepStatus(step.status)
                if step.status in StepStatus.__members__
                else StepStatus.PENDING,
                duration_ms=step.duration_ms,
                actual_status_code=step.actual_status_code,
                violations=step.violations,
            )
            case = case_from_step(
                result,
                classname=f"{classname}.{run.scenario_key}",
                index=position,
                skipped_reason=_skip_reason(run),
            )
            if step.reused_from_run_id is not None:
                note = f"reused from run {step.reused_from_run_id} (FROM_STEP)"
                case.system_out = f"{note}\n{case.system_out}" if case.system_out else note
            suite.cases.append(case)
    return out
