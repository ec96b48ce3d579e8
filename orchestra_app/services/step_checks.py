"""Checks of a scenario's steps before they are stored: every problem named by its field.

Pure (no database): the scenario editor runs them as the designer types, a save runs them again.
Field names are ``steps.<index>.<part>`` (``steps.2.action.inputTemplate``), the same names the
REST API's errors carry.

What is checked, per step: the alias (a name templates can refer to, unique), template syntax in the
input template, meta and expected status (``{{data.*}}``, ``{{step.<alias>.response.*}}`` where the
alias is an *earlier* step, ``{{env.*}}``, ``{{run.*}}``, ``{{secret:NAME}}``), the business rules
(domain/rules.py), and the meta of side-effect steps against the plugin's own meta model (docs/plugins.md
sections 5-8; a DB step's SQL must be one read-only SELECT). Generated placeholder steps
(``meta.placeholder``) are only warned about: they are to be filled in, not refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.rules import parse_rules
from orchestra_app.domain.secrets import secret_ref_name
from orchestra_app.domain.steps import ChannelType, StepKind
from orchestra_app.domain.templating import RESPONSE_PARTS, parse_expression
from orchestra_app.plugins.db.executor import DbAssertMeta
from orchestra_app.plugins.db.sql import SqlRefused
from orchestra_app.plugins.db.sql import prepare as prepare_sql
from orchestra_app.plugins.kafka.executor import KafkaAssertMeta, KafkaPublishMeta
from orchestra_app.plugins.queue.executor import QueueAssertMeta, QueuePublishMeta
from orchestra_app.plugins.sideeffects import StepMeta

ALIAS = re.compile(r"^[A-Za-z0-9_]{1,200}$")
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
PARTS = ("body", "headers", "status", "rows", "message", "durationMs")

META_MODELS: dict[tuple[ChannelType, StepKind], type[StepMeta]] = {
    (ChannelType.DB, StepKind.ASSERTION): DbAssertMeta,
    (ChannelType.KAFKA, StepKind.ASSERTION): KafkaAssertMeta,
    (ChannelType.KAFKA, StepKind.ACTION): KafkaPublishMeta,
    (ChannelType.QUEUE, StepKind.ASSERTION): QueueAssertMeta,
    (ChannelType.QUEUE, StepKind.ACTION): QueuePublishMeta,
}


@dataclass(frozen=True)
class FieldProblem:
    field: str  # steps.2.action.inputTemplate, name, ...
    message: str
    pointer: str | None = None  # inside the field's JSON value
    severity: str = "error"  # "warning" does not stop a save

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message, "severity": self.severity}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        return out


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def placeholders(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer of the string, expression) for every ``{{...}}`` in a JSON value."""
    if isinstance(value, str):
        if "{{" in value:
            for match in _PLACEHOLDER.finditer(value):
                yield pointer, match.group(1)
            if value.count("{{") != len(_PLACEHOLDER.findall(value)):
                yield pointer, "\x00unclosed"
    elif isinstance(value, dict):
        name = secret_ref_name(value)
        if name is not None:
            yield pointer, "secret:" + name
            return
        for key, item in value.items():
            yield from placeholders(item, f"{pointer}/{_escape(str(key))}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from placeholders(item, f"{pointer}/{i}")


def expression_problem(expr: str, earlier: list[str]) -> tuple[str, str] | None:
    """(severity, why) a placeholder expression cannot work here: its syntax (domain/templating.py's
    own parser: paths, functions and their arguments), a ``step.<alias>`` that is not an earlier step,
    an unknown response part; an unknown root is only a warning (a run may supply it as a variable)."""
    if expr == "\x00unclosed":
        return "error", "a '{{' is never closed with '}}'"
    if not expr.strip():
        return "error", "empty placeholder {{}}"
    try:
        parsed = parse_expression(expr)
    except ValueError as exc:
        return "error", str(exc.args[0] if exc.args else exc)
    if parsed.kind == "secret":
        return None if parsed.name else ("error", "secret: needs a name ({{secret:DB_PASSWORD}})")
    if parsed.kind == "call":
        return None
    segments = parsed.segments
    root = segments[0] if segments else ""
    if root == "step":
        if len(segments) < 3 or segments[2] not in ("response", "request"):
            return "error", f"{{{{{expr}}}}}: write step.<alias>.response.<part> ({', '.join(PARTS)})"
        alias = str(segments[1])
        if alias not in earlier:
            known = ", ".join(earlier) or "none"
            return "error", f"{{{{{expr}}}}}: {alias!r} is not an earlier step (earlier steps: {known})"
        if segments[2] == "response" and len(segments) > 3 and segments[3] not in RESPONSE_PARTS:
            return "error", f"{{{{{expr}}}}}: unknown response part {segments[3]!r} (use {', '.join(PARTS)})"
        return None
    if root in ("data", "env", "run"):
        return None
    return (
        "warning",
        f"{{{{{expr}}}}}: {str(root)!r} is not data, step, env, run or secret:; the run must supply it "
        "as a variable",
    )


def template_problems(value: Any, field: str, earlier: list[str]) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    for pointer, expr in placeholders(value):
        problem = expression_problem(expr, earlier)
        if problem:
            out.append(FieldProblem(field, problem[1], pointer or "/", severity=problem[0]))
    return out


def _meta_problems(model: type[BaseModel], meta: dict[str, Any], field: str) -> list[FieldProblem]:
    try:
        model.model_validate(meta)
    except ValidationError as exc:
        out = []
        for err in exc.errors()[:10]:
            loc = "/".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                message = f"unknown meta key {loc!r}"
            elif err["type"] == "missing":
                message = f"{loc} is required"
            else:
                message = (f"{loc}: " if loc else "") + str(err["msg"]).removeprefix("Value error, ")
            out.append(FieldProblem(field, message, f"/{loc}" if loc else None))
        return out
    return []


def _sql_problem(meta: dict[str, Any], field: str) -> list[FieldProblem]:
    sql = meta.get("sql")
    if not isinstance(sql, str):
        return []
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    try:
        prepare_sql(
            sql,
            dialect="postgresql",
            paramstyle="format",
            render_placeholder=lambda _expr, _i: None,
            params=params or {},
        )
    except SqlRefused as exc:
        return [FieldProblem(field, exc.message, "/sql")]
    except (KeyError, ValueError) as exc:
        return [FieldProblem(field, str(exc.args[0] if exc.args else exc), "/sql")]
    return []


def check_step(step: dict[str, Any], index: int, earlier: list[str]) -> list[FieldProblem]:
    """Problems of one step (a StepDraft JSON object); ``earlier`` = aliases of the steps before it."""
    base = f"steps.{index}"
    out: list[FieldProblem] = []
    alias = str(step.get("alias", ""))
    if not ALIAS.match(alias):
        out.append(
            FieldProblem(f"{base}.alias", "an alias is 1-200 letters, digits or '_' (templates refer to it)")
        )
    elif alias in earlier:
        out.append(FieldProblem(f"{base}.alias", f"alias {alias!r} is already used by an earlier step"))
    action: dict[str, Any] = step["action"] if isinstance(step.get("action"), dict) else {}
    meta: dict[str, Any] = action["meta"] if isinstance(action.get("meta"), dict) else {}
    expectations: dict[str, Any] = step["expectations"] if isinstance(step.get("expectations"), dict) else {}
    out += template_problems(action.get("inputTemplate") or {}, f"{base}.action.inputTemplate", earlier)
    out += template_problems(meta, f"{base}.action.meta", earlier)
    status = expectations.get("expectedStatusCode")
    if isinstance(status, str) and "{{" in status:
        out += template_problems(status, f"{base}.expectations.expectedStatusCode", earlier)
    # otherwise the shape check (StepExpectations) names a bad status
    rules = expectations.get("businessRules")
    if rules:
        try:
            parse_rules(rules)
        except OrchestraError as exc:
            out.append(FieldProblem(f"{base}.expectations.businessRules", exc.message, exc.pointer))
    try:
        channel = ChannelType(step.get("channelType", "HTTP_REST"))
        kind = StepKind(step.get("kind", "ACTION"))
    except (ValueError, TypeError):
        return out  # the shape check names the bad enum value
    model = META_MODELS.get((channel, kind))
    if model is not None and isinstance(meta, dict):
        if meta.get("placeholder"):
            out.append(
                FieldProblem(
                    f"{base}.action.meta",
                    f"a generated placeholder: fill in the {channel.value} {kind.value.lower()} settings "
                    "before this step can run",
                    severity="warning",
                )
            )
        else:
            out += _meta_problems(model, meta, f"{base}.action.meta")
            if channel is ChannelType.DB:
                out += _sql_problem(meta, f"{base}.action.meta")
    bindable = channel in (ChannelType.HTTP_REST, ChannelType.GRPC) and kind is StepKind.ACTION
    template: dict[str, Any] = (
        action["inputTemplate"] if isinstance(action.get("inputTemplate"), dict) else {}
    )
    addressed = any(k in template for k in ("path", "url", "method", "rpc"))  # a hand-written request
    if bindable and not step.get("endpointRef") and not addressed:
        out.append(
            FieldProblem(
                f"{base}.endpointRef",
                "no endpoint chosen and no path in the input template: the step cannot run yet",
                severity="warning",
            )
        )
    return out


def check_steps(steps: list[dict[str, Any]]) -> list[FieldProblem]:
    """Every problem of a step list, in step order (warnings included: filter by ``severity``)."""
    out: list[FieldProblem] = []
    earlier: list[str] = []
    for index, step in enumerate(steps):
        out += check_step(step, index, earlier)
        alias = str(step.get("alias", ""))
        if alias and alias not in earlier:
            earlier.append(alias)
    return out


def blocking_problems(problems: list[FieldProblem]) -> list[FieldProblem]:
    return [p for p in problems if p.severity == "error"]
