"""Detects a process file's format from its content (BPMN XML, mermaid, PlantUML, JSON) and imports it."""

from __future__ import annotations

from typing import Literal

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.bpmn import import_bpmn
from orchestra_app.importers.graph_facts import derive_facts
from orchestra_app.importers.sequence import import_sequence, looks_like_sequence
from orchestra_app.importers.sequence_mermaid import looks_like_other_mermaid

ProcessFormat = Literal["bpmn", "json", "mermaid", "plantuml"]

_SNIFF_BYTES = 64 * 1024


def detect_format(data: bytes, *, filename: str) -> ProcessFormat:
    """The process format of ``data``; raises UNKNOWN_FORMAT (naming the file) when nothing fits."""
    head = data[:_SNIFF_BYTES]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "bpmn"  # UTF-16 text here is XML in practice; the BPMN importer reports it precisely
    stripped = head.lstrip()
    if not stripped:
        raise ImportError_(
            "the file is empty", kind=ErrorKind.UNKNOWN_FORMAT, file=filename, line=1, column=1
        )
    if stripped.startswith(b"<"):
        return "bpmn"
    text = head.decode("utf-8", errors="replace")
    if stripped.startswith(b"{"):
        # The JSON importer names the offending pointer/line better than a sniffer could.
        return "json"
    dialect = looks_like_sequence(text)
    if dialect in ("json", "mermaid", "plantuml"):
        return dialect  # type: ignore[return-value]
    lowered = text.lstrip().lower()
    if "sequencediagram" in lowered[:4096]:
        return "mermaid"
    if lowered.startswith("@startuml") or "@startuml" in lowered[:4096]:
        return "plantuml"
    other = looks_like_other_mermaid(text)
    if other:
        raise ImportError_(
            f"this is a mermaid {other!r} diagram; only mermaid sequenceDiagram describes a process",
            kind=ErrorKind.UNKNOWN_FORMAT,
            file=filename,
            line=1,
            column=1,
        )
    first = text.strip().splitlines()[0][:60] if text.strip() else ""
    raise ImportError_(
        "unknown process format: expected BPMN 2.0 XML, a mermaid sequenceDiagram, PlantUML sequence "
        f"syntax or the orchestra-sequence JSON format (file starts with {first!r})",
        kind=ErrorKind.UNKNOWN_FORMAT,
        file=filename,
        line=1,
        column=1,
    )


def import_process(
    data: bytes, *, filename: str, max_loop_iterations: int | None = None, allow_empty: bool = False
) -> ControlFlowGraph:
    """Import a BPMN or sequence-diagram file into a controlFlowGraph (derived facts included).

    ``allow_empty`` lets a BPMN model without flow nodes (empty or black-box pools) import with an
    EMPTY_MODEL warning; without it such a model is refused, since it has nothing to test.
    """
    fmt = detect_format(data, filename=filename)
    if fmt == "bpmn":
        return import_bpmn(
            data, filename=filename, max_loop_iterations=max_loop_iterations, allow_empty=allow_empty
        )
    graph = import_sequence(data, filename=filename)  # derived facts already filled in
    if max_loop_iterations is None:
        return graph
    return derive_facts(graph, max_loop_iterations=max_loop_iterations)
