"""The scenario editor's form: steps as editable text fields and back, with the problems of each field.

A step in the form is a flat ``dict[str, str]`` (Reflex state holds strings well): JSON parts are text
areas (``input``, ``rules``, ``meta``), the expected status is text (``201``, ``[200, 201]``, ``2XX``),
and the common side-effect settings (DB alias and SQL, Kafka topic and key, queue correlation, ...)
are fields of their own (``m_<metaKey>``) merged into ``action.meta`` when the form is read back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestra_app.services.scenarios import parse_draft
from orchestra_app.services.step_checks import FieldProblem

# (channel, kind) -> the meta keys shown as fields: (key, label, type); type text | sql | int | json |
# choice:<a>,<b>. Everything else of action.meta stays in the "advanced" JSON text.
SETTINGS: dict[tuple[str, str], list[tuple[str, str, str]]] = {
    ("DB", "ASSERTION"): [
        ("dataSource", "DB alias (a connection profile of the environment)", "text"),
        ("sql", "SQL: one SELECT; {{...}} placeholders are bound as parameters", "sql"),
        ("timeoutMs", "Timeout (ms)", "int"),
        ("pollIntervalMs", "Poll interval (ms)", "int"),
    ],
    ("KAFKA", "ASSERTION"): [
        ("clusterAlias", "Kafka cluster alias", "text"),
        ("topic", "Topic", "text"),
        ("keyExpression", "Expected key (template)", "text"),
        ("valueMatcherMode", "Match mode", "choice:,EXISTS_ONLY,PARTIAL_MATCH"),
        ("expected", "Expected value subset (JSON, PARTIAL_MATCH)", "json"),
        ("timeoutMs", "Timeout (ms)", "int"),
    ],
    ("QUEUE", "ASSERTION"): [
        ("brokerAlias", "Broker alias", "text"),
        ("exchange", "Exchange to tap (RabbitMQ)", "text"),
        ("routingKey", "Routing key", "text"),
        ("stream", "Stream (RabbitMQ stream queue or Redis stream key)", "text"),
        ("correlationIdExpr", "Correlation id at ($.properties.correlationId, $.body.orderId)", "text"),
        ("correlationId", "Expected correlation id (template)", "text"),
        ("valueMatcherMode", "Match mode", "choice:,EXISTS_ONLY,PARTIAL_MATCH"),
        ("expected", "Expected body subset (JSON, PARTIAL_MATCH)", "json"),
        ("timeoutMs", "Timeout (ms)", "int"),
    ],
    ("KAFKA", "ACTION"): [
        ("clusterAlias", "Kafka cluster alias", "text"),
        ("topic", "Topic", "text"),
        ("keyExpression", "Key (template)", "text"),
        ("valueTemplate", "Value (JSON template)", "json"),
    ],
    ("QUEUE", "ACTION"): [
        ("brokerAlias", "Broker alias", "text"),
        ("exchange", "Exchange", "text"),
        ("routingKey", "Routing key", "text"),
        ("body", "Body (JSON template)", "json"),
    ],
}
SETTING_KEYS = sorted({key for fields in SETTINGS.values() for key, _, _ in fields})
KINDS = ["ACTION", "ASSERTION"]
CHANNELS = ["HTTP_REST", "GRPC", "KAFKA", "DB", "QUEUE"]
MODES = ["SYNC", "FIRE_AND_FORGET"]
# full field name below steps.<i>. -> the form field it is shown beside
FORM_FIELD = {
    "alias": "alias",
    "name": "name",
    "kind": "kind",
    "channelType": "channel",
    "endpointRef": "endpoint",
    "action.mode": "mode",
    "action.inputTemplate": "input",
    "action.meta": "meta",
    "expectations.expectedStatusCode": "expected",
    "expectations.businessRules": "rules",
    "expectations.schemaRefs": "meta",
    "sourceNodeId": "node",
}


def _text(value: Any) -> str:
    if value is None or value == {} or value == []:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False)


def to_form(step: dict[str, Any]) -> dict[str, str]:
    """A StepDraft JSON object as form fields."""
    action = step.get("action") or {}
    meta = dict(action.get("meta") or {})
    expectations = step.get("expectations") or {}
    endpoint = step.get("endpointRef") or {}
    kind, channel = str(step.get("kind", "ACTION")), str(step.get("channelType", "HTTP_REST"))
    form = {
        "alias": str(step.get("alias", "")),
        "name": str(step.get("name", "")),
        "kind": kind,
        "channel": channel,
        "mode": str(action.get("mode", "SYNC")),
        "endpoint": "|".join(str(endpoint.get(k, "")) for k in ("protocolId", "serviceName", "endpointName"))
        if endpoint
        else "",
        "node": str(step.get("sourceNodeId") or ""),
        "input": _text(action.get("inputTemplate")),
        "rules": _text(expectations.get("businessRules")),
        "schema_refs": _text(expectations.get("schemaRefs")),
        "expected": "",
    }
    status = expectations.get("expectedStatusCode")
    if status is not None:
        form["expected"] = json.dumps(status) if isinstance(status, list) else str(status)
    for key, _label, kind_ in SETTINGS.get((channel, kind), []):
        if key in meta:
            value = meta.pop(key)
            form[f"m_{key}"] = _text(value) if kind_ == "json" else ("" if value is None else str(value))
    form["meta"] = _text(meta)
    return form


def new_form(index: int, taken: list[str]) -> dict[str, str]:
    n = index + 1
    alias = f"step_{n}"
    while alias in taken:
        n += 1
        alias = f"step_{n}"
    return to_form({"alias": alias, "name": f"Step {n}", "kind": "ACTION", "channelType": "HTTP_REST"})


@dataclass
class ReadForm:
    step: dict[str, Any]
    problems: list[FieldProblem]


def _json_field(text: str, field: str, default: Any) -> tuple[Any, list[FieldProblem]]:
    if not text.strip():
        return default, []
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return default, [FieldProblem(field, f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]


def _expected(text: str, field: str) -> tuple[Any, list[FieldProblem]]:
    raw = text.strip()
    if not raw:
        return None, []
    if raw.startswith("["):
        return _json_field(raw, field, None)
    if raw.isdigit():
        return int(raw), []
    return raw, []  # a class ("2XX") or a {{...}} placeholder: the draft check judges it


def from_form(form: dict[str, str], index: int) -> ReadForm:
    """The form of step ``index`` back as a StepDraft JSON object, plus what could not be read."""
    base = f"steps.{index}"
    problems: list[FieldProblem] = []
    template, p = _json_field(form.get("input", ""), f"{base}.action.inputTemplate", {})
    problems += p
    rules, p = _json_field(form.get("rules", ""), f"{base}.expectations.businessRules", [])
    problems += p
    refs, p = _json_field(form.get("schema_refs", ""), f"{base}.expectations.schemaRefs", [])
    problems += p
    meta, p = _json_field(form.get("meta", ""), f"{base}.action.meta", {})
    problems += p
    if not isinstance(meta, dict):
        problems.append(FieldProblem(f"{base}.action.meta", "meta is a JSON object"))
        meta = {}
    kind, channel = form.get("kind", "ACTION"), form.get("channel", "HTTP_REST")
    for key, _label, type_ in SETTINGS.get((channel, kind), []):
        text = form.get(f"m_{key}", "")
        if not text.strip():
            meta.pop(key, None)
            continue
        if type_ == "int":
            if text.strip().isdigit():
                meta[key] = int(text.strip())
            else:
                problems.append(
                    FieldProblem(f"{base}.action.meta", f"{key} must be a whole number", f"/{key}")
                )
        elif type_ == "json":
            value, p = _json_field(text, f"{base}.action.meta", None)
            problems += [FieldProblem(x.field, f"{key}: {x.message}", f"/{key}") for x in p]
            if not p:
                meta[key] = value
        else:
            meta[key] = text
    expected, p = _expected(form.get("expected", ""), f"{base}.expectations.expectedStatusCode")
    problems += p
    step: dict[str, Any] = {
        "alias": form.get("alias", "").strip(),
        "name": form.get("name", ""),
        "kind": kind,
        "channelType": channel,
        "action": {"inputTemplate": template, "meta": meta, "mode": form.get("mode", "SYNC")},
        "expectations": {"businessRules": rules, "schemaRefs": refs},
    }
    if not isinstance(template, dict):
        problems.append(FieldProblem(f"{base}.action.inputTemplate", "the input template is a JSON object"))
        step["action"]["inputTemplate"] = {}
    if expected is not None:
        step["expectations"]["expectedStatusCode"] = expected
    endpoint = form.get("endpoint", "")
    if endpoint:
        parts = endpoint.split("|", 2)
        if len(parts) == 3 and all(parts):
            step["endpointRef"] = {"protocolId": parts[0], "serviceName": parts[1], "endpointName": parts[2]}
        else:
            problems.append(FieldProblem(f"{base}.endpointRef", f"not an endpoint: {endpoint!r}"))
    if form.get("node"):
        step["sourceNodeId"] = form["node"]
    return ReadForm(step, problems)


@dataclass
class FormCheck:
    document: dict[str, Any]
    errors: dict[str, str]  # full field name -> first error
    warnings: dict[str, str]
    count: int  # errors in all


def _shown(problem: FieldProblem) -> str:
    at = f" (at {problem.pointer})" if problem.pointer and problem.pointer != "/" else ""
    return problem.message + at


def check_form(name: str, tags: str, forms: list[dict[str, str]]) -> FormCheck:
    """Reads every step and checks the whole draft (services.scenarios.parse_draft)."""
    steps: list[dict[str, Any]] = []
    problems: list[FieldProblem] = []
    for index, form in enumerate(forms):
        read = from_form(form, index)
        steps.append(read.step)
        problems += read.problems
    document = {"name": name, "tags": [t.strip() for t in tags.split(",") if t.strip()], "steps": steps}
    unreadable = {p.field for p in problems if p.pointer is None}  # a whole field that is not JSON
    _draft, checked = parse_draft(document)
    # A field that could not be read as JSON is judged by that message, not by the empty stand-in.
    problems += [p for p in checked if p.field not in unreadable]
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    count = 0
    for problem in problems:
        target = errors if problem.severity == "error" else warnings
        if problem.severity == "error":
            count += 1
        field = problem.field
        token = (problem.pointer or "").lstrip("/").split("/", 1)[0]
        if field.endswith(".action.meta") and token in SETTING_KEYS:
            field = f"{field}.{token}"  # shown beside that setting's own field
            message = problem.message
        else:
            message = _shown(problem)
        target.setdefault(field, message)
    return FormCheck(document, errors, warnings, count)


def step_field_messages(messages: dict[str, str], index: int) -> dict[str, str]:
    """The messages of step ``index`` keyed by form field (``input``, ``meta``, ...)."""
    prefix = f"steps.{index}."
    out: dict[str, str] = {}
    for field, message in messages.items():
        if not field.startswith(prefix):
            continue
        rest = field[len(prefix) :]
        if rest.startswith("action.meta.") and rest.removeprefix("action.meta.") in SETTING_KEYS:
            out.setdefault("m_" + rest.removeprefix("action.meta."), message)
            continue
        key = FORM_FIELD.get(rest)
        if key is None:
            key = next((v for k, v in FORM_FIELD.items() if rest.startswith(k + ".")), "step")
        out.setdefault(key, message)
    return out
