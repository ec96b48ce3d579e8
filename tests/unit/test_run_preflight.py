"""`orchestra run` preflight: data, services, profiles, secrets, unbound tasks named before a step runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.steps import ActionDefinition, ChannelType, EndpointRef, ScenarioStepSpec, StepKind
from orchestra_app.services.environment_file import parse_environment
from orchestra_app.services.run_preflight import check_run, load_data_file

pytestmark = pytest.mark.unit

ENV = """
services:
  orders-api: {baseUrl: 'http://127.0.0.1:1', auth: {type: bearer, token: {secret: ORDERS_TOKEN}}}
secrets: {ORDERS_TOKEN: ORDERS_API_TOKEN}
profiles:
  db: {orders: {url: 'postgresql://h/db'}}
"""


def _bound(alias: str, service: str, template: dict, index: int = 0) -> ScenarioStepSpec:  # type: ignore[type-arg]
    return ScenarioStepSpec(
        alias=alias,
        name=alias,
        order_index=index,
        endpoint_ref=EndpointRef(protocol_id="http", service_name=service, endpoint_name="op"),
        action=ActionDefinition(input_template=template),
    )


def test_everything_in_place_passes() -> None:
    env = parse_environment(ENV, "env.yaml", environ={"ORDERS_API_TOKEN": "t"})
    steps = [_bound("create", "orders-api", {"json": {"sku": "{{data.sku}}", "n": "{{data.items[0].qty}}"}})]
    result = check_run([("S001", steps)], data={"sku": "a", "items": [{"qty": 1}]}, environment=env)
    assert result.ok, result.problems


def test_each_problem_is_named() -> None:
    env = parse_environment(ENV, "env.yaml", environ={})
    steps = [
        _bound("create", "orders-api", {"json": {"sku": "{{data.sku}}", "h": "{{secret:EXTRA}}"}}, 0),
        _bound("pay", "payments-api", {"json": {"amount": "{{data.amount}}"}}, 1),
        ScenarioStepSpec(alias="notify", name="Notify rejection", order_index=2),
        ScenarioStepSpec(
            alias="row",
            kind=StepKind.ASSERTION,
            channel_type=ChannelType.DB,
            order_index=3,
            action=ActionDefinition(meta={"dataSource": "ledger", "params": {"id": "{{data.customer.id}}"}}),
        ),
    ]
    problems = check_run(
        [("S001", steps), ("S002", steps[:1])], data={"customer": {}}, environment=env
    ).problems
    text = "\n".join(problems)
    assert (
        "data.sku is not in the data (used by S001/create /action/inputTemplate/json/sku, S002/create" in text
    )
    assert "data.amount is not in the data" in text and "data.customer.id is not in the data" in text
    assert "orchestra data scaffold" in text
    assert (
        "service 'payments-api' (used by S001/pay) is not in the environment file "
        "(services there: orders-api)" in text
    )
    assert "db profile 'ledger' (used by S001/row)" in text
    assert "task 'Notify rejection' (in S001/notify) is not bound" in text
    assert "secret 'ORDERS_TOKEN' (used by service orders-api) is not set: export ORDERS_API_TOKEN" in text
    assert "secret 'EXTRA' (used by S001/create) is not set: export ORCHESTRA_SECRET_EXTRA" in text


def test_from_step_skips_steps_that_are_reused() -> None:
    steps = [
        _bound("create", "orders-api", {"json": {"sku": "{{data.sku}}"}}, 0),
        _bound("get", "orders-api", {}, 1),
    ]
    assert check_run([("S001", steps)], data={}, environment=None, start_index=1).ok
    assert not check_run([("S001", steps)], data={}, environment=None, start_index=0).ok


def test_data_files(tmp_path: Path) -> None:
    good = tmp_path / "data.yaml"
    good.write_text("sku: A-1\nitems:\n  - {qty: 2}\nwhen: 2026-01-01\n")
    assert load_data_file(good) == {"sku": "A-1", "items": [{"qty": 2}], "when": "2026-01-01"}
    as_json = tmp_path / "data.json"
    as_json.write_text('{"sku": "A-1"}')
    assert load_data_file(as_json) == {"sku": "A-1"}
    for content, fragment, line in [
        ("- a\n- b\n", "is a mapping", 1),
        ("sku: [unclosed\n", "not valid YAML", 2),
        ("sku: 1\nsku: 2\n", "duplicate key", 2),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(content)
        with pytest.raises(ConfigurationError) as caught:
            load_data_file(bad)
        assert (
            fragment in caught.value.message and caught.value.file == str(bad) and caught.value.line == line
        )
    with pytest.raises(Exception, match="file not found"):
        load_data_file(tmp_path / "none.yaml")
