"""Sequence-diagram import: detects JSON / mermaid / PlantUML and builds the controlFlowGraph."""

from __future__ import annotations

import json
from pathlib import PurePath

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.graph_facts import derive_facts
from orchestra_app.importers.sequence_graph import document_to_graph
from orchestra_app.importers.sequence_mermaid import (
    is_mermaid_sequence,
    looks_like_other_mermaid,
    parse_mermaid,
)
from orchestra_app.importers.sequence_model import (
    SEQUENCE_FORMAT,
    SequenceDocument,
    SequenceParse,
    validate_document,
)
from orchestra_app.importers.sequence_plantuml import is_plantuml, parse_plantuml, plantuml_sequence_problem

__all__ = [
    "MAX_SEQUENCE_BYTES",
    "SEQUENCE_FORMAT",
    "SequenceDocument",
    "SequenceParse",
    "import_sequence",
    "looks_like_sequence",
    "parse_sequence",
]

MAX_SEQUENCE_BYTES = 20 * 1024 * 1024


def looks_like_sequence(text: str) -> str | None:
    """The dialect of a sequence diagram (``"json"``, ``"mermaid"``, ``"plantuml"``), or None."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        fmt = value.get("format") if isinstance(value, dict) else None
        return "json" if isinstance(fmt, str) and fmt.startswith("orchestra-sequence/") else None
    if is_mermaid_sequence(stripped):
        return "mermaid"
    if is_plantuml(stripped) and plantuml_sequence_problem(stripped) is None:
        return "plantuml"
    return None


def _decode(data: bytes | str, filename: str) -> str:
    if isinstance(data, str):
        text = data
        size = len(data)
    else:
        size = len(data)
        if size > MAX_SEQUENCE_BYTES:
            text = ""
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ImportError_(
                    f"not UTF-8 text (invalid byte at offset {exc.start})",
                    kind=ErrorKind.SYNTAX,
                    file=filename,
                ) from None
    if size > MAX_SEQUENCE_BYTES:
        raise ImportError_(
            f"file is {size} bytes; sequence diagrams are limited to {MAX_SEQUENCE_BYTES} bytes",
            kind=ErrorKind.TOO_LARGE,
            file=filename,
        )
    return text.lstrip("\ufeff")


def _first_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number
    return 1


def parse_sequence(data: bytes | str, *, filename: str) -> SequenceParse:
    """Read any supported dialect into an orchestra-sequence/1 document plus warnings and counts."""
    text = _decode(data, filename)
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise ImportError_(
            "empty file: no sequence diagram", kind=ErrorKind.UNKNOWN_FORMAT, file=filename, line=1
        )
    if stripped.startswith(("{", "[")):
        try:
            raw = json.loads(text)
        except RecursionError:
            raise ImportError_(
                "JSON nested too deeply", kind=ErrorKind.SYNTAX, file=filename, line=_first_line(text)
            ) from None
        except json.JSONDecodeError as exc:
            raise ImportError_(
                f"invalid JSON: {exc.msg}",
                kind=ErrorKind.SYNTAX,
                file=filename,
                line=exc.lineno,
                column=exc.colno,
            ) from None
        except ValueError as exc:  # e.g. an integer literal over Python's 4,300-digit limit
            raise ImportError_(
                f"invalid JSON: {str(exc).split(';')[0]}",
                kind=ErrorKind.SYNTAX,
                file=filename,
                line=_first_line(text),
            ) from None
        return SequenceParse(document=validate_document(raw, filename=filename), dialect="json")
    if is_mermaid_sequence(text):
        return parse_mermaid(text, filename=filename)
    other = looks_like_other_mermaid(text)
    if other is not None:
        return parse_mermaid(text, filename=filename)  # raises with the offending line
    if is_plantuml(text):
        return parse_plantuml(text, filename=filename)  # raises when it is not a sequence diagram
    line = _first_line(text)
    first = text.splitlines()[line - 1].strip()
    raise ImportError_(
        "not a sequence diagram: expected orchestra-sequence JSON, a mermaid 'sequenceDiagram' or PlantUML "
        f"'@startuml', found {first[:60]!r}",
        kind=ErrorKind.UNKNOWN_FORMAT,
        file=filename,
        line=line,
    )


def import_sequence(data: bytes | str, *, filename: str) -> ControlFlowGraph:
    """Import a sequence diagram (format detected from content) into a controlFlowGraph."""
    parsed = parse_sequence(data, filename=filename)
    graph = document_to_graph(parsed.document, name=PurePath(filename).stem, warnings=parsed.warnings)
    return derive_facts(graph)
