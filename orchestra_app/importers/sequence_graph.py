"""Maps an orchestra-sequence/1 document onto the controlFlowGraph (source type SEQUENCE)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from orchestra_app.domain.graph import (
    ControlFlowGraph,
    Flow,
    GraphProcess,
    ImportWarning,
    Lane,
    Node,
    SourceType,
)
from orchestra_app.importers.sequence_model import Fragment, Message, Note, SequenceDocument

PROCESS_ID = "sequence"
TASK_TYPES = {"sync": "serviceTask", "async": "sendTask", "reply": "receiveTask"}


@dataclass(frozen=True)
class _Pending:
    """An outgoing flow whose target is not known yet."""

    source: str
    condition: str | None = None
    name: str | None = None
    is_default: bool = False


class _Builder:
    def __init__(self, doc: SequenceDocument) -> None:
        self.doc = doc
        self.nodes: list[Node] = []
        self.by_id: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self.counters: Counter[str] = Counter()
        self.messages = 0
        self.last_message: Node | None = None
        self.waiting_notes: list[dict[str, Any]] = []
        self.lanes: dict[str, Lane] = {}
        used: set[str] = set()
        for participant in doc.participants:
            slug = re.sub(r"\W+", "_", participant.id).strip("_") or "participant"
            lane_id = f"lane_{slug}"
            suffix = 2
            while lane_id in used:
                lane_id = f"lane_{slug}_{suffix}"
                suffix += 1
            used.add(lane_id)
            self.lanes[participant.id] = Lane(id=lane_id, name=participant.display, process_id=PROCESS_ID)

    def add(self, node_id: str, node_type: str, **fields: Any) -> Node:
        node = Node(id=node_id, type=node_type, process_id=PROCESS_ID, **fields)
        self.nodes.append(node)
        self.by_id[node_id] = node
        return node

    def connect(self, pending: list[_Pending], target: str) -> None:
        for edge in pending:
            flow_id = f"flow_{len(self.flows) + 1}"
            self.flows.append(
                Flow(
                    id=flow_id,
                    source=edge.source,
                    target=target,
                    condition=edge.condition,
                    name=edge.name,
                    is_default=edge.is_default,
                )
            )
            if edge.is_default:
                self.by_id[edge.source].default_flow = flow_id

    def items(self, items: list[Message | Fragment | Note], pending: list[_Pending]) -> list[_Pending]:
        for item in items:
            if isinstance(item, Message):
                pending = self.message(item, pending)
            elif isinstance(item, Note):
                self.note(item)
            else:
                pending = self.fragment(item, pending)
        return pending

    def message(self, message: Message, pending: list[_Pending]) -> list[_Pending]:
        self.messages += 1
        extensions: dict[str, Any] = {"from": message.from_, "to": message.to, "kind": message.kind}
        if message.arrow:
            extensions["arrow"] = message.arrow
        if message.bidirectional:
            extensions["bidirectional"] = True
        if message.kind == "reply":
            extensions["reply"] = True
        if self.waiting_notes:
            extensions["notes"] = self.waiting_notes
            self.waiting_notes = []
        lane = self.lanes.get(message.from_)
        node = self.add(
            f"msg_{self.messages}",
            TASK_TYPES[message.kind],
            name=message.label or f"{message.from_} → {message.to}",
            participant=message.from_,
            lane_id=lane.id if lane else None,
            line=message.line,
            extensions=extensions,
        )
        if lane:
            lane.node_ids.append(node.id)
        self.connect(pending, node.id)
        self.last_message = node
        return [_Pending(node.id)]

    def note(self, note: Note) -> None:
        entry: dict[str, Any] = {"text": note.note, "position": note.position}
        if note.participants:
            entry["participants"] = note.participants
        if self.last_message is None:
            self.waiting_notes.append(entry)
        else:
            self.last_message.extensions.setdefault("notes", []).append(entry)

    def fragment(self, fragment: Fragment, pending: list[_Pending]) -> list[_Pending]:
        kind = fragment.fragment
        if kind == "group":
            return self.items(fragment.branches[0].items, pending)
        self.counters[kind] += 1
        prefix = f"{kind}_{self.counters[kind]}"
        guard_ext = {"fragment": kind, "guards": [b.guard for b in fragment.branches]}
        if kind == "loop":
            return self.loop(prefix, fragment, pending, guard_ext)
        if kind == "break":
            return self.break_(prefix, fragment, pending, guard_ext)
        gateway = "parallelGateway" if kind == "par" else "exclusiveGateway"
        split = self.add(
            f"{prefix}_split", gateway, name=_gateway_name(fragment), line=fragment.line, extensions=guard_ext
        )
        self.connect(pending, split.id)
        exits: list[_Pending] = []
        for index, branch in enumerate(fragment.branches):
            guard = branch.guard
            is_last = index == len(fragment.branches) - 1
            if kind == "par":
                start = _Pending(split.id, name=guard)
            elif guard is None and is_last and index > 0:
                start = _Pending(split.id, name="else", is_default=True)
            else:
                start = _Pending(split.id, condition=guard or f"branch {index + 1}", name=guard)
            exits.extend(self.items(branch.items, [start]))
        if kind == "opt" or (kind == "alt" and len(fragment.branches) == 1):
            exits.append(_Pending(split.id, name="skip", is_default=True))
        join = self.add(f"{prefix}_join", gateway, line=fragment.line, extensions={"fragment": kind})
        self.connect(exits, join.id)
        return [_Pending(join.id)]

    def loop(
        self, prefix: str, fragment: Fragment, pending: list[_Pending], ext: dict[str, Any]
    ) -> list[_Pending]:
        guard = fragment.branches[0].guard
        start = self.add(
            f"{prefix}_start", "exclusiveGateway", line=fragment.line, extensions={"fragment": "loop"}
        )
        self.connect(pending, start.id)
        check = self.add(
            f"{prefix}_check", "exclusiveGateway", name=guard or "loop", line=fragment.line, extensions=ext
        )
        self.connect([_Pending(start.id)], check.id)
        body_end = self.items(
            fragment.branches[0].items, [_Pending(check.id, condition=guard or "repeat", name=guard)]
        )
        self.connect(body_end, start.id)  # the back flow
        return [_Pending(check.id, name="exit loop", is_default=True)]

    def break_(
        self, prefix: str, fragment: Fragment, pending: list[_Pending], ext: dict[str, Any]
    ) -> list[_Pending]:
        guard = fragment.branches[0].guard
        split = self.add(
            f"{prefix}_split", "exclusiveGateway", name=guard or "break", line=fragment.line, extensions=ext
        )
        self.connect(pending, split.id)
        body_end = self.items(
            fragment.branches[0].items, [_Pending(split.id, condition=guard or "break", name=guard)]
        )
        end = self.add(
            f"{prefix}_end", "endEvent", name=f"break: {guard}" if guard else "break", line=fragment.line
        )
        self.connect(body_end, end.id)
        return [_Pending(split.id, name="continue", is_default=True)]


def _gateway_name(fragment: Fragment) -> str | None:
    guards = [b.guard for b in fragment.branches if b.guard]
    return " / ".join(guards) if guards else fragment.fragment


def document_to_graph(
    doc: SequenceDocument,
    *,
    name: str | None = None,
    warnings: list[ImportWarning] | None = None,
) -> ControlFlowGraph:
    """Build the graph without derived facts (``import_sequence`` adds them)."""
    builder = _Builder(doc)
    builder.add("start", "startEvent", name="start")
    pending = builder.items(doc.items, [_Pending("start")])
    if builder.waiting_notes:  # notes with no message at all: keep them on the start event
        builder.by_id["start"].extensions["notes"] = builder.waiting_notes
    builder.add("end", "endEvent", name="end")
    builder.connect(pending, "end")
    title = doc.title or name
    return ControlFlowGraph(
        source_type=SourceType.SEQUENCE,
        name=title,
        processes=[GraphProcess(id=PROCESS_ID, name=title)],
        nodes=builder.nodes,
        flows=builder.flows,
        lanes=list(builder.lanes.values()),
        warnings=list(warnings or []),
    )
