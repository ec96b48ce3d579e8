"""Run page: one run's header and its steps, updated as steps finish, and a step's detail (request,
response, DB rows, Kafka/queue messages, violations); Cancel.

Live updates are pushed: on_load starts a background task that follows the run's event stream
(``services.run_events.follow_run_batches``: stored results first, then the Redis stream, or the
in-process bus in embedded mode) through state/live.py. The task keeps every step's summary in a
local dict and sends the browser only the page of steps it shows (100 rows) plus counters, so a run
with 10,000 steps stays responsive.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import reflex as rx

from components.layout import page
from components.tables import page_buttons
from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.tenancy import Principal
from orchestra_app.engine.events import (
    RunFinished,
    RunQueued,
    RunRequeued,
    RunStarted,
    RunState,
    StepFinished,
)
from orchestra_app.pages.runs import ACTIVE, STATUS_COLORS, run_row, when
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services.run_events import follow_run_batches
from orchestra_app.services.runs import StepResultView
from state.base import AppState, blocking, error_text, route_tail
from state.live import pump

ROUTE = "/runs/[run_id]"
TITLE = "Run"
STEP_PAGE = 100
PROBLEMS = "problems"
STEP_COLORS = {**STATUS_COLORS, "ERROR": "orange", "SKIPPED": "gray", "FLAKY": "amber", "RUNNING": "blue"}
MAX_SHOWN = 200_000  # characters of one JSON section shown in the browser (the report has it all)


def _step_row(light: dict[str, Any]) -> dict[str, str]:
    status = light["status"]
    return {
        "index": str(light["orderIndex"]),
        "alias": light["alias"],
        "name": light["name"],
        "kind": light["kind"],
        "channel": light["channelType"],
        "status": status,
        "color": STEP_COLORS.get(status, "gray"),
        "code": "" if light["statusCode"] is None else str(light["statusCode"]),
        "duration": f"{light['durationMs']} ms" if status != "PENDING" else "",
        "violations": str(light["violations"]) if light["violations"] else "",
        "reused": "reused" if light["reused"] else "",
    }


def _event_row(old: dict[str, str], ev: StepFinished) -> dict[str, str]:
    return {
        **old,
        "status": ev.status,
        "color": STEP_COLORS.get(ev.status, "gray"),
        "code": "" if ev.actual_status_code is None else str(ev.actual_status_code),
        "duration": f"{ev.duration_ms} ms",
        "violations": str(len(ev.violations)) if ev.violations else "",
        "reused": "reused" if ev.reused_from_run_id else "",
    }


# Step rows of the runs this process's run pages show, shared by a page's follower task (which keeps
# them current) and its paging handlers (which then need no database read). Keyed by tenant and run;
# a handler served by another process, or after eviction, reads the database instead.
_STEPS: OrderedDict[tuple[UUID, UUID], dict[int, dict[str, str]]] = OrderedDict()
_STEPS_KEPT = 16


def _remember(key: tuple[UUID, UUID], steps: dict[int, dict[str, str]]) -> None:
    _STEPS[key] = steps
    _STEPS.move_to_end(key)
    while len(_STEPS) > _STEPS_KEPT:
        _STEPS.popitem(last=False)


def _load(principal: Principal, run_id: UUID) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    summary, rows = svc.run(run_service.run_step_rows, principal, run_id=run_id)
    return run_row(summary), {int(r["orderIndex"]): _step_row(r) for r in rows}


def _counts(steps: dict[int, dict[str, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in steps.values():
        out[row["status"]] = out.get(row["status"], 0) + 1
    return out


def _page(steps: dict[int, dict[str, str]], offset: int, only: str) -> tuple[list[dict[str, str]], int]:
    rows = [steps[i] for i in sorted(steps)]
    if only == PROBLEMS:
        rows = [r for r in rows if r["status"] not in ("PASSED", "PENDING", "RUNNING", "SKIPPED")]
    return rows[offset : offset + STEP_PAGE], len(rows)


def _shown(value: Any) -> str:
    if value is None or value == {} or value == []:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN:
        return text[:MAX_SHOWN] + f"\n... ({len(text) - MAX_SHOWN:,} more characters; export the report)"
    return text


def _detail(view: StepResultView) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if view.actual_status_code is not None:
        response["status"] = view.actual_status_code
    if view.response_headers:
        response["headers"] = view.response_headers
    if view.response_body is not None:
        response["body"] = view.response_body
    if view.response_truncated:
        response["truncated"] = True
    return {
        "title": f"#{view.order_index} {view.alias}" + (f" - {view.name}" if view.name else ""),
        "status": view.status,
        "meta": f"{view.kind} {view.channel_type}, {view.duration_ms} ms"
        + (f", attempt {view.attempt}" if view.attempt else "")
        + (f", reused from run {view.reused_from_run_id}" if view.reused_from_run_id else ""),
        "request": _shown(view.request),
        "response": _shown(response),
        "db": _shown(view.db_result),
        "kafka": _shown(view.kafka_message),
        "queue": _shown(view.queue_message),
        "violations": [
            {
                "type": str(v.type),
                "code": v.code,
                "severity": str(v.severity),
                "message": v.message,
                "details": _shown(v.details),
            }
            for v in view.violations
        ],
    }


class RunDetailState(AppState):
    run: dict[str, str] = {}
    counts: dict[str, int] = {}
    step_rows: list[dict[str, str]] = []
    step_total: int = 0  # steps matching the filter
    step_offset: int = 0
    step_filter: str = "all"
    run_error: str = ""
    loading: bool = True
    live: bool = False
    sel_index: int = -1
    sel: dict[str, str] = {}
    sel_violations: list[dict[str, str]] = []
    sel_error: str = ""
    _gen: int = 0

    @rx.var
    def counts_text(self) -> str:
        return ", ".join(f"{n} {s.lower()}" for s, n in sorted(self.counts.items()))

    @rx.var
    def page_text(self) -> str:
        if not self.step_total:
            return ""
        last = min(self.step_offset + STEP_PAGE, self.step_total)
        return f"steps {self.step_offset + 1}-{last} of {self.step_total:,}"

    @rx.var
    def has_prev(self) -> bool:
        return self.step_offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.step_offset + STEP_PAGE < self.step_total

    @rx.event(background=True)
    async def follow(self) -> None:
        """Loads the run, then applies its step and run events as they come, until the run ends or
        the tab closes or navigates away."""
        async with self:
            self._gen += 1
            gen = self._gen
            self.loading, self.run_error, self.sel_index = True, "", -1
            self.step_offset, self.step_filter = 0, "all"
            tail = route_tail(self)
        try:
            run_id = parse_uuid(tail, name="run")
            principal = await self.caller()
            header, steps = await blocking(_load, principal, run_id)
        except Exception as exc:
            async with self:
                if self._gen == gen:
                    self.run_error, self.loading = error_text(exc, where="open run"), False
            return
        _remember((principal.tenant_id, run_id), steps)

        async def push() -> bool:
            async with self:
                if self._gen != gen:
                    return False
                self.run = dict(header)
                self.counts = _counts(steps)
                self.step_rows, self.step_total = _page(steps, self.step_offset, self.step_filter)
                self.loading = False
                self.live = header["active"] != ""
            return True

        async def apply(events: list[Any]) -> bool:
            for ev in events:
                if isinstance(ev, StepFinished):
                    old = steps.get(ev.order_index) or {
                        "index": str(ev.order_index),
                        "alias": ev.alias,
                        "name": ev.name,
                        "kind": ev.kind,
                        "channel": ev.channel_type,
                    }
                    steps[ev.order_index] = _event_row(old, ev)
                elif isinstance(ev, (RunQueued, RunStarted, RunRequeued, RunState, RunFinished)):
                    status = getattr(ev, "status", None) or (
                        "IN_PROGRESS" if isinstance(ev, RunStarted) else ""
                    )
                    if isinstance(ev, RunRequeued):
                        status = "QUEUED"
                    if status:
                        header["status"] = status
                        header["color"] = STATUS_COLORS.get(status, "gray")
                        header["active"] = "yes" if status in ACTIVE else ""
                    if isinstance(ev, RunStarted) and not header.get("started_at"):
                        header["started_at"] = _at(ev.at)
                    if isinstance(ev, RunFinished):
                        header["finished_at"] = _at(ev.at)
                        header["error"] = ev.reason or header.get("error", "")
                        header["cancelling"] = ""
                    reason = getattr(ev, "reason", None)
                    if isinstance(ev, RunState) and reason:
                        header["error"] = reason
            return await push()

        if not await push():
            return
        if header["active"] == "":
            return  # ended: nothing will change
        try:
            await pump(
                lambda stop: follow_run_batches(run_id, principal=principal, block_ms=1000, stop=stop),
                apply,
                rate=10.0,
                burst=3,
            )
        except Exception as exc:
            async with self:
                if self._gen == gen:
                    self.run_error = error_text(exc, where="follow run")
        finally:
            async with self:
                if self._gen == gen:
                    self.live = False

    async def _reload_steps(self) -> None:
        try:
            principal = await self.caller()
            run_id = parse_uuid(self.run.get("id", ""), name="run")
            steps = _STEPS.get((principal.tenant_id, run_id))
            if steps is None:
                header, steps = await blocking(_load, principal, run_id)
                _remember((principal.tenant_id, run_id), steps)
                if not self.live:
                    self.run, self.counts = header, _counts(steps)
        except Exception as exc:
            self.run_error = error_text(exc, where="run steps")
            return
        self.step_rows, self.step_total = _page(steps, self.step_offset, self.step_filter)

    @rx.event
    async def next_page(self) -> None:
        self.step_offset += STEP_PAGE
        await self._reload_steps()

    @rx.event
    async def prev_page(self) -> None:
        self.step_offset = max(0, self.step_offset - STEP_PAGE)
        await self._reload_steps()

    @rx.event
    async def set_step_filter(self, value: str) -> None:
        self.step_filter = value
        self.step_offset = 0
        await self._reload_steps()

    @rx.event
    async def open_step(self, index: str) -> None:
        self.sel_error = ""
        try:
            principal = await self.caller()
            view = await blocking(
                svc.run,
                run_service.get_step_result,
                principal,
                run_id=parse_uuid(self.run.get("id", ""), name="run"),
                order_index=int(index),
            )
        except Exception as exc:
            self.sel_error = error_text(exc, where="step detail")
            return
        detail = _detail(view)
        self.sel_violations = detail.pop("violations")
        self.sel = detail
        self.sel_index = view.order_index

    @rx.event
    def close_step(self) -> None:
        self.sel_index = -1

    @rx.event
    async def cancel(self) -> None:
        try:
            principal = await self.caller()
            summary = await blocking(
                svc.write,
                run_service.cancel_run,
                principal,
                run_id=parse_uuid(self.run.get("id", ""), name="run"),
            )
        except Exception as exc:
            self.run_error = error_text(exc, where="cancel run")
            return
        if not self.live:
            self.run = run_row(summary)
        else:
            self.run = {**self.run, "cancelling": "yes" if summary.cancel_requested else ""}


def _at(ts: float) -> str:
    return when(datetime.fromtimestamp(ts, UTC).replace(tzinfo=None))


ON_LOAD = [AppState.load_identity, RunDetailState.follow]


def _fact(label: str, value: Any, fact_id: str = "") -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="2", id=fact_id or None),
        spacing="0",
    )


def _header() -> rx.Component:
    run = RunDetailState.run
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(run["scenario"], size="4", id="run-scenario"),
                rx.badge(run["status"], color_scheme=run["color"], id="run-status", size="2"),
                rx.cond(
                    RunDetailState.live,
                    rx.badge("live", color_scheme="blue", variant="outline", id="run-live"),
                ),
                rx.spacer(),
                rx.cond(
                    run["active"] != "",
                    rx.button(
                        rx.cond(run["cancelling"] != "", "Cancelling...", "Cancel run"),
                        color_scheme="red",
                        variant="soft",
                        disabled=run["cancelling"] != "",
                        on_click=RunDetailState.cancel,
                        id="run-cancel",
                    ),
                ),
                rx.link("Report", href="/reports/" + run["id"].to(str), size="2", id="run-report-link"),
                width="100%",
                align="center",
            ),
            rx.flex(
                _fact("Mode", run["mode"]),
                _fact("Data set", run["data_set"]),
                _fact("Environment", run["environment"]),
                _fact("Started", run["started_at"]),
                _fact("Finished", run["finished_at"], "run-finished"),
                _fact("Steps", RunDetailState.counts_text, "run-counts"),
                gap="5",
                wrap="wrap",
            ),
            rx.cond(run["error"] != "", rx.text(run["error"], color_scheme="red", size="2", id="run-reason")),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _steps() -> rx.Component:
    headers = ("#", "Step", "Kind", "Channel", "Status", "Code", "Duration", "Violations")
    return rx.vstack(
        rx.hstack(
            rx.select.root(
                rx.select.trigger(id="steps-filter"),
                rx.select.content(
                    rx.select.item("all steps", value="all"),
                    rx.select.item("failed or in error", value=PROBLEMS),
                ),
                value=RunDetailState.step_filter,
                on_change=RunDetailState.set_step_filter,
            ),
            rx.text(RunDetailState.page_text, size="2", id="steps-page"),
            *page_buttons(RunDetailState, id_prefix="steps"),
            spacing="2",
            align="center",
        ),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(
                rx.foreach(
                    RunDetailState.step_rows,
                    lambda s: rx.table.row(
                        rx.table.cell(s["index"]),
                        rx.table.cell(
                            # a button, not a link: a link without href navigates to "#" and re-runs on_load
                            rx.button(
                                rx.cond(s["name"] != "", s["alias"] + " - " + s["name"], s["alias"]),
                                on_click=RunDetailState.open_step(s["index"]),
                                variant="ghost",
                                size="1",
                                class_name="step-open",
                            )
                        ),
                        rx.table.cell(rx.text(s["kind"], size="1")),
                        rx.table.cell(rx.text(s["channel"], size="1")),
                        rx.table.cell(
                            rx.badge(
                                s["status"],
                                color_scheme=s["color"],
                                class_name="step-status",
                                data_status=s["status"],
                            )
                        ),
                        rx.table.cell(s["code"]),
                        rx.table.cell(s["duration"]),
                        rx.table.cell(rx.text(s["violations"], color_scheme="red")),
                        data_step=s["index"],
                        class_name="step-row",
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="steps-table",
        ),
        width="100%",
        spacing="2",
    )


def _pre(text: Any, pre_id: str = "") -> rx.Component:
    # a plain <pre>: no syntax-highlighter package in the frontend bundle
    return rx.el.pre(
        text,
        id=pre_id or None,
        style={
            "font_family": "monospace",
            "font_size": "12px",
            "white_space": "pre-wrap",
            "word_break": "break-word",
            "max_height": "24rem",
            "overflow": "auto",
            "width": "100%",
            "padding": "0.5rem",
            "border_radius": "6px",
            "background": rx.color("gray", 3),
            "margin": "0",
        },
    )


def _section(title: str, key: str) -> rx.Component:
    return rx.cond(
        RunDetailState.sel[key] != "",
        rx.vstack(
            rx.text(title, weight="bold", size="2"),
            _pre(RunDetailState.sel[key], f"step-{key}"),
            spacing="1",
            width="100%",
        ),
    )


def _step_detail() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(RunDetailState.sel["title"], size="4", id="step-title"),
                rx.badge(RunDetailState.sel["status"], id="step-detail-status"),
                rx.spacer(),
                rx.button("Close", variant="ghost", on_click=RunDetailState.close_step, id="step-close"),
                width="100%",
                align="center",
            ),
            rx.text(RunDetailState.sel["meta"], size="1", color_scheme="gray"),
            rx.cond(
                RunDetailState.sel_violations.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(h) for h in ("Type", "Code", "Severity", "Message")]
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            RunDetailState.sel_violations,
                            lambda v: rx.table.row(
                                rx.table.cell(rx.badge(v["type"], color_scheme="red")),
                                rx.table.cell(rx.code(v["code"])),
                                rx.table.cell(v["severity"]),
                                rx.table.cell(
                                    rx.vstack(
                                        rx.text(v["message"], size="2"),
                                        rx.cond(v["details"] != "", _pre(v["details"])),
                                        spacing="1",
                                    )
                                ),
                            ),
                        )
                    ),
                    width="100%",
                    id="step-violations",
                ),
                rx.text("No violations.", size="2", id="step-no-violations"),
            ),
            _section("Request", "request"),
            _section("Response", "response"),
            _section("Database rows", "db"),
            _section("Kafka message", "kafka"),
            _section("Queue message", "queue"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="step-detail",
    )


def index() -> rx.Component:
    return page(
        TITLE,
        rx.link("< all runs", href="/runs", size="2"),
        rx.cond(
            RunDetailState.run_error != "",
            rx.callout(
                RunDetailState.run_error,
                icon="triangle-alert",
                color_scheme="red",
                id="run-error",
                width="100%",
            ),
        ),
        rx.cond(
            RunDetailState.loading & (RunDetailState.run_error == ""),
            rx.hstack(rx.spinner(), rx.text("Loading the run...", size="2"), id="run-loading"),
            rx.cond(
                RunDetailState.run.contains("id"),
                rx.vstack(
                    _header(),
                    rx.cond(
                        RunDetailState.sel_error != "",
                        rx.text(RunDetailState.sel_error, color_scheme="red", size="2"),
                    ),
                    rx.cond(RunDetailState.sel_index >= 0, _step_detail()),
                    _steps(),
                    width="100%",
                    spacing="3",
                ),
            ),
        ),
    )
