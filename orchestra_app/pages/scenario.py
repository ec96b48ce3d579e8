"""Scenario page: a scenario's path on the diagram, its steps, and the editor that saves a new version."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

import reflex as rx

from components.bpmn_viewer import PATH, bpmn_viewer
from components.layout import page
from components.sequence_diagram import sequence_diagram
from orchestra_app.domain.errors import Conflict, OrchestraError
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import catalog, diagrams, scenario_editor
from orchestra_app.services import runs as run_service
from orchestra_app.services import scenarios as scenario_service
from orchestra_app.services import session as svc
from state.base import AppState, blocking, error_text, route_tail
from state.scenario_form import (
    CHANNELS,
    KINDS,
    MODES,
    SETTINGS,
    check_form,
    new_form,
    step_field_messages,
    to_form,
)

ROUTE = "/scenarios/[scenario_id]"
FOLLOW_S = 600.0  # how long the editor follows a single-step run before pointing at the Runs page
TITLE = "Scenario"
# Installed once per tab: a confirm before leaving (link or reload) while the editor has unsaved changes.
GUARD_JS = """
if (!window.__orchestraGuard) {
  window.__orchestraGuard = true;
  window.addEventListener('beforeunload', (e) => {
    if (window.__orchestraDirty) { e.preventDefault(); e.returnValue = ''; }
  });
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a[href]') : null;
    if (!a || !window.__orchestraDirty) return;
    if (window.confirm('This scenario has unsaved changes. Leave without saving them?')) {
      window.__orchestraDirty = false;
    } else { e.preventDefault(); e.stopPropagation(); }
  }, true);
}
"""


def _dirty_js(dirty: bool) -> str:
    return f"window.__orchestraDirty = {'true' if dirty else 'false'};"


def _load_all(principal: Any, scenario_id: UUID) -> dict[str, Any]:
    def read(session: Any) -> dict[str, Any]:
        detail = scenario_service.get_scenario(session=session, principal=principal, scenario_id=scenario_id)
        context = scenario_editor.editor_context(
            session=session, principal=principal, scenario_id=scenario_id
        )
        drawing = None
        if detail.process_version_id is not None:
            try:
                drawing = diagrams.version_diagram(
                    session=session, principal=principal, version_id=detail.process_version_id
                )
            except OrchestraError as exc:  # the editor works without a drawing
                drawing = diagrams.Diagram(kind="bpmn", file="", has_layout=False, problem=str(exc))
        environments = catalog.list_environments(session=session, principal=principal, limit=200).items
        data_sets = catalog.list_data_sets(session=session, principal=principal, limit=200).items
        past = diagrams.scenario_runs(
            session=session, principal=principal, scenario_key=detail.key, suite_id=detail.suite_id, limit=20
        )
        return {
            "detail": detail,
            "context": context,
            "diagram": drawing,
            "environments": [{"id": e["id"], "name": e["name"]} for e in environments],
            "data_sets": [{"id": d["id"], "name": f"{d['name']} ({d['scope']})"} for d in data_sets],
            "past_runs": [
                {"id": r["id"], "label": f"{r['created_at']} · v{r['version']} · {r['mode']} · {r['status']}"}
                for r in past
                if r["status"] in ("PASSED", "FAILED", "CANCELLED")
            ],
        }

    return svc.with_session(read)


def _step_result(detail: run_service.TestRunDetail, index: int) -> dict[str, str]:
    """What the editor shows of a SINGLE_STEP run's one step."""
    view = next((s for s in detail.steps if s.order_index == index), None)
    out = {
        "run_id": str(detail.id),
        "run_status": detail.status.value,
        "error": detail.error or "",
        "status": view.status if view else "PENDING",
        "duration": f"{view.duration_ms} ms" if view else "",
        "code": str(view.actual_status_code) if view and view.actual_status_code is not None else "",
        "violations": "\n".join(
            f"{v.type.value} {v.code}: {v.message}" for v in (view.violations if view else [])
        ),
    }
    observed: Any = None
    if view is not None:
        for part in (view.response_body, view.db_result, view.kafka_message, view.queue_message):
            if part is not None:
                observed = part
                break
    text = json.dumps(observed, indent=2, ensure_ascii=False, default=str) if observed is not None else ""
    out["observed"] = text[:4000] + ("\n… (cut)" if len(text) > 4000 else "")
    return out


