"""Helpers shared by the spec-import tests: walk every $ref of a summary and resolve it in components."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from orchestra_app.domain.spec import SpecSummary
from orchestra_app.importers.refs import split_fragment, walk_pointer

_DATA = ("example", "examples", "default", "enum", "const")


def all_refs(node: Any, out: list[str] | None = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append(node["$ref"])
        for key, value in node.items():
            if key not in _DATA and not key.startswith("x-"):
                all_refs(value, out)
    elif isinstance(node, list):
        for value in node:
            all_refs(value, out)
    return out


def dangling_refs(summary: SpecSummary) -> list[str]:
    """Refs in the dumped summary that are not ``#/components/...`` pointers resolvable in components."""
    dumped = summary.to_json_dict()
    doc = {"components": dumped.get("components", {})}
    bad = []
    for ref in all_refs(dumped):
        tokens = split_fragment(unquote(ref[1:])) if ref.startswith("#/components/") else None
        try:
            if tokens is None:
                raise KeyError(ref)
            walk_pointer(doc, tokens)
        except KeyError:
            bad.append(ref)
    return bad
