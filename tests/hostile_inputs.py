"""Hostile inputs against a running Orchestra API, all at once, while the health check is polled.

    .venv/bin/python tests/hostile_inputs.py http://127.0.0.1:3000     # against the README run command

Loopback only (the script refuses any other host) and bounded (a fixed list of requests, each with a
timeout). It checks what issue 7 asks for: no 5xx answer, every error in the JSON error shape, health
under 1 s throughout, and nothing stored for a refused input (the number of stored process versions
and specs grows exactly by the number of accepted imports). tests/integration/test_hostile_inputs.py
runs it against the API on the embedded default (SQLite) with a short import budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
ORDER = (ROOT / "tests" / "fixtures" / "app" / "order.bpmn").read_bytes()
SPEC = (ROOT / "tests" / "fixtures" / "app" / "orders-api.yaml").read_bytes()
HEALTH_LIMIT_S = 1.0
XML_HEAD = '<?xml version="1.0"?>'
BPMN_OPEN = '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><process id="p">'


def alias_bomb() -> bytes:
    lines = ["openapi: 3.0.0", "info: {title: bomb, version: '1'}", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("\n".join([*lines, "paths: {}"]) + "\n").encode()


def billion_laughs() -> bytes:
    ents = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10))
    model = f'{BPMN_OPEN}<task id="t" name="&l9;"/></process></definitions>'
    return f"{XML_HEAD}<!DOCTYPE d [{ents}]>{model}".encode()


def xxe() -> bytes:
    return (
        f'{XML_HEAD}<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>{BPMN_OPEN}'
        '<startEvent id="s" name="&x;"/></process></definitions>'
    ).encode()


def wide_inclusive(width: int) -> bytes:
    """A legit but heavy model: one inclusive gateway with ``width`` conditional branches."""
    parts = [f'{XML_HEAD}{BPMN_OPEN}<startEvent id="s"/><inclusiveGateway id="g"/><inclusiveGateway id="j"/>']
    parts.append('<endEvent id="e"/><sequenceFlow id="fs" sourceRef="s" targetRef="g"/>')
    parts.append('<sequenceFlow id="fe" sourceRef="j" targetRef="e"/>')
    for i in range(width):
        parts.append(
            f'<task id="t{i}"/><sequenceFlow id="a{i}" sourceRef="g" targetRef="t{i}">'
            f"<conditionExpression>x == {i}</conditionExpression></sequenceFlow>"
            f'<sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="j"/>'
        )
    return ("".join(parts) + "</process></definitions>").encode()


def long_chain(length: int) -> bytes:
    """A legit but long model: ``length`` tasks in a row."""
    tasks = "".join(f'<task id="n{i}"/>' for i in range(1, length))
    flows = "".join(
        f'<sequenceFlow id="f{i}" sourceRef="n{i}" targetRef="n{i + 1}"/>' for i in range(length - 1)
    )
    start = '<startEvent id="n0"/><sequenceFlow id="f0" sourceRef="n0" targetRef="n1"/>'
    return f"{XML_HEAD}{BPMN_OPEN}{start}{tasks}{flows}</process></definitions>".encode()


def heavy_models() -> list[tuple[bytes, str]]:
    wide = wide_inclusive(5000)
    return [(wide, "")] * 4 + [(wide, "&strategy=paths")] * 2 + [(long_chain(20_000), "")] * 2


def deep_json_spec() -> bytes:
    return (
        b'{"openapi": "3.0.0", "info": {"title": "d", "version": "1"}, "x": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}"
    )


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = (400,)  # the statuses that are right for this input
    kind: str = ""  # "process" / "spec": an accepted answer stores one row


def cases(upload_limit: int) -> list[Case]:
    big_path = "/api/v1/" + "a" * 10_000
    out = [
        *[
            Case(f"alias bomb {i}", "POST", "/api/v1/specs?filename=bomb.yaml", alias_bomb(), expect=(413,))
            for i in range(8)
        ],
        Case(
            "loop bound",
            "POST",
            "/api/v1/processes?filename=o.bpmn&strategy=paths&max_loop=1000000000",
            ORDER,
        ),
        Case("strategy", "POST", "/api/v1/processes?filename=o.bpmn&strategy=bogus", ORDER),
        Case("max_loop 0", "POST", "/api/v1/processes?filename=o.bpmn&max_loop=0", ORDER),
        Case("unknown param", "POST", "/api/v1/processes?filename=o.bpmn&stratgy=paths", ORDER),
        Case("no filename", "POST", "/api/v1/processes", ORDER),
        Case("huge filename", "POST", "/api/v1/processes?filename=" + "f" * 5000, ORDER),
        Case("empty body", "POST", "/api/v1/processes?filename=e.bpmn", b""),
        Case("binary", "POST", "/api/v1/processes?filename=b.bpmn", bytes(range(256)) * 40),
        Case("billion laughs", "POST", "/api/v1/processes?filename=lol.bpmn", billion_laughs()),
        Case("xxe", "POST", "/api/v1/processes?filename=xxe.bpmn", xxe()),
        Case(
            "over the upload limit",
            "POST",
            "/api/v1/processes?filename=big.bpmn",
            b" " * (upload_limit + 1),
            expect=(413,),
        ),
        Case("deep json", "POST", "/api/v1/specs?filename=deep.json", deep_json_spec()),
        # Eight legit but heavy models in flight at once: each is either imported or stopped by the budget.
        *[
            Case(
                f"heavy model {i}",
                "POST",
                f"/api/v1/processes?filename=heavy{i}.bpmn{query}",
                body,
                (),
                (201, 422),
                "process",
            )
            for i, (body, query) in enumerate(heavy_models())
        ],
        Case(
            "damaged",
            "POST",
            "/api/v1/processes?filename=cut.bpmn",
            ORDER[:700],
            expect=(201,),
            kind="process",
        ),
        Case(
            "bidi name",
            "POST",
            "/api/v1/processes?filename=%E2%80%AEgpj.bpmn",
            ORDER,
            expect=(201,),
            kind="process",
        ),
        Case(
            "file ref in upload",
            "POST",
            "/api/v1/specs?filename=ref.yaml",
            SPEC.replace(b"paths:", b"x-leak: {$ref: 'file:///etc/passwd'}\npaths:"),
            expect=(200, 201),
            kind="spec",
        ),
        Case("long path", "GET", big_path, expect=(404,)),
        Case("unknown route", "GET", "/api/v1/nope", expect=(404,)),
        Case("wrong method", "DELETE", "/api/v1/processes", expect=(405,)),
        Case("limit 0", "GET", "/api/v1/processes?limit=0"),
        Case("limit huge", "GET", "/api/v1/processes?limit=100000000000000000000"),
        Case("offset -1", "GET", "/api/v1/specs?offset=-1"),
        Case("bad uuid", "GET", "/api/v1/suites/%27%20OR%201=1--"),
        Case("unknown uuid", "GET", "/api/v1/processes/00000000-0000-4000-8000-00000000dead", expect=(404,)),
    ]
    out += [
        Case(
            f"same key {i}",
            "POST",
            "/api/v1/processes?filename=order.bpmn&key=race",
            ORDER,
            expect=(201,),
            kind="process",
        )
        for i in range(12)
    ]
    return out


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    health_latencies: list[float] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=lambda: {"process": 0, "spec": 0})
    statuses: dict[str, int] = field(default_factory=dict)


def _stored(client: httpx.Client) -> tuple[int, int]:
    """(process versions, specs) stored, read through the API."""
    versions = 0
    page: str | None = "/api/v1/processes?limit=500"
    while page:
        body = client.get(page).json()
        for item in body["items"]:
            versions += int(item["versions"])
        page = body["next"]
    return versions, int(client.get("/api/v1/specs?limit=1").json()["total"])


def run(
    base: str,
    *,
    upload_limit: int,
    workers: int = 16,
    health_limit_s: float | None = None,
    log: Callable[[str], None] = print,
) -> Report:
    """Send every hostile case at once while polling the health check.

    `health_limit_s` turns slow health answers into problems; tests leave it unset (no wall-clock
    assertion in tests: they check that health keeps answering 200 while the load runs) and the
    command line / benchmarks/bench_api_imports.py measure the latency against the 1 s target.
    """
    host = urlsplit(base).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to send hostile inputs to {host!r}: loopback only")
    report = Report()
    with httpx.Client(base_url=base, timeout=300, trust_env=False) as client:
        before = _stored(client)
        stop = threading.Event()

        def poll_health() -> None:
            with httpx.Client(base_url=base, timeout=30, trust_env=False) as probe:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        r = probe.get("/api/v1/health")
                    except httpx.HTTPError as exc:
                        report.problems.append(f"health not answered: {type(exc).__name__} {exc}")
                        stop.wait(0.1)
                        continue
                    report.health_latencies.append(time.monotonic() - started)
                    if r.status_code != 200:
                        report.problems.append(f"health answered {r.status_code}: {r.text[:200]}")
                    stop.wait(0.1)

        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()

        def send(case: Case) -> None:
            r = client.request(case.method, case.path, content=case.body, headers=case.headers)
            report.statuses[case.name] = r.status_code
            if r.status_code >= 500:
                report.problems.append(f"{case.name}: {r.status_code} {r.text[:300]}")
            if r.status_code not in case.expect:
                report.problems.append(
                    f"{case.name}: expected {case.expect}, got {r.status_code} {r.text[:300]}"
                )
            if r.status_code >= 400:
                try:
                    error = r.json()["error"]
                    assert {"kind", "message", "text"} <= set(error)
                except Exception:
                    report.problems.append(f"{case.name}: error is not the JSON error shape: {r.text[:200]}")
                if len(r.content) > 4000:
                    report.problems.append(f"{case.name}: {len(r.content)}-byte error answer (input echoed?)")
            elif case.kind and r.status_code == 201:
                report.accepted[case.kind] += 1
            if b"root:x:0:0" in r.content:
                report.problems.append(f"{case.name}: /etc/passwd content in the answer")

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(send, cases(upload_limit)))
        stop.set()
        poller.join(30)
        after = _stored(client)
    grown = (after[0] - before[0], after[1] - before[1])
    if grown != (report.accepted["process"], report.accepted["spec"]):
        report.problems.append(f"stored {grown} (versions, specs) but accepted {report.accepted}")
    if not report.health_latencies:
        report.problems.append("the health check was never answered")
    slow = [t for t in report.health_latencies if health_limit_s is not None and t >= health_limit_s]
    if slow:
        report.problems.append(
            f"health took {max(slow):.2f} s ({len(slow)} of {len(report.health_latencies)} polls "
            f">= {health_limit_s} s)"
        )
    log(
        f"{len(report.statuses)} requests, health polled {len(report.health_latencies)} times "
        f"(max {max(report.health_latencies, default=0):.3f} s), accepted {report.accepted}"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="API base URL on loopback, e.g. http://127.0.0.1:3000")
    parser.add_argument("--upload-limit", type=int, default=20 * 1024 * 1024)
    args = parser.parse_args()
    report = run(args.base, upload_limit=args.upload_limit, health_limit_s=HEALTH_LIMIT_S)
    print(json.dumps(report.statuses, indent=1))
    for problem in report.problems:
        print("PROBLEM:", problem)
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
