"""BPMN 2.0 XML -> controlFlowGraph (schema version 1), tolerant of the quirks real modelling tools emit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.graph import (
    ControlFlowGraph,
    Flow,
    GraphProcess,
    ImportWarning,
    Lane,
    LoopMarker,
    Node,
    Participant,
    SourceType,
)
from orchestra_app.importers.graph_facts import derive_facts
from orchestra_app.importers.xml_safety import DEFAULT_MAX_BYTES, column_of_element, parse_xml

BPMN_MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMN_PRERELEASE_NS = "http://schema.omg.org/spec/BPMN/2.0"
BPMN_DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
ORCHESTRA_NS = "https://orchestra.dev/schema/bpmn"
LINK_FLOW_PREFIX = "link:"  # ':' cannot occur in an XML ID (NCName), so synthetic ids never collide

TASK_TYPES = frozenset(
    {
        "task",
        "serviceTask",
        "userTask",
        "manualTask",
        "scriptTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
    }
)
CONTAINER_TYPES = frozenset({"subProcess", "adHocSubProcess", "transaction", "subChoreography"})
ACTIVITY_TYPES = TASK_TYPES | CONTAINER_TYPES | {"callActivity", "choreographyTask", "callChoreography"}
GATEWAY_TYPES = frozenset(
    {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
)
EVENT_TYPES = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "implicitThrowEvent",
    }
)
FLOW_NODE_TYPES = ACTIVITY_TYPES | GATEWAY_TYPES | EVENT_TYPES
PROCESS_TYPES = frozenset({"process", "choreography"})
DATA_TYPES = frozenset({"dataStoreReference", "dataObjectReference", "dataObject", "dataStore"})
# Subtrees that never hold flow nodes; skipping them keeps the walk proportional to the model.
SKIP_TYPES = frozenset({"extensionElements", "documentation", "ioSpecification", "textAnnotation"})

# Engine hints worth keeping for endpoint binding: {namespace: prefix}.
ENGINE_NAMESPACES = {
    "http://camunda.org/schema/1.0/bpmn": "camunda",
    "http://camunda.org/schema/zeebe/1.0": "zeebe",
    "http://activiti.org/bpmn": "activiti",
    "http://flowable.org/bpmn": "flowable",
}
ENGINE_HINT_ATTRS = frozenset({"type", "topic", "class", "expression", "delegateExpression"})
_INT_EXTENSIONS = frozenset({"maxLoopIterations"})
_EVENT_DEFINITION_SUFFIX = "EventDefinition"


@dataclass
class _PendingFlow:
    flow: Flow
    raw_source: str | None
    raw_target: str | None
    scope: tuple[str, str | None]


@dataclass
class _Alias:
    node_id: str
    process_id: str
    parent_id: str | None


def _tag_parts(tag: Any) -> tuple[str | None, str]:
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _text(el: etree._Element) -> str:
    return "".join(el.itertext()).strip()


class _Reader:
    """One pass over the parsed tree; collects nodes/flows, then resolves references."""

    def __init__(self, *, data: bytes, filename: str, root: etree._Element) -> None:
        self.data = data
        self.filename = filename
        self.root = root
        self.warnings: list[ImportWarning] = []
        self._ns_ok: dict[str | None, bool] = {}
        self.processes: list[GraphProcess] = []
        self.process_lines: dict[str, int | None] = {}
        self.process_alias: dict[str, str] = {}  # raw process id -> first imported id
        self.participants: list[Participant] = []
        self.nodes: list[Node] = []
        self.node_by_id: dict[str, Node] = {}
        self.aliases: dict[str, list[_Alias]] = defaultdict(list)
        self.flows: list[_PendingFlow] = []
        self.message_flows: list[_PendingFlow] = []
        self.flow_refs: dict[str, tuple[str | None, str | None]] = {}  # raw flow id -> raw refs
        self.taken: set[str] = set()
        self.lanes: list[Lane] = []
        self.global_event_defs: dict[str, str] = {}
        self.pending_event_refs: list[tuple[Node, list[str]]] = []
        self.data_refs: dict[str, dict[str, str]] = {}
        self.pending_data: list[tuple[Node, list[tuple[str, str]]]] = []
        self.event_subprocesses: set[str] = set()
        self.choreographies: set[str] = set()
        self.flow_counter = 0
        self.graph_extensions: dict[str, Any] = {}
        self.target_namespace = (root.get("targetNamespace") or "").strip() or None
        self.imported_namespaces: set[str] = set()  # <import namespace=...>: elements of other documents
        self.ref_namespaces: dict[str, str | None] = {}  # 'prefix:id' reference -> the prefix's namespace
        self.qname_noted: set[str] = set()

    # -- namespace handling ------------------------------------------------------------------
    def bpmn_local(self, el: Any) -> str | None:
        """Local name of a BPMN-namespace element, else None (foreign extensions, comments)."""
        ns, local = _tag_parts(el.tag)
        ok = self._ns_ok.get(ns)
        if ok is None:
            ok = self._accept_namespace(ns, el.sourceline)
            self._ns_ok[ns] = ok
        return local if ok else None

    def _accept_namespace(self, ns: str | None, line: int | None) -> bool:
        if ns is None:
            return False
        if ns == BPMN_MODEL_NS:
            return True
        stripped = ns.strip()
        if stripped in (BPMN_MODEL_NS, BPMN_PRERELEASE_NS):
            if stripped != ns:
                self.warn(
                    "NAMESPACE_WHITESPACE", f"the BPMN namespace URI {ns!r} has stray spaces", line=line
                )
            if stripped == BPMN_PRERELEASE_NS:
                self.warn(
                    "PRERELEASE_NAMESPACE",
                    f"pre-release BPMN 2.0 namespace {BPMN_PRERELEASE_NS} read as the final one",
                    line=line,
                )
            return True
        return False

    def warn(
        self, code: str, message: str, *, element_id: str | None = None, line: int | None = None
    ) -> None:
        self.warnings.append(ImportWarning(code=code, message=message, element_id=element_id, line=line))

    # -- ids -----------------------------------------------------------------------------------
    def _fresh(self, base: str) -> str:
        n = 2
        while f"{base}__{n}" in self.taken:
            n += 1
        return f"{base}__{n}"

    def _node_id(self, raw: str | None, local: str, line: int | None) -> str:
        if not raw:
            base = f"{local}_{len(self.nodes) + 1}"
            new = base if base not in self.taken else self._fresh(base)
            self.warn("MISSING_ID", f"<{local}> has no id; named it {new}", element_id=new, line=line)
        elif raw in self.taken:
            new = self._fresh(raw)
            self.warn(
                "DUPLICATE_ID",
                f"id {raw!r} is used more than once; this <{local}> was renamed {new}",
                element_id=new,
                line=line,
            )
        else:
            new = raw
        self.taken.add(new)
        return new

    # -- walk ------------------------------------------------------------------------------------
    def walk(self) -> None:
        default_pid = self.root.get("id") or "definitions"
        stack: list[tuple[etree._Element, str | None, str | None]] = [
            (child, None, None) for child in reversed(self.root)
        ]
        while stack:
            el, pid, parent = stack.pop()
            local = self.bpmn_local(el)
            if local is None or local in SKIP_TYPES:
                continue
            if local in FLOW_NODE_TYPES:
                if pid is None:
                    self.warn(
                        "NODE_OUTSIDE_PROCESS",
                        f"<{local}> {el.get('id')!r} is not inside a process",
                        element_id=el.get("id"),
                        line=el.sourceline,
                    )
                node = self.read_node(el, local, pid or default_pid, parent)
                if local in CONTAINER_TYPES:
                    stack.extend((child, pid or default_pid, node.id) for child in reversed(el))
            elif local == "sequenceFlow":
                self.read_flow(el, (pid or default_pid, parent))
            elif local == "messageFlow":
                self.read_message_flow(el)
            elif local in PROCESS_TYPES:
                new_pid = self.read_process(el, local)
                stack.extend((child, new_pid, None) for child in reversed(el))
            elif local == "participant":
                self.participants.append(
                    Participant(
                        id=el.get("id") or f"participant_{len(self.participants) + 1}",
                        name=el.get("name"),
                        process_id=self.ref(el, el.get("processRef")),
                        line=el.sourceline,
                    )
                )
            elif local == "import":
                namespace = (el.get("namespace") or "").strip()
                if namespace:
                    self.imported_namespaces.add(namespace)
            elif local == "laneSet":
                self.read_lanes(el, pid or default_pid)
            elif local.endswith(_EVENT_DEFINITION_SUFFIX):
                def_id = el.get("id")
                if def_id:
                    self.global_event_defs[def_id] = local[: -len(_EVENT_DEFINITION_SUFFIX)]
            elif local in DATA_TYPES:
                data_id = el.get("id")
                if data_id:
                    entry = {"id": data_id, "type": local}
                    if el.get("name"):
                        entry["name"] = el.get("name") or ""
                    self.data_refs[data_id] = entry
            else:
                stack.extend((child, pid, parent) for child in reversed(el))

    def read_process(self, el: etree._Element, local: str) -> str:
        raw = el.get("id") or f"{local}_{len(self.processes) + 1}"
        pid = raw
        if any(p.id == raw for p in self.processes):
            n = 2
            while any(p.id == f"{raw}__{n}" for p in self.processes):
                n += 1
            pid = f"{raw}__{n}"
            self.warn(
                "DUPLICATE_ID",
                f"process id {raw!r} is used more than once; this one was renamed {pid}",
                element_id=pid,
                line=el.sourceline,
            )
        self.process_alias.setdefault(raw, pid)
        executable = el.get("isExecutable")
        process = GraphProcess(
            id=pid,
            name=el.get("name"),
            is_executable=None if executable is None else executable.strip().lower() == "true",
        )
        max_loop = self._int_attr(el, f"{{{ORCHESTRA_NS}}}maxLoopIterations")
        if max_loop is not None:
            process.max_loop_iterations = max_loop
        self.processes.append(process)
        self.process_lines[pid] = el.sourceline
        if local == "choreography":
            self.choreographies.add(pid)
        return pid

    def _int_attr(self, el: etree._Element, key: str) -> int | None:
        value = el.get(key)
        if value is None:
            return None
        try:
            number = int(value.strip())
        except ValueError:
            number = -1
        if number < 0:
            self.warn(
                "BAD_EXTENSION",
                f"{key.rpartition('}')[2]}={value!r} is not a non-negative integer; ignored",
                element_id=el.get("id"),
                line=el.sourceline,
            )
            return None
        return number

    def read_extensions(self, el: etree._Element, ext: dict[str, Any]) -> None:
        # keys() then get(): lxml's items() is quadratic in the attribute count (one file has 10,000).
        for key in el.keys():  # noqa: SIM118 - see above
            ns, attr = _tag_parts(key)
            if ns != ORCHESTRA_NS and ns not in ENGINE_NAMESPACES:
                continue
            value = el.get(key) or ""
            if ns == ORCHESTRA_NS:
                if attr in _INT_EXTENSIONS:
                    number = self._int_attr(el, key)
                    if number is not None:
                        ext[attr] = number
                else:
                    ext[attr] = value
            elif ns in ENGINE_NAMESPACES and attr in ENGINE_HINT_ATTRS:
                ext[f"{ENGINE_NAMESPACES[ns]}:{attr}"] = value

    def read_extension_elements(self, container: etree._Element, ext: dict[str, Any]) -> None:
        for child in container:
            ns, local = _tag_parts(child.tag)
            if ns == ORCHESTRA_NS and local == "binding":
                for key in child.keys():  # noqa: SIM118 - items() is quadratic
                    if not key.startswith("{"):
                        ext[key] = child.get(key)
            elif ns == ORCHESTRA_NS and local in _INT_EXTENSIONS:
                fake = etree.Element("x", {f"{{{ORCHESTRA_NS}}}{local}": _text(child)})
                number = self._int_attr(fake, f"{{{ORCHESTRA_NS}}}{local}")
                if number is not None:
                    ext[local] = number
            elif ns == "http://camunda.org/schema/zeebe/1.0" and local == "taskDefinition":
                if child.get("type"):
                    ext["zeebe:taskDefinition"] = child.get("type")
            elif ns in ENGINE_NAMESPACES and local == "taskListener":
                continue

    def read_node(self, el: etree._Element, local: str, pid: str, parent: str | None) -> Node:
        line = el.sourceline
        raw_id = el.get("id")
        node_id = self._node_id(raw_id, local, line)
        ext: dict[str, Any] = {}
        self.read_extensions(el, ext)
        definitions: list[str] = []
        event_refs: list[str] = []
        data_links: list[tuple[str, str]] = []
        link_name: str | None = None
        loop: LoopMarker | None = None
        for child in el:
            clocal = self.bpmn_local(child)
            if clocal is None:
                continue
            if clocal.endswith(_EVENT_DEFINITION_SUFFIX):
                kind = clocal[: -len(_EVENT_DEFINITION_SUFFIX)]
                definitions.append(kind)
                if kind == "link":
                    link_name = (child.get("name") or "").strip() or None
            elif clocal == "eventDefinitionRef":
                ref = _text(child)
                if ref:
                    event_refs.append(self.ref(child, ref) or ref)
            elif clocal == "standardLoopCharacteristics":
                loop = LoopMarker.STANDARD
            elif clocal == "multiInstanceLoopCharacteristics":
                sequential = (child.get("isSequential") or "").strip().lower() == "true"
                loop = LoopMarker.MI_SEQUENTIAL if sequential else LoopMarker.MI_PARALLEL
            elif clocal == "extensionElements":
                self.read_extension_elements(child, ext)
            elif clocal in ("dataInputAssociation", "dataOutputAssociation"):
                direction = "dataInputs" if clocal == "dataInputAssociation" else "dataOutputs"
                ref_tag = "sourceRef" if clocal == "dataInputAssociation" else "targetRef"
                for ref_el in child:
                    if self.bpmn_local(ref_el) == ref_tag and _text(ref_el):
                        data_links.append((direction, self.ref(ref_el, _text(ref_el)) or ""))
        node = Node(id=node_id, type=local, name=el.get("name"), process_id=pid, parent_id=parent, line=line)
        if definitions:
            node.event_definitions = definitions
            node.event_definition = definitions[0]
        if link_name is not None or "link" in definitions:
            node.link_name = link_name or (el.get("name") or "").strip() or None
        if loop is not None:
            node.loop = loop
        if el.get("default"):
            node.default_flow = self.ref(el, el.get("default"))
        if local == "callActivity" and el.get("calledElement"):
            node.called_element = el.get("calledElement")
        if local == "boundaryEvent":
            node.attached_to = self.ref(el, el.get("attachedToRef"))
            node.cancel_activity = (el.get("cancelActivity") or "true").strip().lower() != "false"
        elif local == "startEvent" and parent in self.event_subprocesses:
            node.cancel_activity = (el.get("isInterrupting") or "true").strip().lower() != "false"
        if local in CONTAINER_TYPES and (el.get("triggeredByEvent") or "").strip().lower() == "true":
            node.triggered_by_event = True
            self.event_subprocesses.add(node_id)
        if (el.get("isForCompensation") or "").strip().lower() == "true":
            ext["isForCompensation"] = True  # a compensation handler: never an implicit start
        if ext:
            node.extensions = ext
        if event_refs:
            self.pending_event_refs.append((node, event_refs))
        if data_links:
            self.pending_data.append((node, data_links))
        self.nodes.append(node)
        self.node_by_id[node_id] = node
        if raw_id:
            self.aliases[raw_id].append(_Alias(node_id, pid, parent))
        return node

    def _flow_id(self, el: etree._Element, kind: str) -> str | None:
        """The flow's id, or None when the element is an exact duplicate that should be dropped."""
        raw = el.get("id")
        line = el.sourceline
        if not raw:
            self.flow_counter += 1
            new = f"flow_{self.flow_counter}"
            while new in self.taken:
                self.flow_counter += 1
                new = f"flow_{self.flow_counter}"
            self.warn("FLOW_WITHOUT_ID", f"a {kind} has no id; named it {new}", element_id=new, line=line)
            self.taken.add(new)
            return new
        refs = (el.get("sourceRef"), el.get("targetRef"))
        if raw in self.taken:
            if self.flow_refs.get(raw) == refs:
                # Some exporters write the same flow twice (once per scope); it is one flow.
                self.warn(
                    "DUPLICATE_ELEMENT",
                    f"{kind} {raw!r} appears twice with the same source and target; the copy was dropped",
                    element_id=raw,
                    line=line,
                )
                return None
            new = self._fresh(raw)
            self.warn(
                "DUPLICATE_ID",
                f"id {raw!r} is used more than once; this {kind} was renamed {new}",
                element_id=new,
                line=line,
            )
            self.taken.add(new)
            return new
        self.taken.add(raw)
        self.flow_refs[raw] = refs
        return raw

    def read_flow(self, el: etree._Element, scope: tuple[str, str | None]) -> None:
        flow_id = self._flow_id(el, "sequenceFlow")
        if flow_id is None:
            return
        condition: str | None = None
        for child in el:
            if self.bpmn_local(child) == "conditionExpression":
                condition = _text(child) or None
        flow = Flow(
            id=flow_id, source="", target="", name=el.get("name"), condition=condition, line=el.sourceline
        )
        source, target = self.ref(el, el.get("sourceRef")), self.ref(el, el.get("targetRef"))
        self.flows.append(_PendingFlow(flow, source, target, scope))

    def read_message_flow(self, el: etree._Element) -> None:
        flow_id = self._flow_id(el, "messageFlow")
        if flow_id is None:
            return
        flow = Flow(id=flow_id, source="", target="", kind="message", name=el.get("name"), line=el.sourceline)
        source, target = self.ref(el, el.get("sourceRef")), self.ref(el, el.get("targetRef"))
        self.message_flows.append(_PendingFlow(flow, source, target, ("", None)))

    def read_lanes(self, lane_set: etree._Element, pid: str) -> None:
        stack: list[tuple[etree._Element, str | None]] = [(lane_set, None)]
        while stack:
            container, parent_lane = stack.pop()
            for lane_el in container:
                if self.bpmn_local(lane_el) != "lane":
                    continue
                lane = Lane(
                    id=lane_el.get("id") or f"lane_{len(self.lanes) + 1}",
                    name=lane_el.get("name"),
                    process_id=pid,
                    parent_id=parent_lane,
                )
                self.lanes.append(lane)
                for child in lane_el:
                    clocal = self.bpmn_local(child)
                    if clocal == "flowNodeRef" and _text(child):
                        lane.node_ids.append(self.ref(child, _text(child)) or "")
                    elif clocal == "childLaneSet":
                        stack.append((child, lane.id))

    # -- references --------------------------------------------------------------------------------
    def ref(self, el: etree._Element, raw: str | None) -> str | None:
        """A reference as written; a QName's prefix is looked up where it is written, for ``local_ref``.

        BPMN types many references as QNames (attachedToRef, messageFlow sourceRef/targetRef,
        processRef, eventDefinitionRef), and some exporters prefix the others too: IBM Process
        Designer writes ``attachedToRef="A.3.0-export:bpmnid-..."``, GenMyModel ``sourceRef="bpmn2:_..."``.
        """
        if raw and ":" in raw and raw not in self.ref_namespaces:
            prefix = raw.partition(":")[0]
            self.ref_namespaces[raw] = el.nsmap.get(prefix) if prefix else None
        return raw

    def local_ref(self, raw: str, known: Any) -> str | None:
        """The id a 'prefix:id' reference names in this document, when ``known`` (a mapping) has it.

        The prefix bound to the document's targetNamespace is the QName form of a local reference. A
        prefix bound to an imported document's namespace names an element of that document, which is
        not read (None). Any other prefix (undeclared, or bound to an unrelated namespace) is an
        exporter's slip: the id is used when it exists here, with a warning.
        """
        prefix, sep, local = raw.partition(":")
        if not sep or not local or local not in known or raw not in self.ref_namespaces:
            return None
        namespace = self.ref_namespaces[raw]
        if namespace is not None and namespace.strip() == self.target_namespace:
            return local
        if namespace is not None and namespace.strip() in self.imported_namespaces:
            return None
        if raw not in self.qname_noted:
            self.qname_noted.add(raw)
            bound = (
                f"is bound to {namespace!r}, not to the document's targetNamespace {self.target_namespace!r}"
                if namespace is not None
                else "is not declared"
            )
            self.warn("QNAME_REF", f"reference {raw!r}: prefix {prefix!r} {bound}; read as {local!r}")
        return local

    def dangling(self, raw: str) -> str:
        """How an unresolved reference is described in a DANGLING_REF warning."""
        namespace = self.ref_namespaces.get(raw)
        if namespace is not None and namespace.strip() in self.imported_namespaces:
            return f"{raw!r} (an element of the imported document {namespace.strip()!r}, which is not read)"
        return repr(raw)

    # -- resolution ------------------------------------------------------------------------------
    def resolve(self, raw: str | None, scope: tuple[str, str | None]) -> str | None:
        if not raw:
            return None
        options = self.aliases.get(raw)
        if not options:
            local = self.local_ref(raw, self.aliases)
            options = self.aliases.get(local) if local is not None else None
        if not options:
            return None
        if len(options) == 1:
            return options[0].node_id
        pid, parent = scope
        for want_parent in (True, False):
            for alias in options:
                if alias.process_id == pid and (not want_parent or alias.parent_id == parent):
                    return alias.node_id
        return options[0].node_id

    def finish(self) -> ControlFlowGraph:
        participant_ids = {p.id for p in self.participants}
        for participant in self.participants:
            if participant.process_id:
                raw_process = participant.process_id
                resolved = self.process_alias.get(raw_process)
                if resolved is None:
                    local = self.local_ref(raw_process, self.process_alias)
                    resolved = self.process_alias.get(local) if local is not None else None
                if resolved is None:
                    self.warn(
                        "DANGLING_REF",
                        f"participant {participant.id!r} refers to unknown process "
                        f"{self.dangling(raw_process)}",
                        element_id=participant.id,
                        line=participant.line,
                    )
                    continue
                participant.process_id = resolved
                for process in self.processes:
                    if process.id == resolved and process.participant_id is None:
                        process.participant_id = participant.id
                        process.participant_name = participant.name

        for pending in self.flows:
            self._resolve_flow(pending, allow_participants=set())
        for pending in self.message_flows:
            self._resolve_flow(pending, allow_participants=participant_ids)

        flows = [p.flow for p in self.flows]
        flow_by_id = {f.id: f for f in flows}
        for node in self.nodes:
            if node.attached_to:
                target = self.resolve(node.attached_to, (node.process_id, node.parent_id))
                if target is None:
                    self.warn(
                        "DANGLING_REF",
                        f"boundary event {node.id!r} is attached to unknown activity "
                        f"{self.dangling(node.attached_to)}",
                        element_id=node.id,
                        line=node.line,
                    )
                else:
                    node.attached_to = target
            if node.default_flow:
                if node.default_flow not in flow_by_id:
                    node.default_flow = self.local_ref(node.default_flow, flow_by_id) or node.default_flow
                flow = flow_by_id.get(node.default_flow)
                if flow is None or flow.source != node.id:
                    self.warn(
                        "DANGLING_DEFAULT",
                        f"{node.id!r} names default flow {node.default_flow!r}, which does not leave it",
                        element_id=node.id,
                        line=node.line,
                    )
                    if flow is None:
                        node.default_flow = None
                if flow is not None:
                    flow.is_default = True

        for node, refs in self.pending_event_refs:
            for ref in refs:
                kind = self.global_event_defs.get(ref)
                if kind is None:
                    local = self.local_ref(ref, self.global_event_defs)
                    kind = self.global_event_defs.get(local) if local is not None else None
                if kind is None:
                    self.warn(
                        "DANGLING_REF",
                        f"unknown event definition {ref!r}",
                        element_id=node.id,
                        line=node.line,
                    )
                    continue
                node.event_definitions.append(kind)
                if node.event_definition is None:
                    node.event_definition = kind
                if kind == "link" and node.link_name is None:
                    node.link_name = (node.name or "").strip() or None

        for node, links in self.pending_data:
            for direction, ref in links:
                entry = self.data_refs.get(ref)
                if entry is None:
                    local = self.local_ref(ref, self.data_refs)
                    entry = self.data_refs.get(local) if local is not None else None
                if entry is not None:
                    node.extensions.setdefault(direction, []).append(entry)

        known = {p.id for p in self.processes}
        for node in self.nodes:
            if node.process_id not in known:
                known.add(node.process_id)
                self.processes.append(GraphProcess(id=node.process_id))
        self._assign_lanes()
        flows.extend(self._link_flows())
        self._quirk_warnings(flows)
        return ControlFlowGraph(
            source_type=SourceType.BPMN,
            name=self.root.get("name") or next((p.name for p in self.processes if p.name), None),
            processes=self.processes,
            participants=self.participants,
            nodes=self.nodes,
            flows=flows + [p.flow for p in self.message_flows],
            lanes=self.lanes,
            warnings=self.warnings,
        )

    def _resolve_flow(self, pending: _PendingFlow, *, allow_participants: set[str]) -> None:
        flow = pending.flow
        for end in ("source", "target"):
            raw = pending.raw_source if end == "source" else pending.raw_target
            resolved = self.resolve(raw, pending.scope)
            if resolved is None and raw and allow_participants:
                resolved = raw if raw in allow_participants else self.local_ref(raw, allow_participants)
            if resolved is None:
                what = (
                    f"unknown element {self.dangling(raw)}" if raw else "nothing (the attribute is missing)"
                )
                self.warn(
                    "DANGLING_REF",
                    f"{flow.kind} flow {flow.id!r}: {end}Ref points to {what}",
                    element_id=flow.id,
                    line=flow.line,
                )
                resolved = raw or ""
            setattr(flow, end, resolved)
        if flow.kind == "sequence":
            for end_id in (flow.source, flow.target):
                node = self.node_by_id.get(end_id)
                if node is not None and (node.process_id, node.parent_id) != pending.scope:
                    self.warn(
                        "CROSS_SCOPE",
                        f"sequence flow {flow.id!r} connects {end_id!r}, which lies in another "
                        "process or subprocess",
                        element_id=flow.id,
                        line=flow.line,
                    )
                    break

    def _assign_lanes(self) -> None:
        for lane in self.lanes:
            resolved: list[str] = []
            for raw in lane.node_ids:
                node_id = self.resolve(raw, (lane.process_id, None))
                if node_id is None and (raw in self.data_refs or self.local_ref(raw, self.data_refs)):
                    continue  # lanes may list data objects/stores; they are not flow nodes
                if node_id is None:
                    self.warn(
                        "DANGLING_REF", f"lane {lane.id!r} lists unknown node {raw!r}", element_id=lane.id
                    )
                    continue
                resolved.append(node_id)
                # Lanes come parent-first, so the innermost lane wins.
                self.node_by_id[node_id].lane_id = lane.id
            lane.node_ids = resolved

    def _link_flows(self) -> list[Flow]:
        catches: dict[tuple[str, str], list[Node]] = defaultdict(list)
        throws: list[Node] = []
        for node in self.nodes:
            if "link" not in node.event_definitions:
                continue
            if node.type == "intermediateCatchEvent":
                catches[(node.process_id, node.link_name or "")].append(node)
            elif node.type == "intermediateThrowEvent":
                throws.append(node)
        derived: list[Flow] = []
        for throw in throws:
            candidates = catches.get((throw.process_id, throw.link_name or ""), [])
            same_scope = [c for c in candidates if c.parent_id == throw.parent_id]
            candidates = same_scope or candidates
            if not candidates:
                self.warn(
                    "LINK_UNPAIRED",
                    f"link throw event {throw.id!r} ({throw.link_name!r}) has no catch event with that name",
                    element_id=throw.id,
                    line=throw.line,
                )
                continue
            if len(candidates) > 1:
                self.warn(
                    "LINK_AMBIGUOUS",
                    f"link {throw.link_name!r} has {len(candidates)} catch events; {throw.id!r} jumps to "
                    f"{candidates[0].id!r}",
                    element_id=throw.id,
                    line=throw.line,
                )
            catch = candidates[0]
            derived.append(
                Flow(
                    id=f"{LINK_FLOW_PREFIX}{throw.id}->{catch.id}",
                    source=throw.id,
                    target=catch.id,
                    name=throw.link_name,
                    line=throw.line,
                )
            )
        return derived

    def _quirk_warnings(self, flows: list[Flow]) -> None:
        outgoing: dict[str, list[Flow]] = defaultdict(list)
        for flow in flows:
            outgoing[flow.source].append(flow)
        for node in self.nodes:
            out = outgoing.get(node.id, [])
            if len(out) > 1 and node.type not in GATEWAY_TYPES:
                conditional = [f for f in out if f.condition and not f.is_default]
                kind = (
                    "conditional flows (an implicit inclusive split)"
                    if conditional
                    else "unconditional flows (an implicit parallel split)"
                )
                self.warn(
                    "IMPLICIT_SPLIT",
                    f"{node.type} {node.id!r} has {len(out)} outgoing {kind}",
                    element_id=node.id,
                    line=node.line,
                )
        populated = {n.process_id for n in self.nodes}
        for process in self.processes:
            if process.id not in populated:
                self.warn(
                    "EMPTY_PROCESS",
                    f"process {process.id!r} has no flow nodes (an empty pool)",
                    element_id=process.id,
                    line=self.process_lines.get(process.id),
                )
        if not any(_tag_parts(child.tag) == (BPMN_DI_NS, "BPMNDiagram") for child in self.root):
            self.warn("NO_DI", "the file has no diagram interchange (layout) section; only the model is read")


