"""Parser for mermaid ``sequenceDiagram`` text into the orchestra-sequence/1 document."""

from __future__ import annotations

import json
import re

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.importers.sequence_model import DocumentBuilder, Message, Note, SequenceParse
from orchestra_app.importers.sequence_text import clean_label, first_word

# Longest first: at one position the regex engine takes the first alternative that matches.
_ARROW = re.compile(r"<<-->>|<<->>|-->>|->>|--\)|-\)|--x|-x|-->|->|--\|[\\/]|-\|[\\/]")
_ARROW_KIND = {
    "->>": "sync",
    "->": "sync",
    "<<->>": "sync",
    "-->>": "reply",
    "-->": "reply",
    "<<-->>": "reply",
    "-)": "async",
    "--)": "async",
    "-x": "async",
    "--x": "async",
    "-|\\": "async",
    "-|/": "async",
    "--|\\": "async",
    "--|/": "async",
}
_BLOCKS = {
    "loop": "loop",
    "alt": "alt",
    "opt": "opt",
    "par": "par",
    "critical": "critical",
    "break": "break",
    "rect": "group",
    "par_over": "group",
}
_BRANCH_KEYWORDS = {"else": {"alt", "critical", "par"}, "and": {"par"}, "option": {"critical"}}
_KEYWORD_LINE = re.compile(r"^(?P<kw>[A-Za-z_]+)(?:\s+(?P<rest>.*))?$")
_PARTICIPANT = re.compile(r"^(?P<id>.+?)(?:@\{(?P<meta>.*)\})?(?:\s+as\s+(?P<alias>.+))?$")
_NOTE = re.compile(r"^note\s+(?P<pos>left\s+of|right\s+of|over)\s+(?P<who>[^:]+?)\s*:(?P<text>.*)$", re.I)
_WRAP = re.compile(r"^\s*(?:no)?wrap:", re.I)
_IGNORED = {"autonumber", "links", "link", "properties", "details", "accTitle", "accTitle:", "hide", "title:"}
_OTHER_DIAGRAMS = (
    "graph",
    "flowchart",
    "classDiagram",
    "stateDiagram",
    "stateDiagram-v2",
    "erDiagram",
    "gantt",
    "pie",
    "journey",
    "gitGraph",
    "mindmap",
    "timeline",
    "C4Context",
    "quadrantChart",
    "requirementDiagram",
    "sankey-beta",
    "xychart-beta",
    "block-beta",
    "packet-beta",
    "architecture-beta",
    "kanban",
)


def mermaid_header_line(lines: list[str]) -> int | None:
    """Index of the first statement after front matter, ``%%`` comments and blank lines."""
    index = 0
    if lines and lines[0].strip() == "---":
        for j in range(1, len(lines)):
            if lines[j].strip() == "---":
                index = j + 1
                break
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("%%"):
            return index
        index += 1
    return None


def is_mermaid_sequence(text: str) -> bool:
    lines = text.splitlines()
    at = mermaid_header_line(lines)
    return at is not None and first_word(lines[at].strip()).rstrip(";") == "sequenceDiagram"


def looks_like_other_mermaid(text: str) -> str | None:
    lines = text.splitlines()
    at = mermaid_header_line(lines)
    if at is None:
        return None
    word = first_word(lines[at].strip())
    return word if word in _OTHER_DIAGRAMS else None


def _front_matter_title(lines: list[str]) -> str | None:
    if not lines or lines[0].strip() != "---":
        return None
    for raw in lines[1:]:
        if raw.strip() == "---":
            break
        if raw.startswith("title:"):
            return raw.split(":", 1)[1].strip().strip("\"'") or None
    return None


def parse_mermaid(text: str, *, filename: str) -> SequenceParse:
    lines = text.splitlines()
    header = mermaid_header_line(lines)
    if header is None:
        raise ImportError_("empty mermaid document", kind=ErrorKind.UNKNOWN_FORMAT, file=filename, line=1)
    word = first_word(lines[header].strip())
    if word.rstrip(";") != "sequenceDiagram":
        raise ImportError_(
            f"not a mermaid sequence diagram: the diagram starts with {word!r} (expected 'sequenceDiagram')",
            kind=ErrorKind.UNKNOWN_FORMAT,
            file=filename,
            line=header + 1,
        )
    builder = DocumentBuilder("mermaid")
    builder.title = _front_matter_title(lines)
    in_description = False
    for index in range(header + 1, len(lines)):
        number = index + 1
        line = lines[index].strip()
        if in_description:
            in_description = "}" not in line
            continue
        if not line or line.startswith("%%"):
            continue
        if re.match(r"^accDescr\s*\{", line):
            in_description = "}" not in line
            continue
        try:
            _statement(builder, line, number)
        except ValueError as exc:  # a malformed statement is a warning, never a crash
            builder.warn("bad_statement", f"line {number}: {exc}", number)
    return builder.finish()


