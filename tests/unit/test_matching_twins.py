"""Singular/plural twins (get_task vs get_tasks) told apart by wording and path parameters, else AMBIGUOUS."""

from __future__ import annotations

import pytest

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ScenarioStepSpec
from orchestra_app.plugins.http.matcher import HttpEndpointMatcher
from orchestra_app.plugins.matching import operation_number, wording_number

pytestmark = pytest.mark.unit

TWINS = SpecSummary(
    protocol="http",
    format="openapi",
    operations=[
        Operation(id="get_task", method="get", path="/tasks/{task_id}"),
        Operation(id="get_tasks", method="get", path="/tasks"),
        Operation(id="create_task", method="post", path="/tasks"),
    ],
)


def bind(name: str, spec: SpecSummary = TWINS) -> tuple[str, str | None, str, list[str]]:
    [verdict] = HttpEndpointMatcher().match([ScenarioStepSpec(alias="s", name=name)], spec)
    return (
        verdict.status,
        verdict.operation_id,
        verdict.reason,
        [c["operationId"] for c in verdict.candidates],
    )


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Get task", "get_task"),
        ("Get the task details", "get_task"),
        ("Fetch a single task", "get_task"),
        ("Get tasks", "get_tasks"),
        ("List tasks", "get_tasks"),
        ("Get all tasks", "get_tasks"),
        ("Search task", "get_tasks"),
        ("Load every task", "get_tasks"),
    ],
)
def test_wording_picks_the_twin(name: str, expected: str) -> None:
    status, operation, reason, _ = bind(name)
    assert (status, operation) == ("MATCHED", expected), reason


def test_twin_choice_is_explained() -> None:
    _, _, reason, _ = bind("Get tasks")
    assert "the wording asks for many, so get_tasks rather than get_task" in reason


def test_without_a_number_in_the_wording_both_twins_are_shown() -> None:
    status, operation, reason, candidates = bind("Get")
    assert status == "AMBIGUOUS" and operation is None
    assert set(candidates[:2]) == {"get_task", "get_tasks"}
    assert "one item or many" in reason


def test_path_parameters_decide_when_names_are_the_same() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            Operation(id="fetchInvoice", method="get", path="/invoices/{id}"),
            Operation(id="fetchInvoices", method="get", path="/invoices"),
        ],
    )
    assert bind("Fetch invoice", spec)[1] == "fetchInvoice"
    assert bind("Fetch invoices", spec)[1] == "fetchInvoices"


@pytest.mark.parametrize(
    "text,number",
    [
        ("Get task", "one"),
        ("Get tasks", "many"),
        ("Check status", "one"),  # "status" is not a plural
        ("Process address", "one"),
        ("List all", "many"),
        ("Get", None),
        ("Get one of many tasks", None),  # contradicting wording decides nothing
    ],
)
def test_wording_number(text: str, number: str | None) -> None:
    assert wording_number(text) == number


@pytest.mark.parametrize(
    "op,number",
    [
        (Operation(id="get_task", method="get", path="/tasks/{id}"), "one"),
        (Operation(id="get_tasks", method="get", path="/tasks"), "many"),
        (Operation(id="listTasks", method="get", path="/t"), "many"),
        (Operation(id="readStatus", method="get", path="/orders/{id}/status"), "one"),
        (Operation(id="createTask", method="post", path="/tasks"), None),
        (Operation(id="capture", method="post", path="/payments/{id}/capture"), None),
    ],
)
def test_operation_number(op: Operation, number: str | None) -> None:
    assert operation_number(op) == number
