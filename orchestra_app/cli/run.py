"""``orchestra run``: runs scenarios from the database or straight from files, live (docs/cli-run.md).

Two sources, one path: the runs are created by ``services.runs.create_runs``, executed by the
engine in a Dramatiq worker (inside this process, or ``orchestra worker`` processes when Redis and a
server database are configured), followed through ``services.run_events.follow_run`` and reported
from what the database stored.

* files: ``orchestra run PROCESS_FILE --spec FILE... --env ENV_FILE [--data DATA_FILE]`` generates,
  binds and chains the suite (services/file_suite.py), stores it in a temporary database (or
  ``--db``) and runs it;
* database: ``orchestra run SUITE|SCENARIO_ID [--scenario KEY|NAME] [--tag TAG] [--env NAME|ID|FILE]
  [--data NAME|ID|FILE | --data-tag TAG]``.

Exit codes: 0 every run passed, 1 a run failed (or was cancelled), 2 bad options or configuration
(nothing run, or a run could not start), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from uuid import UUID

import typer
from pydantic import ValidationError

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.runs import TERMINAL_STATUSES, RunMode, RunSnapshot, RunStatus
from orchestra_app.domain.steps import ScenarioStepSpec, StepResultData, StepStatus

if TYPE_CHECKING:
    from sqlmodel import Session

    from orchestra_app.domain.tenancy import Principal
    from orchestra_app.engine.events import RunEvent
    from orchestra_app.services.environment_file import EnvironmentFile
    from orchestra_app.services.file_store import StoredSuite
    from orchestra_app.services.file_suite import FileScenario, FileSuite
    from orchestra_app.services.runs import CreateRunsResult, TestRunDetail, TestRunSummary

FILE_SUFFIXES = {
    ".bpmn",
    ".xml",
    ".json",
    ".mmd",
    ".mermaid",
    ".puml",
    ".plantuml",
    ".txt",
    ".yaml",
    ".yml",
}
WAITING_NOTE_S = 20.0  # with remote workers: say so when nothing has started after this long
CANCEL_WAIT_S = 60.0
FOLLOWERS = 8  # runs followed at once (a run not yet followed is caught up from the database)
# exit codes (services/run_report.py decides between 0, 1 and 2 for runs that were created)
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# the run request's fields, as the options that set them
OPTION_OF_FIELD = {
    "suiteId": "TARGET",
    "suiteKey": "TARGET",
    "scenarioIds": "TARGET",
    "scenarioKeys": "--scenario",
    "tag": "--tag",
    "dataSetId": "--data",
    "dataSetTag": "--data-tag",
    "environmentId": "--env",
    "environmentName": "--env",
    "mode": "--mode",
    "startStepIndex": "--from-step",
    "fromRunId": "--from-run",
    "variables": "--var",
    "stepResults": "--context",
    "stepTimeoutS": "--step-timeout",
    "runTimeoutS": "--run-timeout",
}


class Refused(Exception):
    """A usage or configuration problem: exit code 2, with every problem named."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


def _option_error(exc: OrchestraError) -> Refused:
    """A service error, with the request field it names shown as the option that set it."""
    field_name = (exc.field or "").split(".", 1)[0]
    option = OPTION_OF_FIELD.get(field_name)
    if option is None:
        return Refused(str(exc))
    location = exc.file + ": " if exc.file else ""
    return Refused(f"{option}: {location}{exc.message}")


# ---- what to run -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything decided before the database is touched."""

    mode: RunMode
    start_index: int | None = None
    from_step: str | None = None  # an alias still to resolve against the stored steps
    from_run: UUID | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    step_results: dict[str, Any] = field(default_factory=dict)
    step_timeout_s: float | None = None
    run_timeout_s: float | None = None
    # files
    process_file: Path | None = None
    file_suite: FileSuite | None = None
    scenario_keys: list[str] = field(default_factory=list)
    # database
    target: str | None = None
    scenario_refs: list[str] = field(default_factory=list)
    tag: str | None = None
    env_ref: str | None = None
    data_ref: str | None = None
    data_tag: str | None = None
    # either
    env_file: EnvironmentFile | None = None
    data: dict[str, Any] | None = None
    data_name: str | None = None
    notes: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> bool:
        return self.process_file is not None


def _looks_like_file(target: str) -> bool:
    path = Path(target)
    return path.exists() or "/" in target or os.sep in target or path.suffix.lower() in FILE_SUFFIXES


