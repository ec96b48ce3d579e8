"""``orchestra spec ...``: import OpenAPI, AsyncAPI and protobuf specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ScenarioStepSpec

app = typer.Typer(no_args_is_help=True)

_OP_EXTRAS = ("input_type", "output_type", "client_streaming", "server_streaming", "channel", "action")


def operation_line(op: Operation) -> dict[str, Any]:
    """The CLI's compact view of one operation (schemas left out: they are in the stored summary)."""
    out: dict[str, Any] = {"id": op.id, "method": op.method, "path": op.path}
    if op.summary:
        out["summary"] = op.summary
    if op.tags:
        out["tags"] = op.tags
    if op.synthesized_id:
        out["synthesizedId"] = True
    if op.deprecated:
        out["deprecated"] = True
    extra = op.model_extra or {}
    for key in _OP_EXTRAS:
        if key in extra:
            out[key] = extra[key]
    if "messages" in extra:
        out["messages"] = [m.get("name") or m.get("pointer") for m in extra["messages"]]
    if op.parameters:
        out["parameters"] = [f"{p.location}:{p.name}" for p in op.parameters]
    if op.request_body is not None and op.method != "rpc":
        out["requestBody"] = sorted(op.request_body.content)
    if op.responses and op.method != "rpc":
        out["responses"] = list(op.responses)
    return out


def summary_line(summary: SpecSummary, file: str) -> dict[str, Any]:
    return {
        "file": file,
        "protocol": summary.protocol,
        "format": summary.format,
        "specVersion": summary.spec_version,
        "title": summary.title,
        "version": summary.version,
        "servers": [s.url for s in summary.servers],
        "operations": [operation_line(op) for op in summary.operations],
        "components": {kind: len(v) for kind, v in summary.components.items() if isinstance(v, dict)},
        "warnings": [w.to_json_dict() for w in summary.warnings],
    }


def _human(line: dict[str, Any]) -> str:
    if "error" in line:
        return f"{line['file']}: ERROR {line['error']}"
    head = (
        f"{line['file']}: {line['format']} {line['specVersion'] or ''} - {line['title'] or '(untitled)'}"
        f" {line['version'] or ''}".rstrip()
    )
    rows = [head, f"  {len(line['operations'])} operations, {len(line['warnings'])} warnings"]
    for op in line["operations"]:
        rows.append(f"    {op['method'].upper():8} {op['path']}  ({op['id']})")
    for w in line["warnings"][:50]:
        where = w.get("pointer") or ""
        if w.get("file") and w["file"] != line["file"]:
            where = f"{w['file']} {where}"
        if w.get("line"):
            where = f"line {w['line']}"
        rows.append(f"  warning [{w['code']}] {where}: {w['message']}")
    if len(line["warnings"]) > 50:
        rows.append(f"  ... {len(line['warnings']) - 50} more warnings (use --json)")
    return "\n".join(rows)


@app.command("import")
def import_command(
    files: Annotated[list[str], typer.Argument(help="Spec files or http(s) URLs.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file (JSON Lines).")] = False,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Follow $refs to http(s) URLs.")
    ] = False,
    include: Annotated[
        list[Path] | None,
        typer.Option("--include", "-I", help="Include path (and allowed root) for protobuf imports."),
    ] = None,
    allow_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-root",
            help="Another folder local $refs may read (repeatable); by default only the spec's own "
            "folder tree is read.",
        ),
    ] = None,
    max_mb: Annotated[
        float | None,
        typer.Option("--max-mb", help="Size cap per file in MB (default: the app's upload limit, 20 MB)."),
    ] = None,
) -> None:
    """Import spec files and print what was understood (exit 2 when any file failed).

    Local ``$ref``s and proto imports are read only inside the spec's folder tree (plus ``--allow-root``
    / ``-I``); anything else is not read and a warning names the reference. Only regular files are read.
    """
    from orchestra_app.importers.spec_detect import import_spec
    from orchestra_app.observability.logging import report_unexpected, unexpected_text
    from orchestra_app.settings import get_settings

    if max_mb is not None and not 0 < max_mb <= 1024:
        typer.echo(f"--max-mb: must be above 0 and at most 1024, got {max_mb}", err=True)
        raise typer.Exit(2)
    max_bytes = int(max_mb * 1024 * 1024) if max_mb is not None else get_settings().max_upload_bytes
    failed = False
    for file in files:
        line: dict[str, Any]
        try:
            summary = import_spec(
                file if file.startswith(("http://", "https://")) else Path(file),
                filename=file,
                allow_remote=allow_remote,
                include_paths=include or (),
                max_bytes=max_bytes,
                allow_roots=allow_root or (),
            )
            line = summary_line(summary, file)
        except OrchestraError as exc:
            failed = True
            line = {"file": file, "error": str(exc), "kind": str(exc.kind)}
        except Exception as exc:  # our bug: logged with its traceback (stderr), one clean line with the id
            failed = True
            error_id = report_unexpected(exc, where=f"orchestra spec import ({file})")
            line = {"file": file, "error": unexpected_text(error_id), "kind": "internal", "id": error_id}
        if as_json:
            typer.echo(json.dumps(line, ensure_ascii=False, default=str))
        else:
            typer.echo(_human(line))
    if failed:
        raise typer.Exit(2)


