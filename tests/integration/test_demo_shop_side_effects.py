"""The shop's side-effect faults as Orchestra reports them: db, kafka and queue assertion steps (issue 11).

The healthy shop passes every assertion; each fault switch turns its assertion red with the
violation type the shop's README promises.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from orchestra_app.domain.secrets import StaticSecretResolver
from orchestra_app.domain.steps import (
    ActionDefinition,
    ChannelType,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    StepExpectations,
    StepKind,
    StepResultData,
    StepStatus,
)
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from orchestra_app.plugins.windows import close_windows, prepare_windows
from tests.fixtures.shop import (
    CARD_OK,
    RunningShop,
    amqp_url,
    delete_amqp,
    delete_topic,
    kafka_bootstrap,
    running_shop,
)
from tests.integration.shop_conftest import SPECS, load_specs, module_database

pytestmark = pytest.mark.integration

TOPIC = f"shop.orders.effects-{uuid.uuid4().hex[:8]}"
EXCHANGE = f"shop.payments.effects-{uuid.uuid4().hex[:8]}"
SHORT = 1500  # ms: an assertion timeout well below the late faults' delay


@pytest.fixture(scope="module")
def shop_db_url(pg_url: str) -> Iterator[str]:
    yield from module_database(pg_url)


@pytest.fixture(scope="module")
def shop(shop_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    bootstrap, amqp = kafka_bootstrap(), amqp_url()
    args = ["--port", "0", "--db-url", shop_db_url, "--kafka-bootstrap", bootstrap, "--kafka-topic", TOPIC]
    args += ["--amqp-url", amqp, "--amqp-exchange", EXCHANGE, "--amqp-queue", ""]
    with running_shop(args, tmp_path_factory.mktemp("shop")) as running:
        yield running
    delete_topic(bootstrap, TOPIC)
    delete_amqp(amqp, EXCHANGE, None)


@pytest.fixture(autouse=True)
def clean_faults(shop: RunningShop) -> Iterator[None]:
    shop.reset_faults()
    yield
    shop.reset_faults()


@pytest.fixture(scope="module")
def environment(shop: RunningShop, shop_db_url: str) -> Iterator[ExecutionEnvironment]:
    db = sa.engine.make_url(shop_db_url)
    amqp = sa.engine.make_url(amqp_url())
    env = ExecutionEnvironment(
        services={
            name: {"baseUrl": shop.ready["services"][name]["url"], "timeoutS": 15} for name in load_specs()
        },
        specs={**load_specs(), "events": import_spec(SPECS / "events.asyncapi.yaml")},
        secrets=StaticSecretResolver(
            {"SHOP_DB_PASSWORD": db.password or "", "SHOP_AMQP_PASSWORD": amqp.password or ""}
        ),
        profiles={
            "db": {
                "shop-db": {
                    "url": f"postgresql://{db.host}:{db.port}/{db.database}",
                    "username": db.username,
                    "password": {"secret": "SHOP_DB_PASSWORD"},
                }
            },
            "kafka": {"shop-kafka": {"bootstrapServers": kafka_bootstrap()}},
            "queue": {
                "shop-rabbitmq": {
                    "kind": "rabbitmq",
                    "endpoint": f"amqp://{amqp.host}:{amqp.port}/%2F",
                    "username": amqp.username,
                    "password": {"secret": "SHOP_AMQP_PASSWORD"},
                }
            },
        },
    )
    yield env
    env.close()


class Run:
    """A few steps sharing one ExecutionContext, as the engine runs them."""

    def __init__(self, environment: ExecutionEnvironment) -> None:
        self.context = ExecutionContext(run_id=uuid.uuid4(), variables={"data": {}})
        self.run = StepRunContext(environment=environment, context=self.context)
        self.registry = default_registry()

    def execute(self, step: ScenarioStepSpec) -> StepResultData:
        result = self.registry.plugin_for(step.channel_type).execute(step, self.run)
        self.context.steps_by_alias[step.alias] = result
        return result

    def open(self, *steps: ScenarioStepSpec) -> None:
        prepare_windows(list(steps), self.run, self.registry.plugin_for)

    def close(self) -> None:
        close_windows(self.run)


def http(alias: str, service: str, operation: str, template: dict[str, Any], status: int) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias,
        name=alias,
        endpoint_ref=EndpointRef(protocol_id="http", service_name=service, endpoint_name=operation),
        action=ActionDefinition(input_template=template),
        expectations=StepExpectations(expected_status_code=status),
    )


def check(alias: str, channel: ChannelType, meta: dict[str, Any], rules: Any = None) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias,
        name=alias,
        kind=StepKind.ASSERTION,
        channel_type=channel,
        action=ActionDefinition(meta=meta),
        expectations=StepExpectations(business_rules=rules or []),
    )


ORDER_ID = "{{step.create_order.response.body.id}}"
CREATE = http(
    "create_order",
    "orders",
    "createOrder",
    {
        "method": "POST",
        "path": "/orders",
        "json": {"customerId": "cust-fx", "items": [{"sku": "SKU-1001", "quantity": 2}]},
    },
    201,
)
AUTHORISE = http(
    "authorise_payment",
    "payments",
    "authorisePayment",
    {
        "method": "POST",
        "path": "/payments",
        "headers": {"Idempotency-Key": "fx-1"},
        "json": {"orderId": ORDER_ID, "amount": 54.7, "currency": "EUR", "card": CARD_OK},
    },
    201,
)
ORDER_ROW = check(
    "orders_row",
    ChannelType.DB,
    {
        "dataSource": "shop-db",
        "sql": f"SELECT status, total_amount FROM orders.orders WHERE id = {ORDER_ID}",
        "timeoutMs": SHORT,
        "pollIntervalMs": 100,
    },
    [{"path": "$.rowCount", "equals": 1}, {"path": "$.rows[0].status", "equals": "PENDING_PAYMENT"}],
)
ORDER_CREATED = check(
    "order_created_event",
    ChannelType.KAFKA,
    {
        "clusterAlias": "shop-kafka",
        "topic": TOPIC,
        "keyExpression": ORDER_ID,
        "valueMatcherMode": "PARTIAL_MATCH",
        "expected": {"eventType": "OrderCreated", "totalAmount": 54.7, "status": "PENDING_PAYMENT"},
        "timeoutMs": SHORT,
        "pollIntervalMs": 100,
    },
)
PAYMENT_MESSAGE = check(
    "payment_authorised_message",
    ChannelType.QUEUE,
    {
        "brokerAlias": "shop-rabbitmq",
        "exchange": EXCHANGE,
        "routingKey": "payment.#",
        "correlationId": ORDER_ID,
        "valueMatcherMode": "PARTIAL_MATCH",
        "expected": {"type": "PaymentAuthorised", "status": "AUTHORISED"},
        "timeoutMs": SHORT,
        "pollIntervalMs": 100,
    },
)


def types(result: StepResultData) -> list[str]:
    return [str(v.type) for v in result.violations]


def scenario(environment: ExecutionEnvironment, *checks: ScenarioStepSpec) -> list[StepResultData]:
    """Create order, authorise payment, then the given assertions (windows opened before the actions)."""
    run = Run(environment)
    run.open(*checks)
    try:
        assert run.execute(CREATE).status == StepStatus.PASSED
        assert run.execute(AUTHORISE).status == StepStatus.PASSED
        return [run.execute(step) for step in checks]
    finally:
        run.close()


def test_healthy_shop_passes_db_kafka_and_queue_assertions(environment: ExecutionEnvironment) -> None:
    for result in scenario(environment, ORDER_ROW, ORDER_CREATED, PAYMENT_MESSAGE):
        assert result.status == StepStatus.PASSED, result.violations


def test_row_missing_is_db_assertion_failed(shop: RunningShop, environment: ExecutionEnvironment) -> None:
    shop.fault("orders", "row_missing")
    [result] = scenario(environment, ORDER_ROW)
    assert result.status == StepStatus.FAILED
    assert "DB_ASSERTION_FAILED" in types(result)


def test_event_not_published_is_kafka_message_not_found(
    shop: RunningShop, environment: ExecutionEnvironment
) -> None:
    shop.fault("orders", "event_not_published")
    [result] = scenario(environment, ORDER_CREATED)
    assert types(result) == ["TIMEOUT", "KAFKA_MESSAGE_NOT_FOUND"]


def test_event_wrong_field_is_a_kafka_mismatch(shop: RunningShop, environment: ExecutionEnvironment) -> None:
    shop.fault("orders", "event_wrong_field")
    [result] = scenario(environment, ORDER_CREATED)
    assert "KAFKA_MESSAGE_NOT_FOUND" in types(result)
    assert any(v.code == "MESSAGE_MISMATCH" for v in result.violations), result.violations


def test_event_late_is_timeout_and_not_found(shop: RunningShop, environment: ExecutionEnvironment) -> None:
    shop.fault("orders", "event_late", delayMs=8000)
    [result] = scenario(environment, ORDER_CREATED)
    assert types(result) == ["TIMEOUT", "KAFKA_MESSAGE_NOT_FOUND"]


def test_message_not_published_is_queue_message_not_found(
    shop: RunningShop, environment: ExecutionEnvironment
) -> None:
    shop.fault("payments", "message_not_published")
    [result] = scenario(environment, PAYMENT_MESSAGE)
    assert types(result) == ["TIMEOUT", "QUEUE_MESSAGE_NOT_FOUND"]


def test_message_wrong_correlation_is_queue_message_not_found(
    shop: RunningShop, environment: ExecutionEnvironment
) -> None:
    shop.fault("payments", "message_wrong_correlation")
    [result] = scenario(environment, PAYMENT_MESSAGE)
    assert types(result) == ["TIMEOUT", "QUEUE_MESSAGE_NOT_FOUND"]


def test_stock_not_released_fails_the_stock_assertion(
    shop: RunningShop, environment: ExecutionEnvironment
) -> None:
    sql = "SELECT reserved FROM inventory.stock_items WHERE sku = 'SKU-1002'"
    before = check("before", ChannelType.DB, {"dataSource": "shop-db", "sql": sql})
    template = {
        **CREATE.action.input_template,
        "json": {"customerId": "c", "items": [{"sku": "SKU-1002", "quantity": 1}]},
    }
    create = CREATE.model_copy(update={"action": ActionDefinition(input_template=template)})
    cancel = http(
        "cancel_order",
        "orders",
        "cancelOrder",
        {"method": "POST", "path": "/orders/{orderId}/cancel", "pathParams": {"orderId": ORDER_ID}},
        200,
    )
    for faulty in (False, True):
        if faulty:
            shop.fault("inventory", "stock_not_released")
        run = Run(environment)
        first = run.execute(before)
        assert first.status == StepStatus.PASSED, first.violations
        reserved = first.db_result["rows"][0]["reserved"]
        assert run.execute(create).status == StepStatus.PASSED
        assert run.execute(cancel).status == StepStatus.PASSED
        back = check(
            "stock_back",
            ChannelType.DB,
            {"dataSource": "shop-db", "sql": sql, "timeoutMs": SHORT, "pollIntervalMs": 100},
            [{"path": "$.rows[0].reserved", "equals": reserved}],
        )
        result = run.execute(back)
        if faulty:
            assert types(result)[-1] == "DB_ASSERTION_FAILED", result.violations
        else:
            assert result.status == StepStatus.PASSED, result.violations


def test_order_events_conform_to_the_asyncapi_spec(
    shop: RunningShop, environment: ExecutionEnvironment
) -> None:
    """Bound to the AsyncAPI operation, the found event is checked against its message schemas."""
    bound = ORDER_CREATED.model_copy(
        update={
            "alias": "order_created_contract",
            "endpoint_ref": EndpointRef(
                protocol_id="kafka", service_name="events", endpoint_name="publishOrderEvents"
            ),
            "action": ActionDefinition(
                meta={
                    k: v
                    for k, v in ORDER_CREATED.action.meta.items()
                    if k not in ("expected", "valueMatcherMode")
                }
            ),
        }
    )
    [healthy] = scenario(environment, bound)
    assert healthy.status == StepStatus.PASSED, healthy.violations
    shop.fault("orders", "event_wrong_field", field="status")  # OrderCreated saying PAID fits no message
    [broken] = scenario(environment, bound)
    assert {(str(v.type), v.code) for v in broken.violations} == {
        ("CONTRACT_VIOLATION", "MESSAGE_SCHEMA_MISMATCH")
    }
