"""HTTP EndpointMatcher: similarity matching plus a starter inputTemplate built from the operation."""

from __future__ import annotations

from typing import Any

from orchestra_app.domain.spec import Operation, SpecSummary, template_variables
from orchestra_app.plugins.matching import SimilarityEndpointMatcher
from orchestra_app.plugins.schema_walk import merge_all_of, resolve

MAX_DEPTH = 6
_LOCATION_KEYS = {"path": "pathParams", "query": "query", "header": "headers", "cookie": "cookies"}


def _placeholder(path: str) -> str:
    return "{{data." + path + "}}"


def skeleton(
    schema: Any, spec: SpecSummary, path: str, depth: int = 0, seen: frozenset[str] = frozenset()
) -> Any:
    """A body skeleton: required fields become ``{{data.<dotted path>}}``; objects and arrays recurse."""
    resolved, seen = resolve(schema, spec, seen)
    if not isinstance(resolved, dict) or depth >= MAX_DEPTH:
        return _placeholder(path)
    if "allOf" in resolved:
        resolved = merge_all_of(resolved, spec, seen)
    for key in ("oneOf", "anyOf"):
        if resolved.get(key) and "properties" not in resolved:
            return skeleton(resolved[key][0], spec, path, depth + 1, seen)
    kind = resolved.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and "properties" in resolved):
        props = resolved.get("properties") or {}
        required = [name for name in resolved.get("required") or [] if name in props]
        if not required:
            return _placeholder(path) if not props else {}
        return {
            name: skeleton(props[name], spec, f"{path}.{name}" if path else name, depth + 1, seen)
            for name in required
        }
    if kind == "array":
        return [skeleton(resolved.get("items") or {}, spec, f"{path}[0]", depth + 1, seen)]
    return _placeholder(path)


def starter_template(operation: Operation, spec: SpecSummary) -> dict[str, Any]:
    """method, path, required parameters as placeholders and a JSON/form body skeleton."""
    template: dict[str, Any] = {"method": operation.method.upper(), "path": operation.path}
    variables = set(template_variables(operation.path))
    for param in operation.parameters:
        key = _LOCATION_KEYS.get(param.location)
        if key is None or not (param.required or param.location == "path"):
            continue
        if param.location == "path" and param.name not in variables:
            continue  # matches nothing in the path (a spec defect): it cannot be sent
        template.setdefault(key, {})[param.name] = _placeholder(param.name)
    for name in sorted(variables):  # {variables} the spec forgot to declare still need a value
        template.setdefault("pathParams", {}).setdefault(name, _placeholder(name))
    body = operation.request_body
    if body is not None and body.content:
        media = next((m for m in body.content if "json" in m.lower()), None)
        kind = "json"
        if media is None:
            media = next((m for m in body.content if "form" in m.lower()), next(iter(body.content)))
            kind = "multipart" if "multipart" in media else "form" if "form" in media else "body"
        schema = body.content.get(media)
        if schema is not None:
            template[kind] = skeleton(schema, spec, "")
            if template[kind] == _placeholder(""):
                template[kind] = "{{data.body}}"
        elif body.required:
            template[kind] = "{{data.body}}"
        if kind == "body" or (kind == "json" and media != "application/json"):
            template["contentType"] = media
    return template


class HttpEndpointMatcher(SimilarityEndpointMatcher):
    protocol_id = "http"

    def starter_template(self, operation: Operation, spec: SpecSummary) -> dict[str, Any]:
        return starter_template(operation, spec)
