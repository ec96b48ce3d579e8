"""The generation parameters users may set, with their bounds: one definition for the REST API and CLI.

Documented in docs/scenario-generation.md ("Parameters and their bounds"); a value outside a bound is
refused with a ValidationFailed naming the parameter, before any file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestra_app.domain.params import parse_choice, parse_int
from orchestra_app.generation.model import ParallelMode, Strategy

STRATEGIES: tuple[Strategy, ...] = ("edges", "paths")
PARALLEL_MODES: tuple[ParallelMode, ...] = ("pairwise", "product")
MIN_LOOP, MAX_LOOP = 1, 20  # N of "loops 0/1/N"; each extra turn lengthens every looping scenario
MIN_SCENARIOS, MAX_SCENARIOS = 1, 10_000  # the edges default (10,000) is also the ceiling

NAMES = ("strategy", "max_scenarios", "max_loop", "parallel")


@dataclass(frozen=True)
class GenerationParams:
    strategy: Strategy = "edges"
    max_scenarios: int | None = None  # None: the generator's default for the strategy
    max_loop: int | None = None  # None: the model's own maxLoopIterations, else 3
    parallel: ParallelMode = "pairwise"


def parse_generation_params(raw: Mapping[str, str | int | None]) -> GenerationParams:
    """Validate raw values (query parameters or CLI options) in a fixed order, first error wins."""
    strategy = raw.get("strategy")
    parallel = raw.get("parallel")
    return GenerationParams(
        strategy=parse_choice(
            None if strategy is None else str(strategy), name="strategy", choices=STRATEGIES, default="edges"
        ),
        max_scenarios=parse_int(
            raw.get("max_scenarios"), name="max_scenarios", minimum=MIN_SCENARIOS, maximum=MAX_SCENARIOS
        ),
        max_loop=parse_int(raw.get("max_loop"), name="max_loop", minimum=MIN_LOOP, maximum=MAX_LOOP),
        parallel=parse_choice(
            None if parallel is None else str(parallel),
            name="parallel",
            choices=PARALLEL_MODES,
            default="pairwise",
        ),
    )
