"""Reading the schemas of a SpecSummary: follow local refs, merge allOf, walk properties and items.

Used where Orchestra reasons about shapes without validating anything: starter templates, step
chaining and data scaffolding. Cycles and depth are bounded; an unresolvable node reads as ``{}``.
"""

from __future__ import annotations

from typing import Any

from orchestra_app.domain.paths import WILDCARD, Segment
from orchestra_app.domain.spec import Operation, SpecSummary, resolve_component_ref

MAX_DEPTH = 12


def resolve(schema: Any, spec: SpecSummary, seen: frozenset[str] = frozenset()) -> tuple[Any, frozenset[str]]:
    """Follow local ``#/components/...`` refs; a ref already on the stack yields None (cycle)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen:
            return None, seen
        seen = seen | {ref}
        node = resolve_component_ref(spec.components, ref)
        # 3.1 allows siblings next to $ref: keep them over the referenced schema
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = (
            {**node, **siblings} if isinstance(node, dict) and siblings else node if node is not None else {}
        )
    return schema, seen


def merge_all_of(schema: dict[str, Any], spec: SpecSummary, seen: frozenset[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    props = dict(merged.get("properties") or {})
    required = list(merged.get("required") or [])
    for part in schema.get("allOf") or []:
        resolved, part_seen = resolve(part, spec, seen)
        if not isinstance(resolved, dict):
            continue
        if "allOf" in resolved:
            resolved = merge_all_of(resolved, spec, part_seen)
        props.update(resolved.get("properties") or {})
        required.extend(r for r in resolved.get("required") or [] if r not in required)
        for key, value in resolved.items():
            if key not in ("properties", "required") and key not in merged:
                merged[key] = value
    if props:
        merged["properties"] = props
    if required:
        merged["required"] = required
    return merged


def flatten(
    schema: Any, spec: SpecSummary, seen: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], frozenset[str]]:
    """The schema with refs followed, allOf merged and the first oneOf/anyOf branch taken."""
    for _ in range(MAX_DEPTH):
        resolved, seen = resolve(schema, spec, seen)
        if not isinstance(resolved, dict):
            return {}, seen
        if "allOf" in resolved:
            resolved = merge_all_of(resolved, spec, seen)
        branch = None
        for key in ("oneOf", "anyOf"):
            options = resolved.get(key)
            if isinstance(options, list) and options and "properties" not in resolved:
                # prefer a branch that is not just null
                branch = next(
                    (o for o in options if not (isinstance(o, dict) and o.get("type") == "null")), options[0]
                )
                break
        if branch is None:
            return resolved, seen
        schema = branch
    return {}, seen


def schema_type(schema: dict[str, Any]) -> str | None:
    """The JSON type a schema describes (the first non-null one), inferred from keywords if absent."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        first = schema["enum"][0]
        return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(first))
    return None


def child(
    schema: Any, spec: SpecSummary, segment: Segment, seen: frozenset[str] = frozenset()
) -> tuple[Any, frozenset[str]]:
    flat, seen = flatten(schema, spec, seen)
    if isinstance(segment, int) or segment is WILDCARD:
        return flat.get("items"), seen
    props = flat.get("properties") or {}
    if isinstance(props, dict) and segment in props:
        return props[segment], seen
    extra = flat.get("additionalProperties")
    if isinstance(extra, dict):
        return extra, seen
    return None, seen


def schema_at(
    schema: Any, spec: SpecSummary, segments: tuple[Segment, ...] | list[Segment]
) -> dict[str, Any] | None:
    """The flattened schema below ``segments`` (property names, list indexes), or None."""
    seen: frozenset[str] = frozenset()
    node = schema
    for segment in segments:
        node, seen = child(node, spec, segment, seen)
        if node is None:
            return None
    flat, _ = flatten(node, spec, seen)
    return flat


def properties(schema: Any, spec: SpecSummary) -> dict[str, Any]:
    flat, _ = flatten(schema, spec)
    props = flat.get("properties")
    return props if isinstance(props, dict) else {}


def json_media(content: dict[str, Any]) -> str | None:
    return next((m for m in content if "json" in m.lower()), None)


def request_body_schema(operation: Operation) -> tuple[str, Any] | None:
    """(template key, schema) of the operation's request body: json, form, multipart or body."""
    body = operation.request_body
    if body is None or not body.content:
        return None
    media = json_media(body.content)
    if media is not None:
        return "json", body.content[media]
    media = next((m for m in body.content if "form" in m.lower()), next(iter(body.content)))
    kind = "multipart" if "multipart" in media else "form" if "form" in media else "body"
    return kind, body.content[media]


def success_response(operation: Operation) -> tuple[str, Any] | None:
    """(status code, JSON schema) of the first 2xx response with a JSON body (201 before 200 for POST)."""
    codes = sorted(
        (c for c in operation.responses if c[:1] == "2"),
        key=lambda c: (
            c not in ("201", "200"),
            c != "201" if operation.method.upper() == "POST" else c != "200",
            c,
        ),
    )
    for code in codes:
        content = operation.responses[code].content
        media = json_media(content)
        if media is not None and content[media] is not None:
            return code, content[media]
    return None