class ScenarioState(AppState):
    """Page-only state of the scenario page and its editor."""

    loading: bool = True
    page_error: str = ""
    info: dict[str, str] = {}
    versions: list[dict[str, str]] = []
    decisions: list[dict[str, str]] = []
    path_elements: list[str] = []
    # diagram
    kind: str = ""
    xml: str = ""
    has_layout: bool = True
    mermaid_text: str = ""
    mermaid_fallback: str = ""
    messages: list[str] = []
    labels: dict[str, str] = {}
    diagram_problem: str = ""
    # editor
    draft_name: str = ""
    draft_tags: str = ""
    steps: list[dict[str, str]] = []
    selected: int = 0
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    error_count: int = 0
    dirty: bool = False
    saving: bool = False
    save_error: str = ""
    conflict: str = ""
    endpoints: list[dict[str, str]] = []
    endpoint_search: str = ""
    data_paths: list[str] = []
    response_paths: dict[str, list[str]] = {}
    endpoint_note: str = ""
    # SINGLE_STEP from the editor
    run_envs: list[dict[str, str]] = []
    run_data_sets: list[dict[str, str]] = []
    past_runs: list[dict[str, str]] = []
    run_env: str = ""
    run_data_set: str = ""
    run_from: str = ""
    run_context: str = ""
    run_busy: bool = False
    run_error: str = ""
    run_result: dict[str, str] = {}
    _run_gen: int = 0

    @rx.var
    def cur(self) -> dict[str, str]:
        if 0 <= self.selected < len(self.steps):
            return self.steps[self.selected]
        return {}

    @rx.var
    def cur_errors(self) -> dict[str, str]:
        return step_field_messages(self.errors, self.selected)

    @rx.var
    def cur_warnings(self) -> dict[str, str]:
        return step_field_messages(self.warnings, self.selected)

    @rx.var
    def cur_settings(self) -> list[dict[str, str]]:
        step = self.cur
        fields = SETTINGS.get((step.get("channel", ""), step.get("kind", "")), [])
        errors = self.cur_errors
        return [
            {
                "key": key,
                "label": label,
                "type": type_.split(":", 1)[0],
                "choices": type_.split(":", 1)[1] if ":" in type_ else "",
                "value": step.get(f"m_{key}", ""),
                "error": errors.get(f"m_{key}", ""),
            }
            for key, label, type_ in fields
        ]

    @rx.var
    def step_badges(self) -> list[str]:
        """Per step: "" or the number of its errors, for the step list."""
        out = []
        for i in range(len(self.steps)):
            n = sum(1 for f in self.errors if f.startswith(f"steps.{i}."))
            out.append(str(n) if n else "")
        return out

    @rx.var
    def endpoint_options(self) -> list[dict[str, str]]:
        """Endpoints matching the search (and the step's channel), at most 50."""
        words = self.endpoint_search.lower().split()
        channel = self.cur.get("channel", "")
        current = self.cur.get("endpoint", "")
        out = [
            e
            for e in self.endpoints
            if all(w in e["search"] for w in words) and (not channel or e["channel"] == channel)
        ]
        if current and all(e["value"] != current for e in out):
            out.insert(0, {"value": current, "label": current.replace("|", " · "), "channel": channel})
        return out[:50]

    @rx.var
    def endpoint_label(self) -> str:
        current = self.cur.get("endpoint", "")
        for e in self.endpoints:
            if e["value"] == current:
                return e["label"]
        return current.replace("|", " · ") if current else ""

    @rx.var
    def suggestions(self) -> list[str]:
        """Variables the selected step's templates can use: data paths and earlier steps' responses."""
        out = [f"{{{{{p}}}}}" for p in self.data_paths]
        for step in self.steps[: self.selected]:
            alias = step.get("alias", "")
            paths = self.response_paths.get(step.get("endpoint", ""), [])
            if not paths:
                paths = ["status", "body"] if step.get("channel") in ("HTTP_REST", "GRPC") else ["body"]
                if step.get("channel") == "DB":
                    paths = ["rows", "rows[0]"]
                elif step.get("channel") in ("KAFKA", "QUEUE") and step.get("kind") == "ASSERTION":
                    paths = ["message"]
            out.extend(f"{{{{step.{alias}.response.{p}}}}}" for p in paths)
        out.extend(["{{run.id}}", "{{uuid()}}", "{{now()}}", "{{secret:NAME}}"])
        return out[:400]

    @rx.var
    def markers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {e: [PATH] for e in self.path_elements}
        node = self.cur.get("node", "")
        if node and self.kind == "sequence":  # the BPMN viewer outlines it through its focus prop
            out[node] = [*out.get(node, []), "o-focus"]
        return out

    @rx.var
    def node_label(self) -> str:
        return self.labels.get(self.cur.get("node", ""), "")

    @rx.var
    def focus_node(self) -> str:
        return self.cur.get("node", "")

    # ---- loading ------------------------------------------------------------------------------------

    @rx.event
    async def load(self) -> Any:
        self.loading, self.page_error, self.save_error, self.conflict = True, "", "", ""
        self.saving = False
        try:
            scenario_id = parse_uuid(route_tail(self), name="scenario")
            principal = await self.caller()
            data = await blocking(_load_all, principal, scenario_id)
        except Exception as exc:
            self.page_error = error_text(exc, where="scenario page")
            self.loading = False
            return rx.call_script(GUARD_JS + _dirty_js(False))
        detail: scenario_service.ScenarioDetail = data["detail"]
        context: scenario_editor.EditorContext = data["context"]
        self.info = {
            "id": str(detail.id),
            "key": detail.key,
            "name": detail.name,
            "version": str(detail.version),
            "status": detail.status,
            "latest_version": str(detail.latest_version),
            "latest_id": str(detail.latest_id),
            "is_latest": "yes" if detail.is_latest else "",
            "suite_id": str(detail.suite_id),
            "suite_name": detail.suite_name,
            "process_key": detail.process_key,
            "process_version": str(detail.process_version),
            "process_version_id": str(detail.process_version_id or ""),
            "updated": f"{detail.updated_at} by {detail.updated_by}"
            if detail.updated_by
            else detail.updated_at,
            "note": str(detail.path.get("note") or ""),
        }
        self.versions = [
            {k: str(v) for k, v in row.items()} | {"current": "yes" if row["id"] == str(detail.id) else ""}
            for row in detail.versions
        ]
        self.decisions = detail.decisions
        self.path_elements = [*dict.fromkeys([*detail.path.get("nodes", []), *detail.path.get("flows", [])])]
        drawing: diagrams.Diagram | None = data["diagram"]
        if drawing is not None:
            self.kind, self.labels, self.diagram_problem = drawing.kind, drawing.labels, drawing.problem
            self.xml = drawing.source if drawing.kind == "bpmn" else ""
            self.has_layout = drawing.has_layout
            self.mermaid_text = drawing.source if drawing.kind == "sequence" else ""
            self.mermaid_fallback, self.messages = drawing.generated, drawing.messages
        self.endpoints, self.response_paths = context.endpoints, context.response_paths
        self.data_paths, self.endpoint_note = context.data_paths, context.note
        self.run_envs, self.run_data_sets = data["environments"], data["data_sets"]
        self.past_runs = data["past_runs"]
        self.run_env = self.run_envs[0]["id"] if len(self.run_envs) == 1 else ""
        self.run_data_set, self.run_from, self.run_context = "", "", ""
        self.run_busy, self.run_error, self.run_result = False, "", {}
        self.draft_name, self.draft_tags = detail.name, ", ".join(detail.tags)
        self.steps = [to_form(s) for s in detail.steps]
        self.selected, self.endpoint_search, self.dirty = 0, "", False
        await self._revalidate()
        self.loading = False
        return rx.call_script(GUARD_JS + _dirty_js(False))

    async def _revalidate(self) -> None:
        # pure, but a draft of hundreds of steps is real CPU work: kept off the event loop too
        check = await blocking(check_form, self.draft_name, self.draft_tags, list(self.steps))
        self.errors, self.warnings, self.error_count = check.errors, check.warnings, check.count

    async def _changed(self) -> Any:
        await self._revalidate()
        self.save_error = ""
        if not self.dirty:
            self.dirty = True
            return rx.call_script(_dirty_js(True))
        return None

    # ---- editing ------------------------------------------------------------------------------------

    @rx.event
    async def set_name(self, value: str) -> Any:
        self.draft_name = value
        return await self._changed()

    @rx.event
    async def set_tags(self, value: str) -> Any:
        self.draft_tags = value
        return await self._changed()

    @rx.event
    def select_step(self, index: int) -> None:
        if 0 <= index < len(self.steps):
            self.selected = index
            self.endpoint_search = ""

    async def _set(self, field: str, value: str) -> Any:
        if not 0 <= self.selected < len(self.steps):
            return None
        step = dict(self.steps[self.selected])
        step[field] = value
        self.steps[self.selected] = step
        return await self._changed()

    @rx.event
    async def set_field(self, field: str, value: str) -> Any:
        return await self._set(field, value)

    @rx.event
    async def set_setting(self, key: str, value: str) -> Any:
        """A side-effect setting; the step is no longer a generated placeholder once one is set."""
        if not 0 <= self.selected < len(self.steps):
            return None
        step = dict(self.steps[self.selected])
        step[f"m_{key}"] = value
        meta = step.get("meta", "")
        if '"placeholder"' in meta:
            try:
                parsed = json.loads(meta)
                if isinstance(parsed, dict):
                    parsed.pop("placeholder", None)
                    step["meta"] = json.dumps(parsed, indent=2, ensure_ascii=False) if parsed else ""
            except ValueError:
                pass
        self.steps[self.selected] = step
        return await self._changed()

    @rx.event
    def set_endpoint_search(self, value: str) -> None:
        self.endpoint_search = value

    @rx.event
    async def choose_endpoint(self, value: str) -> Any:
        return await self._set("endpoint", "" if value == "__none__" else value)

    @rx.event
    async def add_step(self) -> Any:
        taken = [s.get("alias", "") for s in self.steps]
        self.steps.insert(self.selected + 1 if self.steps else 0, new_form(len(self.steps), taken))
        self.selected = self.selected + 1 if len(self.steps) > 1 else 0
        return await self._changed()

    @rx.event
    async def remove_step(self, index: int) -> Any:
        if 0 <= index < len(self.steps):
            self.steps.pop(index)
            self.selected = min(self.selected, max(len(self.steps) - 1, 0))
            return await self._changed()
        return None

    @rx.event
    async def move_step(self, index: int, delta: int) -> Any:
        target = index + delta
        if 0 <= index < len(self.steps) and 0 <= target < len(self.steps):
            self.steps[index], self.steps[target] = self.steps[target], self.steps[index]
            self.selected = target
            return await self._changed()
        return None

    @rx.event
    def copy_suggestion(self, text: str) -> Any:
        return [rx.set_clipboard(text), rx.toast.info(f"Copied {text}: paste it into a template")]

    # ---- running one step (SINGLE_STEP) ------------------------------------------------------------

    @rx.event
    def set_run_option(self, name: str, value: str) -> None:
        value = "" if value == "__none__" else value
        if name == "env":
            self.run_env = value
        elif name == "data_set":
            self.run_data_set = value
        elif name == "from":
            self.run_from = value
        elif name == "context":
            self.run_context = value

    @rx.event
    async def run_step(self) -> Any:
        """Starts a SINGLE_STEP run of the selected step of this (saved) scenario version."""
        self.run_error, self.run_result = "", {}
        if self.dirty:
            self.run_error = "Save first: a run uses a saved version of the scenario, not unsaved edits."
            return None
        if not 0 <= self.selected < len(self.steps):
            self.run_error = "Choose a step to run."
            return None
        request: dict[str, Any] = {
            "scenarioIds": [self.info["id"]],
            "mode": "SINGLE_STEP",
            "startStepIndex": self.selected,
            "triggeredBy": "editor",
        }
        if self.run_env:
            request["environmentId"] = self.run_env
        if self.run_data_set:
            request["dataSetId"] = self.run_data_set
        if self.run_from:
            request["fromRunId"] = self.run_from
        if self.run_context.strip():
            try:
                request["stepResults"] = json.loads(self.run_context)
            except ValueError as exc:
                self.run_error = f"Earlier steps' results: not JSON ({exc})"
                return None
        try:
            principal = await self.caller()
            created = await blocking(svc.write, run_service.create_runs, principal, request=request)
        except Exception as exc:
            self.run_error = error_text(exc, where="single-step run")
            return None
        self._run_gen += 1
        self.run_busy = True
        self.run_result = {"run_id": str(created.runs[0].id), "run_status": created.runs[0].status.value}
        return ScenarioState.follow_step_run

    @rx.event(background=True)
    async def follow_step_run(self) -> None:
        """Polls the run until it ends (bounded: SINGLE_STEP runs one step)."""
        async with self:
            gen, run_id, index = self._run_gen, self.run_result.get("run_id", ""), self.selected
        if not run_id:
            return
        deadline = time.monotonic() + FOLLOW_S
        try:
            principal = await blocking(svc.current_principal)
            while True:
                detail = await blocking(svc.run, run_service.get_run, principal, run_id=UUID(run_id))
                result = _step_result(detail, index)
                done = detail.status.value in ("PASSED", "FAILED", "CANCELLED")
                async with self:
                    if self._run_gen != gen:
                        return
                    self.run_result = result
                    if done:
                        self.run_busy = False
                        return
                if time.monotonic() > deadline:
                    async with self:
                        if self._run_gen == gen:
                            self.run_busy = False
                            self.run_error = (
                                f"The run has not ended after {FOLLOW_S:.0f} s; see it on the Runs page."
                            )
                    return
                await asyncio.sleep(0.3)
        except Exception as exc:
            async with self:
                if self._run_gen == gen:
                    self.run_busy = False
                    self.run_error = error_text(exc, where="follow single-step run")

    # ---- saving -------------------------------------------------------------------------------------

    @rx.event
    async def save(self) -> Any:
        self.save_error, self.conflict = "", ""
        check = await blocking(check_form, self.draft_name, self.draft_tags, list(self.steps))
        self.errors, self.warnings, self.error_count = check.errors, check.warnings, check.count
        if check.count:
            first = next(iter(check.errors))
            if first.startswith("steps."):
                self.selected = int(first.split(".")[1])
            self.save_error = (
                f"Not saved: {check.count} problem(s) to fix first; each is shown in red beside its field."
            )
            return
        self.saving = True
        yield
        try:
            principal = await self.caller()
            saved = await blocking(
                svc.write,
                scenario_service.save_scenario_version,
                principal,
                scenario_id=UUID(self.info["id"]),
                base_version=int(self.info["version"]),
                document=check.document,
            )
        except Conflict as exc:
            self.saving = False
            self.conflict = str(exc)
            return
        except Exception as exc:
            self.saving = False
            self.save_error = error_text(exc, where="save scenario")
            return
        self.saving, self.dirty = False, False
        yield rx.call_script(_dirty_js(False))
        yield rx.toast.success(f"Saved {saved.key} as version {saved.version}")
        yield rx.redirect(f"/scenarios/{saved.id}")

    @rx.event
    async def clone(self) -> Any:
        self.save_error = ""
        try:
            principal = await self.caller()
            saved = await blocking(
                svc.write, scenario_service.clone_scenario, principal, scenario_id=UUID(self.info["id"])
            )
        except Exception as exc:
            self.save_error = error_text(exc, where="clone scenario")
            return None
        return [
            rx.toast.success(f"Cloned as {saved.key} (the saved version, not unsaved edits)"),
            rx.redirect(f"/scenarios/{saved.id}"),
        ]

    @rx.event
    async def reload_latest(self) -> Any:
        """After a conflict: open the newest version (this tab's edits are dropped)."""
        try:
            principal = await self.caller()
            detail = await blocking(
                svc.run, scenario_service.get_scenario, principal, scenario_id=UUID(self.info["id"])
            )
        except Exception as exc:
            self.save_error = error_text(exc, where="reload scenario")
            return None
        self.dirty = False
        return [rx.call_script(_dirty_js(False)), rx.redirect(f"/scenarios/{detail.latest_id}")]

    @rx.event
    def discard(self) -> Any:
        self.dirty = False
        return [rx.call_script(_dirty_js(False)), ScenarioState.load]


