"""The generator's output: a SuitePlan of GeneratedScenarios with coverage numbers."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from orchestra_app.domain.model import DomainModel

Strategy = Literal["edges", "paths"]
ParallelMode = Literal["pairwise", "product"]


class ScenarioKind(StrEnum):
    HAPPY = "happy"
    BRANCH = "branch"
    LOOP = "loop"
    EXCEPTION = "exception"


class GeneratedScenario(DomainModel):
    key: str  # S001, S002, ... stable for the same input
    name: str
    kind: ScenarioKind
    process_id: str
    nodes: list[str]  # ordered node ids; parallel branches appear branch by branch
    flows: list[str]  # sequence flow ids in traversal order (repeats inside loops)
    decisions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    truncated: bool = False  # the step budget stopped the walk (pathological cycles)
    note: str | None = None  # why a scenario that runs no task is in the suite


class Coverage(DomainModel):
    flows_total: int = 0
    flows_reachable: int = 0
    flows_covered: int = 0
    decisions_total: int = 0
    decisions_covered: int = 0


class UncoveredReason(StrEnum):
    """Why a sequence flow is in no scenario (docs/scenario-generation.md, "Uncovered flows")."""

    NO_PATH_FROM_START = "NO_PATH_FROM_START"  # no start, implicit start, boundary or event leads to it
    UNMATCHED_LINK = "UNMATCHED_LINK"  # only a link catch event that no link throw names leads to it
    DETACHED_BOUNDARY = "DETACHED_BOUNDARY"  # only a boundary event attached to no activity leads to it
    COMPENSATION_ONLY = "COMPENSATION_ONLY"  # only a compensation handler (or boundary event) leads to it
    CAPPED = "CAPPED"  # reachable, but max_scenarios stopped the suite first
    LOOP_LIMIT = "LOOP_LIMIT"  # reachable only by running a loop more often than max_loop allows
    NO_TOKEN_PATH = "NO_TOKEN_PATH"  # the graph connects it, but no token walk took it


class UncoveredFlow(DomainModel):
    flow: str
    reason: UncoveredReason
    detail: str = ""


class GenerationStats(DomainModel):
    """Work counters (deterministic, unlike times): what tests assert instead of wall-clock limits."""

    walks: int = 0  # token walks run (kept or not)
    nodes_visited: int = 0  # node executions over all walks
    graph_visits: int = 0  # node visits of the searches (loop bodies, distances, shortest routes)
    scenarios_emitted: int = 0  # walks kept before duplicates and step-less scenarios were dropped
    gap_scenarios: int = 0  # scenarios made by shortest routes to flows the structured walk missed
    duplicates_dropped: int = 0
    stepless_dropped: int = 0


class SuitePlan(DomainModel):
    strategy: Strategy = "edges"
    scenarios: list[GeneratedScenario] = Field(default_factory=list)
    coverage: Coverage = Field(default_factory=Coverage)
    capped: bool = False  # a limit (max_scenarios, inclusive/parallel cap, walk budget) cut the suite
    path_count: int = 0  # distinct start-to-end paths with back edges removed (may be astronomically big)
    uncovered_flows: list[UncoveredFlow] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    stats: GenerationStats = Field(default_factory=GenerationStats)
