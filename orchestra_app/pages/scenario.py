"""Scenario page: a scenario's path on the diagram, its steps, and the editor that saves a new version."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import reflex as rx

from components.bpmn_viewer import PATH, bpmn_viewer
from components.layout import page
from components.sequence_diagram import sequence_diagram
from orchestra_app.domain.errors import Conflict, OrchestraError
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import diagrams, scenario_editor
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
        return {"detail": detail, "context": context, "diagram": drawing}

    return svc.with_session(read)


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
            spacing="3",
            width="100%",
            id="step-editor",
        ),
        rx.callout("This scenario has no steps. Add one.", icon="info", color_scheme="gray", id="no-steps"),
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
            rx.cond(
                ScenarioState.diagram_problem != "",
                rx.callout(ScenarioState.diagram_problem, icon="triangle-alert", color_scheme="amber"),
            ),
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