# ---- view ---------------------------------------------------------------------------------------------


def _field_error(key: str) -> rx.Component:
    return rx.cond(
        ScenarioState.cur_errors.contains(key),  # type: ignore[attr-defined]
        rx.text(ScenarioState.cur_errors[key], color_scheme="red", size="1", id=f"error-{key}", role="alert"),
        rx.cond(
            ScenarioState.cur_warnings.contains(key),  # type: ignore[attr-defined]
            rx.text(ScenarioState.cur_warnings[key], color_scheme="amber", size="1", id=f"warning-{key}"),
        ),
    )


def _labelled(label: str, control: rx.Component, key: str, html_for: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=html_for),
        control,
        _field_error(key),
        spacing="1",
        width="100%",
    )


def _text_field(label: str, key: str) -> rx.Component:
    return _labelled(
        label,
        rx.input(
            value=ScenarioState.cur.get(key, ""),
            on_change=lambda v: ScenarioState.set_field(key, v),
            id=f"field-{key}",
            width="100%",
        ),
        key,
        f"field-{key}",
    )


def _json_area(label: str, key: str, rows: str = "6") -> rx.Component:
    return _labelled(
        label,
        rx.text_area(
            value=ScenarioState.cur.get(key, ""),
            on_change=lambda v: ScenarioState.set_field(key, v),
            id=f"field-{key}",
            rows=rows,
            width="100%",
            font_family="monospace",
            spell_check=False,
        ),
        key,
        f"field-{key}",
    )


