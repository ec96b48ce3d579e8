"""Alias resolution at run start, through the real engine and the real db/kafka/queue/http plugins:
a step naming a profile or service the pinned environment lacks fails the run before any step."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from orchestra_app.domain.runs import RunStatus
from orchestra_app.domain.steps import ActionDefinition, ChannelType, ScenarioStepSpec, StepStatus
from orchestra_app.engine import run_steps
from orchestra_app.plugins.registry import default_registry
from tests.sideeffect_helpers import assertion, environment

pytestmark = pytest.mark.integration


def steps() -> list[ScenarioStepSpec]:
    db = assertion(ChannelType.DB, {"dataSource": "main", "sql": "SELECT 1 AS one"}, alias="rowThere")
    kafka = assertion(
        ChannelType.KAFKA, {"clusterAlias": "events", "topic": "shop.orders", "key": "1"}, alias="eventSeen"
    )
    queue = assertion(
        ChannelType.QUEUE,
        {"brokerAlias": "payments", "exchange": "shop.payments", "correlationId": "1"},
        alias="paymentSeen",
    )
    http = ScenarioStepSpec(
        alias="placeOrder",
        channel_type=ChannelType.HTTP_REST,
        action=ActionDefinition(meta={"service": "orders", "method": "GET", "path": "/health"}),
    )
    for index, step in enumerate([http, db, kafka, queue]):
        step.order_index = index
    return [http, db, kafka, queue]


@pytest.fixture
def pg_profile(fresh_pg_url: str) -> dict[str, Any]:
    parsed = sa.engine.make_url(fresh_pg_url)
    bare = sa.engine.URL.create("postgresql", host=parsed.host, port=parsed.port, database=parsed.database)
    return {
        "url": bare.render_as_string(),
        "username": parsed.username,
        "password": {"secret": "PG_PASSWORD"},
    }


def test_missing_aliases_fail_the_run_before_any_step_naming_step_and_alias(
    pg_profile: dict[str, Any], fresh_pg_url: str
) -> None:
    password = sa.engine.make_url(fresh_pg_url).password or ""
    env = environment({"db": {"main": pg_profile}}, {"PG_PASSWORD": password})
    env.name = "staging"
    with env:
        outcome = run_steps(steps(), env, registry=default_registry())
    assert outcome.status == RunStatus.FAILED
    reason = outcome.reason or ""
    # every missing alias is named with the step that needs it; the present db profile is not
    assert "no service 'orders' (step 'placeOrder'" in reason, reason
    assert "no kafka profile 'events' (step 'eventSeen'" in reason, reason
    assert "no queue profile 'payments' (step 'paymentSeen'" in reason, reason
    assert "'main'" not in reason and "staging" in reason
    # no step ran: even the db step whose profile exists is skipped, nothing was executed
    assert [r.status for r in outcome.results.values()] == [StepStatus.SKIPPED] * 4
    assert all(r.db_result is None and not r.violations for r in outcome.results.values())


def test_a_run_whose_aliases_all_resolve_starts_and_runs_its_steps(
    pg_profile: dict[str, Any], fresh_pg_url: str
) -> None:
    password = sa.engine.make_url(fresh_pg_url).password or ""
    env = environment({"db": {"main": pg_profile}}, {"PG_PASSWORD": password})
    db = assertion(
        ChannelType.DB,
        {"dataSource": "main", "sql": "SELECT 1 AS one"},
        [{"path": "$.rows[0].one", "equals": 1}],
        alias="rowThere",
    )
    with env:
        outcome = run_steps([db], env, registry=default_registry())
    assert outcome.status == RunStatus.PASSED, outcome.reason
    assert outcome.results[0].status == StepStatus.PASSED
    assert outcome.results[0].db_result["rows"] == [{"one": 1}]
