"""REST API imports under load: concurrent imports of one key, hostile inputs, health latency meanwhile.

Run: .venv/bin/python benchmarks/bench_api_imports.py [--db-url postgresql+psycopg://...] [--imports 200]

Starts the API (``create_api`` on uvicorn, its own process) on a fresh SQLite file unless ``--db-url``
names a migrated database, then measures:
* the YAML alias bomb of issue 7 (522 bytes) refused in-process: time per refusal;
* N concurrent ``POST /api/v1/processes`` of the same file and key: wall time, imports/s, statuses;
* tests/hostile_inputs.py (about 50 hostile requests at once, 8 heavy models among them): health-check
  latency p50 / p95 / max.
Targets (issue 7): alias bomb well under 1 s, no 5xx, health under 1 s throughout.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra_app.db.migrate import upgrade  # noqa: E402
from orchestra_app.domain.errors import OrchestraError  # noqa: E402
from orchestra_app.importers.spec_detect import import_spec  # noqa: E402
from tests import hostile_inputs  # noqa: E402
from tests.fixtures.api_server import serve_api  # noqa: E402

ORDER = (ROOT / "tests" / "fixtures" / "app" / "order.bpmn").read_bytes()


def bench_alias_bomb() -> None:
    bomb = hostile_inputs.alias_bomb()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        with contextlib.suppress(OrchestraError):
            import_spec(bomb, filename="bomb.yaml")
        times.append(time.perf_counter() - t0)
    print(f"alias bomb ({len(bomb)} bytes): refused in {min(times) * 1000:.1f} ms (best of 5)")


def bench_concurrent(base: str, n: int) -> None:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    with httpx.Client(base_url=base, timeout=600, limits=limits, trust_env=False) as client:

        def post(_: int) -> int:
            return client.post("/api/v1/processes?filename=order.bpmn&key=bench", content=ORDER).status_code

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            statuses = Counter(pool.map(post, range(n)))
        elapsed = time.perf_counter() - t0
    rate = n / elapsed
    print(
        f"{n} concurrent imports of one key: {elapsed:.1f} s, {rate:.1f} imports/s, statuses {dict(statuses)}"
    )


def bench_hostile(base: str, upload_limit: int) -> None:
    report = hostile_inputs.run(
        base, upload_limit=upload_limit, health_limit_s=hostile_inputs.HEALTH_LIMIT_S, log=lambda _line: None
    )
    lat = sorted(report.health_latencies)
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else 0.0
    print(
        f"hostile inputs ({len(report.statuses)} requests at once): health polled {len(lat)} times, "
        f"p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms; "
        f"problems: {len(report.problems)}"
    )
    for problem in report.problems:
        print("  ", problem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="", help="a migrated database (default: a fresh SQLite file)")
    parser.add_argument("--imports", type=int, default=200)
    args = parser.parse_args()
    bench_alias_bomb()
    upload_limit = 2 * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        env = {"ORCHESTRA_DATA_DIR": tmp, "ORCHESTRA_MAX_UPLOAD_BYTES": str(upload_limit)}
        if args.db_url:
            env["DB_URL"] = args.db_url
        else:
            upgrade(f"sqlite:///{Path(tmp) / 'orchestra.db'}")
        with serve_api(env, Path(tmp) / "api.log") as base:
            bench_concurrent(base, args.imports)
            bench_hostile(base, upload_limit)


if __name__ == "__main__":
    main()
