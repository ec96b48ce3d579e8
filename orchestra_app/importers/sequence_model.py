"""The orchestra-sequence/1 JSON format: pydantic model, validation with JSON pointers, and a builder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.graph import ImportWarning

SEQUENCE_FORMAT = "orchestra-sequence/1"

MessageKind = Literal["sync", "async", "reply"]
FragmentKind = Literal["alt", "opt", "loop", "par", "critical", "break", "group"]
ParticipantKind = Literal[
    "participant", "actor", "boundary", "control", "entity", "database", "collections", "queue", "external"
]
SINGLE_BRANCH_KINDS = frozenset({"opt", "loop", "break", "group"})
MAX_NESTING = 64  # deeper fragments are flattened (text) or rejected (JSON): no recursion blow-ups


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Participant(_Strict):
    id: str = Field(min_length=1)
    name: str | None = None
    kind: ParticipantKind = "participant"

    @property
    def display(self) -> str:
        return self.name or self.id


class Message(_Strict):
    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    label: str = ""
    kind: MessageKind = "sync"
    arrow: str | None = None  # the arrow as written in the source diagram, for display only
    bidirectional: bool = False
    activate: bool = False  # the message activates its receiver (mermaid "+", PlantUML "++")
    deactivate: bool = False  # the message ends its sender's activation (mermaid "-", PlantUML "--")
    line: int | None = None


class Note(_Strict):
    note: str
    participants: list[str] = Field(default_factory=list)
    position: Literal["over", "left", "right", "across", "ref"] = "over"
    line: int | None = None


class Branch(_Strict):
    guard: str | None = None
    items: list[Item] = Field(default_factory=list)
    line: int | None = None


class Fragment(_Strict):
    fragment: FragmentKind
    branches: list[Branch] = Field(min_length=1)
    line: int | None = None


def _item_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "fragment" in value:
            return "~fragment"
        if "note" in value:
            return "~note"
        return "~message"
    if isinstance(value, Fragment):
        return "~fragment"
    if isinstance(value, Note):
        return "~note"
    if isinstance(value, Message):
        return "~message"
    return None


Item = Annotated[
    Annotated[Message, Tag("~message")]
    | Annotated[Fragment, Tag("~fragment")]
    | Annotated[Note, Tag("~note")],
    Discriminator(_item_tag),
]


class SequenceDocument(_Strict):
    format: Literal["orchestra-sequence/1"]
    title: str | None = None
    participants: list[Participant] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)


Branch.model_rebuild()


def _pointer(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        text = str(part)
        if text.startswith("~"):  # discriminator tags are not part of the document
            continue
        if text == "from_":
            text = "from"
        parts.append(text.replace("~", "~0").replace("/", "~1"))
    return "".join(f"/{p}" for p in parts)


def validate_document(raw: Any, *, filename: str) -> SequenceDocument:
    """Validate a decoded JSON value; the first problem raises ImportError_ with its JSON pointer."""
    if not isinstance(raw, dict):
        raise ImportError_(
            "a sequence document must be a JSON object",
            kind=ErrorKind.INVALID_SPEC,
            file=filename,
            pointer="",
        )
    if raw.get("format") != SEQUENCE_FORMAT:
        got = raw.get("format")
        raise ImportError_(
            f'expected "format": "{SEQUENCE_FORMAT}", got {json.dumps(got)}',
            kind=ErrorKind.INVALID_SPEC,
            file=filename,
            pointer="/format",
        )
    try:
        doc = SequenceDocument.model_validate(raw)
    except RecursionError:
        raise ImportError_(
            "the document is nested too deeply", kind=ErrorKind.INVALID_SPEC, file=filename, pointer="/items"
        ) from None
    except ValidationError as exc:
        problems = exc.errors()
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ImportError_(
            f"{first['msg']}{more}",
            kind=ErrorKind.INVALID_SPEC,
            file=filename,
            pointer=_pointer(tuple(first["loc"])),
        ) from None
    _check_semantics(doc, filename)
    return doc


def _check_semantics(doc: SequenceDocument, filename: str) -> None:
    def fail(message: str, pointer: str) -> None:
        raise ImportError_(message, kind=ErrorKind.INVALID_SPEC, file=filename, pointer=pointer)

    known: set[str] = set()
    for index, participant in enumerate(doc.participants):
        if participant.id in known:
            fail(f"duplicate participant id {participant.id!r}", f"/participants/{index}/id")
        known.add(participant.id)

    def walk(items: list[Message | Fragment | Note], base: str, depth: int = 0) -> None:
        if depth > MAX_NESTING:
            fail(f"fragments are nested deeper than {MAX_NESTING} levels", base)
        for index, item in enumerate(items):
            here = f"{base}/{index}"
            if isinstance(item, Message):
                for attr, key in (("from_", "from"), ("to", "to")):
                    ref = getattr(item, attr)
                    if ref not in known:
                        fail(f"unknown participant {ref!r} (declare it in /participants)", f"{here}/{key}")
            elif isinstance(item, Note):
                for pi, ref in enumerate(item.participants):
                    if ref not in known:
                        fail(f"unknown participant {ref!r}", f"{here}/participants/{pi}")
            else:
                if item.fragment in SINGLE_BRANCH_KINDS and len(item.branches) != 1:
                    fail(
                        f"a {item.fragment!r} fragment has exactly one branch, got {len(item.branches)}",
                        f"{here}/branches",
                    )
                for bi, branch in enumerate(item.branches):
                    walk(branch.items, f"{here}/branches/{bi}/items", depth + 1)

    walk(doc.items, "/items")


@dataclass
class SequenceStats:
    """What a text parser saw; the corpus test compares these with the manifest."""

    messages: int = 0
    fragments: int = 0
    fragment_kinds: set[str] = field(default_factory=set)
    alternatives: int = 0  # else / and / option separators
    notes: int = 0
    activations: int = 0  # "activate X" statements plus "+"/"++" shorthands


@dataclass
class SequenceParse:
    document: SequenceDocument
    dialect: str
    warnings: list[ImportWarning] = field(default_factory=list)
    stats: SequenceStats = field(default_factory=SequenceStats)


@dataclass
class _Open:
    kind: str  # a FragmentKind, or "box" for participant boxes
    keyword: str
    line: int
    branches: list[Branch]


class DocumentBuilder:
    """Collects participants and items while a text parser walks its lines; closes what is left open."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.title: str | None = None
        self.participants: dict[str, Participant] = {}
        self.root: list[Message | Fragment | Note] = []
        self.stack: list[_Open] = []
        self.warnings: list[ImportWarning] = []
        self.stats = SequenceStats()

    # participants -----------------------------------------------------------------
    def declare(self, pid: str, name: str | None = None, kind: str = "participant") -> None:
        existing = self.participants.get(pid)
        resolved_kind: Any = kind if kind in _KINDS else "participant"
        if existing is None:
            self.participants[pid] = Participant(
                id=pid, name=name if name and name != pid else None, kind=resolved_kind
            )
            return
        if name and name != pid:
            existing.name = name
        if kind != "participant":
            existing.kind = resolved_kind

    def ensure(self, pid: str) -> None:
        if pid not in self.participants:
            self.declare(pid)

    # items ------------------------------------------------------------------------
    @property
    def current(self) -> list[Message | Fragment | Note]:
        for frame in reversed(self.stack):
            if frame.kind not in ("box", "flat"):
                return frame.branches[-1].items
        return self.root

    def add_message(self, message: Message) -> None:
        self.ensure(message.from_)
        self.ensure(message.to)
        self.current.append(message)
        self.stats.messages += 1
        if message.activate:
            self.stats.activations += 1

    def add_note(self, note: Note) -> None:
        for pid in note.participants:
            self.ensure(pid)
        self.current.append(note)
        self.stats.notes += 1

    def open(self, kind: str, keyword: str, guard: str | None, line: int) -> None:
        if sum(1 for frame in self.stack if frame.kind not in ("box", "flat")) >= MAX_NESTING:
            self.warn("too_deep", f"{keyword!r} nested deeper than {MAX_NESTING} levels: flattened", line)
            self.stack.append(_Open("flat", keyword, line, []))
            return
        self.stack.append(_Open(kind, keyword, line, [Branch(guard=guard or None, line=line)]))
        self.stats.fragments += 1
        self.stats.fragment_kinds.add(keyword)

    def in_box(self) -> bool:
        return bool(self.stack) and self.stack[-1].kind == "box"

    def open_box(self, line: int) -> None:
        self.stack.append(_Open("box", "box", line, []))
        self.stats.fragments += 1
        self.stats.fragment_kinds.add("box")

    def add_branch(self, keyword: str, guard: str | None, line: int, allowed: dict[str, set[str]]) -> None:
        """``else``/``and``/``option``: a new branch of the innermost fragment that accepts it."""
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.kind == "flat":
            return
        if frame is None or frame.kind not in allowed.get(keyword, set()):
            where = f"inside {frame.keyword!r}" if frame else "outside any fragment"
            self.warn("misplaced_branch", f"{keyword!r} {where} ignored", line)
            return
        frame.branches.append(Branch(guard=guard or None, line=line))
        self.stats.alternatives += 1

    def close(self, line: int) -> None:
        if not self.stack:
            self.warn("unmatched_end", "'end' without an open block ignored", line)
            return
        frame = self.stack.pop()
        if frame.kind in ("box", "flat"):
            return
        self.current.append(Fragment(fragment=frame.kind, branches=frame.branches, line=frame.line))  # type: ignore[arg-type]

    def warn(self, code: str, message: str, line: int | None) -> None:
        self.warnings.append(ImportWarning(code=code, message=message, line=line))

    def finish(self) -> SequenceParse:
        while self.stack:
            frame = self.stack[-1]
            self.warn(
                "unclosed_block", f"{frame.keyword!r} opened on line {frame.line} is never closed", frame.line
            )
            self.close(frame.line)
        doc = SequenceDocument(
            format=SEQUENCE_FORMAT,
            title=self.title,
            participants=list(self.participants.values()),
            items=self.root,
        )
        return SequenceParse(document=doc, dialect=self.dialect, warnings=self.warnings, stats=self.stats)


_KINDS = set(ParticipantKind.__args__)  # type: ignore[attr-defined]
