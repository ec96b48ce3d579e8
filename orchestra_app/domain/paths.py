"""One path grammar for templates (`data.items[0].id`) and business rules (`$.body.items[*].id`).

Grammar (docs/templating.md, docs/business-rules.md)::

    path     := "$" step*                 rules: the subject is the root
              | first step*               templates: the first name picks the root (data, step, env, run)
    first    := name | "*"
    step     := "." name | ".*" | "[" integer "]" | "[*]" | "[" quoted "]"
    name     := one or more characters other than  . [ ]
    integer  := -?digits                  negative counts from the end: [-1] is the last element
    quoted   := '...' | "..."             a member whose name contains . [ or ]

A digit name on a list is an index (`items.0.sku` == `items[0].sku`), an integer index on an
object looks up the member of that name, and a wildcard selects every element or member value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final


class _Wildcard:
    _instance: _Wildcard | None = None

    def __new__(cls) -> _Wildcard:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "*"


WILDCARD: Final = _Wildcard()
Segment = str | int | _Wildcard

_STEP = re.compile(r"""\.([^.\[\]]+)|\[(-?\d+|\*)\]|\[(?:"([^"]*)"|'([^']*)')\]""")
_FIRST = re.compile(r"""([^.\[\]]+)""")


class PathSyntaxError(ValueError):
    """A path that does not follow the grammar; ``position`` is 1-based."""

    def __init__(self, text: str, position: int) -> None:
        super().__init__(f"bad path syntax at character {position} of {text!r}")
        self.text = text
        self.position = position


@lru_cache(maxsize=8192)
def parse_path(text: str) -> tuple[Segment, ...]:
    """``a.b[0]["c.d"]`` -> ("a", "b", 0, "c.d"); ``$.body.*`` -> ("body", WILDCARD)."""
    segments: list[Segment] = []
    pos = 0
    if text.startswith("$"):
        pos = 1
    elif text:
        first = _FIRST.match(text)
        if first is None:
            if not text.startswith("["):
                raise PathSyntaxError(text, 1)
        else:
            name = first.group(1)
            segments.append(WILDCARD if name == "*" else name)
            pos = first.end()
    else:
        raise PathSyntaxError(text, 1)
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise PathSyntaxError(text, pos + 1)
        name, index, double, single = match.groups()
        if name is not None:
            segments.append(WILDCARD if name == "*" else name)
        elif index is not None:
            segments.append(WILDCARD if index == "*" else int(index))
        else:
            segments.append(double if double is not None else single)
        pos = match.end()
    return tuple(segments)


def format_path(segments: tuple[Segment, ...] | list[Segment], *, dollar: bool = False) -> str:
    """The inverse of parse_path (canonical spelling)."""
    out = "$" if dollar else ""
    for i, segment in enumerate(segments):
        if segment is WILDCARD:
            out += "[*]" if i or dollar else "*"
        elif isinstance(segment, int):
            out += f"[{segment}]"
        elif isinstance(segment, str) and _FIRST.fullmatch(segment) and segment != "*":
            out += f".{segment}" if i or dollar else segment
        else:
            out += f'["{segment}"]'
    return out


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _child(value: Any, segment: Segment, fold: bool) -> list[tuple[str, Any]]:
    """(pointer token, value) pairs one segment reaches from ``value``."""
    if segment is WILDCARD:
        if isinstance(value, list):
            return [(str(i), v) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            return [(escape_pointer_token(str(k)), v) for k, v in value.items()]
        return []
    if isinstance(value, list):
        index: int | None = None
        if isinstance(segment, int):
            index = segment
        elif isinstance(segment, str) and segment.isdigit():
            index = int(segment)
        if index is not None and -len(value) <= index < len(value):
            real = index if index >= 0 else len(value) + index
            return [(str(real), value[real])]
        return []
    if isinstance(value, Mapping):
        key = str(segment) if isinstance(segment, int) else segment
        if key in value:
            return [(escape_pointer_token(str(key)), value[key])]
        if fold and isinstance(key, str):
            lowered = key.lower()
            for k, v in value.items():
                if str(k).lower() == lowered:
                    return [(escape_pointer_token(str(k)), v)]
    return []


def select(
    subject: Any, segments: tuple[Segment, ...], *, fold_depths: frozenset[int] = frozenset()
) -> list[tuple[str, Any]]:
    """Every (JSON pointer, value) the path reaches; empty when nothing matches.

    ``fold_depths`` lists the segment positions whose member names match case-insensitively
    (HTTP header names).
    """
    current: list[tuple[str, Any]] = [("", subject)]
    for depth, segment in enumerate(segments):
        fold = depth in fold_depths
        current = [
            (f"{pointer}/{token}", child)
            for pointer, value in current
            for token, child in _child(value, segment, fold)
        ]
        if not current:
            break
    return current


def has_wildcard(segments: tuple[Segment, ...]) -> bool:
    return any(s is WILDCARD for s in segments)


def explain_missing(
    subject: Any, segments: tuple[Segment, ...], *, fold_depths: frozenset[int] = frozenset()
) -> str:
    """Why a single-valued path reached nothing: the deepest prefix found and what it holds."""
    value = subject
    for depth, segment in enumerate(segments):
        if segment is WILDCARD:
            return "the wildcard matched nothing"
        found = _child(value, segment, depth in fold_depths)
        if not found:
            prefix = format_path(list(segments[:depth])) or "the value"
            if isinstance(value, Mapping):
                keys = ", ".join(sorted(str(k) for k in value)[:12]) or "no members"
                more = ", ..." if len(value) > 12 else ""
                return f"{prefix} has no member {segment!r} (it has: {keys}{more})"
            if isinstance(value, list):
                return f"{prefix} is a list of {len(value)} element(s); {segment!r} is not an index in it"
            kind = "null" if value is None else type(value).__name__
            return f"{prefix} is {kind}, not an object or list"
        value = found[0][1]
    return "no value"
