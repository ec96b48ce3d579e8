"""Process graph -> scenario suite (ProcessToScenarioGenerator) and steps from tasks."""

from orchestra_app.generation.generator import generate_suite
from orchestra_app.generation.model import Coverage, GeneratedScenario, ScenarioKind, SuitePlan
from orchestra_app.generation.steps import scenario_steps

__all__ = ["Coverage", "GeneratedScenario", "ScenarioKind", "SuitePlan", "generate_suite", "scenario_steps"]