@app.command("match")
def match_command(
    process_file: Annotated[
        Path, typer.Argument(help="BPMN or sequence-diagram file whose tasks are bound.")
    ],
    spec_files: Annotated[list[Path], typer.Argument(help="Spec files of the services the process calls.")],
    override: Annotated[
        list[str] | None,
        typer.Option("--override", "-o", help="NODE=service:operationId (repeatable); wins over matching."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any step stays unbound.")] = False,
) -> None:
    """Bind a process's ACTION steps to spec operations (EndpointMatcher) and report every verdict."""
    from orchestra_app.generation import generate_suite, scenario_steps
    from orchestra_app.importers.detect import import_process
    from orchestra_app.importers.spec_detect import import_spec
    from orchestra_app.services.binding import SpecCandidate, match_step
    from orchestra_app.services.specs import _slug, protocol_id_for

    overrides: dict[str, str] = {}
    for item in override or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            typer.echo(f"--override {item!r}: expected NODE=service:operationId", err=True)
            raise typer.Exit(2)
        overrides[key.strip()] = value.strip()
    try:
        from orchestra_app.importers.files import read_regular_file
        from orchestra_app.settings import get_settings

        limit = get_settings().max_upload_bytes
        graph = import_process(read_regular_file(process_file, max_bytes=limit), filename=str(process_file))
        candidates = []
        for path in spec_files:
            summary = import_spec(path, filename=str(path), max_bytes=limit)
            service = _slug(summary.title or path.stem)
            candidates.append(SpecCandidate(service, protocol_id_for(summary), summary))
    except OSError as exc:
        typer.echo(f"{exc.filename}: cannot read the file: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except OrchestraError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    steps: dict[str, ScenarioStepSpec] = {}
    for scenario in generate_suite(graph).scenarios:
        for step in scenario_steps(graph, scenario):
            if step.kind == "ACTION":
                steps.setdefault(step.source_node_id or step.alias, step)
    rows = [
        match_step(step, candidates, node_id=node, override=overrides.get(node) or overrides.get(step.alias))[
            0
        ]
        for node, step in steps.items()
    ]
    counts = {
        status: sum(r.status == status for r in rows)
        for status in ("EXPLICIT", "MATCHED", "AMBIGUOUS", "UNMATCHED")
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "process": str(process_file),
                    "specs": [
                        {
                            "service": c.service_name,
                            "protocol": c.protocol_id,
                            "operations": len(c.summary.operations),
                        }
                        for c in candidates
                    ],
                    "bindings": [
                        {
                            "node": r.node_id,
                            "step": r.step_name,
                            "status": r.status,
                            "service": r.service,
                            "operation": r.operation,
                            "confidence": r.confidence,
                            "reason": r.reason,
                            "candidates": r.candidates,
                        }
                        for r in rows
                    ],
                    "summary": {k.lower(): v for k, v in counts.items()},
                },
                ensure_ascii=False,
            )
        )
    else:
        for r in rows:
            target = f"{r.service}:{r.operation}" if r.operation else "-"
            typer.echo(f"{r.status:<9} {r.node_id:<30} {target:<40} {r.confidence:.2f}  {r.reason}")
        typer.echo(", ".join(f"{v} {k.lower()}" for k, v in counts.items()))
    if strict and (counts["AMBIGUOUS"] or counts["UNMATCHED"]):
        raise typer.Exit(1)
