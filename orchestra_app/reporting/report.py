"""The TestRun report (schema ``orchestra-report/1``, documented in docs/reports.md): built from a
run's detail (a row per planned step with its stored result) and its pinned snapshot.

Pure: no database, no Reflex. ``services/reports.py`` loads the inputs; the page, the JSON/HTML/JUnit
exports and ``orchestra`` all render this one document, so they always agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from orchestra_app.domain.runs import RunSnapshot
from orchestra_app.domain.steps import StepResultData, StepStatus, Violation
from orchestra_app.reporting.junit import JUnitSuite, case_from_step, write_junit
from orchestra_app.reporting.reproducers import reproducer_for

SCHEMA = "orchestra-report/1"
FAILING = ("FAILED",)
BODY_LIMIT = 20_000  # characters of a response body kept in a report (the run keeps the whole one)


def _endpoint(step: Mapping[str, Any], spec: Any) -> str:
    """``service operation`` when the step is bound, else ``METHOD path`` from the request, else the alias."""
    ref = getattr(spec, "endpoint_ref", None)
    if ref is not None:
        return f"{ref.service_name} {ref.endpoint_name}"
    request = step.get("request") or {}
    if request.get("method") and request.get("url"):
        url = str(request["url"])
        path = url.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        return f"{request['method']} {path.split('?', 1)[0]}"
    if request.get("rpc"):
        return str(request["rpc"])
    if request.get("topic"):
        return f"topic {request['topic']}"
    return str(step.get("alias", ""))


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > BODY_LIMIT:
        return value[:BODY_LIMIT] + f"... ({len(value) - BODY_LIMIT} more characters)"
    return value


def _duration_ms(run: Mapping[str, Any], steps: list[dict[str, Any]]) -> int:
    started, finished = run.get("startedAt"), run.get("finishedAt")
    if started and finished:
        try:
            a = datetime.fromisoformat(str(started))
            b = datetime.fromisoformat(str(finished))
            return max(0, int((b - a).total_seconds() * 1000))
        except ValueError:
            pass
    return sum(int(s.get("durationMs") or 0) for s in steps)


def build_report(
    run: Mapping[str, Any],
    snapshot: RunSnapshot,
    *,
    suite_name: str = "",
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report document of one run (``run``: TestRunDetail dumped by alias, JSON mode)."""
    specs = {s.order_index: s for s in snapshot.steps}
    environment = snapshot.environment
    steps: list[dict[str, Any]] = []
    by_type: Counter[str] = Counter()
    by_code: Counter[tuple[str, str]] = Counter()
    by_endpoint: Counter[str] = Counter()
    flaky: list[dict[str, Any]] = []
    for raw in run.get("steps") or []:
        index = int(raw.get("orderIndex", 0))
        spec = specs.get(index)
        status = str(raw.get("status", "PENDING"))
        violations = [Violation.model_validate(v).to_json_dict() for v in raw.get("violations") or []]
        endpoint = _endpoint(raw, spec)
        meta = dict(spec.action.meta) if spec is not None else {}
        reproducer = None
        if status in FAILING or (status == "FLAKY"):
            found = reproducer_for(
                channel=str(raw.get("channelType", "HTTP_REST")),
                kind=str(raw.get("kind", "ACTION")),
                request=raw.get("request"),
                db_result=raw.get("dbResult"),
                meta=meta,
                service=str(
                    meta.get("service")
                    or (spec.endpoint_ref.service_name if spec and spec.endpoint_ref else "")
                ),
                environment=environment,
            )
            reproducer = found.to_dict() if found else None
        for v in violations:
            if status not in FAILING or v.get("severity", "error") != "error":
                continue  # a flaky step's failed attempts are listed under flakySteps
            by_type[str(v["type"])] += 1
            by_code[(str(v["type"]), str(v["code"]))] += 1
            by_endpoint[endpoint] += 1
        item = {
            "index": index,
            "alias": raw.get("alias", ""),
            "name": raw.get("name", ""),
            "kind": raw.get("kind", "ACTION"),
            "channel": raw.get("channelType", "HTTP_REST"),
            "endpoint": endpoint,
            "status": status,
            "durationMs": int(raw.get("durationMs") or 0),
            "statusCode": raw.get("actualStatusCode"),
            "attempt": raw.get("attempt"),
            "reusedFromRunId": raw.get("reusedFromRunId"),
            "request": raw.get("request"),
            "response": {
                "headers": raw.get("responseHeaders"),
                "body": _short(raw.get("responseBody")),
                "truncated": bool(raw.get("responseTruncated")),
            },
            "dbResult": raw.get("dbResult"),
            "kafkaMessage": raw.get("kafkaMessage"),
            "queueMessage": raw.get("queueMessage"),
            "violations": violations,
            "reproducer": reproducer,
        }
        steps.append(item)
        if status == "FLAKY":
            flaky.append(
                {
                    "index": index,
                    "alias": item["alias"],
                    "attempts": raw.get("attempt"),
                    "violations": violations,
                }
            )
    # flaky across runs (the run detail's flakySteps, when the engine records them): a step whose
    # outcome changed between this scenario's recent runs
    listed = {f["index"] for f in flaky}
    for f in run.get("flakySteps") or []:
        index = int(f.get("orderIndex", -1))
        if index not in listed:
            flaky.append(
                {
                    "index": index,
                    "alias": f.get("alias", ""),
                    "attempts": None,
                    "violations": [],
                    "reason": f.get("reason"),
                }
            )
    counts = Counter(s["status"] for s in steps)
    executed = sum(counts[s] for s in ("PASSED", "FAILED", "FLAKY"))
    passed = counts["PASSED"] + counts["FLAKY"]
    return {
        "schema": SCHEMA,
        "generatedAt": (generated_at or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        "run": {
            "id": run.get("id"),
            "batchId": run.get("batchId"),
            "suiteId": run.get("suiteId"),
            "suiteName": suite_name,
            "scenarioId": run.get("scenarioId"),
            "scenarioKey": run.get("scenarioKey") or snapshot.scenario_key,
            "scenarioName": run.get("scenarioName") or snapshot.scenario_name,
            "scenarioVersion": run.get("scenarioVersion"),
            "mode": run.get("mode"),
            "status": run.get("status"),
            "error": run.get("error"),
            "createdAt": run.get("createdAt"),
            "startedAt": run.get("startedAt"),
            "finishedAt": run.get("finishedAt"),
            "durationMs": _duration_ms(run, steps),
            "triggeredBy": run.get("triggeredBy"),
            "attempt": run.get("attempt"),
            "environment": {
                "id": str(environment.id) if environment.id else None,
                "name": environment.name,
                "services": {
                    name: (cfg.get("baseUrl") if isinstance(cfg, dict) else None)
                    for name, cfg in sorted(environment.services.items())
                },
            },
            "dataSet": {
                "id": str(snapshot.data_set_id) if snapshot.data_set_id else None,
                "name": snapshot.data_set_name,
                "data": snapshot.data,
            },
        },
        "summary": {
            "steps": len(steps),
            "passed": counts["PASSED"],
            "failed": counts["FAILED"],
            "flaky": counts["FLAKY"],
            "skipped": counts["SKIPPED"],
            "notRun": counts["PENDING"] + counts["RUNNING"],
            "violations": sum(by_type.values()),
            "passRate": round(passed / executed, 4) if executed else None,
        },
        "violations": {
            "byType": [
                {"type": t, "count": n} for t, n in sorted(by_type.items(), key=lambda x: (-x[1], x[0]))
            ],
            "byCode": [
                {"type": t, "code": c, "count": n}
                for (t, c), n in sorted(by_code.items(), key=lambda x: (-x[1], x[0]))
            ],
            "byEndpoint": [
                {"endpoint": e, "count": n}
                for e, n in sorted(by_endpoint.items(), key=lambda x: (-x[1], x[0]))
            ],
        },
        "flakySteps": flaky,
        "steps": steps,
    }


def report_junit(report: Mapping[str, Any]) -> bytes:
    """The report as JUnit XML (one <testsuite> for the run, one <testcase> per step)."""
    run = report["run"]
    classname = str(run.get("scenarioKey") or "scenario")
    suite = JUnitSuite(
        name=f"{run.get('suiteName') or 'run'}/{run.get('scenarioKey') or run.get('id')}",
        properties={
            "runId": str(run.get("id")),
            "status": str(run.get("status")),
            "environment": str((run.get("environment") or {}).get("name") or ""),
            "dataSet": str((run.get("dataSet") or {}).get("name") or ""),
        },
        timestamp=datetime.fromisoformat(run["startedAt"]) if run.get("startedAt") else None,
        error=str(run.get("error") or "") if not report["steps"] else "",
    )
    for position, step in enumerate(report["steps"], 1):
        status = step["status"]
        result = StepResultData(
            step_alias=str(step["alias"]),
            status=StepStatus(status) if status in StepStatus.__members__ else StepStatus.PENDING,
            duration_ms=int(step["durationMs"]),
            actual_status_code=step.get("statusCode"),
            violations=[Violation.model_validate(v) for v in step["violations"]],
        )
        case = case_from_step(result, classname=classname, index=position)
        if step.get("reproducer"):
            prefix = case.system_out + "\n" if case.system_out else ""
            case.system_out = f"{prefix}reproduce: {step['reproducer']['command']}"
        suite.cases.append(case)
    return write_junit([suite], name=f"orchestra run {run.get('id')}")


def trend(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Suite trend rows from per-run facts (each: batchId, id, status, createdAt, startedAt, finishedAt),
    one row per suite run (a batch; a run without a batch is its own), oldest first."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        groups.setdefault(str(p.get("batchId") or p.get("id")), []).append(p)
    rows: list[dict[str, Any]] = []
    for key, runs in groups.items():
        statuses = Counter(str(r.get("status")) for r in runs)
        ended = statuses["PASSED"] + statuses["FAILED"]
        starts = [datetime.fromisoformat(str(r["startedAt"])) for r in runs if r.get("startedAt")]
        ends = [datetime.fromisoformat(str(r["finishedAt"])) for r in runs if r.get("finishedAt")]
        created = min(str(r.get("createdAt")) for r in runs)
        rows.append(
            {
                "batchId": key,
                "createdAt": created,
                "runs": len(runs),
                "passed": statuses["PASSED"],
                "failed": statuses["FAILED"],
                "cancelled": statuses["CANCELLED"],
                "passRate": round(statuses["PASSED"] / ended, 4) if ended else None,
                "durationMs": int((max(ends) - min(starts)).total_seconds() * 1000)
                if starts and ends
                else None,
            }
        )
    rows.sort(key=lambda r: str(r["createdAt"]))
    return rows
