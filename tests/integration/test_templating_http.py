"""Templates through the HTTP plugin against a loopback server: functions, chaining, strict failures."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from orchestra_app.domain.steps import (
    ActionDefinition,
    ExecutionContext,
    ScenarioStepSpec,
    StepResultData,
    StepStatus,
    ViolationType,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.http.server import LoopbackServer, serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve() as running:
        yield running


@pytest.fixture
def env(server: LoopbackServer) -> Iterator[ExecutionEnvironment]:
    environment = ExecutionEnvironment(
        services={"shop": {"baseUrl": server.base_url, "timeoutS": 5}}, variables={"tenant": "acme"}
    )
    yield environment
    environment.close()


def _step(alias: str, template: dict[str, Any]) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias, name=alias, action=ActionDefinition(input_template=template, meta={"service": "shop"})
    )


def _run(env: ExecutionEnvironment, step: ScenarioStepSpec, context: ExecutionContext) -> StepResultData:
    result = default_registry().plugin_for(step.channel_type).execute(step, StepRunContext(env, context))
    context.steps_by_alias[step.alias] = result
    return result


def test_functions_and_chained_values_reach_the_server(
    env: ExecutionEnvironment, server: LoopbackServer
) -> None:
    context = ExecutionContext(
        run_id=uuid.uuid4(), variables={"data": {"sku": "A-1", "customer": 7}, "run": {"seed": 7}}
    )
    body = {"customerId": "{{data.customer}}", "items": [{"sku": "{{data.sku}}", "qty": 1}]}
    create = _run(env, _step("create", {"method": "POST", "path": "/orders", "json": body}), context)
    assert create.status is StepStatus.PASSED, create.violations
    echo = _step(
        "echo",
        {
            "method": "GET",
            "path": "/echo",
            "query": {
                "order": "{{step.create.response.body.id}}",
                "status": "{{step.create.response.status}}",
                "request": "{{uuid()}}",
                "due": "{{now('date', '+1d')}}",
                "n": "{{random.int(1, 6)}}",
            },
            "headers": {"X-Run": "{{run.id}}", "X-Tenant": "{{env.tenant}}"},
        },
    )
    first = _run(env, echo, context)
    assert first.status is StepStatus.PASSED, first.violations
    query = first.response_body["query"]
    assert query["order"] == create.response_body["id"] and query["status"] == str(create.actual_status_code)
    assert uuid.UUID(query["request"]).version == 4 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", query["due"])
    assert 1 <= int(query["n"]) <= 6
    assert first.response_body["headers"] == {"x-run": str(context.run_id), "x-tenant": "acme"}
    # the same seed and the same position in the run draw the same values again
    replay = ExecutionContext(
        run_id=context.run_id, variables=context.variables, steps_by_alias={"create": create}
    )
    again = _run(env, echo, replay)
    assert again.response_body["query"]["request"] == query["request"]
    assert again.response_body["query"]["n"] == query["n"]


def test_a_missing_variable_fails_the_step_before_sending(
    env: ExecutionEnvironment, server: LoopbackServer
) -> None:
    before = len(server.state.requests)
    context = ExecutionContext(variables={"data": {"customer": {"id": 7, "name": "Ann"}}})
    result = _run(
        env,
        _step("create", {"method": "POST", "path": "/orders", "json": {"email": "{{data.customer.email}}"}}),
        context,
    )
    assert result.status is StepStatus.FAILED
    [violation] = result.violations
    assert (violation.type, violation.code) == (ViolationType.VALIDATION_ERROR, "TEMPLATE_ERROR")
    assert "'data.customer.email' has no value" in violation.message
    assert "(it has: id, name)" in violation.message
    assert violation.details["pointer"] == "/action/inputTemplate/json/email"
    assert len(server.state.requests) == before  # nothing was sent
    bad = _run(
        env, _step("x", {"method": "GET", "path": "/echo", "query": {"n": "{{random.int(9, 1)}}"}}), context
    )
    assert bad.violations[0].code == "TEMPLATE_ERROR" and "min 9 is above max 1" in bad.violations[0].message