def _parse_vars(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise Refused(f"--var {item!r}: expected NAME=VALUE (VALUE is JSON, or else text)")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        head, _, rest = name.partition(".")
        if rest:  # --var order.id=7 -> {"order": {"id": 7}}
            node = out.setdefault(head, {})
            if not isinstance(node, dict):
                raise Refused(f"--var {item!r}: {head} is already a value, not an object")
            for part in rest.split(".")[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise Refused(f"--var {item!r}: {part} is already a value, not an object")
            node[rest.split(".")[-1]] = value
        else:
            out[name] = value
    reserved = sorted({"data", "run", "step", "env"} & set(out))
    if reserved:
        raise Refused(f"--var: {', '.join(reserved)} is a reserved root (data, run, step, env)")
    return out


def _parse_uuid(value: str, option: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise Refused(f"{option} must be a run id (a UUID), got {value[:60]!r}") from None


def _load_context(path: Path) -> dict[str, Any]:
    """``--context FILE``: earlier steps' results by alias, for SINGLE_STEP."""
    from orchestra_app.services.run_preflight import load_data_file

    try:
        raw = load_data_file(path)
    except OrchestraError as exc:
        raise Refused(f"--context: {exc}") from None
    out: dict[str, Any] = {}
    for alias, value in raw.items():
        if not isinstance(value, dict):
            raise Refused(
                f"--context: {path}: {alias}: a step result is a mapping "
                "(responseBody, actualStatusCode, responseHeaders, ...)"
            )
        try:
            StepResultData.model_validate({**value, "stepAlias": alias})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Refused(f"--context: {path}: {alias}.{where}: {first['msg']}") from None
        out[str(alias)] = value
    return out


def _select_scenarios(
    suite: FileSuite, refs: Sequence[str], tag: str | None
) -> tuple[list[FileScenario], list[str]]:
    """The scenarios named by key or name (all when none), then those carrying ``tag``."""
    from orchestra_app.services.file_store import runnable

    chosen = list(suite.scenarios)
    if refs:
        by_key = {s.key: s for s in suite.scenarios}
        by_name = {s.name.casefold(): s for s in suite.scenarios}
        chosen = []
        for ref in refs:
            found = by_key.get(ref) or by_key.get(ref.upper()) or by_name.get(ref.casefold())
            if found is None:
                known = ", ".join(f"{s.key} ({s.name})" for s in suite.scenarios[:20])
                raise Refused(f"--scenario {ref!r}: the process has no such scenario (scenarios: {known})")
            if found not in chosen:
                chosen.append(found)
    if tag is not None:
        chosen = [s for s in chosen if tag in s.tags]
        if not chosen:
            tags = sorted({t for s in suite.scenarios for t in s.tags})
            raise Refused(f"--tag {tag!r}: no selected scenario has it (tags: {', '.join(tags)})")
    notes: list[str] = []
    cleaned: list[FileScenario] = []
    left_out: dict[str, list[str]] = {}
    for scenario in chosen:
        kept, left = runnable(scenario)
        cleaned.append(kept)
        for item in left:
            left_out.setdefault(f"{item.alias} ({item.channel})", []).append(item.scenario)
    if left_out:
        names = ", ".join(left_out)
        notes.append(
            f"{len(left_out)} placeholder assertion step(s) the diagram implies are left out: {names}. "
            "They have no query, topic or broker yet: configure them in a suite file "
            "(orchestra suite export/import, docs/suite-format.md)"
        )
    empty = [s.key for s in cleaned if not s.steps]
    if empty:
        notes.append(f"scenario(s) {', '.join(empty)} have no step to run")
    # the suite stores every scenario, stripped the same way; runs are created for the chosen ones
    stripped = {id(s): c for s, c in zip(chosen, cleaned, strict=True)}
    suite.scenarios = [stripped.get(id(s)) or runnable(s)[0] for s in suite.scenarios]
    return cleaned, notes


def _step_index(steps: Sequence[ScenarioStepSpec], ref: str, scenario: str) -> int:
    if ref.lstrip("-").isdigit():
        return int(ref)
    for step in steps:
        if step.alias == ref:
            return step.order_index
    known = ", ".join(f"{s.order_index} {s.alias}" for s in steps)
    raise Refused(f"--from-step {ref!r}: scenario {scenario} has no step with that alias (steps: {known})")


def build_plan(
    *,
    target: str | None,
    specs: Sequence[Path],
    env: str | None,
    data: str | None,
    data_tag: str | None,
    scenarios: Sequence[str],
    tag: str | None,
    mode: RunMode,
    from_step: str | None,
    from_run: str | None,
    context: Path | None,
    variables: Sequence[str],
    overrides: Sequence[str],
    db: str | None,
    step_timeout: float | None,
    run_timeout: float | None,
) -> Plan:
    """Checks the options and reads every file named; raises Refused (exit 2) on the first problem."""
    plan = Plan(mode=mode, step_timeout_s=step_timeout, run_timeout_s=run_timeout)
    files = target is not None and _looks_like_file(target)
    if target is None and tag is None and from_run is None:
        raise Refused(
            "name what to run: a process file (orchestra run PROCESS_FILE --spec FILE... --env ENV_FILE), "
            "a suite in the database (id, name or process key), a scenario id, or --tag TAG"
        )
    if data is not None and data_tag is not None:
        raise Refused("--data and --data-tag: give one of them")
    if mode in (RunMode.RUN_ALL_STEPS, RunMode.STOP_ON_FIRST_FAILURE):
        for option, value in (("--from-step", from_step), ("--from-run", from_run), ("--context", context)):
            if value is not None:
                raise Refused(f"{option} is used by --mode SINGLE_STEP and FROM_STEP, not {mode.value}")
    else:
        if from_step is None:
            raise Refused(f"--mode {mode.value} needs --from-step N (the step's orderIndex, or its alias)")
        if context is not None and mode is not RunMode.SINGLE_STEP:
            raise Refused("--context is used by --mode SINGLE_STEP")
    if from_run is not None:
        plan.from_run = _parse_uuid(from_run, "--from-run")
    plan.variables = _parse_vars(variables)
    if context is not None:
        plan.step_results = _load_context(context)
    env_file_given = env is not None and _looks_like_file(env)
    if env_file_given:
        from orchestra_app.services.environment_file import load_environment_file

        try:
            plan.env_file = load_environment_file(Path(str(env)))
        except OrchestraError as exc:
            raise Refused(f"--env: {exc}") from None
        plan.source["environment"] = str(env)
    if data is not None and _looks_like_file(data):
        from orchestra_app.services.run_preflight import load_data_file

        try:
            plan.data = load_data_file(Path(data))
        except OrchestraError as exc:
            raise Refused(f"--data: {exc}") from None
        plan.data_name = Path(data).name
        plan.source["data"] = data
    if files:
        assert target is not None
        _files_plan(plan, Path(target), specs, env, data, data_tag, scenarios, tag, from_step, overrides, db)
    else:
        if specs or overrides:
            raise Refused(
                "--spec and --override go with a process file; a database suite runs with its chosen specs"
            )
        plan.target, plan.scenario_refs, plan.tag = target, list(scenarios), tag
        plan.data_tag = data_tag
        if env is not None and not env_file_given:
            plan.env_ref = env
            plan.source["environment"] = env
        if data is not None and plan.data is None:
            plan.data_ref = data
            plan.source["data"] = data
        if data_tag is not None:
            plan.source["dataTag"] = data_tag
        if from_step is not None:
            if from_step.lstrip("-").isdigit():
                plan.start_index = int(from_step)
            else:
                plan.from_step = from_step
        plan.source.update(kind="database", target=target, tag=tag, scenarios=list(scenarios) or None)
    if plan.start_index is not None and plan.start_index < 0:
        raise Refused(f"--from-step must be 0 or more, got {plan.start_index}")
    return plan


def _files_plan(
    plan: Plan,
    process_file: Path,
    specs: Sequence[Path],
    env: str | None,
    data: str | None,
    data_tag: str | None,
    scenarios: Sequence[str],
    tag: str | None,
    from_step: str | None,
    overrides: Sequence[str],
    db: str | None,
) -> None:
    from orchestra_app.services.file_suite import suite_from_files

    if not specs:
        raise Refused(
            f"{process_file}: running from files needs --spec FILE for the services the process calls "
            "(OpenAPI, AsyncAPI or protobuf; repeatable)"
        )
    if env is None:
        raise Refused("running from files needs --env ENV_FILE (docs/environment-file.md)")
    if plan.env_file is None:
        raise Refused(f"--env {env!r}: not a file; running from files takes an environment file")
    if data is not None and plan.data is None:
        raise Refused(f"--data {data!r}: not a file; running from files takes a data file (YAML or JSON)")
    if data_tag is not None:
        raise Refused("--data-tag selects stored data sets; running from files takes --data FILE")
    if plan.mode is RunMode.FROM_STEP and db is None:
        raise Refused(
            "--mode FROM_STEP reuses the stored results of an earlier run of the scenario: give --db URL, "
            "the database that holds it (without --db every run from files uses a new temporary database, "
            "so there is nothing to reuse; use --mode RUN_ALL_STEPS to run every step)"
        )
    if plan.from_run is not None and db is None:
        raise Refused("--from-run names a stored run: give --db URL, the database that holds it")
    parsed: dict[str, str] = {}
    for item in overrides:
        node, sep, value = item.partition("=")
        if not sep or not node.strip() or not value.strip():
            raise Refused(f"--override {item!r}: expected NODE=service:operationId")
        parsed[node.strip()] = value.strip()
    try:
        suite = suite_from_files(process_file, list(specs), overrides=parsed)
    except OrchestraError as exc:
        raise Refused(str(exc)) from None
    chosen, notes = _select_scenarios(suite, scenarios, tag)
    plan.notes.extend(notes)
    if plan.mode in (RunMode.SINGLE_STEP, RunMode.FROM_STEP):
        if len(chosen) != 1:
            keys = ", ".join(s.key for s in chosen)
            raise Refused(
                f"--mode {plan.mode.value} runs one scenario: choose it with --scenario (selected: {keys})"
            )
        assert from_step is not None
        plan.start_index = _step_index(chosen[0].steps, from_step, chosen[0].key)
    plan.process_file = process_file
    plan.file_suite = suite
    plan.scenario_keys = [s.key for s in chosen]
    plan.source.update(
        kind="files",
        process=str(process_file),
        specs=[str(s) for s in specs],
        scenarios=plan.scenario_keys,
    )


# ---- the database and the worker -------------------------------------------------------------------


@dataclass
class Backend:
    url: str
    temporary: tempfile.TemporaryDirectory[str] | None
    local: bool  # runs execute in this process (else: queued to `orchestra worker` processes)
    workers: int
    worker: Any = None

    def describe(self) -> str:
        from orchestra_app.cli.common import redact_url

        where = "a temporary database" if self.temporary else redact_url(self.url)
        how = (
            f"in this process ({self.workers} worker thread(s))"
            if self.local
            else "queued to orchestra workers"
        )
        return f"{where}, {how}"


def open_backend(db: str | None, *, files: bool, in_process: bool, workers: int) -> Backend:
    """Points this process at the database (a temporary one for files without --db) and chooses where
    runs execute; must run before anything imports the executor (the broker is chosen at import)."""
    import sqlalchemy as sa

    from orchestra_app.db.engine import get_engine
    from orchestra_app.settings import get_settings

    temporary: tempfile.TemporaryDirectory[str] | None = None
    if files and not db:
        temporary = tempfile.TemporaryDirectory(prefix="orchestra-run-")
        url = f"sqlite:///{Path(temporary.name) / 'orchestra.db'}"
        os.environ["ORCHESTRA_DATA_DIR"] = temporary.name
    elif db:
        try:
            sa.engine.make_url(db)
        except sa.exc.ArgumentError:
            raise Refused(
                f"--db {db[:80]!r} is not a database URL (postgresql://... or sqlite:///FILE)"
            ) from None
        url = db
    else:
        url = get_settings().database_url
    os.environ["DB_URL"] = url
    get_settings.cache_clear()
    settings = get_settings()
    url = settings.database_url
    local = in_process or temporary is not None or not settings.redis_url or url.startswith("sqlite")
    if local:
        os.environ.pop("REDIS_URL", None)  # the stub broker and the in-process event bus
        get_settings.cache_clear()
    get_engine.cache_clear()
    from orchestra_app.services.run_events import set_event_bus

    set_event_bus(None)
    if temporary is not None or (db and _empty_database(url)):
        from orchestra_app.db.migrate import upgrade

        upgrade(url)  # a new database (a temporary one, or --db naming an empty one) gets the schema
    return Backend(url, temporary, local, workers)


def _empty_database(url: str) -> bool:
    """True for a database with no table at all (a new SQLite file, an empty PostgreSQL database)."""
    import sqlalchemy as sa

    from orchestra_app.cli.common import redact_url
    from orchestra_app.db.engine import get_engine

    try:
        with get_engine().connect() as connection:
            return not sa.inspect(connection).get_table_names()
    except sa.exc.SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise Refused(f"--db {redact_url(url)}: cannot connect: {text or type(exc).__name__}") from None


def close_backend(backend: Backend) -> None:
    if backend.worker is not None:
        backend.worker.stop(timeout=10_000)
        backend.worker = None
    from orchestra_app.db.engine import get_engine

    with contextlib.suppress(Exception):  # nothing useful to do about it at exit
        get_engine().dispose()
    if backend.temporary is not None:
        backend.temporary.cleanup()


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Database problems as one clean line (exit 2), never a traceback."""
    import sqlalchemy as sa

    from orchestra_app.cli.common import redact_url

    try:
        yield
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        text = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        if "no such table" in text or "does not exist" in text:
            raise Refused(
                f"the database at {redact_url(url)} is not migrated: run `orchestra migrate` first ({text})"
            ) from None
        raise Refused(f"database error at {redact_url(url)}: {text}") from None


# ---- creating the runs -----------------------------------------------------------------------------


@dataclass
class Created:
    result: CreateRunsResult
    suite: dict[str, Any] | None
    stored: StoredSuite | None = None


def _resolve_suite_or_scenario(
    session: Session, principal: Principal, target: str, request: dict[str, Any]
) -> str:
    """``target`` as suiteId / scenarioIds in ``request``; returns the suite's name (or the scenario's)."""
    from sqlmodel import select

    from orchestra_app.db.tables import ScenarioSuite, TestScenario
    from orchestra_app.services.suite_io import find_suite

    try:
        target_id = UUID(target)
    except ValueError:
        target_id = None
    if target_id is not None:
        scenario = session.exec(
            select(TestScenario).where(
                TestScenario.id == target_id, TestScenario.tenant_id == principal.tenant_id
            )
        ).first()
        if scenario is not None:
            request["scenarioIds"] = [str(scenario.id)]
            suite = session.get(ScenarioSuite, scenario.suite_id)
            return suite.name if suite else scenario.name
    try:
        suite = find_suite(session=session, principal=principal, ref=target)
    except OrchestraError:
        raise Refused(
            f"TARGET {target!r}: no suite (id, name or process key) or scenario id in the database"
        ) from None
    request["suiteId"] = str(suite.id)
    return suite.name


def _scenario_keys(session: Session, principal: Principal, suite_id: UUID, refs: Sequence[str]) -> list[str]:
    from sqlmodel import col, select

    from orchestra_app.db.tables import TestScenario

    rows = session.exec(
        select(TestScenario).where(
            TestScenario.tenant_id == principal.tenant_id,
            TestScenario.suite_id == suite_id,
            col(TestScenario.active),
        )
    ).all()
    by_key = {r.key: r.key for r in rows}
    by_name = {r.name.casefold(): r.key for r in rows}
    keys: list[str] = []
    for ref in refs:
        key = by_key.get(ref) or by_key.get(ref.upper()) or by_name.get(ref.casefold())
        if key is None:
            known = ", ".join(sorted({f"{r.key} ({r.name})" for r in rows})[:20]) or "none"
            raise Refused(
                f"--scenario {ref!r}: the suite has no active scenario with that key or name ({known})"
            )
        if key not in keys:
            keys.append(key)
    return keys


def _data_set_id(session: Session, principal: Principal, ref: str, suite_id: UUID | None) -> str:
    from sqlmodel import select

    from orchestra_app.db.tables import TestDataSet, TestScenario

    try:
        return str(UUID(ref))
    except ValueError:
        pass
    rows = list(
        session.exec(
            select(TestDataSet).where(TestDataSet.tenant_id == principal.tenant_id, TestDataSet.name == ref)
        ).all()
    )
    if len(rows) > 1 and suite_id is not None:
        in_suite = {
            s for s in session.exec(select(TestScenario.id).where(TestScenario.suite_id == suite_id)).all()
        }
        near = [r for r in rows if r.suite_id == suite_id or r.scenario_id in in_suite]
        rows = near or [r for r in rows if str(r.scope) == "GLOBAL"] or rows
    if not rows:
        raise Refused(f"--data {ref!r}: no data set with that name or id (a data file must exist)")
    if len(rows) > 1:
        listed = ", ".join(f"{r.id} ({r.scope})" for r in rows[:10])
        raise Refused(f"--data {ref!r}: {len(rows)} data sets have that name; give its id: {listed}")
    return str(rows[0].id)


def _alias_index(session: Session, principal: Principal, request: dict[str, Any], alias: str) -> int:
    """``--from-step ALIAS`` against the one scenario the request selects."""
    from sqlmodel import col, select

    from orchestra_app.db.tables import ScenarioStep, TestRun, TestScenario

    scenario: TestScenario | None = None
    if request.get("scenarioIds") and len(request["scenarioIds"]) == 1:
        scenario = session.get(TestScenario, UUID(request["scenarioIds"][0]))
    elif request.get("suiteId") and request.get("scenarioKeys") and len(request["scenarioKeys"]) == 1:
        scenario = session.exec(
            select(TestScenario)
            .where(
                TestScenario.suite_id == UUID(request["suiteId"]),
                TestScenario.key == request["scenarioKeys"][0],
                TestScenario.tenant_id == principal.tenant_id,
            )
            .order_by(col(TestScenario.version).desc())
        ).first()
    elif request.get("fromRunId"):
        run = session.get(TestRun, UUID(request["fromRunId"]))
        if run is not None and run.tenant_id == principal.tenant_id:
            scenario = session.get(TestScenario, run.scenario_id)
    if scenario is None:
        raise Refused(
            f"--from-step {alias!r}: an alias needs one scenario (--scenario KEY), or give the step's number"
        )
    steps = session.exec(
        select(ScenarioStep)
        .where(ScenarioStep.scenario_id == scenario.id)
        .order_by(col(ScenarioStep.order_index))
    ).all()
    for step in steps:
        if step.alias == alias:
            return step.order_index
    known = ", ".join(f"{s.order_index} {s.alias}" for s in steps)
    raise Refused(f"--from-step {alias!r}: scenario {scenario.key} has no such step (steps: {known})")


def _latest_run(session: Session, principal: Principal, request: dict[str, Any], start_index: int) -> UUID:
    """FROM_STEP without --from-run: the newest ended run of the one selected scenario (any version
    of its key in its suite) in which every step before ``start_index`` passed."""
    from sqlmodel import col, select

    from orchestra_app.db.tables import TestRun, TestScenario, TestStepResult

    scenario: TestScenario | None = None
    if request.get("scenarioIds") and len(request["scenarioIds"]) == 1:
        scenario = session.get(TestScenario, UUID(request["scenarioIds"][0]))
    elif request.get("suiteId") and len(request.get("scenarioKeys") or []) == 1:
        scenario = session.exec(
            select(TestScenario).where(
                TestScenario.tenant_id == principal.tenant_id,
                TestScenario.suite_id == UUID(request["suiteId"]),
                TestScenario.key == request["scenarioKeys"][0],
            )
        ).first()
    if scenario is None:
        raise Refused(
            "--mode FROM_STEP runs one scenario: choose it with --scenario KEY (or give --from-run)"
        )
    versions = session.exec(
        select(TestScenario.id).where(
            TestScenario.tenant_id == principal.tenant_id,
            TestScenario.suite_id == scenario.suite_id,
            TestScenario.key == scenario.key,
        )
    ).all()
    runs = session.exec(
        select(TestRun)
        .where(
            TestRun.tenant_id == principal.tenant_id,
            col(TestRun.scenario_id).in_(list(versions)),
            col(TestRun.status).in_(list(TERMINAL_STATUSES)),
        )
        .order_by(col(TestRun.created_at).desc())
        .limit(50)
    ).all()
    for run in runs:  # earlier steps that passed give the later ones real values to work with
        have = {
            index: StepStatus(status).value
            for index, status in session.exec(
                select(TestStepResult.order_index, TestStepResult.status).where(
                    TestStepResult.run_id == run.id
                )
            ).all()
        }
        if all(have.get(i) in ("PASSED", "FLAKY") for i in range(start_index)):
            return run.id
    raise Refused(
        f"--mode FROM_STEP: the database holds no ended run of scenario {scenario.key} whose steps before "
        f"{start_index} passed; run it first (e.g. --mode RUN_ALL_STEPS with the same --db) "
        "or name one with --from-run RUN_ID"
    )


def create(
    *, session: Session, principal: Principal, plan: Plan, backend: Backend, connect_check: bool
) -> Created:
    """Stores the file suite (files), creates the runs and runs the preflight, in one unit of work:
    a refusal rolls everything back, so nothing is stored and nothing is queued."""
    from orchestra_app.db.tables import Tenant
    from orchestra_app.domain.tenancy import TenantSettings
    from orchestra_app.services.file_store import store_file_suite
    from orchestra_app.services.runs import create_runs

    request: dict[str, Any] = {
        "mode": plan.mode.value,
        "variables": plan.variables,
        "triggeredBy": "cli",
    }
    if plan.step_results:
        request["stepResults"] = plan.step_results
    if plan.from_run is not None:
        request["fromRunId"] = str(plan.from_run)
    if plan.step_timeout_s is not None:
        request["stepTimeoutS"] = plan.step_timeout_s
    if plan.run_timeout_s is not None:
        request["runTimeoutS"] = plan.run_timeout_s
    stored = None
    suite_info: dict[str, Any] | None = None
    if plan.files:
        assert plan.file_suite is not None and plan.process_file is not None
        stored = store_file_suite(
            session=session, principal=principal, suite=plan.file_suite, process_file=plan.process_file
        )
        request["suiteId"] = str(stored.suite_id)
        request["scenarioKeys"] = plan.scenario_keys
        suite_info = {"id": str(stored.suite_id), "name": stored.suite_name, "processKey": stored.process_key}
    else:
        name = None
        if plan.target is not None:
            name = _resolve_suite_or_scenario(session, principal, plan.target, request)
        if plan.scenario_refs:
            if "suiteId" not in request:
                raise Refused("--scenario needs a suite: orchestra run SUITE --scenario KEY")
            request["scenarioKeys"] = _scenario_keys(
                session, principal, UUID(request["suiteId"]), plan.scenario_refs
            )
        if plan.tag is not None:
            request["tag"] = plan.tag
        if plan.env_ref is not None:
            try:
                request["environmentId"] = str(UUID(plan.env_ref))
            except ValueError:
                request["environmentName"] = plan.env_ref
        if plan.data_ref is not None:
            suite_id = UUID(request["suiteId"]) if "suiteId" in request else None
            request["dataSetId"] = _data_set_id(session, principal, plan.data_ref, suite_id)
        if plan.data_tag is not None:
            request["dataSetTag"] = plan.data_tag
        if name is not None:
            suite_info = {"id": request.get("suiteId"), "name": name}
    if plan.start_index is None and plan.from_step is not None:
        plan.start_index = _alias_index(session, principal, request, plan.from_step)
    if plan.start_index is not None:
        request["startStepIndex"] = plan.start_index
    if plan.mode is RunMode.FROM_STEP and plan.from_run is None:
        request["fromRunId"] = str(_latest_run(session, principal, request, plan.start_index or 0))
        note = (
            f"FROM_STEP reuses run {request['fromRunId']}, the newest of this scenario whose earlier "
            "steps passed (--from-run RUN_ID chooses another)"
        )
        if note not in plan.notes:  # a retried unit of work comes here again
            plan.notes.append(note)
    if backend.temporary is not None:
        # a private database: as many runs at once as there are worker threads
        tenant = session.get(Tenant, principal.tenant_id)
        if tenant is not None:
            settings = TenantSettings.model_validate(tenant.settings or {})
            settings.max_parallel_runs = max(settings.max_parallel_runs, backend.workers)
            tenant.settings = settings.to_json_dict()
            session.add(tenant)
            session.flush()
    try:
        result = create_runs(
            session=session,
            principal=principal,
            request=request,
            environment=plan.env_file.pinned() if plan.env_file is not None else None,
            data=plan.data,
            data_name=plan.data_name,
        )
    except OrchestraError as exc:
        raise _option_error(exc) from None
    problems = preflight(session, result, plan, local=backend.local, connect_check=connect_check)
    if problems:
        raise Refused(
            f"{len(problems)} problem(s) would fail the run before the system under test is reached; "
            "nothing was run",
            problems,
        )
    return Created(result, suite_info, stored)


def preflight(
    session: Session, result: CreateRunsResult, plan: Plan, *, local: bool, connect_check: bool
) -> list[str]:
    """Data, services, profiles, secrets, unbound tasks, SINGLE_STEP context and (runs in this process)
    reachability of every service and profile the runs use; one line per problem."""
    from sqlmodel import col, select

    from orchestra_app.db.tables import TestRun, TestStepResult
    from orchestra_app.engine.runner import plan_steps
    from orchestra_app.services.environment_file import from_pinned
    from orchestra_app.services.run_preflight import check_context, check_reachable, check_run, used_by

    rows = session.exec(select(TestRun).where(col(TestRun.id).in_([r.id for r in result.runs]))).all()
    problems: list[str] = []
    groups: dict[str, tuple[Any, EnvironmentFile, list[tuple[str, list[ScenarioStepSpec]]]]] = {}
    used_steps: dict[str, list[ScenarioStepSpec]] = {}
    for row in rows:
        snapshot = RunSnapshot.model_validate(row.pinned or {})
        start = row.start_step_index or 0
        planned = plan_steps(snapshot.steps, row.mode, start)
        if row.mode == RunMode.SINGLE_STEP:
            known = set(snapshot.step_results)
            if row.from_run_id is not None:
                known |= set(
                    session.exec(
                        select(TestStepResult.step_alias).where(TestStepResult.run_id == row.from_run_id)
                    ).all()
                )
            for step in planned:
                problems.extend(check_context(snapshot.scenario_key, step, known))
        to_run = [s for s in planned if not (row.mode == RunMode.FROM_STEP and s.order_index < start)]
        environment = plan.env_file or from_pinned(snapshot.environment)
        key = json.dumps([snapshot.data, snapshot.environment.to_json_dict()], sort_keys=True, default=str)
        group = groups.setdefault(key, (snapshot.data, environment, []))
        group[2].append((snapshot.scenario_key, to_run))
        used_steps.setdefault(key, []).extend(to_run)
    for key, (data, environment, scenarios) in groups.items():
        checked = check_run(scenarios, data=data, environment=environment, check_secrets=local)
        problems.extend(checked.problems)
        if local and connect_check:
            problems.extend(check_reachable(environment, used_by(used_steps[key])))
    return list(dict.fromkeys(problems))


# ---- live progress ---------------------------------------------------------------------------------


MARK = {
    "PASSED": "PASS",
    "FAILED": "FAIL",
    "SKIPPED": "SKIP",
    "FLAKY": "FLAKY",
    "PENDING": "....",
    "RUNNING": "RUN",
}


class Printer:
    """Concise live lines on stdout (nothing with --json); errors and notes on stderr."""

    def __init__(self, *, quiet: bool, runs: Sequence[TestRunSummary]) -> None:
        self.quiet = quiet
        self.runs = {r.id: r for r in runs}
        self.width = max((len(r.scenario_key) for r in runs), default=4)
        self.started: set[UUID] = set()

    def line(self, text: str = "") -> None:
        if not self.quiet:
            typer.echo(text)

    def note(self, text: str) -> None:
        typer.echo(f"note: {text}", err=True)

    def _key(self, run_id: UUID) -> str:
        run = self.runs.get(run_id)
        return (run.scenario_key if run else str(run_id)[:8]).ljust(self.width)

    def _start(self, run_id: UUID) -> None:
        if run_id in self.started:
            return
        self.started.add(run_id)
        run = self.runs.get(run_id)
        if run is not None:
            self.line(f"{self._key(run_id)}  ▶ {run.scenario_name} ({run.step_count} step(s))")

    def event(self, event: RunEvent) -> None:
        from orchestra_app.engine.events import RunFinished, RunStarted, RunState, StepFinished

        if isinstance(event, RunStarted):
            self._start(event.run_id)
        elif isinstance(event, RunState):
            if event.status == RunStatus.IN_PROGRESS.value:
                self._start(event.run_id)
        elif isinstance(event, StepFinished):
            self._start(event.run_id)
            self._step(event)
        elif isinstance(event, RunFinished):
            self._start(event.run_id)
            counts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(event.counts.items()))
            reason = f": {event.reason}" if event.reason and event.status != RunStatus.PASSED.value else ""
            self.line(
                f"{self._key(event.run_id)}  {event.status}  {counts or 'no steps'}"
                f"  ({event.duration_ms / 1000:.1f} s){reason}"
            )

    def _step(self, event: Any) -> None:
        run = self.runs.get(event.run_id)
        total = run.step_count if run else 0
        position = f"{event.order_index + 1}/{total}" if total else str(event.order_index)
        status = MARK.get(event.status, event.status)
        code = str(event.actual_status_code) if event.actual_status_code is not None else ""
        took = f"{event.duration_ms} ms" if event.status not in ("SKIPPED", "PENDING") else ""
        reused = "  (reused)" if event.reused_from_run_id else ""
        key = self._key(event.run_id)
        self.line(f"{key}  {status:<5} {position:>5} {event.alias:<32} {code:>3} {took:>8}{reused}")
        shown = [v for v in event.violations if v.get("severity", "error") == "error"] or event.violations
        for violation in shown[:5]:
            message = " ".join(str(violation.get("message", "")).split())
            if len(message) > 240:
                message = message[:240] + "..."
            self.line(f"{'':{self.width}}        {violation.get('type')}/{violation.get('code')}: {message}")
        if len(shown) > 5:
            self.line(f"{'':{self.width}}        ... {len(shown) - 5} more violation(s)")


class Interrupt:
    """SIGINT/SIGTERM: the first asks the runs to cancel, a second one leaves at once."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested.is_set():
            typer.echo("interrupted again: leaving without waiting", err=True)
            os._exit(EXIT_INTERRUPTED)
        self.requested.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def follow(
    runs: Sequence[TestRunSummary],
    principal: Principal,
    printer: Printer,
    interrupt: Interrupt,
    cancel: Callable[[list[UUID]], None],
    *,
    local: bool,
) -> bool:
    """Prints each run's events as they happen until every run ended; True when interrupted."""
    from orchestra_app.engine.events import RunFinished, RunStarted, StepFinished, StepStarted
    from orchestra_app.services.run_events import follow_run

    events: queue.Queue[tuple[UUID, Any]] = queue.Queue()
    pending = list(runs)
    active: set[UUID] = set()
    ended: set[UUID] = set()
    stop = threading.Event()

    def follower(run_id: UUID) -> None:
        try:
            for event in follow_run(run_id, principal=principal, stop=stop.is_set):
                events.put((run_id, event))
        except Exception as exc:  # the database went away: report it, do not hang
            events.put((run_id, exc))
        finally:
            events.put((run_id, None))

    def start_more() -> None:
        while pending and len(active) < FOLLOWERS:
            run = pending.pop(0)
            active.add(run.id)
            threading.Thread(target=follower, args=(run.id,), daemon=True, name="orchestra-follow").start()

    start_more()
    began = time.monotonic()
    progressed = False
    waiting_said = False
    interrupted = False
    cancel_deadline: float | None = None
    while active or pending:
        if interrupt.requested.is_set() and not interrupted:
            interrupted = True
            typer.echo("interrupted: cancelling the runs (again to leave at once)", err=True)
            cancel([r.id for r in runs if r.id not in ended])
            cancel_deadline = time.monotonic() + CANCEL_WAIT_S
        if cancel_deadline is not None and time.monotonic() > cancel_deadline:
            typer.echo("the runs did not stop in time; leaving them to their workers", err=True)
            break
        try:
            run_id, item = events.get(timeout=0.25)
        except queue.Empty:
            if (
                not local
                and not progressed
                and not waiting_said
                and time.monotonic() - began > WAITING_NOTE_S
            ):
                waiting_said = True
                printer.note(
                    f"no run has started after {WAITING_NOTE_S:.0f} s: they are QUEUED for "
                    "`orchestra worker` processes on this Redis and database (is one running?)"
                )
            continue
        if item is None:
            active.discard(run_id)
            start_more()
            continue
        if isinstance(item, Exception):
            typer.echo(f"lost track of run {run_id}: {type(item).__name__}: {item}", err=True)
            ended.add(run_id)
            continue
        if isinstance(item, StepStarted):
            progressed = True
            continue
        if isinstance(item, RunStarted | StepFinished):
            progressed = True
        printer.event(item)
        if isinstance(item, RunFinished):
            ended.add(run_id)
    stop.set()
    return interrupted


# ---- the command -----------------------------------------------------------------------------------


class ModeChoice(StrEnum):
    RUN_ALL_STEPS = "RUN_ALL_STEPS"
    STOP_ON_FIRST_FAILURE = "STOP_ON_FIRST_FAILURE"
    SINGLE_STEP = "SINGLE_STEP"
    FROM_STEP = "FROM_STEP"


def _write_junit(path: Path, suites: list[Any], name: str) -> None:
    from orchestra_app.reporting.junit import write_junit

    try:
        path.write_bytes(write_junit(suites, name=name))
    except OSError as exc:
        typer.echo(f"--junit {path}: cannot write: {exc.strerror or exc}", err=True)


def _refuse(exc: Refused, *, as_json: bool, junit: Path | None, source: dict[str, Any]) -> NoReturn:
    from orchestra_app.services.run_report import error_summary

    typer.echo(f"orchestra run: {exc.message}", err=True)
    for problem in exc.problems:
        typer.echo(f"  - {problem}" if not problem.startswith("  ") else problem, err=True)
    if as_json:
        typer.echo(json.dumps(error_summary(exc.message, exc.problems, source=source), ensure_ascii=False))
    if junit is not None:
        from orchestra_app.reporting.junit import JUnitSuite

        text = exc.message + "".join(f"\n- {p.strip()}" for p in exc.problems)
        _write_junit(junit, [JUnitSuite(name="orchestra run", error=text)], "orchestra")
    raise typer.Exit(EXIT_USAGE)


def run_command(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A process file (with --spec, --env), or a suite in the database (id, name or process key) "
            "or a scenario id.",
            show_default=False,
        ),
    ] = None,
    spec: Annotated[
        list[Path] | None,
        typer.Option("--spec", "-s", help="Spec file of a service the process calls (repeatable)."),
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment: a file, or a stored one by name or id.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Test data: a YAML/JSON file, or a stored data set (name or id)."),
    ] = None,
    data_tag: Annotated[
        str | None, typer.Option("--data-tag", help="Stored data sets by tag; the most specific scope wins.")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", help="Scenario key or name (repeatable; default: all).")
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Only scenarios (or suites) with this tag.")
    ] = None,
    mode: Annotated[ModeChoice, typer.Option("--mode", "-m", case_sensitive=False, help="Run mode.")] = (
        ModeChoice.RUN_ALL_STEPS
    ),
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from-step", help="SINGLE_STEP / FROM_STEP: the step's orderIndex (0-based) or alias."
        ),
    ] = None,
    from_run: Annotated[
        str | None,
        typer.Option("--from-run", help="FROM_STEP (and SINGLE_STEP): the run whose results are reused."),
    ] = None,
    context: Annotated[
        Path | None,
        typer.Option(
            "--context",
            help="SINGLE_STEP: earlier results by alias (YAML/JSON: {alias: {responseBody: ...}}).",
        ),
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Run variable NAME=VALUE (JSON or text; repeatable).")
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", help="Files: bind NODE=service:operationId (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the orchestra-run/1 summary as JSON on stdout (no live lines)."),
    ] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report to FILE.")] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: DB_URL or the embedded file; files: a temporary one)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", min=1, max=32, help="Runs at once when they execute in this process."
        ),
    ] = 1,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Execute here even when REDIS_URL would queue to workers.")
    ] = False,
    step_timeout: Annotated[
        float | None, typer.Option("--step-timeout", min=0.001, max=86_400, help="Seconds per step.")
    ] = None,
    run_timeout: Annotated[
        float | None, typer.Option("--run-timeout", min=0.001, max=604_800, help="Seconds per run.")
    ] = None,
    no_connect_check: Annotated[
        bool, typer.Option("--no-connect-check", help="Skip the TCP check of every service before the run.")
    ] = False,
) -> None:
    """Run scenarios: from the database, or straight from files with no server (docs/cli-run.md)."""
    began = time.monotonic()
    # the live lines are the output; the in-process worker's INFO logs would only repeat them
    os.environ.setdefault("ORCHESTRA_LOG_LEVEL", "WARNING")
    from orchestra_app.observability.logging import configure_logging

    configure_logging()
    source: dict[str, Any] = {}
    if junit is not None and not junit.parent.is_dir():
        _refuse(
            Refused(f"--junit {junit}: folder {junit.parent} does not exist"),
            as_json=as_json,
            junit=None,
            source={},
        )
    try:
        plan = build_plan(
            target=target,
            specs=spec or [],
            env=env,
            data=data,
            data_tag=data_tag,
            scenarios=scenario or [],
            tag=tag,
            mode=RunMode(mode.value),
            from_step=from_step,
            from_run=from_run,
            context=context,
            variables=var or [],
            overrides=override or [],
            db=db,
            step_timeout=step_timeout,
            run_timeout=run_timeout,
        )
    except Refused as exc:
        _refuse(exc, as_json=as_json, junit=junit, source=source)
    source = plan.source
    backend: Backend | None = None
    try:
        backend = open_backend(db, files=plan.files, in_process=in_process, workers=workers)
        code = _run(
            plan, backend, as_json=as_json, junit=junit, connect_check=not no_connect_check, began=began
        )
    except (Refused, OrchestraError) as exc:
        if backend is not None:
            close_backend(backend)
            backend = None
        refused = exc if isinstance(exc, Refused) else Refused(str(exc))
        _refuse(refused, as_json=as_json, junit=junit, source=source)
    finally:
        if backend is not None:
            close_backend(backend)
    raise typer.Exit(code)


