"""``orchestra suite ...``: a suite's specs, binding, chaining, and suites as code (YAML export/import)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from sqlmodel import Session, col, select

from orchestra_app.cli.common import DbOption, echo_json, fail, run_use_case
from orchestra_app.domain.errors import NotFound, OrchestraError
from orchestra_app.domain.tenancy import Principal

app = typer.Typer(no_args_is_help=True)

SuiteArg = Annotated[str, typer.Argument(help="Suite id, name, or process key (its newest suite).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Db = Annotated[str | None, DbOption]


def _spec_ids(session: Session, principal: Principal, refs: list[str]) -> list[UUID]:
    """Spec ids from ``id``, ``service`` (newest version) or ``service@version``."""
    from orchestra_app.db.tables import ProtocolSpec

    out: list[UUID] = []
    for ref in refs:
        try:
            out.append(UUID(ref))
            continue
        except ValueError:
            pass
        service, _, version = ref.partition("@")
        stmt = select(ProtocolSpec).where(
            ProtocolSpec.tenant_id == principal.tenant_id, ProtocolSpec.service_name == service
        )
        if version:
            stmt = stmt.where(ProtocolSpec.version == version)
        row = session.exec(stmt.order_by(col(ProtocolSpec.created_at).desc())).first()
        if row is None:
            raise NotFound(
                f"no spec {ref!r} (give a spec id, a service name or service@version)", field="spec"
            )
        out.append(row.id)
    return out


def _suite_id(session: Session, principal: Principal, ref: str) -> UUID:
    from orchestra_app.services.suite_io import find_suite

    return find_suite(session=session, principal=principal, ref=ref).id


@app.command("list")
def list_command(as_json: JsonOpt = False, db: Db = None) -> None:
    """The suites in the database."""
    from orchestra_app.services.catalog import list_suites

    rows = run_use_case(db, list_suites, limit=500).items
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(
            f"{row['id']}  {row['name']:<40} {row['process']} v{row['process_version']}  "
            f"{row['scenarios']} scenarios"
        )


@app.command("specs")
def specs_command(
    suite: SuiteArg,
    specs: Annotated[
        list[str] | None, typer.Argument(help="Specs to choose: id, service or service@version.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every chosen spec.")] = False,
    as_json: JsonOpt = False,
    db: Db = None,
) -> None:
    """Show the specs a suite binds to, or choose them (replacing the previous choice)."""
    from orchestra_app.services import binding

    if clear and specs:
        fail("give specs to choose or --clear, not both")

    def use(*, session: Session, principal: Principal) -> list[binding.SuiteSpecRow]:
        suite_id = _suite_id(session, principal, suite)
        if specs or clear:
            return binding.set_suite_specs(
                session=session,
                principal=principal,
                suite_id=suite_id,
                spec_ids=_spec_ids(session, principal, specs or []),
            )
        return binding.suite_specs(session=session, principal=principal, suite_id=suite_id)

    rows = run_use_case(db, use)
    if as_json:
        echo_json([r.as_row() for r in rows])
        return
    if not rows:
        typer.echo("no specs chosen: binding this suite is refused until you choose them")
    for r in rows:
        newer = f"  (newer: {r.newer_version})" if r.newer_version else ""
        typer.echo(
            f"{r.service_name:<30} {r.protocol_id:<6} {r.version:<12} {r.operations} operations{newer}"
        )


def _overrides(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            fail(f"--override {item!r}: expected NODE=service:operationId")
        out[key.strip()] = value.strip()
    return out


@app.command("bind")
def bind_command(
    suite: SuiteArg,
    spec: Annotated[
        list[str] | None, typer.Option("--spec", help="Bind within these specs only (repeatable).")
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="Bind within the specs of this environment's services.")
    ] = None,
    override: Annotated[
        list[str] | None, typer.Option("--override", "-o", help="NODE=service:operationId (repeatable).")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any task stays unbound.")] = False,
    as_json: JsonOpt = False,
    db: Db = None,
) -> None:
    """Bind the suite's tasks to operations of its specs, then chain later inputs to earlier responses."""
    from orchestra_app.db.tables import Environment
    from orchestra_app.services import binding

    overrides = _overrides(override)

    def use(
        *, session: Session, principal: Principal
    ) -> tuple[list[binding.BindingRow], list[binding.ChainRow]]:
        suite_id = _suite_id(session, principal, suite)
        environment_id = None
        if env is not None:
            row = session.exec(
                select(Environment).where(
                    Environment.tenant_id == principal.tenant_id, Environment.name == env
                )
            ).first()
            if row is None:
                raise NotFound(f"no environment named {env!r}", field="env")
            environment_id = row.id
        rows = binding.bind_suite(
            session=session,
            principal=principal,
            suite_id=suite_id,
            spec_ids=_spec_ids(session, principal, spec) if spec else None,
            environment_id=environment_id,
            overrides=overrides,
        )
        return rows, binding.suite_chaining(session=session, principal=principal, suite_id=suite_id)

    rows, chaining = run_use_case(db, use)
    if as_json:
        echo_json({"bindings": [asdict(r) for r in rows], "chaining": [c.to_json() for c in chaining]})
    else:
        for r in rows:
            target = f"{r.service}:{r.operation}" if r.operation else "-"
            typer.echo(f"{r.status:<9} {r.node_id:<30} {target:<40} {r.confidence:.2f}  {r.reason}")
        typer.echo(
            f"{len(chaining)} inputs chained to earlier responses (orchestra suite chaining {suite!r})"
        )
    if strict and any(r.status in ("AMBIGUOUS", "UNMATCHED") for r in rows):
        raise typer.Exit(1)


