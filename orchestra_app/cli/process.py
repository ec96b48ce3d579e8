"""``orchestra process ...``: import BPMN/sequence diagrams and generate scenario suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation.generator import generate_suite
from orchestra_app.generation.model import SuitePlan
from orchestra_app.generation.params import (
    MAX_LOOP,
    MAX_SCENARIOS,
    MIN_LOOP,
    MIN_SCENARIOS,
    parse_generation_params,
)
from orchestra_app.importers.detect import import_process
from orchestra_app.importers.files import read_regular_file
from orchestra_app.observability.logging import report_unexpected, unexpected_text
from orchestra_app.settings import get_settings

app = typer.Typer(no_args_is_help=True)

EXIT_OK = 0
EXIT_FAILED = 2


FilesArg = Annotated[
    list[Path], typer.Argument(help="BPMN 2.0 XML, mermaid/PlantUML sequence diagrams or JSON.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Machine-readable output (JSON Lines for several files).")
]


def _read(path: Path) -> bytes:
    """Regular files only (``/dev/zero``, FIFOs and sockets are refused without blocking), capped at the
    app's upload limit (``ORCHESTRA_MAX_UPLOAD_BYTES``, default 20 MB)."""
    return read_regular_file(path, max_bytes=get_settings().max_upload_bytes, display=str(path))


def _load(path: Path, max_loop: int | None, *, allow_empty: bool = False) -> ControlFlowGraph:
    return import_process(
        _read(path), filename=str(path), max_loop_iterations=max_loop, allow_empty=allow_empty
    )


def _error_record(path: Path, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, OrchestraError):
        record: dict[str, Any] = {"file": str(path), "error": str(exc), "kind": str(exc.kind)}
        for key in ("line", "column", "pointer"):
            value = getattr(exc, key)
            if value is not None:
                record[key] = value
        return record
    # Anything else is our bug: logged with its traceback (stderr, JSON), one clean line with the id.
    error_id = report_unexpected(exc, where=f"orchestra process ({path})")
    return {
        "file": str(path),
        "error": f"{path}: {unexpected_text(error_id)}",
        "kind": "internal",
        "id": error_id,
    }


def _graph_record(path: Path, graph: ControlFlowGraph) -> dict[str, Any]:
    data = graph.to_json_dict()
    for node in data.get("nodes", []):
        node.setdefault("name", None)
    data.setdefault("warnings", [])
    return {"file": str(path), **data}


def _emit(record: dict[str, Any]) -> None:
    typer.echo(json.dumps(record, ensure_ascii=False, default=str))


@app.command("import")
def import_command(
    files: FilesArg,
    as_json: JsonOpt = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Refuse BPMN models without flow nodes (default: a warning)."),
    ] = False,
) -> None:
    """Import process files and print their controlFlowGraph (exit 2 when any file fails).

    A BPMN file whose pools are empty or black boxes is valid BPMN: it imports with an EMPTY_MODEL
    warning (``--strict`` refuses it). `scenarios` and the app always refuse it: nothing to test.
    """
    failed = False
    for path in files:
        try:
            graph = _load(path, None, allow_empty=not strict)
        except Exception as exc:
            failed = True
            record = _error_record(path, exc)
            if as_json:
                _emit(record)
            else:
                typer.echo(f"{record['error']}", err=True)
            continue
        if as_json:
            _emit(_graph_record(path, graph))
            continue
        processes = len(graph.processes)
        typer.echo(
            f"{path}: {len(graph.nodes)} nodes, {len(graph.flows)} flows, {processes} process"
            f"{'es' if processes != 1 else ''}, {len(graph.loops)} loops, {len(graph.warnings)} warnings"
        )
        for warning in graph.warnings:
            where = f" (line {warning.line})" if warning.line else ""
            typer.echo(f"  warning [{warning.code}]{where}: {warning.message}")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _suite_record(path: Path, suite: SuitePlan) -> dict[str, Any]:
    coverage = suite.coverage
    return {
        "file": str(path),
        "strategy": suite.strategy,
        "scenarios": [
            {
                "key": s.key,
                "name": s.name,
                "kind": str(s.kind),
                "process": s.process_id,
                "nodes": s.nodes,
                "flows": s.flows,
                "decisions": s.decisions,
                **({"truncated": True} if s.truncated else {}),
                **({"note": s.note} if s.note else {}),
            }
            for s in suite.scenarios
        ],
        "coverage": {
            "flows_total": coverage.flows_total,
            "flows_reachable": coverage.flows_reachable,
            "flows_covered": coverage.flows_covered,
            "decisions_total": coverage.decisions_total,
            "decisions_covered": coverage.decisions_covered,
        },
        "capped": suite.capped,
        "path_count": suite.path_count,
        "uncovered_flows": [
            {"flow": u.flow, "reason": u.reason.value, "detail": u.detail} for u in suite.uncovered_flows
        ],
        "warnings": suite.warnings,
    }