def _run(
    plan: Plan, backend: Backend, *, as_json: bool, junit: Path | None, connect_check: bool, began: float
) -> int:
    import executor.actors  # noqa: F401  (the broker, chosen by open_backend's settings, and the run actor)
    from executor import bootstrap
    from executor.broker import start_in_process_worker
    from orchestra_app.services import session as svc
    from orchestra_app.services.run_report import exit_code, junit_suites, summary
    from orchestra_app.services.runs import cancel_run, get_run

    bootstrap.wire()
    with _database_errors(backend.url):
        principal = svc.current_principal()
        created: Created = svc.write(
            create, principal, plan=plan, backend=backend, connect_check=connect_check
        )
    runs = created.result.runs
    printer = Printer(quiet=as_json, runs=runs)
    for note in plan.notes:
        printer.note(note)
    what = f"{len(runs)} run(s)"
    if created.suite:
        what += f" of suite {created.suite['name']!r}"
    details_of = [f"mode {plan.mode.value}"]
    if plan.source.get("environment"):
        details_of.append(f"environment {plan.source['environment']}")
    if plan.source.get("data"):
        details_of.append(f"data {plan.source['data']}")
    printer.line(f"orchestra run: {what}; {', '.join(details_of)}; {backend.describe()}")
    if backend.local:
        backend.worker = start_in_process_worker(threads=backend.workers)

    def cancel(run_ids: list[UUID]) -> None:
        for run_id in run_ids:
            with contextlib.suppress(OrchestraError):  # already ended
                svc.write(cancel_run, principal, run_id=run_id)

    with Interrupt() as interrupt, _database_errors(backend.url):
        interrupted = follow(runs, principal, printer, interrupt, cancel, local=backend.local)
        details: list[TestRunDetail] = [svc.run(get_run, principal, run_id=r.id) for r in runs]
    code = EXIT_INTERRUPTED if interrupted else exit_code(details)
    duration_ms = round((time.monotonic() - began) * 1000)
    passed = sum(1 for d in details if d.status == RunStatus.PASSED)
    unfinished = [d for d in details if d.status not in TERMINAL_STATUSES]
    printer.line(
        f"{len(details)} run(s): {passed} passed, {len(details) - passed - len(unfinished)} not passed"
        + (f", {len(unfinished)} unfinished" if unfinished else "")
        + f"  (batch {created.result.batch_id}, {duration_ms / 1000:.1f} s)"
    )
    for detail in details:
        if detail.status != RunStatus.PASSED:
            first = next((s for s in detail.steps if s.status == "FAILED"), None)
            why = detail.error or (
                f"step {first.alias}: " + "; ".join(f"{v.type}/{v.code}" for v in first.violations)
                if first
                else ""
            )
            printer.line(f"  {detail.status.value:<9} {detail.scenario_key} {detail.scenario_name}: {why}")
    if code == EXIT_USAGE:
        typer.echo(
            "orchestra run: a run could not start (its environment or a step's setup failed): "
            + "; ".join(d.error or "" for d in details if d.error),
            err=True,
        )
    if as_json:
        document = summary(
            details,
            source=plan.source,
            suite=created.suite,
            notes=plan.notes,
            duration_ms=duration_ms,
            code=code,
        )
        typer.echo(json.dumps(document, ensure_ascii=False))
    if junit is not None:
        name = created.suite["name"] if created.suite else "orchestra"
        classname = (created.suite or {}).get("processKey") or "orchestra"
        _write_junit(junit, junit_suites(details, suite_name=name, classname=classname), "orchestra run")
    if code not in (EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED):  # pragma: no cover
        raise AssertionError(code)
    sys.stdout.flush()
    return code