def _chain_override(item: str, source: str | None, reset: bool, scenario: str | None) -> dict[str, Any]:
    alias, slash, pointer = item.partition("/")
    if not slash or not alias or not pointer:
        fail(f"{item!r}: expected STEP/POINTER, e.g. cancel_application/pathParams/applicationId")
    value: dict[str, Any] = {"step": alias, "pointer": "/" + pointer, "source": source}
    if reset:
        value["reset"] = True
    if scenario:
        value["scenario"] = scenario
    return value


@app.command("chaining")
def chaining_command(
    suite: SuiteArg,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="STEP/POINTER=SOURCE: feed an input from SOURCE, e.g. a {{step...}} (repeatable)."
        ),
    ] = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", help="STEP/POINTER: keep the input a {{data.*}} variable.")
    ] = None,
    reset: Annotated[
        list[str] | None,
        typer.Option("--reset", help="STEP/POINTER: drop the override, use the proposal again."),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Apply to this scenario key only.")
    ] = None,
    as_json: JsonOpt = False,
    db: Db = None,
) -> None:
    """Show how inputs are wired to earlier responses, or override the proposals."""
    from orchestra_app.services import binding

    overrides: list[dict[str, Any]] = []
    for item in set_ or []:
        target, sep, source = item.partition("=")
        if not sep or not source:
            fail(f"--set {item!r}: expected STEP/POINTER=SOURCE")
        overrides.append(_chain_override(target, source, False, scenario))
    overrides += [_chain_override(item, None, False, scenario) for item in data or []]
    overrides += [_chain_override(item, None, True, scenario) for item in reset or []]

    def use(*, session: Session, principal: Principal) -> list[binding.ChainRow]:
        suite_id = _suite_id(session, principal, suite)
        if overrides:
            return binding.override_chaining(
                session=session, principal=principal, suite_id=suite_id, overrides=overrides
            )
        return binding.suite_chaining(session=session, principal=principal, suite_id=suite_id)

    rows = run_use_case(db, use)
    if as_json:
        echo_json([r.to_json() for r in rows])
        return
    if not rows:
        typer.echo("no input is chained (bind the suite first: orchestra suite bind)")
    for r in rows:
        mark = " (override)" if r.overridden else f" ({r.confidence:.2f})"
        source = r.source or f"{r.replaces} (data)"
        typer.echo(f"{r.scenario:<6} {r.step}{r.pointer} <- {source}{mark}  {r.reason}")


@app.command("export")
def export_command(
    suite: SuiteArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    db: Db = None,
) -> None:
    """Write the suite as orchestra-suite/1 YAML (docs/suite-format.md)."""
    from orchestra_app.services import suite_io

    def use(*, session: Session, principal: Principal) -> suite_io.SuiteExport:
        return suite_io.export_suite(
            session=session, principal=principal, suite_id=_suite_id(session, principal, suite)
        )

    exported = run_use_case(db, use)
    for warning in exported.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if output is None:
        typer.echo(exported.text, nl=False)
        return
    try:
        output.write_text(exported.text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror or exc}")
    typer.echo(f"{output}: {exported.scenarios} scenarios", err=True)


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="Suite files (orchestra-suite/1 YAML).")],
    as_json: JsonOpt = False,
    db: Db = None,
) -> None:
    """Create or update the suites the files describe (exit 2 when any file failed; each file is atomic)."""
    from orchestra_app.services import suite_io
    from orchestra_app.services.file_suite import read_file

    failed = False
    for path in files:
        line: dict[str, Any]
        try:
            data = read_file(path)
            result = run_use_case_or_raise(db, suite_io.import_suite, text=data, filename=str(path))
            line = {
                "file": str(path),
                **{k: str(v) if k == "suite_id" else v for k, v in asdict(result).items()},
            }
        except OrchestraError as exc:
            failed = True
            line = {
                "file": str(path),
                "error": str(exc),
                **{k: v for k, v in exc.to_dict().items() if k != "message"},
            }
        if as_json:
            echo_json(line)
        elif "error" in line:
            typer.echo(f"ERROR {line['error']}", err=True)
        else:
            verb = "created" if line["suite_created"] else "updated"
            typer.echo(
                f"{path}: suite {verb} ({line['suite_id']}); scenarios: {line['scenarios_created']} new, "
                f"{line['scenarios_updated']} changed, {line['scenarios_unchanged']} unchanged, "
                f"{line['scenarios_retired']} retired; data sets: {line['data_sets_created']} new, "
                f"{line['data_sets_updated']} changed"
            )
    if failed:
        raise typer.Exit(2)


def run_use_case_or_raise(db: str | None, use_case: Any, /, **kwargs: Any) -> Any:
    """Like run_use_case, but OrchestraErrors propagate (so one bad file does not stop the others)."""
    from orchestra_app.cli.common import unit_of_work

    with unit_of_work(db) as (session, principal):
        return use_case(session=session, principal=principal, **kwargs)
