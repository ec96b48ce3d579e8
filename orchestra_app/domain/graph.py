"""controlFlowGraph: the versioned JSON shape stored in ProcessVersion.controlFlowGraph.

Schema version 1 (documented in docs/control-flow-graph.md). BPMN and sequence diagrams both
import into this shape; the scenario generator reads only this shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from orchestra_app.domain.model import DomainModel

GRAPH_SCHEMA_VERSION = 1
DEFAULT_MAX_LOOP_ITERATIONS = 3


class SourceType(StrEnum):
    BPMN = "BPMN"
    SEQUENCE = "SEQUENCE"


class LoopMarker(StrEnum):
    STANDARD = "standard"
    MI_PARALLEL = "multiInstanceParallel"
    MI_SEQUENTIAL = "multiInstanceSequential"


class GatewayRole(StrEnum):
    SPLIT = "split"
    JOIN = "join"
    MIXED = "mixed"  # both joins and splits
    PASS = "pass"  # one in, one out


class ImportWarning(DomainModel):
    """A real-world quirk that did not stop the import."""

    code: str
    message: str
    element_id: str | None = None
    line: int | None = None


class GraphProcess(DomainModel):
    id: str
    name: str | None = None
    is_executable: bool | None = None
    participant_id: str | None = None
    participant_name: str | None = None
    max_loop_iterations: int | None = None  # per-process override (BPMN: orchestra:maxLoopIterations)


class Participant(DomainModel):
    """A pool of a collaboration; ``process_id`` is None for a black-box pool."""

    id: str
    name: str | None = None
    process_id: str | None = None
    line: int | None = None


class Lane(DomainModel):
    id: str
    name: str | None = None
    process_id: str
    parent_id: str | None = None  # enclosing lane for nested lane sets
    node_ids: list[str] = Field(default_factory=list)


class Node(DomainModel):
    """A flow node. ``type`` is the BPMN element's local name (``exclusiveGateway``, ``serviceTask``...)."""

    id: str
    type: str
    name: str | None = None
    process_id: str
    parent_id: str | None = None  # enclosing subProcess/transaction/adHocSubProcess id
    attached_to: str | None = None  # boundary events: the activity they sit on
    cancel_activity: bool | None = None  # boundary events: interrupting (True) or not
    triggered_by_event: bool | None = None  # event subprocesses
    event_definition: str | None = None  # first definition kind: message, timer, error, signal, link, ...
    event_definitions: list[str] = Field(default_factory=list)
    link_name: str | None = None  # link events: the link's name pairs throw and catch
    loop: LoopMarker | None = None
    default_flow: str | None = None  # gateways/activities: id of the default outgoing flow
    called_element: str | None = None  # callActivity
    lane_id: str | None = None
    participant: str | None = None  # sequence diagrams: the participant that performs the step
    line: int | None = None  # source line of the element
    extensions: dict[str, Any] = Field(default_factory=dict)  # e.g. {"operation": "createOrder"}


class Flow(DomainModel):
    id: str
    source: str
    target: str
    kind: Literal["sequence", "message"] = "sequence"
    name: str | None = None
    condition: str | None = None
    is_default: bool = False
    line: int | None = None


class GatewayInfo(DomainModel):
    role: GatewayRole
    incoming: list[str] = Field(default_factory=list)
    outgoing: list[str] = Field(default_factory=list)


class LoopInfo(DomainModel):
    id: str
    header: str  # node the back edges return to
    back_flows: list[str]
    nodes: list[str] = Field(default_factory=list)
    max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS


class ParallelBlock(DomainModel):
    split: str
    join: str | None = None
    branches: list[list[str]] = Field(default_factory=list)  # flow ids leaving the split, per branch


class ControlFlowGraph(DomainModel):
    schema_version: int = GRAPH_SCHEMA_VERSION
    source_type: SourceType = SourceType.BPMN
    name: str | None = None
    processes: list[GraphProcess] = Field(default_factory=list)
    participants: list[Participant] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    flows: list[Flow] = Field(default_factory=list)
    lanes: list[Lane] = Field(default_factory=list)
    gateways: dict[str, GatewayInfo] = Field(default_factory=dict)
    loops: list[LoopInfo] = Field(default_factory=list)
    parallel_blocks: list[ParallelBlock] = Field(default_factory=list)
    max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS
    warnings: list[ImportWarning] = Field(default_factory=list)
