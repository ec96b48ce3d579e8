"""Runs page: a launcher (suite or chosen scenarios, mode incl. FROM_STEP from a past run, data set or
tag, environment) and the tenant's runs, kept current by the tenant's event stream.

The list is pushed, not polled by the browser: a background task started by on_load follows
``follow_tenant_batches`` (Redis stream, or the in-process bus in embedded mode) through
state/live.py and reloads the shown page when a run is queued, starts, is requeued or ends. While a
run on the page is in progress its step counts are re-read at most once a second on the server (the
tenant stream carries run-level events only; each run's steps live on the run page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from components.layout import page
from components.tables import page_buttons
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.runs import RunMode
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import catalog
from orchestra_app.services import data_sets as ds
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services.run_events import follow_tenant_batches
from orchestra_app.services.runs import TestRunSummary
from state.base import AppState, blocking, error_text
from state.live import pump

ROUTE = "/runs"
TITLE = "Runs"
PAGE_SIZE = 50
ACTIVE = ("PENDING", "QUEUED", "IN_PROGRESS")
STATUS_COLORS = {
    "PASSED": "green",
    "FAILED": "red",
    "CANCELLED": "gray",
    "IN_PROGRESS": "blue",
    "QUEUED": "amber",
    "PENDING": "amber",
}
MODES = [m.value for m in RunMode if m != RunMode.SINGLE_STEP]  # SINGLE_STEP: the scenario editor
NONE = "none"
# request fields a refusal can name, shown beside the launcher control they belong to
LAUNCH_FIELDS = (
    "suiteId",
    "scenarioIds",
    "mode",
    "startStepIndex",
    "fromRunId",
    "dataSetId",
    "dataSetTag",
    "environmentId",
)


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def run_row(run: TestRunSummary) -> dict[str, str]:
    counts = run.counts
    done = sum(counts.values())
    steps = f"{done}/{run.step_count}"
    details = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    status = run.status.value
    return {
        "id": str(run.id),
        "scenario": run.scenario_name or run.scenario_key,
        "mode": run.mode.value
        + (f" from step {run.start_step_index}" if run.start_step_index is not None else ""),
        "status": status,
        "color": STATUS_COLORS.get(status, "gray"),
        "steps": f"{steps} ({details})" if details else steps,
        "data_set": run.data_set_name or "",
        "environment": run.environment_name or "",
        "started_at": when(run.started_at or run.created_at),
        "finished_at": when(run.finished_at),
        "error": run.error or "",
        "active": "yes" if status in ACTIVE else "",
        "cancelling": "yes" if run.cancel_requested and status == "IN_PROGRESS" else "",
    }


def _list(principal: Principal, offset: int, status: str) -> tuple[list[dict[str, str]], int]:
    listing = svc.run(
        run_service.list_runs,
        principal,
        status=None if status == "all" else [status],
        limit=PAGE_SIZE,
        offset=offset,
    )
    return [run_row(r) for r in listing.items], listing.total


def _choices(principal: Principal) -> dict[str, list[dict[str, str]]]:
    suites = svc.run(catalog.list_suites, principal, limit=500).items
    envs = svc.run(catalog.list_environments, principal, limit=500).items
    sets = svc.run(ds.list_data_sets, principal, limit=500).items
    return {
        "suites": [{"id": s["id"], "label": s["label"]} for s in suites],
        "environments": [{"id": e["id"], "label": e["name"]} for e in envs],
        "data_sets": [{"id": str(d.id), "label": f"{d.name} ({d.scope.value.lower()})"} for d in sets],
        "tags": [{"id": t, "label": t} for t in svc.run(ds.data_set_tags, principal)],
    }


def _suite_choices(principal: Principal, suite_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    sid = parse_uuid(suite_id, name="suiteId")
    detail = svc.run(catalog.suite_detail, principal, suite_id=sid)
    scenarios = [
        {"id": s["id"], "label": f"{s.get('name') or s['key']} ({len(s['steps'])} steps)"}
        for s in detail["scenarios"]
        if s.get("active", True) and s.get("status") != "DEPRECATED"
    ]
    past = svc.run(run_service.list_runs, principal, suite_id=sid, limit=100).items
    runs = [
        {
            "id": str(r.id),
            "label": f"{when(r.created_at)} {r.scenario_name or r.scenario_key} {r.status.value}",
        }
        for r in past
        if r.status.value not in ACTIVE
    ]
    return scenarios, runs


class RunsState(AppState):
    runs: list[dict[str, str]] = []
    total: int = 0
    offset: int = 0
    status_filter: str = "all"
    runs_error: str = ""
    _gen: int = 0

    # launcher
    launcher_open: bool = False
    suites: list[dict[str, str]] = []
    environments: list[dict[str, str]] = []
    data_sets: list[dict[str, str]] = []
    data_tags: list[dict[str, str]] = []
    scenarios: list[dict[str, str]] = []
    past_runs: list[dict[str, str]] = []
    l_suite: str = ""
    l_scenarios: list[str] = []
    l_mode: str = RunMode.RUN_ALL_STEPS.value
    l_from_run: str = ""
    l_start_step: str = "0"
    l_data_set: str = NONE
    l_data_tag: str = NONE
    l_env: str = NONE
    launch_errors: dict[str, str] = {}
    launch_error: str = ""
    launch_result: str = ""
    launching: bool = False

    @rx.var
    def page_text(self) -> str:
        if not self.total:
            return ""
        return f"{self.offset + 1}-{min(self.offset + PAGE_SIZE, self.total)} of {self.total:,}"

    @rx.var
    def has_prev(self) -> bool:
        return self.offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.offset + PAGE_SIZE < self.total

    # ---- the live list ---------------------------------------------------------------------------

    @rx.event(background=True)
    async def follow(self) -> None:
        """Follows the tenant's run events until the tab closes or navigates away."""
        async with self:
            self._gen += 1
            gen = self._gen
        try:
            principal = await self.caller()
        except Exception as exc:
            async with self:
                self.runs_error = error_text(exc, where="runs page")
            return
        active = False

        async def apply(_events: list[Any]) -> bool:
            nonlocal active
            async with self:
                if self._gen != gen:
                    return False
                offset, status = self.offset, self.status_filter
            rows, total = await blocking(_list, principal, offset, status)
            async with self:
                if self._gen != gen:
                    return False
                if (self.offset, self.status_filter) == (offset, status):
                    self.runs, self.total = rows, total
                    self.runs_error = ""
            active = any(r["active"] for r in rows)
            return True

        try:
            await pump(
                lambda stop: follow_tenant_batches(principal=principal, block_ms=1000, stop=stop),
                apply,
                rate=4.0,
                burst=2,
                idle_s=lambda: 1.0 if active else None,
            )
        except Exception as exc:
            async with self:
                if self._gen == gen:
                    self.runs_error = error_text(exc, where="follow runs")

    async def _reload(self) -> None:
        try:
            principal = await self.caller()
            self.runs, self.total = await blocking(_list, principal, self.offset, self.status_filter)
            self.runs_error = ""
        except Exception as exc:
            self.runs_error = error_text(exc, where="list runs")

    @rx.event
    async def set_status_filter(self, value: str) -> None:
        self.status_filter = value
        self.offset = 0
        await self._reload()

    @rx.event
    async def next_page(self) -> None:
        self.offset += PAGE_SIZE
        await self._reload()

    @rx.event
    async def prev_page(self) -> None:
        self.offset = max(0, self.offset - PAGE_SIZE)
        await self._reload()

    @rx.event
    async def cancel(self, run_id: str) -> None:
        try:
            principal = await self.caller()
            run = parse_uuid(run_id, name="run")
            await blocking(svc.write, run_service.cancel_run, principal, run_id=run)
            await self._reload()
        except Exception as exc:
            self.runs_error = error_text(exc, where="cancel run")

    # ---- the launcher ----------------------------------------------------------------------------

    @rx.event
    async def toggle_launcher(self) -> None:
        self.launcher_open = not self.launcher_open
        if self.launcher_open:
            await self._load_choices()

    @rx.event
    async def open_from_query(self) -> None:
        """``/runs?suite=<id>`` (the Suites page's Run button when an environment must be chosen): the
        launcher opens with that suite selected."""
        suite = str(self.router.url.query_parameters.get("suite", "") or "")
        if not suite:
            return
        self.launcher_open = True
        if await self._load_choices():
            await self._select_suite(suite)

    async def _load_choices(self) -> bool:
        try:
            principal = await self.caller()
            choices = await blocking(_choices, principal)
        except Exception as exc:
            self.launch_error = error_text(exc, where="run launcher")
            return False
        self.suites = choices["suites"]
        self.environments = choices["environments"]
        self.data_sets = choices["data_sets"]
        self.data_tags = choices["tags"]
        return True

    @rx.event
    async def set_l_suite(self, value: str) -> None:
        await self._select_suite(value)

    async def _select_suite(self, value: str) -> None:
        self.l_suite = value
        self.l_scenarios = []
        self.l_from_run = ""
        self.launch_errors = {}
        try:
            principal = await self.caller()
            self.scenarios, self.past_runs = await blocking(_suite_choices, principal, value)
        except Exception as exc:
            self.scenarios, self.past_runs = [], []
            self.launch_errors = {"suiteId": error_text(exc, where="suite scenarios")}

    @rx.event
    def toggle_scenario(self, scenario_id: str, checked: bool) -> None:
        chosen = [s for s in self.l_scenarios if s != scenario_id]
        self.l_scenarios = [*chosen, scenario_id] if checked else chosen

    @rx.event
    def set_l_mode(self, value: str) -> None:
        self.l_mode = value

    @rx.event
    def set_l_from_run(self, value: str) -> None:
        self.l_from_run = value

    @rx.event
    def set_l_start_step(self, value: str) -> None:
        self.l_start_step = value

    @rx.event
    def set_l_data_set(self, value: str) -> None:
        self.l_data_set = value
        if value != NONE:
            self.l_data_tag = NONE

    @rx.event
    def set_l_data_tag(self, value: str) -> None:
        self.l_data_tag = value
        if value != NONE:
            self.l_data_set = NONE

    @rx.event
    def set_l_env(self, value: str) -> None:
        self.l_env = value

    def _request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"mode": self.l_mode, "triggeredBy": "ui"}
        if self.l_scenarios:
            request["scenarioIds"] = list(self.l_scenarios)
        elif self.l_mode == RunMode.FROM_STEP.value and self.l_from_run:
            pass  # the past run names its scenario
        elif self.l_suite:
            request["suiteId"] = self.l_suite
        else:
            raise run_service.ValidationFailed(
                "choose a suite (and optionally some of its scenarios)", field="suiteId"
            )
        if self.l_mode == RunMode.FROM_STEP.value:
            if not self.l_from_run:
                raise run_service.ValidationFailed(
                    "FROM_STEP reuses the results of a past run: choose one", field="fromRunId"
                )
            request["fromRunId"] = self.l_from_run
            try:
                request["startStepIndex"] = int(self.l_start_step.strip())
            except ValueError:
                raise run_service.ValidationFailed(
                    f"the start step is a step number (0 = the first step), not {self.l_start_step!r}",
                    field="startStepIndex",
                ) from None
        if self.l_data_set != NONE:
            request["dataSetId"] = self.l_data_set
        if self.l_data_tag != NONE:
            request["dataSetTag"] = self.l_data_tag
        if self.l_env != NONE:
            request["environmentId"] = self.l_env
        return request

    @rx.event
    async def launch(self) -> AsyncIterator[None]:
        self.launch_errors, self.launch_error, self.launch_result = {}, "", ""
        self.launching = True
        yield
        try:
            request = self._request()
            principal = await self.caller()
            result = await blocking(svc.write, run_service.create_runs, principal, request=request)
            waiting = f", {result.pending} waiting for a free slot" if result.pending else ""
            self.launch_result = f"{len(result.runs)} run(s) started ({result.queued} queued{waiting})."
            self.offset, self.status_filter = 0, "all"
            await self._reload()
        except OrchestraError as exc:
            key = str(exc.field or "").split(".", 1)[0]
            if key in LAUNCH_FIELDS:
                self.launch_errors = {key: exc.message}
            else:
                self.launch_error = str(exc)
        except Exception as exc:
            self.launch_error = error_text(exc, where="launch runs")
        finally:
            self.launching = False