def _statement(b: DocumentBuilder, line: str, number: int) -> None:
    match = _KEYWORD_LINE.match(line)
    keyword = match.group("kw") if match else first_word(line)
    rest = (match.group("rest") or "").strip() if match else ""
    lowered = keyword.lower()

    if match and lowered in ("participant", "actor"):
        _participant(b, lowered, rest, number)
        return
    if match and lowered in ("create", "destroy"):
        parts = rest.split(None, 1)
        if lowered == "create" and parts and parts[0].lower() in ("participant", "actor") and len(parts) == 2:
            _participant(b, parts[0].lower(), parts[1], number)
        elif lowered == "destroy" and rest:
            b.ensure(rest)
        else:
            b.warn("unknown_statement", f"line {number}: cannot read {line!r}", number)
        return
    if match and lowered in ("activate", "deactivate") and rest:
        b.ensure(rest)
        if lowered == "activate":
            b.stats.activations += 1
        return
    if match and keyword in _BLOCKS and not _ARROW.match(rest):
        b.open(_BLOCKS[keyword], keyword, clean_label(rest) or None, number)
        return
    if match and keyword == "box":
        b.open_box(number)
        return
    if match and keyword in _BRANCH_KEYWORDS:
        b.add_branch(keyword, clean_label(rest) or None, number, _BRANCH_KEYWORDS)
        return
    if line == "end":
        b.close(number)
        return
    if lowered == "note" or line.lower().startswith("note "):
        note = _NOTE.match(line)
        if note is None:
            if not _message(b, line, number):  # a participant may be called "Note"
                b.warn("unknown_statement", f"line {number}: cannot read note {line!r}", number)
            return
        position = note.group("pos").split()[0].lower()
        who = [w.strip() for w in note.group("who").split(",") if w.strip()]
        body = _WRAP.sub("", note.group("text"))
        b.add_note(Note(note=clean_label(body), participants=who, position=position, line=number))  # type: ignore[arg-type]
        return
    if keyword == "title" or line.startswith("title:"):
        b.title = clean_label(line[len("title") :].lstrip(": ").strip()) or None
        return
    if keyword in ("accTitle", "accDescr") or line.startswith(("accTitle:", "accDescr:")):
        return
    if keyword in _IGNORED or first_word(line.split(":", 1)[0]) in _IGNORED:
        return
    if _message(b, line, number):
        return
    b.warn("unknown_statement", f"line {number}: unrecognised statement {line!r} ignored", number)


def _participant(b: DocumentBuilder, kind: str, rest: str, number: int) -> None:
    match = _PARTICIPANT.match(rest.strip())
    if match is None:
        b.warn("unknown_statement", f"line {number}: cannot read participant {rest!r}", number)
        return
    pid = match.group("id").strip()
    name: str | None = None
    if match.group("meta") is not None:
        try:
            meta = json.loads("{" + match.group("meta") + "}")
        except json.JSONDecodeError:
            meta = {}
            b.warn("bad_metadata", f"line {number}: participant metadata is not JSON", number)
        if isinstance(meta, dict):
            kind = str(meta.get("type", kind))
            if meta.get("alias"):
                name = str(meta["alias"])
    if match.group("alias"):
        name = clean_label(match.group("alias"))
    b.declare(pid, name, kind)


def _split_arrow(head: str) -> tuple[str, re.Match[str], str] | None:
    candidates: list[tuple[str, re.Match[str], str]] = []
    for found in _ARROW.finditer(head):
        left = head[: found.start()].strip()
        right = head[found.end() :].strip()
        if left.endswith("()"):
            left = left[:-2].strip()
        right = right.lstrip("+-").strip()
        if right.startswith("()"):
            right = right[2:].lstrip("+-").strip()
        if left and right:
            candidates.append((left, found, right))
    for left, found, right in candidates:
        if not _ARROW.search(left) and not _ARROW.search(right):
            return left, found, right
    return candidates[0] if candidates else None


def _message(b: DocumentBuilder, line: str, number: int) -> bool:
    head, colon, text = line.partition(":")
    parts = _split_arrow(head)
    if parts is None:
        return False
    sender, arrow, receiver = parts
    after = head[arrow.end() :].strip().removeprefix("()").strip()
    arrow_text = arrow.group(0)
    label = clean_label(_WRAP.sub("", text)) if colon else ""
    b.add_message(
        Message.model_validate(
            {
                "from": sender,
                "to": receiver,
                "label": label,
                "kind": _ARROW_KIND[arrow_text],
                "arrow": arrow_text,
                "bidirectional": arrow_text.startswith("<<"),
                "activate": after.startswith("+"),
                "deactivate": after.startswith("-"),
                "line": number,
            }
        )
    )
    return True