def _select(label: str, key: str, options: list[str]) -> rx.Component:
    return _labelled(
        label,
        rx.select.root(
            rx.select.trigger(id=f"field-{key}", width="100%"),
            rx.select.content(*[rx.select.item(o, value=o) for o in options]),
            value=ScenarioState.cur.get(key, ""),
            on_change=lambda v: ScenarioState.set_field(key, v),
        ),
        key,
        f"field-{key}",
    )


def _setting(row: Any) -> rx.Component:
    control = rx.match(
        row["type"],
        (
            "sql",
            rx.text_area(
                value=row["value"],
                on_change=lambda v: ScenarioState.set_setting(row["key"], v),
                id="setting-" + row["key"],
                rows="4",
                font_family="monospace",
                width="100%",
            ),
        ),
        (
            "json",
            rx.text_area(
                value=row["value"],
                on_change=lambda v: ScenarioState.set_setting(row["key"], v),
                id="setting-" + row["key"],
                rows="3",
                font_family="monospace",
                width="100%",
            ),
        ),
        (
            "choice",
            rx.el.select(
                rx.foreach(
                    row["choices"].split(","),
                    lambda c: rx.el.option(rx.cond(c == "", "(default)", c), value=c),
                ),
                value=row["value"],
                on_change=lambda v: ScenarioState.set_setting(row["key"], v),
                id="setting-" + row["key"],
                style={"width": "100%", "padding": "6px", "border_radius": "6px"},
            ),
        ),
        rx.input(
            value=row["value"],
            on_change=lambda v: ScenarioState.set_setting(row["key"], v),
            id="setting-" + row["key"],
            width="100%",
        ),
    )
    return rx.vstack(
        rx.text(row["label"], size="2", weight="medium", as_="label", html_for="setting-" + row["key"]),
        control,
        rx.cond(
            row["error"] != "",
            rx.text(
                row["error"], color_scheme="red", size="1", id="error-setting-" + row["key"], role="alert"
            ),
        ),
        spacing="1",
        width="100%",
    )


