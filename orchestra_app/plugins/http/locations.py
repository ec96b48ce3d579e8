"""Schema error paths mapped back into the spec document (absolute JSON pointers for violations).

A validator reports the failing keyword as a path through the *compiled* schema: the OpenAPI schema
converted to JSON Schema 2020-12 (``schemas.py``) with the spec's components as root. This module
walks that path through the converted schema and the summary's original schema side by side,
undoing the conversion's rewrites, and through every ``$ref`` into the component it names, so the
result is where the failing keyword is written in the source document:

* a ``$ref`` hop moves to the referenced component's own location (``/components/schemas/Order``,
  ``/definitions/Order`` in Swagger 2, or a pointer into the file it was bundled from), so a failure
  inside a shared schema points at the component to fix, not at each place that uses it (the use
  site stays visible as ``schemaPointer``, which keeps its ``$ref`` hops);
* ``nullable`` wrappers (``{"if": {"type": "null"}, "else": ...}``) are stepped through;
* the ``allOf`` branches that stand for a ``discriminator`` point at the ``discriminator`` keyword
  until they reach the mapped component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestra_app.domain.spec import (
    SourceRef,
    SpecSummary,
    component_source,
    escape_pointer_token,
    resolve_component_ref,
    split_component_ref,
)
from orchestra_app.plugins.http.schemas import Direction, SpecIndex, pointer_of

_MAX_HOPS = 200


@dataclass(frozen=True)
class SchemaLocation:
    schema_pointer: str  # relative to the validated schema, "$ref" hops included
    spec: SourceRef | None  # the failing keyword in the source document; None when unknown


def _is_null_wrapper(conv: dict[str, Any], orig: Any) -> bool:
    return (
        isinstance(orig, dict)
        and orig.get("nullable") is True
        and conv.keys() == {"if", "else"}
        and conv["if"] == {"type": "null"}
    )


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token)
    if isinstance(node, list):
        try:
            return node[int(token)]
        except (ValueError, IndexError):
            return None
    return None


def locate(
    spec: SpecSummary,
    index: SpecIndex,
    direction: Direction,
    schema: Any,
    root: dict[str, Any],
    start: SourceRef | None,
    path: tuple[str, ...],
) -> SchemaLocation:
    """Where the keyword at ``path`` (a validator's error path through ``root``, the compiled schema)
    is written.

    ``schema`` is the original (summary) schema that was compiled; ``start`` where it is in the
    source document (None for summaries imported before sources were recorded: the location is
    then known only once the path passes through a ``$ref``).
    """
    conv_components = index.components_for(direction)
    raw_components = index.raw_components
    conv: Any = root
    orig: Any = schema
    base = start
    rel: list[str] = []
    evaluated: list[str] = []
    synthetic = False  # inside a rewrite with no source of its own: stay at the keyword it came from
    i = 0
    hops = 0
    while i < len(path):
        token = path[i]
        if isinstance(conv, dict):
            if _is_null_wrapper(conv, orig) and token in ("else", "if"):
                conv = conv[token] if token == "else" else conv["if"]
                evaluated.append(token)
                if token == "if":
                    synthetic = True
                    rel.append("nullable")
                i += 1
                continue
            ref = conv.get("$ref")
            if isinstance(ref, str) and (token == "$ref" or token not in conv) and hops < _MAX_HOPS:
                hops += 1
                evaluated.append("$ref")
                parts = split_component_ref(ref)
                conv = resolve_component_ref(conv_components, ref)
                orig = resolve_component_ref(raw_components, ref)
                if parts and len(parts) >= 2:
                    base = component_source(spec, parts[0], parts[1])
                    rel = parts[2:]
                    synthetic = False
                if token == "$ref":
                    i += 1
                continue
            if token == "allOf" and isinstance(orig, dict) and "discriminator" in orig and i + 1 < len(path):
                own = orig.get("allOf")
                own_count = len(own) if isinstance(own, list) else 0
                try:
                    position = int(path[i + 1])
                except ValueError:
                    position = -1
                if position >= own_count:
                    # A branch or the tag check the converter derived from the discriminator.
                    if not synthetic:
                        rel.append("discriminator")
                    synthetic = True
                    conv = _child(_child(conv, "allOf"), path[i + 1])
                    orig = None
                    evaluated.extend(path[i : i + 2])
                    i += 2
                    continue
        conv = _child(conv, token)
        orig = _child(orig, token)
        evaluated.append(token)
        if not synthetic:
            rel.append(token)
        i += 1
    if base is None:
        return SchemaLocation(pointer_of(evaluated), None)
    pointer = base.pointer + "".join("/" + escape_pointer_token(t) for t in rel)
    return SchemaLocation(pointer_of(evaluated), SourceRef(pointer=pointer, file=base.file))


def spec_details(location: SchemaLocation) -> dict[str, Any]:
    """The violation details for a location: schemaPointer, specPointer and (other files) specFile."""
    details: dict[str, Any] = {"schemaPointer": location.schema_pointer}
    if location.spec is not None:
        details["specPointer"] = location.spec.pointer
        if location.spec.file:
            details["specFile"] = location.spec.file
    return details