def _root_qname(root: etree._Element) -> str:
    _, local = _tag_parts(root.tag)
    return f"{root.prefix}:{local}" if root.prefix else local


def import_bpmn(
    data: bytes,
    *,
    filename: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_empty: bool = False,
    max_loop_iterations: int | None = None,
) -> ControlFlowGraph:
    """Read BPMN 2.0 XML into a controlFlowGraph with derived facts.

    Raises ImportError_ (kinds TOO_LARGE, UNSAFE_XML, NOT_XML, NOT_BPMN, NO_PROCESS) naming file, line
    and column. ``allow_empty`` accepts a model with no flow nodes (only empty pools) with a warning.
    """
    parsed = parse_xml(data, filename=filename, max_bytes=max_bytes)
    root = parsed.root
    reader = _Reader(data=data, filename=filename, root=root)
    reader.warnings.extend(parsed.warnings)
    recovered_note = ""
    if parsed.recover_reason is not None:
        reason = parsed.recover_reason
        recovered_note = (
            f" (the XML is broken at line {reason.line}, column {reason.column}: {reason.message})"
        )

    local = reader.bpmn_local(root)
    if local != "definitions":
        ns, plain = _tag_parts(root.tag)
        raise ImportError_(
            f"not a BPMN 2.0 document: the root element is <{plain}> in namespace {ns or '(none)'!r}; "
            f"expected <definitions> in {BPMN_MODEL_NS!r}{recovered_note}",
            kind=ErrorKind.NOT_BPMN,
            file=filename,
            line=root.sourceline,
            column=column_of_element(data, root.sourceline, _root_qname(root)),
        )
    root_loop = reader._int_attr(root, f"{{{ORCHESTRA_NS}}}maxLoopIterations")
    reader.walk()
    if not reader.nodes and not allow_empty:
        if reader.processes:
            first = reader.processes[0]
            line = reader.process_lines.get(first.id)
            names = ", ".join(repr(p.id) for p in reader.processes)
            message = f"no process to test: {names} contain(s) no flow nodes"
            qname_line = line
        else:
            message = "no process to test: the file has no <process> element"
            if reader.participants:
                message += f" (only {len(reader.participants)} black-box pool(s))"
            qname_line = root.sourceline
        column = (
            column_of_element(data, qname_line, _qname_at(root, reader.processes, qname_line))
            if qname_line
            else None
        )
        raise ImportError_(
            message + recovered_note, kind=ErrorKind.NO_PROCESS, file=filename, line=qname_line, column=column
        )
    graph = reader.finish()
    if not reader.nodes:
        graph.warnings.append(ImportWarning(code="EMPTY_MODEL", message="the model has no flow nodes"))
    if root_loop is not None:
        graph.max_loop_iterations = root_loop
    return derive_facts(graph, max_loop_iterations=max_loop_iterations)


def _qname_at(root: etree._Element, processes: list[GraphProcess], line: int | None) -> str:
    if processes and line != root.sourceline:
        return f"{root.prefix}:process" if root.prefix else "process"
    return _root_qname(root)


def import_bpmn_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, **options: Any) -> ControlFlowGraph:
    """Read a file from disk, refusing oversized files before reading them into memory."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImportError_(
            f"cannot read the file: {err.strerror}", kind=ErrorKind.IO, file=str(path)
        ) from err
    if size > max_bytes:
        raise ImportError_(
            f"the file is {size:,} bytes; the limit is {max_bytes:,} bytes",
            kind=ErrorKind.TOO_LARGE,
            file=str(path),
        )
    return import_bpmn(path.read_bytes(), filename=str(path), max_bytes=max_bytes, **options)


def looks_like_bpmn(head: bytes) -> bool:
    """Cheap content sniff for format detection: a BPMN namespace near the top of the document."""
    sample = head[:4096]
    return BPMN_MODEL_NS.encode() in sample or BPMN_PRERELEASE_NS.encode() in sample