def _endpoint_picker() -> rx.Component:
    return rx.vstack(
        rx.text("Endpoint", size="2", weight="medium", as_="label", html_for="endpoint-search"),
        rx.hstack(
            rx.input(
                placeholder="Search operations: method, path, id, service",
                value=ScenarioState.endpoint_search,
                on_change=ScenarioState.set_endpoint_search,
                id="endpoint-search",
                width="50%",
            ),
            rx.el.select(
                rx.el.option("(not bound)", value="__none__"),
                rx.foreach(
                    ScenarioState.endpoint_options, lambda e: rx.el.option(e["label"], value=e["value"])
                ),
                value=rx.cond(
                    ScenarioState.cur.get("endpoint", "") == "",
                    "__none__",
                    ScenarioState.cur.get("endpoint", ""),
                ),
                on_change=ScenarioState.choose_endpoint,
                id="endpoint-select",
                aria_label="Endpoint",
                style={"width": "50%", "padding": "6px", "border_radius": "6px", "min_width": "0"},
            ),
            width="100%",
            spacing="2",
        ),
        rx.cond(
            ScenarioState.endpoint_label != "",
            rx.text("Bound to ", rx.code(ScenarioState.endpoint_label), size="1", id="endpoint-current"),
        ),
        rx.cond(
            ScenarioState.endpoint_note != "",
            rx.text(ScenarioState.endpoint_note, size="1", color_scheme="gray", id="endpoint-note"),
        ),
        rx.cond(
            ScenarioState.endpoints.length() == 0,  # type: ignore[attr-defined]
            rx.text(
                "No specs imported yet: import them on the Specs page to bind steps.",
                size="1",
                color_scheme="gray",
            ),
        ),
        _field_error("endpoint"),
        spacing="1",
        width="100%",
    )


def _suggestions() -> rx.Component:
    return rx.vstack(
        rx.text("Variables these templates can use (click to copy):", size="1", color_scheme="gray"),
        rx.flex(
            rx.foreach(
                ScenarioState.suggestions,
                lambda s: rx.button(
                    s,
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=ScenarioState.copy_suggestion(s),
                    class_name="suggestion",
                ),
            ),
            wrap="wrap",
            gap="1",
            max_height="7rem",
            overflow_y="auto",
            id="suggestions",
        ),
        spacing="1",
        width="100%",
    )


