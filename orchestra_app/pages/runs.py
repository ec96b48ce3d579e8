"""Runs page: the tenant's runs with live statuses, step counts and a Cancel action.

The list follows the tenant's event stream (started from on_load, so Reflex cancels it when the
tab closes or navigates away), reloads at most twice a second, and every two seconds while runs are
in progress; the step-by-step run view is the UI issue's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import reflex as rx

from components.layout import page
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services.run_events import follow_tenant_batches
from orchestra_app.services.runs import TestRunSummary
from state.base import AppState, blocking, error_text

ROUTE = "/runs"
TITLE = "Runs"
STATUS_COLORS = {
    "PASSED": "green",
    "FAILED": "red",
    "CANCELLED": "gray",
    "IN_PROGRESS": "blue",
    "QUEUED": "amber",
    "PENDING": "amber",
}


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _row(run: TestRunSummary) -> dict[str, str]:
    counts = run.counts
    done = sum(counts.values())
    steps = f"{done}/{run.step_count}"
    details = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    return {
        "id": str(run.id),
        "scenario": run.scenario_name or run.scenario_key,
        "mode": run.mode.value,
        "status": run.status.value,
        "color": STATUS_COLORS.get(run.status.value, "gray"),
        "steps": f"{steps} ({details})" if details else steps,
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "error": run.error or "",
        "active": "yes" if run.status.value in ("PENDING", "QUEUED", "IN_PROGRESS") else "",
        "cancelling": "yes" if run.cancel_requested and run.status.value == "IN_PROGRESS" else "",
    }


def _load_rows(principal: Principal) -> list[dict[str, str]]:
    page_ = svc.run(run_service.list_runs, principal, limit=100)
    return [_row(r) for r in page_.items]


class RunsState(AppState):
    runs: list[dict[str, str]] = []
    runs_error: str = ""
    _gen: int = 0

    @rx.event(background=True)
    async def follow(self) -> None:
        """Loads the list, then reloads it when a run of the tenant changes state (the tenant's
        event stream), and every two seconds while runs are in progress (their step counts)."""
        async with self:
            self._gen += 1
            gen = self._gen
        principal = await self.caller()
        stopped = False
        batches = follow_tenant_batches(principal=principal, block_ms=1000, stop=lambda: stopped)
        done = object()
        pending: asyncio.Future[Any] | None = None
        last = 0.0
        try:
            active = await self._reload(principal, gen)
            if active is None:
                return
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(asyncio.to_thread(next, batches, done))
                finished, _ = await asyncio.wait({pending}, timeout=2.0)
                if finished:
                    if pending.result() is done:
                        return
                    pending = None
                elif not active:
                    continue
                wait = 0.5 - (time.monotonic() - last)
                if wait > 0:
                    await asyncio.sleep(wait)  # at most two list reloads a second
                last = time.monotonic()
                active = await self._reload(principal, gen)
                if active is None:
                    return
        except OrchestraError as exc:
            async with self:
                self.runs_error = str(exc)
        finally:
            stopped = True

    async def _reload(self, principal: Principal, gen: int) -> bool | None:
        """Reloads the rows; whether a run is still active, or None when a newer follower owns the page."""
        rows = await asyncio.to_thread(_load_rows, principal)
        async with self:
            if self._gen != gen:
                return None
            self.runs = rows
            self.runs_error = ""
        return any(r["active"] for r in rows)

    @rx.event
    async def cancel(self, run_id: str) -> None:
        try:
            principal = await self.caller()
            run = parse_uuid(run_id, name="run")
            await blocking(svc.write, run_service.cancel_run, principal, run_id=run)
            self.runs = await blocking(_load_rows, principal)
            self.runs_error = ""
        except Exception as exc:
            self.runs_error = error_text(exc, where="cancel run")


def _table() -> rx.Component:
    return rx.cond(
        RunsState.runs.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Scenario", "Mode", "Status", "Steps", "Started", "Finished", "Error", "")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    RunsState.runs,
                    lambda run: rx.table.row(
                        rx.table.cell(run["scenario"]),
                        rx.table.cell(run["mode"]),
                        rx.table.cell(
                            rx.badge(run["status"], color_scheme=run["color"], class_name="run-status")
                        ),
                        rx.table.cell(run["steps"]),
                        rx.table.cell(run["started_at"]),
                        rx.table.cell(run["finished_at"]),
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
        rx.callout(
            rx.vstack(
                rx.text("No runs yet", weight="bold"),
                rx.text("Start one with Run on the Suites page (or POST /api/v1/testruns).", size="2"),
                spacing="1",
            ),
            icon="info",
            color_scheme="gray",
            width="100%",
            id="runs-table-empty",
        ),
    )


ON_LOAD = [AppState.load_identity, RunsState.follow]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.cond(
            RunsState.runs_error != "",
            rx.callout(RunsState.runs_error, icon="triangle-alert", color_scheme="red", id="runs-error"),
        ),
        _table(),
    )
