"""Per-step overhead of the HTTP plugin (templating, building, contract validation) vs bare httpx.

Run: ``.venv/bin/python benchmarks/bench_http_step.py``. Wall time is the figure that matters; the
client's CPU time per step (``time.thread_time``: the server runs in another process) is printed
too because it stays readable when other jobs load the machine and wall times swing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra_app.domain.spec import SpecSummary  # noqa: E402
from orchestra_app.domain.steps import (  # noqa: E402
    ActionDefinition,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    StepExpectations,
    StepStatus,
)
from orchestra_app.importers.spec_detect import import_spec  # noqa: E402
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext  # noqa: E402
from orchestra_app.plugins.http import plugin  # noqa: E402
from tests.fixtures.http.server import BIG  # noqa: E402

WARMUP = 200
ROUNDS = 5
PER_ROUND = 400


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    spec = import_spec(ROOT / "tests" / "fixtures" / "http" / "orders-openapi.yaml")
    print(f"response body: {len(BIG)} bytes of JSON (58 orders), validated against its schema on every step")
    # The server runs in its own process so it does not compete with the measured client for the GIL.
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fixtures" / "http" / "server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    base_url = proc.stdout.readline().strip()
    try:
        (bare_times, engine_times), (bare_cpu, engine_cpu) = measure(spec, base_url)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    report(bare_times, engine_times)
    report(bare_cpu, engine_cpu, label="client CPU per step")


def measure(
    spec: SpecSummary, base_url: str
) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    env = ExecutionEnvironment(
        services={"orders": {"baseUrl": base_url}}, specs={"orders": spec}, variables={"tenant": "acme"}
    )
    step = ScenarioStepSpec(
        alias="big",
        name="big",
        endpoint_ref=EndpointRef(protocol_id="http", service_name="orders", endpoint_name="getBig"),
        action=ActionDefinition(
            input_template={
                "method": "GET",
                "path": "/big",
                "headers": {"X-Tenant": "{{env.tenant}}", "X-Trace": "{{data.trace}}"},
            }
        ),
        expectations=StepExpectations(
            expected_status_code=200, business_rules=[{"path": "$.body.items", "length": {"gte": 1}}]
        ),
    )
    context = ExecutionContext(variables={"data": {"trace": "t-1"}})
    run = StepRunContext(env, context)
    bare_client = httpx.Client(trust_env=False)
    url = base_url + "/big"

    bare_cpu: list[float] = []
    engine_cpu: list[float] = []

    def bare() -> float:
        cpu = time.thread_time()
        start = time.perf_counter()
        response = bare_client.get(url, headers={"X-Tenant": "acme", "X-Trace": "t-1"})
        response.json()
        elapsed = time.perf_counter() - start
        bare_cpu.append(time.thread_time() - cpu)
        return elapsed

    def engine() -> float:
        cpu = time.thread_time()
        start = time.perf_counter()
        result = plugin.execute(step, run)
        elapsed = time.perf_counter() - start
        engine_cpu.append(time.thread_time() - cpu)
        assert result.status == StepStatus.PASSED, result.violations
        return elapsed

    for _ in range(WARMUP):
        bare()
        engine()
    bare_cpu.clear()
    engine_cpu.clear()
    bare_times: list[float] = []
    engine_times: list[float] = []
    # Interleave rounds so drift on the machine hits both sides alike.
    for _ in range(ROUNDS):
        bare_times.extend(bare() for _ in range(PER_ROUND))
        engine_times.extend(engine() for _ in range(PER_ROUND))
    bare_client.close()
    env.close()
    return (bare_times, engine_times), (bare_cpu, engine_cpu)


def report(bare_times: list[float], engine_times: list[float], label: str = "") -> None:
    def ms(value: float) -> str:
        return f"{value * 1000:.3f} ms"

    b_med, e_med = statistics.median(bare_times), statistics.median(engine_times)
    b_p95, e_p95 = percentile(bare_times, 0.95), percentile(engine_times, 0.95)
    if label:
        print(f"-- {label}")
        print(f"bare httpx (get + json):     median {ms(b_med)}  p95 {ms(b_p95)}")
        print(f"HTTP plugin step (full):     median {ms(e_med)}  p95 {ms(e_p95)}")
        print(f"overhead:                    median {ms(e_med - b_med)}  p95 {ms(e_p95 - b_p95)}")
        return
    print(f"samples per side: {len(bare_times)}")
    print(f"bare httpx (get + json):     median {ms(b_med)}  p95 {ms(b_p95)}")
    print(f"HTTP plugin step (full):     median {ms(e_med)}  p95 {ms(e_p95)}")
    print(f"overhead:                    median {ms(e_med - b_med)}  p95 {ms(e_p95 - b_p95)}")
    print(f"target <= 1 ms median overhead: {'met' if e_med - b_med <= 0.001 else 'NOT met'}")


if __name__ == "__main__":
    main()