ON_LOAD = [AppState.load_identity, RunsState.open_from_query, RunsState.follow]


def _err(key: str) -> rx.Component:
    return rx.cond(
        RunsState.launch_errors.contains(key),
        rx.text(
            RunsState.launch_errors[key],
            color_scheme="red",
            size="2",
            class_name="field-error",
            id=f"launch-error-{key}",
        ),
    )


def _picker(
    label: str,
    options: Any,
    value: Any,
    on_change: Any,
    key: str,
    control_id: str,
    none_label: str | None = None,
) -> rx.Component:
    items = [rx.select.item(none_label, value=NONE)] if none_label else []
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        rx.select.root(
            rx.select.trigger(placeholder=f"choose {label.lower()}", id=control_id, width="100%"),
            rx.select.content(
                *items, rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["id"]))
            ),
            value=value,
            on_change=on_change,
        ),
        _err(key),
        spacing="1",
        width="100%",
    )


def _launcher() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.grid(
                _picker(
                    "Suite",
                    RunsState.suites,
                    RunsState.l_suite,
                    RunsState.set_l_suite,
                    "suiteId",
                    "launch-suite",
                ),
                rx.vstack(
                    rx.text("Mode", size="2", weight="medium"),
                    rx.select(
                        MODES, value=RunsState.l_mode, on_change=RunsState.set_l_mode, id="launch-mode"
                    ),
                    _err("mode"),
                    spacing="1",
                ),
                _picker(
                    "Data set",
                    RunsState.data_sets,
                    RunsState.l_data_set,
                    RunsState.set_l_data_set,
                    "dataSetId",
                    "launch-data-set",
                    none_label="the scenario's own (scope rules)",
                ),
                _picker(
                    "Data set tag",
                    RunsState.data_tags,
                    RunsState.l_data_tag,
                    RunsState.set_l_data_tag,
                    "dataSetTag",
                    "launch-data-tag",
                    none_label="no tag",
                ),
                _picker(
                    "Environment",
                    RunsState.environments,
                    RunsState.l_env,
                    RunsState.set_l_env,
                    "environmentId",
                    "launch-environment",
                    none_label="the tenant's default",
                ),
                columns="3",
                spacing="3",
                width="100%",
            ),
            rx.cond(
                RunsState.l_mode == RunMode.FROM_STEP.value,
                rx.grid(
                    _picker(
                        "Past run",
                        RunsState.past_runs,
                        RunsState.l_from_run,
                        RunsState.set_l_from_run,
                        "fromRunId",
                        "launch-from-run",
                    ),
                    rx.vstack(
                        rx.text("Start at step (0 = first)", size="2", weight="medium"),
                        rx.input(
                            value=RunsState.l_start_step,
                            on_change=RunsState.set_l_start_step,
                            id="launch-start-step",
                            type="number",
                            min="0",
                        ),
                        _err("startStepIndex"),
                        spacing="1",
                    ),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
            ),
            rx.cond(
                RunsState.scenarios.length() > 0,
                rx.vstack(
                    rx.text(
                        "Scenarios (none ticked = every active scenario of the suite)",
                        size="2",
                        weight="medium",
                    ),
                    rx.flex(
                        rx.foreach(
                            RunsState.scenarios,
                            lambda s: rx.checkbox(
                                s["label"],
                                checked=RunsState.l_scenarios.contains(s["id"]),
                                on_change=lambda v: RunsState.toggle_scenario(s["id"], v),
                                class_name="launch-scenario",
                            ),
                        ),
                        wrap="wrap",
                        gap="3",
                    ),
                    _err("scenarioIds"),
                    spacing="1",
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.button("Start", on_click=RunsState.launch, loading=RunsState.launching, id="launch-start"),
                rx.cond(
                    RunsState.launch_result != "",
                    rx.text(RunsState.launch_result, color_scheme="green", size="2", id="launch-result"),
                ),
                rx.cond(
                    RunsState.launch_error != "",
                    rx.text(RunsState.launch_error, color_scheme="red", size="2", id="launch-error"),
                ),
                spacing="3",
                align="center",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="run-launcher",
    )


def _table() -> rx.Component:
    headers = (
        "Scenario",
        "Mode",
        "Status",
        "Steps",
        "Data set",
        "Environment",
        "Started",
        "Finished",
        "Error",
        "",
    )
    return rx.cond(
        RunsState.runs.length() > 0,
        rx.vstack(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                rx.table.body(
                    rx.foreach(
                        RunsState.runs,
                        lambda run: rx.table.row(
                            rx.table.cell(
                                rx.link(run["scenario"], href="/runs/" + run["id"], class_name="run-link")
                            ),
                            rx.table.cell(rx.text(run["mode"], size="1")),
                            rx.table.cell(
                                rx.badge(run["status"], color_scheme=run["color"], class_name="run-status")
                            ),
                            rx.table.cell(rx.text(run["steps"], size="2", class_name="run-steps")),
                            rx.table.cell(rx.text(run["data_set"], size="1")),
                            rx.table.cell(rx.text(run["environment"], size="1")),
                            rx.table.cell(rx.text(run["started_at"], size="1")),
                            rx.table.cell(rx.text(run["finished_at"], size="1")),
                            rx.table.cell(rx.text(run["error"], size="1")),
                            rx.table.cell(
                                rx.cond(
                                    run["active"] != "",
                                    rx.button(
                                        rx.cond(run["cancelling"] != "", "Cancelling...", "Cancel"),
                                        size="1",
                                        variant="soft",
                                        color_scheme="red",
                                        disabled=run["cancelling"] != "",
                                        on_click=RunsState.cancel(run["id"]),
                                    ),
                                )
                            ),
                            data_run_id=run["id"],
                        ),
                    )
                ),
                width="100%",
                variant="surface",
                id="runs-table",
            ),
            rx.hstack(
                rx.text(RunsState.page_text, size="2", id="runs-page"),
                *page_buttons(RunsState, id_prefix="runs"),
                spacing="2",
                align="center",
            ),
            width="100%",
        ),
        rx.callout(
            rx.vstack(
                rx.text("No runs yet", weight="bold"),
                rx.text(
                    "Start one with New run above (or Run on the Suites page, or POST /api/v1/testruns).",
                    size="2",
                ),
                spacing="1",
            ),
            icon="info",
            color_scheme="gray",
            width="100%",
            id="runs-table-empty",
        ),
    )


def index() -> rx.Component:
    return page(
        TITLE,
        rx.cond(
            RunsState.runs_error != "",
            rx.callout(RunsState.runs_error, icon="triangle-alert", color_scheme="red", id="runs-error"),
        ),
        rx.hstack(
            rx.button(rx.icon("play", size=16), "New run", on_click=RunsState.toggle_launcher, id="new-run"),
            rx.spacer(),
            rx.select(
                ["all", "PENDING", "QUEUED", "IN_PROGRESS", "PASSED", "FAILED", "CANCELLED"],
                value=RunsState.status_filter,
                on_change=RunsState.set_status_filter,
                id="runs-filter-status",
            ),
            width="100%",
        ),
        rx.cond(RunsState.launcher_open, _launcher()),
        _table(),
    )
