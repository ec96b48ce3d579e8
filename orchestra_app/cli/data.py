"""``orchestra data ...``: scaffold the data set a suite needs (no network, no AI)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from sqlmodel import Session

from orchestra_app.cli.common import DbOption, fail, run_use_case
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.tenancy import Principal

app = typer.Typer(no_args_is_help=True)


class OutputFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def render(data: dict[str, Any], notes: list[str], fmt: OutputFormat, source: str) -> str:
    if fmt is OutputFormat.json:
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    header = [
        f"# Test data for {source}: written by `orchestra data scaffold`.",
        "# Example values from the specs' schemas; replace them with real ones where needed.",
    ]
    header += [f"# note: {n}" for n in notes]
    body = (
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
        if data
        else "{}\n"
    )
    return "\n".join(header) + "\n" + body


def _is_suite_file(path: Path) -> bool:
    if path.suffix.lower() not in (".yaml", ".yml"):
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return "orchestra-suite/1" in head


def _from_files(
    target: Path, specs: list[Path], overrides: dict[str, str]
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    from dataclasses import asdict

    from orchestra_app.domain.spec import Operation, SpecSummary
    from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
    from orchestra_app.importers.suite_yaml import parse_suite, scenario_steps
    from orchestra_app.plugins.data_scaffold import scaffold
    from orchestra_app.plugins.matching import find_explicit
    from orchestra_app.services.file_suite import load_specs, read_file, suite_from_files

    if _is_suite_file(target):
        try:
            text = read_file(target).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise OrchestraError("not UTF-8 text", file=str(target)) from None
        document, _ = parse_suite(text, str(target))
        by_service = {c.service_name: c.summary for c in load_specs(specs)}

        def resolve(step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
            if step.endpoint_ref is None or step.channel_type is not ChannelType.HTTP_REST:
                return None
            summary = by_service.get(step.endpoint_ref.service_name)
            op = find_explicit(step.endpoint_ref.endpoint_name, summary.operations) if summary else None
            return (op, summary) if op is not None and summary is not None else None

        built = scaffold([(s.key, steps) for s, steps in scenario_steps(document)], resolve)
    else:
        suite = suite_from_files(target, specs, overrides=overrides)
        built = scaffold([(s.key, s.steps) for s in suite.scenarios], suite.resolve)
    return built.data, built.notes, [asdict(v) for v in built.variables]


@app.command("scaffold")
def scaffold_command(
    target: Annotated[
        str, typer.Argument(help="A suite (id, name or process key), a process file, or a suite YAML file.")
    ],
    spec: Annotated[
        list[Path] | None,
        typer.Option("--spec", "-s", help="Spec files (with a process or suite file; repeatable)."),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", "-o", help="NODE=service:operationId (with a process file)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to FILE (format from .json/.yaml).")
    ] = None,
    fmt: Annotated[
        OutputFormat | None, typer.Option("--format", "-f", help="yaml (default) or json.")
    ] = None,
    store: Annotated[
        bool, typer.Option("--store", help="Also save it as the suite's data set (database suites).")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="Name of the stored data set.")] = "scaffold",
    show_variables: Annotated[
        bool, typer.Option("--variables", help="List each variable, its source and users.")
    ] = False,
    db: Annotated[str | None, DbOption] = None,
) -> None:
    """Write a data set with every {{data.*}} variable the suite needs, filled from the specs' schemas."""
    path = Path(target)
    as_file = path.exists() or any(sep in target for sep in ("/", "\\")) or path.suffix != ""
    if output is not None and fmt is None:
        fmt = OutputFormat.json if output.suffix.lower() == ".json" else OutputFormat.yaml
    fmt = fmt or OutputFormat.yaml
    if as_file:
        if store:
            fail("--store saves a database suite's data set; import the suite first (orchestra suite import)")
        overrides: dict[str, str] = {}
        for item in override or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                fail(f"--override {item!r}: expected NODE=service:operationId")
            overrides[key.strip()] = value.strip()
        try:
            data, notes, variables = _from_files(path, spec or [], overrides)
        except OrchestraError as exc:
            fail(str(exc))
        source = str(path)
    else:
        if spec or override:
            fail(
                "--spec and --override go with a process or suite file; "
                "a database suite uses its chosen specs"
            )
        from orchestra_app.services.data_sets import scaffold_suite_data
        from orchestra_app.services.suite_io import find_suite

        def use(*, session: Session, principal: Principal) -> Any:
            suite = find_suite(session=session, principal=principal, ref=target)
            return suite.name, scaffold_suite_data(
                session=session, principal=principal, suite_id=suite.id, store=store, name=name
            )

        suite_name, result = run_use_case(db, use)
        data, notes, variables = result.data, result.notes, result.variables
        source = f"suite {suite_name!r}"
        if store:
            verb = "created" if result.created else ("completed" if result.added else "unchanged")
            typer.echo(
                f"data set {name!r} {verb} ({result.data_set_id}); added: {len(result.added)}", err=True
            )
    text = render(data, notes, fmt, source)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    if show_variables:
        for v in variables:
            typer.echo(
                f"{v['path']:<30} {v['source']:<8} {json.dumps(v['value'], ensure_ascii=False)}  "
                f"used by {', '.join(v['used_by'][:3])}",
                err=True,
            )
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror or exc}")
    typer.echo(f"{output}: {len(variables)} variables", err=True)
