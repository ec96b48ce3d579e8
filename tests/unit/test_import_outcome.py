"""When an import is partial (issue 7 item 10): damaged files and scenarios that lost their steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.generation.params import GenerationParams
from orchestra_app.services.processes import _problems, prepare_process

pytestmark = pytest.mark.unit
ORDER = (Path(__file__).resolve().parents[1] / "fixtures" / "app" / "order.bpmn").read_bytes()


def test_an_intact_file_has_no_problems() -> None:
    assert _problems(prepare_process(ORDER, "order.bpmn", GenerationParams())) == []


def test_a_damaged_file_names_the_line_where_recovery_stopped() -> None:
    [problem] = [
        p for p in _problems(prepare_process(ORDER[:1000], "cut.bpmn", GenerationParams())) if "damaged" in p
    ]
    assert "line 16" in problem


def test_a_scenario_without_steps_is_a_problem_unless_the_generator_says_why() -> None:
    prepared = prepare_process(ORDER, "order.bpmn", GenerationParams())
    prepared.steps[0] = []
    [problem] = _problems(prepared)
    assert (
        problem.startswith("1 scenario(s) have no step to run") and prepared.plan.scenarios[0].key in problem
    )
    prepared.plan.scenarios[0].note = "No task runs on this path; it alone covers flow f9"
    assert _problems(prepared) == []
