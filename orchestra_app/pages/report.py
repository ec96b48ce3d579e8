"""One run's report: summary, run facts (environment, data set), violations by type / code / endpoint,
flaky steps, steps page by page with their detail and reproducer, the suite's trend, and the exports
(self-contained HTML, JSON, JUnit XML) from the REST routes of api/reports.py."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

from components.layout import page
from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import reports as report_service
from orchestra_app.services import session as svc
from state.base import AppState, blocking, error_text, route_tail

ROUTE = "/reports/[run_id]"
TITLE = "Report"
STEP_PAGE = 25
STATUS_COLORS = {"PASSED": "green", "FAILED": "red", "FLAKY": "amber", "CANCELLED": "gray"}


def _ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{int(value)} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _pretty(value: Any) -> str:
    if value is None or value == {} or value == []:
        return ""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _load(principal: Principal, run_id: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    report = svc.run(report_service.run_report, principal, run_id=run_id)
    suite_id = report["run"].get("suiteId")
    trend = None
    if suite_id:
        trend = svc.run(report_service.suite_trend, principal, suite_id=parse_uuid(suite_id, name="suiteId"))
    return report, trend


def _step_row(step: dict[str, Any]) -> dict[str, str]:
    return {
        "index": str(step["index"]),
        "number": str(step["index"] + 1),
        "alias": str(step["alias"]),
        "status": str(step["status"]),
        "channel": str(step["channel"]),
        "endpoint": str(step["endpoint"]),
        "duration": _ms(step["durationMs"]),
        "code": "" if step.get("statusCode") is None else str(step["statusCode"]),
        "violations": str(len(step["violations"])),
    }


class ReportState(AppState):
    loading: bool = True
    page_error: str = ""
    run_id: str = ""
    title: str = ""
    status: str = ""
    cards: list[list[str]] = []
    facts: list[list[str]] = []
    by_type: list[dict[str, str]] = []
    by_code: list[dict[str, str]] = []
    by_endpoint: list[dict[str, str]] = []
    flaky: list[dict[str, str]] = []
    data_json: str = ""
    step_rows: list[dict[str, str]] = []
    step_total: int = 0
    step_offset: int = 0
    failed_only: bool = False
    trend_rows: list[dict[str, str]] = []
    # the selected step's detail
    selected: str = ""
    detail_title: str = ""
    detail_violations: list[dict[str, str]] = []
    detail_reproducer: str = ""
    detail_tool: str = ""
    detail_note: str = ""
    detail_request: str = ""
    detail_response: str = ""
    detail_observed: str = ""

    _report: dict[str, Any] = {}  # backend only: the whole document never goes to the browser

    @rx.var
    def export_base(self) -> str:
        return f"/api/v1/testruns/{self.run_id}/report" if self.run_id else ""

    @rx.var
    def step_range(self) -> str:
        if not self.step_total:
            return "no steps"
        last = min(self.step_offset + len(self.step_rows), self.step_total)
        return f"{self.step_offset + 1:,}-{last:,} of {self.step_total:,}"

    def _steps(self) -> list[dict[str, Any]]:
        steps = self._report.get("steps") or []
        if self.failed_only:
            steps = [s for s in steps if s["status"] in ("FAILED", "FLAKY")]
        return list(steps)

    def _page(self) -> None:
        steps = self._steps()
        self.step_total = len(steps)
        if self.step_offset >= len(steps):
            self.step_offset = max(0, (len(steps) - 1) // STEP_PAGE * STEP_PAGE)
        self.step_rows = [_step_row(s) for s in steps[self.step_offset : self.step_offset + STEP_PAGE]]

    @rx.event
    async def load(self) -> None:
        self.loading, self.page_error, self.selected = True, "", ""
        self.step_offset, self.failed_only = 0, False
        raw = route_tail(self)
        try:
            run_id = parse_uuid(raw, name="run id")
            principal = await self.caller()
            report, trend = await blocking(_load, principal, run_id)
        except Exception as exc:
            self.page_error = error_text(exc, where="report page")
            self.loading = False
            return
        self._report = report
        run, summary, violations = report["run"], report["summary"], report["violations"]
        self.run_id = str(run["id"])
        self.title = f"{run.get('scenarioName') or run.get('scenarioKey')}"
        self.status = str(run.get("status"))
        rate = summary.get("passRate")
        self.cards = [
            ["Steps", str(summary["steps"])],
            ["Passed", str(summary["passed"])],
            ["Failed", str(summary["failed"])],
            ["Flaky", str(summary["flaky"])],
            ["Skipped / not run", str(summary["skipped"] + summary["notRun"])],
            ["Violations", str(summary["violations"])],
            ["Pass rate", f"{rate * 100:.0f} %" if isinstance(rate, int | float) else "-"],
            ["Duration", _ms(run.get("durationMs"))],
        ]
        env, data_set = run.get("environment") or {}, run.get("dataSet") or {}
        self.facts = [
            ["Suite", str(run.get("suiteName") or "-")],
            ["Scenario", f"{run.get('scenarioKey')} v{run.get('scenarioVersion')}"],
            ["Run", f"{run['id']} · {run.get('mode')} · attempt {run.get('attempt')}"],
            ["Environment", str(env.get("name") or "-")],
            ["Data set", str(data_set.get("name") or "none (the scenario's own values)")],
            ["Started", str(run.get("startedAt") or "-")],
            ["Finished", str(run.get("finishedAt") or "-")],
        ]
        if run.get("error"):
            self.facts.append(["Error", str(run["error"])])
        self.by_type = [{"type": r["type"], "count": str(r["count"])} for r in violations["byType"]]
        self.by_code = [
            {"type": r["type"], "code": r["code"], "count": str(r["count"])} for r in violations["byCode"]
        ]
        self.by_endpoint = [
            {"endpoint": r["endpoint"], "count": str(r["count"])} for r in violations["byEndpoint"]
        ]
        self.flaky = [
            {
                "step": f"{f['index'] + 1}. {f['alias']}",
                "attempts": str(f.get("attempts") or ""),
                "first": f["violations"][0]["message"] if f["violations"] else "",
            }
            for f in report["flakySteps"]
        ]
        self.data_json = _pretty(data_set.get("data"))
        points = (trend or {}).get("points") or []
        longest = max([p["durationMs"] or 0 for p in points] or [0]) or 1
        self.trend_rows = [
            {
                "when": str(p["createdAt"])[:19].replace("T", " "),
                "runs": str(p["runs"]),
                "rate": "-" if p["passRate"] is None else f"{p['passRate'] * 100:.0f} %",
                "rate_width": f"{(p['passRate'] or 0) * 100:.0f}%",
                "duration": _ms(p["durationMs"]),
                "duration_width": f"{(p['durationMs'] or 0) / longest * 100:.0f}%",
            }
            for p in points
        ]
        self._page()
        self.loading = False

    @rx.event
    def next_steps(self) -> None:
        if self.step_offset + STEP_PAGE < self.step_total:
            self.step_offset += STEP_PAGE
            self._page()

    @rx.event
    def prev_steps(self) -> None:
        if self.step_offset > 0:
            self.step_offset = max(0, self.step_offset - STEP_PAGE)
            self._page()

    @rx.event
    def set_failed_only(self, value: bool) -> None:
        self.failed_only = bool(value)
        self.step_offset = 0
        self._page()

    @rx.event
    def select_step(self, index: str) -> None:
        found = next((s for s in self._report.get("steps") or [] if str(s["index"]) == str(index)), None)
        if found is None:
            return
        self.selected = str(index)
        self.detail_title = f"{found['index'] + 1}. {found['alias']} · {found['status']}"
        self.detail_violations = [
            {
                "head": f"{v['type']} / {v['code']}",
                "message": v["message"],
                "details": _pretty(v.get("details")),
            }
            for v in found["violations"]
        ]
        reproducer = found.get("reproducer") or {}
        self.detail_tool = str(reproducer.get("tool") or "")
        self.detail_reproducer = str(reproducer.get("command") or "")
        self.detail_note = str(reproducer.get("note") or "")
        self.detail_request = _pretty(found.get("request"))
        response = found.get("response") or {}
        self.detail_response = "\n".join(
            t for t in (_pretty(response.get("headers")), _pretty(response.get("body"))) if t
        )
        self.detail_observed = "\n".join(
            _pretty(found.get(k))
            for k in ("dbResult", "kafkaMessage", "queueMessage")
            if found.get(k) is not None
        )


ON_LOAD = [AppState.load_identity, ReportState.load]


def _status_badge(status: Any) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, *[(k, v) for k, v in STATUS_COLORS.items()], "gray"),
        variant="solid",
    )


def _small_table(rows: Any, columns: list[tuple[str, str]], empty: str, table_id: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h, _ in columns])),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(
                        *[rx.table.cell(rx.text(row[k], size="2", class_name="wrap")) for _, k in columns]
                    ),
                )
            ),
            size="1",
            variant="surface",
            width="100%",
            id=table_id,
        ),
        rx.text(empty, size="2", color_scheme="gray", id=f"{table_id}-empty"),
    )


def _exports() -> rx.Component:
    return rx.hstack(
        rx.text("Export", size="2", weight="bold"),
        *[
            # Reflex's download event (an <a download> the router does not intercept)
            rx.button(
                rx.icon("download", size=14),
                label,
                size="1",
                variant="soft",
                on_click=rx.download(
                    url=ReportState.export_base + suffix,
                    filename="orchestra-run-" + ReportState.run_id + suffix,
                ),
                id=f"export-{fmt}",
            )
            for label, suffix, fmt in (
                ("HTML (offline)", ".html", "html"),
                ("JSON", ".json", "json"),
                ("JUnit XML", ".xml", "xml"),
            )
        ],
        spacing="2",
        align="center",
        wrap="wrap",
    )


def _trend() -> rx.Component:
    def bar(width: Any, color: str) -> rx.Component:
        return rx.box(
            rx.box(width=width, height="0.6rem", background=f"var(--{color}-9)", border_radius="3px"),
            width="8rem",
            background="var(--gray-4)",
            border_radius="3px",
        )

    return rx.cond(
        ReportState.trend_rows.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[rx.table.column_header_cell(h) for h in ("Suite run", "Runs", "Pass rate", "Duration")]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ReportState.trend_rows,
                    lambda p: rx.table.row(
                        rx.table.cell(p["when"]),
                        rx.table.cell(p["runs"]),
                        rx.table.cell(rx.hstack(bar(p["rate_width"], "green"), rx.text(p["rate"], size="1"))),
                        rx.table.cell(
                            rx.hstack(bar(p["duration_width"], "blue"), rx.text(p["duration"], size="1"))
                        ),
                    ),
                )
            ),
            size="1",
            variant="surface",
            width="100%",
            id="suite-trend",
        ),
        rx.text("No ended runs of this suite yet.", size="2", color_scheme="gray"),
    )


def _steps() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Steps", size="4"),
            rx.spacer(),
            rx.checkbox(
                "Failed and flaky only",
                checked=ReportState.failed_only,
                on_change=ReportState.set_failed_only,
                id="failed-only",
            ),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in (
                            "#",
                            "Step",
                            "Status",
                            "Channel / endpoint",
                            "Code",
                            "Time",
                            "Violations",
                            "",
                        )
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ReportState.step_rows,
                    lambda s: rx.table.row(
                        rx.table.cell(s["number"]),
                        rx.table.cell(rx.code(s["alias"], size="1")),
                        rx.table.cell(_status_badge(s["status"])),
                        rx.table.cell(
                            rx.text(s["channel"] + " · " + s["endpoint"], size="1", class_name="wrap")
                        ),
                        rx.table.cell(s["code"]),
                        rx.table.cell(s["duration"]),
                        rx.table.cell(s["violations"]),
                        rx.table.cell(
                            rx.button(
                                "Details",
                                size="1",
                                variant="soft",
                                on_click=ReportState.select_step(s["index"]),
                                aria_label="Details of step " + s["alias"],
                                class_name="step-details",
                            )
                        ),
                        data_status=s["status"],
                    ),
                )
            ),
            size="1",
            variant="surface",
            width="100%",
            id="report-steps",
        ),
        rx.hstack(
            rx.text(ReportState.step_range, size="1", color_scheme="gray"),
            rx.spacer(),
            rx.button("Previous", size="1", variant="soft", on_click=ReportState.prev_steps, id="steps-prev"),
            rx.button("Next", size="1", variant="soft", on_click=ReportState.next_steps, id="steps-next"),
            width="100%",
            align="center",
        ),
        width="100%",
        spacing="2",
    )


def _block(text: Any, block_id: str) -> rx.Component:
    """Preformatted text that wraps (no syntax-highlighting package: nothing extra to install)."""
    return rx.el.pre(text, id=block_id, class_name="mono-block")


def _pre(text: Any, pre_id: str) -> rx.Component:
    return rx.cond(text != "", _block(text, pre_id))


def _detail() -> rx.Component:
    return rx.cond(
        ReportState.selected != "",
        rx.card(
            rx.vstack(
                rx.heading(ReportState.detail_title, size="3", id="step-detail-title"),
                rx.foreach(
                    ReportState.detail_violations,
                    lambda v: rx.callout(
                        rx.vstack(
                            rx.text(v["head"], weight="bold"),
                            rx.text(v["message"], class_name="wrap"),
                            rx.cond(v["details"] != "", rx.code(v["details"], size="1", class_name="wrap")),
                            spacing="1",
                        ),
                        icon="triangle-alert",
                        color_scheme="red",
                        width="100%",
                    ),
                ),
                rx.cond(
                    ReportState.detail_reproducer != "",
                    rx.vstack(
                        rx.hstack(
                            rx.text("Reproduce with ", ReportState.detail_tool, weight="bold"),
                            rx.button(
                                rx.icon("copy", size=14),
                                "Copy",
                                size="1",
                                variant="soft",
                                on_click=rx.set_clipboard(ReportState.detail_reproducer),
                            ),
                            align="center",
                        ),
                        _block(ReportState.detail_reproducer, "step-reproducer"),
                        rx.cond(ReportState.detail_note != "", rx.text(ReportState.detail_note, size="1")),
                        width="100%",
                    ),
                ),
                rx.cond(ReportState.detail_request != "", rx.text("Request", weight="bold")),
                _pre(ReportState.detail_request, "step-request"),
                rx.cond(ReportState.detail_response != "", rx.text("Response", weight="bold")),
                _pre(ReportState.detail_response, "step-response"),
                rx.cond(ReportState.detail_observed != "", rx.text("Observed", weight="bold")),
                _pre(ReportState.detail_observed, "step-observed"),
                width="100%",
                spacing="2",
            ),
            width="100%",
            id="step-detail",
        ),
    )


def _body() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(ReportState.title, size="5", id="report-title"),
            _status_badge(ReportState.status),
            rx.spacer(),
            _exports(),
            width="100%",
            align="center",
            wrap="wrap",
            spacing="3",
        ),
        rx.flex(
            rx.foreach(
                ReportState.cards,
                lambda c: rx.card(
                    rx.text(c[0], size="1", color_scheme="gray"),
                    rx.text(c[1], size="5", weight="bold"),
                    min_width="7rem",
                ),
            ),
            wrap="wrap",
            spacing="3",
            id="report-summary",
        ),
        rx.data_list.root(
            rx.foreach(
                ReportState.facts,
                lambda f: rx.data_list.item(
                    rx.data_list.label(f[0]), rx.data_list.value(rx.text(f[1], class_name="wrap"))
                ),
            ),
            id="report-facts",
        ),
        rx.grid(
            rx.vstack(
                rx.heading("Violations by type", size="3"),
                _small_table(
                    ReportState.by_type, [("Type", "type"), ("Count", "count")], "No violations.", "by-type"
                ),
            ),
            rx.vstack(
                rx.heading("By code", size="3"),
                _small_table(
                    ReportState.by_code,
                    [("Type", "type"), ("Code", "code"), ("Count", "count")],
                    "No violations.",
                    "by-code",
                ),
            ),
            rx.vstack(
                rx.heading("By endpoint", size="3"),
                _small_table(
                    ReportState.by_endpoint,
                    [("Endpoint", "endpoint"), ("Count", "count")],
                    "No violations.",
                    "by-endpoint",
                ),
            ),
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Flaky steps", size="4"),
        _small_table(
            ReportState.flaky,
            [("Step", "step"), ("Attempts", "attempts"), ("First failure", "first")],
            "No flaky steps.",
            "flaky-steps",
        ),
        rx.heading("Data set used", size="4"),
        rx.cond(
            ReportState.data_json != "",
            _block(ReportState.data_json, "data-set"),
            rx.text("No data: the scenario's own values.", size="2", color_scheme="gray"),
        ),
        _steps(),
        _detail(),
        rx.heading("Suite trend", size="4"),
        _trend(),
        width="100%",
        spacing="4",
    )


def index() -> rx.Component:
    return page(
        TITLE,
        rx.link("← All reports", href="/reports", id="back-to-reports"),
        rx.cond(
            ReportState.page_error != "",
            rx.callout(ReportState.page_error, icon="triangle-alert", color_scheme="red", id="report-error"),
            rx.cond(
                ReportState.loading,
                rx.vstack(
                    *[rx.skeleton(height="2rem", width="100%") for _ in range(4)],
                    width="100%",
                    id="report-loading",
                ),
                _body(),
            ),
        ),
    )