def _step_editor() -> rx.Component:
    return rx.cond(
        ScenarioState.steps.length() > 0,  # type: ignore[attr-defined]
        rx.vstack(
            rx.hstack(
                rx.heading("Step ", ScenarioState.selected + 1, size="3"),
                rx.cond(
                    ScenarioState.cur.get("node", "") != "",
                    rx.text(
                        "from node ",
                        ScenarioState.node_label,
                        " (",
                        rx.code(ScenarioState.cur.get("node", "")),
                        ")",
                        size="1",
                        color_scheme="gray",
                    ),
                ),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            rx.grid(
                _text_field("Alias (templates refer to it)", "alias"),
                _text_field("Name", "name"),
                _select("Kind", "kind", KINDS),
                _select("Channel", "channel", CHANNELS),
                _select("Mode", "mode", MODES),
                _text_field("Expected status: 201, [200, 201] or 2XX", "expected"),
                columns="2",
                spacing="3",
                width="100%",
            ),
            rx.cond(
                (ScenarioState.cur.get("channel", "") == "HTTP_REST")
                | (ScenarioState.cur.get("channel", "") == "GRPC")
                | (ScenarioState.cur.get("kind", "") == "ACTION"),
                _endpoint_picker(),
            ),
            rx.cond(
                ScenarioState.cur_settings.length() > 0,  # type: ignore[attr-defined]
                rx.card(
                    rx.vstack(
                        rx.text(
                            ScenarioState.cur.get("channel", ""),
                            " ",
                            ScenarioState.cur.get("kind", "").lower(),
                            " settings",
                            weight="bold",
                            size="2",
                        ),
                        rx.foreach(ScenarioState.cur_settings, _setting),
                        spacing="2",
                        width="100%",
                    ),
                    width="100%",
                    id="assertion-settings",
                ),
            ),
            _json_area("Input template (JSON; {{data.*}}, {{step.alias.response.*}})", "input", "8"),
            _suggestions(),
            _json_area("Business rules (JSON, docs/business-rules.md)", "rules", "4"),
            _json_area("Other meta (JSON)", "meta", "3"),
            _run_panel(),
            spacing="3",
            width="100%",
            id="step-editor",
        ),
        rx.callout("This scenario has no steps. Add one.", icon="info", color_scheme="gray", id="no-steps"),
    )


def _native_select(key: str, options: Any, label_key: str, empty: str, element_id: str) -> rx.Component:
    return rx.el.select(
        rx.el.option(empty, value="__none__"),
        rx.foreach(options, lambda o: rx.el.option(o[label_key], value=o["id"])),
        value=rx.cond(
            getattr(ScenarioState, f"run_{key}") == "", "__none__", getattr(ScenarioState, f"run_{key}")
        ),
        on_change=lambda v: ScenarioState.set_run_option(key, v),
        id=element_id,
        style={"width": "100%", "padding": "6px", "border_radius": "6px", "min_width": "0"},
    )


def _run_panel() -> rx.Component:
    result = ScenarioState.run_result
    return rx.card(
        rx.vstack(
            rx.text("Run this step (SINGLE_STEP, the saved version)", weight="bold", size="2"),
            rx.grid(
                rx.vstack(
                    rx.text("Environment", size="1", as_="label", html_for="run-env"),
                    _native_select(
                        "env", ScenarioState.run_envs, "name", "(the only one, or none)", "run-env"
                    ),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text("Data set", size="1", as_="label", html_for="run-data-set"),
                    _native_select(
                        "data_set",
                        ScenarioState.run_data_sets,
                        "name",
                        "(the one that applies)",
                        "run-data-set",
                    ),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text("Earlier steps' results from run", size="1", as_="label", html_for="run-from"),
                    _native_select("from", ScenarioState.past_runs, "label", "(none)", "run-from"),
                    spacing="1",
                ),
                columns="3",
                spacing="2",
                width="100%",
            ),
            rx.text(
                'Or give earlier steps\' results as JSON ({"create_order": {"responseBody": {"id": 7}}}):',
                size="1",
                as_="label",
                html_for="run-context",
            ),
            rx.text_area(
                value=ScenarioState.run_context,
                on_change=lambda v: ScenarioState.set_run_option("context", v),
                id="run-context",
                rows="2",
                font_family="monospace",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    rx.cond(ScenarioState.run_busy, rx.spinner(size="1"), rx.icon("play", size=14)),
                    "Run step ",
                    ScenarioState.selected + 1,
                    on_click=ScenarioState.run_step,
                    disabled=ScenarioState.run_busy | ScenarioState.dirty,
                    id="run-step",
                ),
                rx.cond(
                    ScenarioState.dirty,
                    rx.text("Save first: runs use a saved version.", size="1", color_scheme="gray"),
                ),
                align="center",
                spacing="2",
            ),
            rx.cond(
                ScenarioState.run_error != "",
                rx.callout(
                    ScenarioState.run_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    id="run-error",
                    role="alert",
                ),
            ),
            rx.cond(
                result.contains("run_id"),  # type: ignore[attr-defined]
                rx.vstack(
                    rx.hstack(
                        rx.text("Step result:", size="2"),
                        rx.badge(
                            result.get("status", ""),
                            color_scheme=rx.match(
                                result.get("status", ""),
                                ("PASSED", "green"),
                                ("FAILED", "red"),
                                ("FLAKY", "amber"),
                                "gray",
                            ),
                            id="run-step-status",
                        ),
                        rx.text(result.get("duration", ""), size="1"),
                        rx.cond(
                            result.get("code", "") != "", rx.text("HTTP ", result.get("code", ""), size="1")
                        ),
                        rx.link("run", href="/runs", size="1"),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                    rx.cond(
                        result.get("error", "") != "",
                        rx.text(result.get("error", ""), color_scheme="red", size="1"),
                    ),
                    rx.cond(
                        result.get("violations", "") != "",
                        rx.text(
                            result.get("violations", ""),
                            color_scheme="red",
                            size="1",
                            white_space="pre-wrap",
                            id="run-step-violations",
                        ),
                    ),
                    rx.cond(
                        result.get("observed", "") != "",
                        rx.el.pre(
                            result.get("observed", ""),
                            style={
                                "width": "100%",
                                "max_height": "16rem",
                                "overflow": "auto",
                                "font_size": "12px",
                                "background": "#f8f9fa",
                                "padding": "8px",
                                "border_radius": "6px",
                                "white_space": "pre-wrap",
                                "word_break": "break-word",
                            },
                            id="run-step-observed",
                        ),
                    ),
                    spacing="1",
                    width="100%",
                    id="run-step-result",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="run-panel",
    )


def _step_list() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Steps", size="3"),
            rx.spacer(),
            rx.button(
                rx.icon("plus", size=14), "Add step", size="1", on_click=ScenarioState.add_step, id="add-step"
            ),
            width="100%",
            align="center",
        ),
        rx.foreach(
            ScenarioState.steps,
            lambda step, i: rx.hstack(
                rx.button(
                    rx.text(
                        i + 1,
                        ". ",
                        step["alias"],
                        size="2",
                        overflow="hidden",
                        text_overflow="ellipsis",
                        white_space="nowrap",
                    ),
                    rx.cond(
                        ScenarioState.step_badges[i] != "",
                        rx.badge(ScenarioState.step_badges[i], color_scheme="red", variant="solid"),
                    ),
                    variant=rx.cond(ScenarioState.selected == i, "solid", "soft"),
                    on_click=ScenarioState.select_step(i),
                    flex="1",
                    min_width="0",
                    justify="between",
                    id="step-" + step["alias"],
                    class_name="step-button",
                    title=step["kind"] + " " + step["channel"] + ": " + step["name"],
                ),
                rx.icon_button(
                    rx.icon("arrow-up", size=14),
                    size="1",
                    variant="ghost",
                    on_click=ScenarioState.move_step(i, -1),
                    aria_label="Move step up",
                    disabled=i == 0,
                ),
                rx.icon_button(
                    rx.icon("arrow-down", size=14),
                    size="1",
                    variant="ghost",
                    on_click=ScenarioState.move_step(i, 1),
                    aria_label="Move step down",
                    disabled=i == ScenarioState.steps.length() - 1,
                ),  # type: ignore[attr-defined]
                rx.icon_button(
                    rx.icon("trash-2", size=14),
                    size="1",
                    variant="ghost",
                    color_scheme="red",
                    on_click=ScenarioState.remove_step(i),
                    aria_label="Remove step",
                ),
                width="100%",
                spacing="1",
                align="center",
            ),
        ),
        width="100%",
        spacing="1",
        id="step-list",
    )


def _diagram() -> rx.Component:
    return rx.vstack(_drawing(), _diagram_note(), width="100%", spacing="1")


def _diagram_note() -> rx.Component:
    return rx.cond(
        ScenarioState.diagram_problem != "",
        rx.callout(
            rx.text("Diagram: ", ScenarioState.diagram_problem),
            icon="info",
            color_scheme="amber",
            size="1",
            id="diagram-problem",
        ),
    )


def _drawing() -> rx.Component:
    return rx.cond(
        ScenarioState.kind == "sequence",
        sequence_diagram(
            text=ScenarioState.mermaid_text,
            fallback=ScenarioState.mermaid_fallback,
            messages=ScenarioState.messages,
            markers=ScenarioState.markers,
            labels=ScenarioState.labels,
            id="sequence-diagram",
        ),
        rx.cond(
            ScenarioState.xml != "",
            bpmn_viewer(
                xml=ScenarioState.xml,
                markers=ScenarioState.markers,
                labels=ScenarioState.labels,
                focus=ScenarioState.focus_node,
                height="340px",
                id="bpmn-diagram",
            ),
            rx.fragment(),
        ),
    )


def _banners() -> rx.Component:
    return rx.fragment(
        rx.cond(
            ScenarioState.info.get("is_latest", "") == "",
            rx.callout(
                rx.text(
                    "This is version ",
                    ScenarioState.info.get("version", ""),
                    " (",
                    ScenarioState.info.get("status", ""),
                    "); the newest is version ",
                    ScenarioState.info.get("latest_version", ""),
                    ". ",
                    rx.link(
                        "Open the newest version",
                        href="/scenarios/" + ScenarioState.info.get("latest_id", ""),
                    ),
                    " to edit it: saving from an old version is refused.",
                ),
                icon="history",
                color_scheme="amber",
                id="old-version",
            ),
        ),
        rx.cond(
            ScenarioState.conflict != "",
            rx.callout(
                rx.vstack(
                    rx.text(ScenarioState.conflict),
                    rx.text("Your edits are still here; copy what you need, then reload.", size="1"),
                    rx.button(
                        "Reload the newest version",
                        size="1",
                        on_click=ScenarioState.reload_latest,
                        id="reload-after-conflict",
                    ),
                    spacing="2",
                ),
                icon="git-compare",
                color_scheme="red",
                id="save-conflict",
                role="alert",
            ),
        ),
        rx.cond(
            ScenarioState.save_error != "",
            rx.callout(
                ScenarioState.save_error,
                icon="triangle-alert",
                color_scheme="red",
                id="save-error",
                role="alert",
            ),
        ),
    )


def _toolbar() -> rx.Component:
    return rx.hstack(
        rx.button(
            rx.cond(ScenarioState.saving, rx.spinner(size="1"), rx.icon("save", size=14)),
            "Save as new version",
            on_click=ScenarioState.save,
            disabled=~ScenarioState.dirty | ScenarioState.saving,
            id="save-scenario",
        ),
        rx.button(
            "Discard changes",
            variant="soft",
            on_click=ScenarioState.discard,
            disabled=~ScenarioState.dirty,
            id="discard-changes",
        ),
        rx.button(
            rx.icon("copy", size=14),
            "Clone",
            variant="outline",
            on_click=ScenarioState.clone,
            id="clone-scenario",
        ),
        rx.cond(
            ScenarioState.dirty,
            rx.badge("Unsaved changes", color_scheme="orange", id="unsaved-badge"),
        ),
        rx.cond(
            ScenarioState.error_count > 0,
            rx.badge(ScenarioState.error_count, " problem(s)", color_scheme="red", id="problem-badge"),
        ),
        spacing="2",
        align="center",
        wrap="wrap",
    )


def _content() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link("Processes", href="/processes"),
            rx.text("/"),
            rx.link(
                ScenarioState.info.get("process_key", ""),
                " v",
                ScenarioState.info.get("process_version", ""),
                href="/processes/versions/"
                + ScenarioState.info.get("process_version_id", "")
                + "?scenario="
                + ScenarioState.info.get("id", ""),
                id="process-version-link",
            ),
            rx.text("/"),
            rx.text(
                ScenarioState.info.get("key", ""),
                " version ",
                ScenarioState.info.get("version", ""),
                weight="bold",
                id="scenario-heading",
            ),
            rx.badge(ScenarioState.info.get("status", "")),
            rx.text("saved ", ScenarioState.info.get("updated", ""), size="1", color_scheme="gray"),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        _banners(),
        _toolbar(),
        rx.grid(
            rx.vstack(
                rx.text("Name", size="2", weight="medium", as_="label", html_for="scenario-name"),
                rx.input(
                    value=ScenarioState.draft_name,
                    on_change=ScenarioState.set_name,
                    id="scenario-name",
                    width="100%",
                ),
                rx.cond(
                    ScenarioState.errors.contains("name"),  # type: ignore[attr-defined]
                    rx.text(
                        ScenarioState.errors["name"], color_scheme="red", size="1", id="error-scenario-name"
                    ),
                ),
                spacing="1",
                width="100%",
            ),
            rx.vstack(
                rx.text(
                    "Tags (comma-separated)", size="2", weight="medium", as_="label", html_for="scenario-tags"
                ),
                rx.input(
                    value=ScenarioState.draft_tags,
                    on_change=ScenarioState.set_tags,
                    id="scenario-tags",
                    width="100%",
                ),
                spacing="1",
                width="100%",
            ),
            columns="2",
            spacing="3",
            width="100%",
        ),
        _diagram(),
        rx.cond(
            ScenarioState.decisions.length() > 0,  # type: ignore[attr-defined]
            rx.hstack(
                rx.text("Decisions:", size="2", weight="medium"),
                rx.foreach(
                    ScenarioState.decisions, lambda d: rx.badge(d["text"], title=d["ids"], variant="soft")
                ),
                wrap="wrap",
                spacing="2",
                id="scenario-decisions",
            ),
        ),
        rx.cond(
            ScenarioState.info.get("note", "") != "",
            rx.text(ScenarioState.info.get("note", ""), size="2", color_scheme="gray"),
        ),
        rx.grid(
            _step_list(),
            _step_editor(),
            columns="minmax(14rem, 18rem) minmax(0, 1fr)",
            spacing="4",
            width="100%",
        ),
        rx.heading("Versions", size="3"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[rx.table.column_header_cell(h) for h in ("Version", "Status", "Saved", "By", "")]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ScenarioState.versions,
                    lambda v: rx.table.row(
                        rx.table.cell(v["version"]),
                        rx.table.cell(v["status"]),
                        rx.table.cell(v["updatedAt"]),
                        rx.table.cell(v["updatedBy"]),
                        rx.table.cell(
                            rx.cond(
                                v["current"] == "yes",
                                rx.text("shown", size="1"),
                                rx.link("Open", href="/scenarios/" + v["id"]),
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            size="1",
            id="scenario-versions",
        ),
        width="100%",
        spacing="3",
    )


ON_LOAD = [AppState.load_identity, ScenarioState.load]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.cond(
            ScenarioState.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the scenario…"), id="scenario-loading", spacing="2"),
            rx.cond(
                ScenarioState.page_error != "",
                rx.callout(
                    ScenarioState.page_error, icon="triangle-alert", color_scheme="red", id="scenario-error"
                ),
                _content(),
            ),
        ),
    )
