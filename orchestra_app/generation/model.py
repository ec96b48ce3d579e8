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


class Coverage(DomainModel):
    flows_total: int = 0
    flows_reachable: int = 0
    flows_covered: int = 0
    decisions_total: int = 0
    decisions_covered: int = 0


class SuitePlan(DomainModel):
    strategy: Strategy = "edges"
    scenarios: list[GeneratedScenario] = Field(default_factory=list)
    coverage: Coverage = Field(default_factory=Coverage)
    capped: bool = False  # the suite does not hold every distinct path (or a cap stopped enumeration)
    path_count: int = 0  # distinct start-to-end paths with back edges removed (may be astronomically big)
    uncovered_flows: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
