"""Sequence diagrams back to mermaid text, for drawing models imported from JSON or PlantUML.

Messages come out in document order, the order the importer numbers them (``msg_1``, ``msg_2``, ...),
so message k of the drawing is graph node ``msg_k``. Text is escaped with mermaid's entity codes so a
label can never end a statement or open a directive.
"""

from __future__ import annotations

import re

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.sequence_model import Fragment, Message, Note, SequenceDocument

ARROWS = {"sync": "->>", "async": "-)", "reply": "-->>"}
# mermaid's sequence grammar has no "critical"-less "option"; these are its fragment keywords
_OPEN = {"alt": "alt", "opt": "opt", "loop": "loop", "par": "par", "critical": "critical", "break": "break"}
_NEXT = {"alt": "else", "par": "and", "critical": "option"}
_POSITIONS = {"left": "left of", "right": "right of", "over": "over", "across": "over", "ref": "over"}
_ENTITY = {"#": "#35;", ";": "#59;", "%": "#37;", "<": "#60;", ">": "#62;", "{": "#123;", "}": "#125;"}


def escape(text: str) -> str:
    """One line of mermaid label text: entity codes for the characters mermaid treats as syntax,
    line breaks as ``<br>`` (mermaid's own)."""
    lines = [line.strip() for line in re.split(r"\r\n|\r|\n", text.strip())]
    return "<br>".join("".join(_ENTITY.get(ch, ch) for ch in line) for line in lines)


class _Writer:
    def __init__(self, doc: SequenceDocument) -> None:
        self.doc = doc
        self.lines = ["sequenceDiagram"]
        self.ids: dict[str, str] = {}

    def participant_id(self, ref: str) -> str:
        if ref not in self.ids:
            self.ids[ref] = f"p{len(self.ids) + 1}"
        return self.ids[ref]

    def write(self) -> str:
        if self.doc.title:
            self.lines.append(f"    title {escape(self.doc.title)}")
        for participant in self.doc.participants:
            keyword = "actor" if participant.kind == "actor" else "participant"
            alias = escape(participant.display) or participant.id
            self.lines.append(f"    {keyword} {self.participant_id(participant.id)} as {alias}")
        self.items(self.doc.items, 1)
        return "\n".join(self.lines) + "\n"

    def items(self, items: list[Message | Fragment | Note], depth: int) -> None:
        pad = "    " * depth
        for item in items:
            if isinstance(item, Message):
                arrow = ARROWS.get(item.kind, "->>")
                label = escape(item.label) or " "
                src, dst = self.participant_id(item.from_), self.participant_id(item.to)
                self.lines.append(f"{pad}{src}{arrow}{dst}: {label}")
            elif isinstance(item, Note):
                where = _POSITIONS.get(item.position, "over")
                who = [self.participant_id(p) for p in item.participants] or [
                    self.participant_id(self.doc.participants[0].id)
                ]
                if where != "over":
                    who = who[:1]
                self.lines.append(f"{pad}Note {where} {','.join(who[:2])}: {escape(item.note) or ' '}")
            else:
                self.fragment(item, depth)

    def fragment(self, fragment: Fragment, depth: int) -> None:
        pad = "    " * depth
        kind = fragment.fragment
        if kind == "group":
            self.lines.append(f"{pad}rect rgba(128, 128, 128, 0.08)")
            self.items(fragment.branches[0].items, depth + 1)
            self.lines.append(f"{pad}end")
            return
        for index, branch in enumerate(fragment.branches):
            keyword = _OPEN[kind] if index == 0 else _NEXT.get(kind, "else")
            guard = escape(branch.guard or "")
            self.lines.append(f"{pad}{keyword} {guard}".rstrip())
            self.items(branch.items, depth + 1)
        self.lines.append(f"{pad}end")


def document_to_mermaid(doc: SequenceDocument) -> str:
    """mermaid text drawing the document; message k is graph node msg_k."""
    if not doc.participants and not doc.items:
        return "sequenceDiagram\n"
    return _Writer(doc).write()


def graph_to_mermaid(graph: ControlFlowGraph) -> str:
    """A plain message list from a sequence graph (used when the source file is no longer stored):
    fragments are not recovered, every message is drawn in its number order."""
    lanes = {lane.id: lane.name for lane in graph.lanes}
    display: dict[str, str] = {}
    messages = sorted(
        (n for n in graph.nodes if re.fullmatch(r"msg_\d+", n.id)), key=lambda n: int(n.id.split("_")[1])
    )
    ids: dict[str, str] = {}

    def pid(ref: str) -> str:
        if ref not in ids:
            ids[ref] = f"p{len(ids) + 1}"
        return ids[ref]

    body: list[str] = []
    for node in messages:
        src = str(node.extensions.get("from") or node.participant or "?")
        if node.lane_id and lanes.get(node.lane_id):
            display.setdefault(src, str(lanes[node.lane_id]))
        dst = str(node.extensions.get("to") or "?")
        arrow = ARROWS.get(str(node.extensions.get("kind", "sync")), "->>")
        body.append(f"    {pid(src)}{arrow}{pid(dst)}: {escape(node.name or '') or ' '}")
    head = ["sequenceDiagram"]
    if graph.name:
        head.append(f"    title {escape(graph.name)}")
    for ref in ids:  # receivers too: their lane is lane_<id as a slug> (importers/sequence_graph.py)
        slug = re.sub(r"\W+", "_", ref).strip("_") or "participant"
        if lanes.get(f"lane_{slug}"):
            display.setdefault(ref, str(lanes[f"lane_{slug}"]))
    head.extend(
        f"    participant {alias} as {escape(display.get(ref, ref)) or alias}" for ref, alias in ids.items()
    )
    return "\n".join(head + body) + "\n"
