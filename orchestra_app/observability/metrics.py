"""Prometheus metrics with the seed's names (11.1), fed by run events.

    orchestra_testrun_total{tenant,status}                          runs created (PENDING/QUEUED) and ended
    orchestra_step_duration_ms{tenant,channelType,kind,status}      histogram of step durations
    orchestra_assertion_timeouts_total{tenant,channelType}          ASSERTION steps that timed out
    orchestra_flaky_steps_total{tenant}                             steps found flaky: outcome differs between
                                                                    retry attempts or across recent runs

``tenant`` is the tenant id (stable, unlike names). The app serves ``/metrics`` from its own
process (embedded default: including its in-process worker). ``orchestra worker`` runs Dramatiq's
processes in prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) and serves the
sum over its processes on ``ORCHESTRA_WORKER_METRICS_PORT`` (docs/engine.md).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from orchestra_app.engine.events import RunEvent, RunFinished, RunQueued, StepFinished

TESTRUN_TOTAL = Counter(
    "orchestra_testrun_total", "Test runs by tenant and status (created and ended).", ["tenant", "status"]
)
STEP_DURATION_MS = Histogram(
    "orchestra_step_duration_ms",
    "Duration of executed steps in milliseconds.",
    ["tenant", "channelType", "kind", "status"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000),
)
ASSERTION_TIMEOUTS = Counter(
    "orchestra_assertion_timeouts_total",
    "ASSERTION steps that ended with a TIMEOUT violation.",
    ["tenant", "channelType"],
)
FLAKY_STEPS = Counter(
    "orchestra_flaky_steps_total",
    "Steps found flaky: their outcome differed between retry attempts or across recent runs.",
    ["tenant"],
)


def observe(event: RunEvent) -> None:
    """The metrics consumer of the run event stream."""
    tenant = str(event.tenant_id or "")
    if isinstance(event, RunQueued | RunFinished):
        TESTRUN_TOTAL.labels(tenant, event.status).inc()
    elif isinstance(event, StepFinished):
        if event.status == "SKIPPED" or event.reused_from_run_id:
            return  # nothing ran
        STEP_DURATION_MS.labels(tenant, event.channel_type, event.kind, event.status).observe(
            event.duration_ms
        )
        if event.kind == "ASSERTION" and any(v.get("type") == "TIMEOUT" for v in event.violations):
            ASSERTION_TIMEOUTS.labels(tenant, event.channel_type).inc()
        if event.status == "FLAKY" or event.flaky:
            FLAKY_STEPS.labels(tenant).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process (or, in multiprocess mode, of all worker processes)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
