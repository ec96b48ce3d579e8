"""Process benchmark: import + `edges` suite over the whole BPMN corpus, plus synthetic explosion cases.

Run: .venv/bin/python benchmarks/bench_process.py [--corpus DIR] [--strategy edges|paths] [--repeat N]
     [--robustness]
Targets (issue 3): whole corpus < 10 s, any single file < 1 s, peak memory < 500 MB.
Targets (issue 8): the dense-cycle family (seeded random back edges and skips) at 60, 200 and 1,000
decisions (2,170 nodes): 100% of reachable flows covered, each suite under 1 s.
``--robustness`` times the large hostile shapes of tests/unit/test_process_robustness.py (which asserts
only work counts): a 20,000-node chain < 4 s, 5,000-way gateways < 5 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra_app.domain.errors import OrchestraError  # noqa: E402
from orchestra_app.generation import generate_suite  # noqa: E402
from orchestra_app.generation.synthetic import DENSE_CYCLE_CASES, SYNTHETIC_CASES  # noqa: E402
from orchestra_app.importers.detect import import_process  # noqa: E402

DEFAULT_CORPUS = Path(os.environ.get("ORCHESTRA_CORPUS", ROOT.parent / "shared" / "corpus")) / "bpmn"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def bench_corpus(corpus: Path, strategy: str) -> None:
    manifest = corpus / "MANIFEST.tsv"
    with manifest.open(newline="", encoding="utf-8") as fh:
        paths = [row["path"] for row in csv.DictReader(fh, delimiter="\t")]
    timings: list[tuple[float, float, float, str, int, bool]] = []
    failures: list[str] = []
    incomplete: list[str] = []
    decisions_short = truncated = 0
    started = time.perf_counter()
    for rel in paths:
        data = (corpus / rel).read_bytes()
        t0 = time.perf_counter()
        try:
            graph = import_process(data, filename=rel)
        except OrchestraError as exc:
            failures.append(f"{rel}: {exc}")
            continue
        t1 = time.perf_counter()
        suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        cov = suite.coverage
        if cov.flows_covered < cov.flows_reachable:
            incomplete.append(f"{rel}: {cov.flows_covered}/{cov.flows_reachable} reachable flows")
        decisions_short += cov.decisions_covered < cov.decisions_total
        truncated += sum(1 for s in suite.scenarios if s.truncated)
        timings.append((t2 - t0, t1 - t0, t2 - t1, rel, len(suite.scenarios), suite.capped))
    total = time.perf_counter() - started
    import_total = sum(t[1] for t in timings)
    gen_total = sum(t[2] for t in timings)
    scenarios = sum(t[4] for t in timings)
    print(
        f"corpus: {len(paths)} files, {len(timings)} imported, {len(failures)} failed, {scenarios} scenarios"
    )
    print(f"  whole corpus: {total:.2f} s (import {import_total:.2f} s, {strategy} suites {gen_total:.2f} s)")
    print(
        f"  capped suites: {sum(1 for t in timings if t[5])}; incomplete flow coverage: {len(incomplete)}; "
        f"decision coverage short: {decisions_short}; truncated scenarios: {truncated}"
    )
    for line in incomplete[:10]:
        print(f"    {line}")
    print("  slowest files (total / import / generate, scenarios):")
    for t, ti, tg, rel, n, _ in sorted(timings, reverse=True)[:5]:
        print(f"    {t * 1000:8.1f} ms  {ti * 1000:7.1f} / {tg * 1000:7.1f} ms  {n:4d}  {rel}")
    for line in failures[:10]:
        print(f"  failed: {line}")


def bench_synthetic(strategy: str, repeat: int) -> None:
    print(f"synthetic cases ({strategy}; best of {repeat}; wall ms / CPU ms):")
    for name, build in {**SYNTHETIC_CASES, **DENSE_CYCLE_CASES}.items():
        graph = build()
        wall = cpu = float("inf")
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
            wall = min(wall, (time.perf_counter() - t0) * 1000)
            cpu = min(cpu, (time.process_time() - c0) * 1000)
        cov = suite.coverage
        count = str(suite.path_count)
        count = count if len(count) <= 12 else f"~{count[0]}.{count[1:3]}e{len(count) - 1}"
        longest = max((len(s.flows) for s in suite.scenarios), default=0)
        print(
            f"  {name:30s} {wall:8.1f} / {cpu:7.1f} ms  {len(graph.nodes):5d} nodes  "
            f"{len(suite.scenarios):5d} scenarios ({suite.stats.gap_scenarios} gap-closing, longest "
            f"{longest} flows)  flows {cov.flows_covered}/{cov.flows_reachable}/{cov.flows_total}  "
            f"decisions {cov.decisions_covered}/{cov.decisions_total}  paths {count}  capped={suite.capped}"
        )


def _wide(width: int, gateway: str) -> bytes:
    parts = [f'<startEvent id="s"/><{gateway} id="g"/><{gateway} id="j"/><endEvent id="e"/>']
    parts.append('<sequenceFlow id="fs" sourceRef="s" targetRef="g"/>')
    parts.append('<sequenceFlow id="fe" sourceRef="j" targetRef="e"/>')
    for i in range(width):
        parts.append(
            f'<task id="t{i}"/><sequenceFlow id="a{i}" sourceRef="g" targetRef="t{i}">'
            f"<conditionExpression>x == {i}</conditionExpression></sequenceFlow>"
            f'<sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="j"/>'
        )
    return _bpmn("".join(parts))


def _bpmn(body: str) -> bytes:
    head = '<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
    return f'{head}<process id="p">{body}</process></definitions>'.encode()


def bench_robustness() -> None:
    """Times of the large shapes the robustness tests check by work counts."""
    chain = '<startEvent id="n0"/>' + "".join(f'<task id="n{i}"/>' for i in range(1, 20_000))
    chain += "".join(
        f'<sequenceFlow id="f{i}" sourceRef="n{i}" targetRef="n{i + 1}"/>' for i in range(19_999)
    )
    cases: list[tuple[str, bytes, str]] = [("chain of 20,000 tasks", _bpmn(chain), "edges")]
    for gateway in ("exclusiveGateway", "inclusiveGateway", "parallelGateway"):
        for strategy in ("edges", "paths"):
            cases.append((f"5,000-way {gateway} {strategy}", _wide(5000, gateway), strategy))
    print("robustness cases (import + generate; the tests assert counts, these are the times):")
    for name, data, strategy in cases:
        t0 = time.perf_counter()
        graph = import_process(data, filename="bench.bpmn")
        suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t0
        visits = sum(len(s.nodes) for s in suite.scenarios)
        print(
            f"  {name:40s} {elapsed * 1000:9.1f} ms  {len(suite.scenarios):5d} scenarios  {visits:6d} visits"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--strategy", choices=["edges", "paths"], default="edges")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per synthetic case (the best is shown)")
    parser.add_argument("--robustness", action="store_true", help="only time the large hostile shapes")
    args = parser.parse_args()
    if args.robustness:
        bench_robustness()
        print(f"peak RSS: {_peak_rss_mb():.0f} MB")
        return
    if args.tracemalloc:
        tracemalloc.start()
    if (args.corpus / "MANIFEST.tsv").is_file():
        bench_corpus(args.corpus, args.strategy)
    else:
        print(f"corpus not found at {args.corpus}: skipping the corpus part")
    bench_synthetic(args.strategy, max(1, args.repeat))
    print(f"peak RSS: {_peak_rss_mb():.0f} MB")
    if args.tracemalloc:
        _, peak = tracemalloc.get_traced_memory()
        print(f"peak traced Python allocations: {peak / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
