"""Scenario steps from the tasks a scenario passes: ACTIONs and ASSERTION placeholders, not yet bound."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from orchestra_app.domain.graph import ControlFlowGraph, Node
from orchestra_app.domain.steps import ActionDefinition, ActionMode, ChannelType, ScenarioStepSpec, StepKind
from orchestra_app.generation.model import GeneratedScenario

ACTION_TYPES = frozenset(
    {
        "serviceTask",
        "sendTask",
        "userTask",
        "scriptTask",
        "task",
        "businessRuleTask",
        "manualTask",
        "callActivity",
    }
)
_HINTS: list[tuple[re.Pattern[str], ChannelType]] = [
    (re.compile(r"kafka|topic", re.I), ChannelType.KAFKA),
    (re.compile(r"grpc|protobuf", re.I), ChannelType.GRPC),
    (re.compile(r"rabbit|amqp|jms|\bqueue\b|\bmq\b|sqs", re.I), ChannelType.QUEUE),
    (re.compile(r"\bsql\b|database|jdbc|\bdb\b", re.I), ChannelType.DB),
]
_DATA_STORE_KEYS = ("dataOutputs", "dataStores")  # BPMN importer: dataOutputs = [{"id","type","name"}]
_STORE_TYPES = frozenset({"dataStoreReference", "dataStore"})


def node_has_step(node: Node) -> bool:
    """Whether ``scenario_steps`` makes at least one step of this node (a task, a wait, a store write)."""
    return (
        node.type in ACTION_TYPES
        or node.extensions.get("reply") is True
        or node.type == "receiveTask"
        or (
            node.type == "intermediateCatchEvent"
            and (node.event_definition == "message" or "message" in node.event_definitions)
        )
        or bool(_data_stores(node))
    )


def scenario_steps(graph: ControlFlowGraph, scenario: GeneratedScenario) -> list[ScenarioStepSpec]:
    """One ACTION per task the scenario runs; ASSERTION placeholders for receives, message catches, stores."""
    nodes = {n.id: n for n in graph.nodes}
    steps: list[ScenarioStepSpec] = []
    aliases: set[str] = set()

    def add(
        node: Node, kind: StepKind, channel: ChannelType, name: str, meta: dict[str, Any], mode: ActionMode
    ) -> None:
        alias = _unique(_slug(name) or _slug(node.id) or "step", aliases)
        steps.append(
            ScenarioStepSpec(
                order_index=len(steps),
                alias=alias,
                name=name,
                kind=kind,
                channel_type=channel,
                endpoint_ref=None,
                action=ActionDefinition(meta=meta, mode=mode),
                source_node_id=node.id,
            )
        )

    for nid in scenario.nodes:
        node = nodes.get(nid)
        if node is None:
            continue
        label = node.name or node.id
        meta: dict[str, Any] = {"nodeType": node.type}
        if "operation" in node.extensions:
            meta["operation"] = node.extensions["operation"]
        if node.participant:
            meta["participant"] = node.participant
        if node.type in ACTION_TYPES:
            channel = _hinted_channel(node) or ChannelType.HTTP_REST
            asynchronous = (
                channel in (ChannelType.KAFKA, ChannelType.QUEUE) or node.extensions.get("kind") == "async"
            )
            mode = ActionMode.FIRE_AND_FORGET if asynchronous else ActionMode.SYNC
            add(node, StepKind.ACTION, channel, label, meta, mode)
        elif node.extensions.get("reply") is True:
            # A sequence-diagram reply is the answer to an earlier call: check it on the call's channel.
            call = _answered_call(steps, nodes, node)
            reply_meta = {**meta, "placeholder": True}
            if call is not None:
                reply_meta["replyTo"] = call.alias
            channel = call.channel_type if call is not None else ChannelType.HTTP_REST
            add(node, StepKind.ASSERTION, channel, label, reply_meta, ActionMode.SYNC)
        elif node.type == "receiveTask" or (  # a message the model waits for: assert it arrives
            node.type == "intermediateCatchEvent"
            and (node.event_definition == "message" or "message" in node.event_definitions)
        ):
            hinted = _hinted_channel(node)
            wait_on = hinted if hinted in (ChannelType.QUEUE, ChannelType.KAFKA, ChannelType.DB) else None
            add(
                node,
                StepKind.ASSERTION,
                wait_on or ChannelType.KAFKA,
                label,
                {**meta, "placeholder": True},
                ActionMode.SYNC,
            )
        for store in _data_stores(node):
            store_meta = {"nodeType": node.type, "placeholder": True, "dataStore": store}
            add(
                node,
                StepKind.ASSERTION,
                ChannelType.DB,
                f"{store} updated by {label}",
                store_meta,
                ActionMode.SYNC,
            )
    return steps


def _answered_call(
    steps: list[ScenarioStepSpec], nodes: dict[str, Node], reply: Node
) -> ScenarioStepSpec | None:
    """The latest ACTION sent from the reply's receiver to its sender (the call this reply answers)."""
    for step in reversed(steps):
        if step.kind is not StepKind.ACTION or step.source_node_id is None:
            continue
        ext = nodes[step.source_node_id].extensions
        if ext.get("from") == reply.extensions.get("to") and ext.get("to") == reply.extensions.get("from"):
            return step
    return None


def _hinted_channel(node: Node) -> ChannelType | None:
    explicit = node.extensions.get("channel") or node.extensions.get("channelType")
    if isinstance(explicit, str):
        try:
            return ChannelType(explicit.upper())
        except ValueError:
            pass
    skip = ("operation", "dataInputs", "dataOutputs", "dataStores")
    texts = [f"{k}={v}" for k, v in node.extensions.items() if k not in skip]
    texts.append(node.name or "")
    haystack = " ".join(texts)
    for pattern, channel in _HINTS:
        if pattern.search(haystack):
            return channel
    return None


def _data_stores(node: Node) -> list[str]:
    found: list[str] = []
    for key in _DATA_STORE_KEYS:
        value = node.extensions.get(key)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    found.append(item)
                elif isinstance(item, dict):
                    if item.get("type") and item.get("type") not in _STORE_TYPES:
                        continue  # data objects are process variables, not something to poll
                    name = item.get("name") or item.get("id")
                    if isinstance(name, str):
                        found.append(name)
    return list(dict.fromkeys(found))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-zA-Z0-9]+", "_", ascii_text).strip("_").lower()
    return slug[:60]


def _unique(base: str, used: set[str]) -> str:
    alias, n = base, 2
    while alias in used:
        alias = f"{base}_{n}"
        n += 1
    used.add(alias)
    return alias