@app.command("scenarios")
def scenarios_command(
    files: FilesArg,
    strategy: Annotated[
        str, typer.Option(help="edges: cover every flow and outcome; paths: distinct paths.")
    ] = "edges",
    max_scenarios: Annotated[
        str | None,
        typer.Option(
            help=f"Cap on scenarios per process, {MIN_SCENARIOS}-{MAX_SCENARIOS} "
            "(default: edges 10000, paths 200)."
        ),
    ] = None,
    max_loop: Annotated[
        str | None,
        typer.Option(help=f"N for loops (run 0, 1 and N times), {MIN_LOOP}-{MAX_LOOP}; default 3."),
    ] = None,
    parallel: Annotated[
        str, typer.Option(help="Branch variant combinations in paths mode: pairwise, product.")
    ] = ("pairwise"),
    as_json: JsonOpt = False,
) -> None:
    """Generate a scenario suite per file (exit 2 when any file fails).

    The options have the same bounds as the REST API's parameters (generation/params.py).
    """
    try:
        params = parse_generation_params(
            {"strategy": strategy, "max_scenarios": max_scenarios, "max_loop": max_loop, "parallel": parallel}
        )
    except OrchestraError as exc:
        option = f"--{(exc.field or '').replace('_', '-')}"
        typer.echo(f"{option}: {exc.message}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    failed = False
    for path in files:
        try:
            graph = _load(path, params.max_loop)
            suite = generate_suite(
                graph,
                strategy=params.strategy,
                max_scenarios=params.max_scenarios,
                max_loop=params.max_loop,
                parallel=params.parallel,
            )
        except Exception as exc:
            failed = True
            record = _error_record(path, exc)
            if as_json:
                _emit(record)
            else:
                typer.echo(f"{record['error']}", err=True)
            continue
        if as_json:
            _emit(_suite_record(path, suite))
            continue
        c = suite.coverage
        typer.echo(
            f"{path}: {len(suite.scenarios)} scenarios ({suite.strategy}), "
            f"flows {c.flows_covered}/{c.flows_total}, "
            f"decisions {c.decisions_covered}/{c.decisions_total}, paths {_short(suite.path_count)}"
            f"{', capped' if suite.capped else ''}"
        )
        for s in suite.scenarios:
            distinct = len(set(s.nodes))
            visits = (
                f"{len(s.nodes)} node visits, {distinct} distinct"
                if distinct != len(s.nodes)
                else f"{len(s.nodes)} nodes"
            )
            typer.echo(f"  {s.key} [{s.kind}] {s.name} ({visits})")
        if any(len(set(s.nodes)) != len(s.nodes) for s in suite.scenarios):
            typer.echo(
                "  (a node visited more than once: a loop turn, or one visit per parallel token after a join)"
            )
        for warning in suite.warnings:
            typer.echo(f"  warning: {warning}")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _short(count: int) -> str:
    text = str(count)
    return text if len(text) <= 12 else f"~{text[0]}.{text[1:3]}e{len(text) - 1}"
