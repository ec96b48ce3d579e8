"""Data set scaffolding: every `{{data.*}}` a suite needs, with deterministic example values from schemas.

No network and no AI: values come from the schema of the input the placeholder fills (example,
examples, default, const, enum, format, bounds, length, pattern), or - when the step is not bound or
the schema says nothing - from the variable's name. The same suite always gives the same data set.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra_app.domain.paths import WILDCARD, Segment, format_path
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ScenarioStepSpec
from orchestra_app.domain.templating import data_variables
from orchestra_app.plugins.chaining import PARAM_KEYS
from orchestra_app.plugins.schema_walk import flatten, request_body_schema, schema_at, schema_type

Resolver = Callable[[ScenarioStepSpec], tuple[Operation, SpecSummary] | None]
MAX_DEPTH = 6
MAX_PROPERTIES = 25
NAMESPACE = uuid.UUID("6f1c2b0e-6a53-4c55-9e0a-0c7a0e5d2b11")  # fixed: uuids derived from names repeat
_PATTERN_TRIES = (
    "A1",
    "abc",
    "ABC",
    "123",
    "a1",
    "AB-12",
    "ab_12",
    "1",
    "a",
    "A",
    "x1y2z3",
    "ABC123",
    "2026-01-15",
)


@dataclass
class Variable:
    """One `{{data.*}}` variable: where it is used and where its example value came from."""

    path: str  # "customer.email", "items[0].sku"
    value: Any
    source: str  # example, default, enum, const, format, bounds, type, name
    used_by: list[str] = field(default_factory=list)  # "S001/create_order /json/sku"
    schema_type: str | None = None


@dataclass
class Scaffold:
    data: dict[str, Any]
    variables: list[Variable]
    notes: list[str]


# ---- example values -----------------------------------------------------------------------------------


def _name_words(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()).strip()


def _by_name(name: str) -> tuple[Any, str]:
    """A value guessed from a variable name alone."""
    words = _name_words(name).split()
    last = words[-1] if words else ""
    if "email" in words or "mail" in words:
        return "user@example.com", "name"
    if last in ("id", "uuid", "guid"):
        return str(uuid.uuid5(NAMESPACE, name)), "name"
    if last in ("date", "day", "birthday"):
        return "2026-01-15", "name"
    if last in ("at", "time", "timestamp"):
        return "2026-01-15T10:00:00Z", "name"
    if last in ("url", "uri", "link", "href"):
        return "https://example.com/" + "-".join(words[:-1] or ["resource"]), "name"
    if last in ("count", "qty", "quantity", "amount", "total", "number", "age", "size", "limit", "price"):
        return 1, "name"
    if last in ("enabled", "active", "flag") or (words and words[0] in ("is", "has")):
        return True, "name"
    if last == "phone":
        return "+15555550100", "name"
    return f"example-{'-'.join(words) or 'value'}", "name"


def _fit_length(text: str, schema: dict[str, Any]) -> str:
    low = schema.get("minLength")
    high = schema.get("maxLength")
    if isinstance(high, int) and high >= 0 and len(text) > high:
        text = text[:high]
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    return text


def _string(schema: dict[str, Any], name: str) -> tuple[str, str, str | None]:
    fmt = schema.get("format")
    formats = {
        "uuid": str(uuid.uuid5(NAMESPACE, name or "value")),
        "email": "user@example.com",
        "idn-email": "user@example.com",
        "date": "2026-01-15",
        "date-time": "2026-01-15T10:00:00Z",
        "time": "10:00:00Z",
        "duration": "PT1H",
        "uri": "https://example.com/resource",
        "url": "https://example.com/resource",
        "uri-reference": "/resource",
        "iri": "https://example.com/resource",
        "hostname": "example.com",
        "ipv4": "192.0.2.10",
        "ipv6": "2001:db8::10",
        "byte": "ZXhhbXBsZQ==",
        "binary": "example",
        "password": "example-password",
        "int32": "1",
        "int64": "1",
    }
    if isinstance(fmt, str) and fmt in formats:
        return formats[fmt], "format", None
    value, source = _by_name(name)
    text = value if isinstance(value, str) else str(value)
    if source == "name" and not isinstance(value, str):
        source = "type"
    text = _fit_length(text, schema)
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            return text, source, f"pattern {pattern!r} is not a valid regular expression"
        if compiled.search(text) is None:
            for attempt in _PATTERN_TRIES:
                candidate = _fit_length(attempt, schema)
                if compiled.search(candidate):
                    return candidate, "pattern", None
            return text, source, f"no example matches pattern {pattern!r}: fill it in by hand"
    return text, source, None


def _number(schema: dict[str, Any], integer: bool) -> Any:
    low = schema.get("minimum")
    high = schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    # OpenAPI 3.0 spells exclusive bounds as booleans next to minimum/maximum; 3.1 as numbers
    if isinstance(ex_low, bool):
        ex_low = low if ex_low else None
        low = None if ex_low is not None else low
    if isinstance(ex_high, bool):
        ex_high = high if ex_high else None
        high = None if ex_high is not None else high
    value: float = 1
    if isinstance(low, int | float):
        value = max(value, low)
    if isinstance(ex_low, int | float) and value <= ex_low:
        value = ex_low + 1
    if isinstance(high, int | float) and value > high:
        value = high
    if isinstance(ex_high, int | float) and value >= ex_high:
        value = (
            ex_high - 1
            if integer or ex_high - 1 > (ex_low if isinstance(ex_low, int | float) else -1e308)
            else ex_high / 2
        )
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0 and value % multiple:
        value = (int(value // multiple) + 1) * multiple
    if integer:
        return int(value)
    return int(value) if float(value).is_integer() else value


def example(schema: Any, spec: SpecSummary | None, name: str, depth: int = 0) -> tuple[Any, str, list[str]]:
    """(value, source, notes) for one schema; ``spec`` resolves refs (None for already-flat schemas)."""
    flat: dict[str, Any]
    if spec is not None:
        flat, _ = flatten(schema, spec)
    else:
        flat = schema if isinstance(schema, dict) else {}
    if not flat:
        value, source = _by_name(name)
        return value, source, []
    for key in ("example", "default", "const"):
        if key in flat and flat[key] is not None:
            return flat[key], key, []
    examples = flat.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0], "example", []
    enum = flat.get("enum")
    if isinstance(enum, list) and any(v is not None for v in enum):
        return next(v for v in enum if v is not None), "enum", []
    kind = schema_type(flat)
    if kind == "string":
        value, source, note = _string(flat, name)
        return value, source, [note] if note else []
    if kind in ("integer", "number"):
        bounded = any(
            k in flat for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        )
        return _number(flat, kind == "integer"), "bounds" if bounded else "type", []
    if kind == "boolean":
        return True, "type", []
    if kind == "array":
        if depth >= MAX_DEPTH:
            return [], "type", []
        item, _, item_notes = example(flat.get("items") or {}, spec, name, depth + 1)
        low_items = flat.get("minItems")
        count: int = low_items if isinstance(low_items, int) and low_items > 0 else 1
        high_items = flat.get("maxItems")
        if isinstance(high_items, int):
            count = min(count, high_items)
        return [item] * max(count, 0), "type", item_notes
    if kind == "object":
        if depth >= MAX_DEPTH:
            return {}, "type", []
        props = flat.get("properties") or {}
        required = [p for p in flat.get("required") or [] if p in props]
        chosen = required or list(props)[:MAX_PROPERTIES]
        out: dict[str, Any] = {}
        notes: list[str] = []
        for prop in chosen:
            value, _, more = example(props[prop], spec, prop, depth + 1)
            out[prop] = value
            notes.extend(more)
        return out, "type", notes
    value, source = _by_name(name)
    return value, source, []


# ---- which schema does a placeholder fill? ------------------------------------------------------------


def _pointer_tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _placeholder_schema(pointer: str, operation: Operation, spec: SpecSummary) -> Any:
    tokens = _pointer_tokens(pointer)
    if not tokens:
        return None
    head = tokens[0]
    if head in PARAM_KEYS and len(tokens) == 2:
        location = PARAM_KEYS[head]
        for param in operation.parameters:
            if param.location == location and param.name == tokens[1]:
                return param.schema_ or {}
        return None
    body = request_body_schema(operation)
    if body is not None and head == body[0]:
        segments: list[Segment] = [int(t) if t.isdigit() else t for t in tokens[1:]]
        return schema_at(body[1], spec, segments)
    return None


# ---- the data document ------------------------------------------------------------------------------------


def _place(data: dict[str, Any], segments: tuple[Segment, ...], value: Any) -> str | None:
    """Puts ``value`` at ``segments`` inside ``data`` (the first use wins); a note when shapes clash."""
    node: Any = data
    where = "data." + format_path(list(segments))
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        fresh: Any = None if last else ({} if isinstance(segments[i + 1], str) else [])
        if segment is WILDCARD:
            return f"{where}: a wildcard cannot be scaffolded"
        if isinstance(segment, int):
            if not isinstance(node, list):
                return f"{where} is used both as a list and as something else"
            index = max(segment, 0)
            while len(node) <= index:
                node.append(None)
            if last:
                if node[index] is None:
                    node[index] = value
                return None
            if node[index] is None:
                node[index] = fresh
            node = node[index]
        else:
            if not isinstance(node, dict):
                return f"{where} is used both as an object and as a value"
            if last:
                node.setdefault(segment, value)
                return None
            node = node.setdefault(segment, fresh)
    return None


def scaffold(
    steps_by_scenario: Sequence[tuple[str, Sequence[ScenarioStepSpec]]], resolve: Resolver
) -> Scaffold:
    """Every `{{data.*}}` of every step (inputTemplate, meta, expected status) with an example value."""
    data: dict[str, Any] = {}
    variables: dict[str, Variable] = {}
    notes: list[str] = []
    unbound: set[str] = set()
    for scenario, steps in steps_by_scenario:
        for step in steps:
            bound = resolve(step)
            templates = [
                ("", step.action.input_template),
                ("/meta", {k: v for k, v in step.action.meta.items() if k != "chaining"}),
                ("/expectations", {"expectedStatusCode": step.expectations.expected_status_code}),
            ]
            for prefix, template in templates:
                for pointer, segments in data_variables(template):
                    key = format_path(list(segments))
                    used = f"{scenario}/{step.alias} {prefix or ''}{pointer}".strip()
                    if key in variables:
                        variables[key].used_by.append(used)
                        continue
                    schema = None
                    if prefix == "/expectations":
                        schema = {"type": "integer", "example": _success_status(bound[0] if bound else None)}
                    elif bound is not None and not prefix:
                        schema = _placeholder_schema(pointer, *bound)
                    elif bound is None and step.alias not in unbound:
                        unbound.add(step.alias)
                    leaf = next((str(s) for s in reversed(segments) if isinstance(s, str)), "value")
                    value, source, more = example(schema, bound[1] if bound else None, leaf)
                    whole = _is_whole(template, pointer)
                    if not whole and not isinstance(value, str | int | float | bool):
                        value, source = _by_name(leaf)
                    note = _place(data, segments, value)
                    if note:
                        notes.append(note)
                        continue
                    flat = flatten(schema, bound[1])[0] if schema is not None and bound else {}
                    variables[key] = Variable(key, value, source, [used], schema_type(flat) if flat else None)
                    notes.extend(f"data.{key}: {n}" for n in more)
    for alias in sorted(unbound):
        notes.append(f"step {alias!r} is not bound to an operation: its values were guessed from the names")
    return Scaffold(data, list(variables.values()), list(dict.fromkeys(notes)))


def _success_status(operation: Operation | None) -> int:
    """The first 2xx status the operation declares (200 when it declares none)."""
    codes = sorted(c for c in (operation.responses if operation else {}) if c.isdigit() and c.startswith("2"))
    return int(codes[0]) if codes else 200


def _is_whole(template: Any, pointer: str) -> bool:
    node = template
    for token in _pointer_tokens(pointer):
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return (
        isinstance(node, str)
        and node.strip().startswith("{{")
        and node.strip().endswith("}}")
        and node.count("{{") == 1
    )
