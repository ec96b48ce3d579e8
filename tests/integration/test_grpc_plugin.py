"""The grpc plugin against a real grpcio server on loopback: calls, status codes, deadlines, templates,
metadata secrets, reflection and response checks."""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from orchestra_app.domain.secrets import EnvSecretResolver, StaticSecretResolver
from orchestra_app.domain.steps import (
    ActionDefinition,
    ActionMode,
    ChannelType,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    StepExpectations,
    StepResultData,
    StepStatus,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.grpc.server import TOKEN, Server, orders_spec, serve

pytestmark = pytest.mark.integration

SPEC = orders_spec()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serve() as running:
        yield running


def _step(
    alias: str,
    rpc: str,
    message: Any = None,
    *,
    meta: dict[str, Any] | None = None,
    expectations: dict[str, Any] | None = None,
    template: dict[str, Any] | None = None,
    negative: bool = False,
    mode: ActionMode = ActionMode.SYNC,
) -> ScenarioStepSpec:
    body = template if template is not None else {"message": message or {}}
    return ScenarioStepSpec(
        alias=alias,
        name=alias,
        channel_type=ChannelType.GRPC,
        endpoint_ref=EndpointRef(protocol_id="grpc", service_name="orders", endpoint_name=rpc),
        action=ActionDefinition(input_template=body, meta=meta or {}, mode=mode),
        expectations=StepExpectations.model_validate(expectations or {}),
        negative=negative,
    )


def _env(server: Server, *, spec: bool = True, secrets: Any = None, **service: Any) -> ExecutionEnvironment:
    config = {"baseUrl": f"grpc://{server.address}", "timeoutS": 10, **service}
    return ExecutionEnvironment(
        services={"orders": config},
        specs={"orders": SPEC} if spec else {},
        secrets=secrets or StaticSecretResolver({}),
    )


def _run(
    env: ExecutionEnvironment, step: ScenarioStepSpec, context: ExecutionContext | None = None
) -> StepResultData:
    run = StepRunContext(env, context or ExecutionContext(variables={"data": {"customer": "c-1", "qty": 3}}))
    result = default_registry().plugin_for(ChannelType.GRPC).execute(step, run)
    run.context.steps_by_alias[step.alias] = result  # what the engine does after each step
    return result


def _codes(result: StepResultData) -> list[tuple[str, str]]:
    return [(str(v.type), v.code) for v in result.violations]


CREATE = "orders.v1.Orders/CreateOrder"


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    plugin = default_registry().plugin_for("GRPC")
    assert plugin.id == "grpc" and plugin.spec_parser is not None and plugin.contract_validator is not None


def test_a_call_passes_and_a_later_step_uses_its_response(server: Server) -> None:
    env = _env(server)
    context = ExecutionContext(variables={"data": {"customer": "c-1", "qty": 3}})
    create = _step(
        "create",
        CREATE,
        {"customerId": "{{data.customer}}", "lines": [{"sku": "A-1", "qty": "{{data.qty}}"}]},
        expectations={"businessRules": [{"path": "$.body.totalQty", "equals": 3}]},
    )
    first = _run(env, create, context)
    assert first.status == StepStatus.PASSED, first.violations
    assert first.actual_status_code == 0
    body = first.response_body
    assert body["customerId"] == "c-1" and body["status"] == "NEW" and body["totalQty"] == 3
    assert body["createdAt"] == "2023-11-14T22:13:20Z"
    assert first.request is not None and first.request["rpc"] == "/orders.v1.Orders/CreateOrder"
    assert first.request["descriptors"] == "spec"

    get = _step("get", "orders.v1.Orders/GetOrder", {"orderId": "{{step.create.response.body.id}}"})
    second = _run(env, get, context)
    assert second.status == StepStatus.PASSED, second.violations
    assert second.response_body["id"] == body["id"]
    env.close()


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("NOT_FOUND", ("HTTP_ERROR", "GRPC_NOT_FOUND")),
        ("INTERNAL", ("HTTP_ERROR", "GRPC_INTERNAL")),
        ("INVALID", ("HTTP_ERROR", "GRPC_INVALID_ARGUMENT")),
        ("PERMISSION", ("HTTP_ERROR", "GRPC_PERMISSION_DENIED")),
    ],
)
def test_non_ok_status_codes_are_typed_violations(server: Server, behaviour: str, code: tuple) -> None:
    result = _run(_env(server), _step("s", CREATE, {"customerId": "x", "behaviour": behaviour}))
    assert result.status == StepStatus.FAILED
    assert _codes(result) == [code]
    violation = result.violations[0]
    assert violation.details["grpcStatus"] == code[1].removeprefix("GRPC_")
    assert violation.details["grpcMessage"] and result.response_body is None
    assert "grpcurl -plaintext" in result.request["reproducer"]  # type: ignore[index]


def test_expected_status_codes_and_negative_steps(server: Server) -> None:
    env = _env(server)
    not_found = {"customerId": "x", "behaviour": "NOT_FOUND"}
    by_name = _step("a", CREATE, not_found, meta={"expectedStatus": "NOT_FOUND"})
    assert _run(env, by_name).status == StepStatus.PASSED
    by_number = _step("b", CREATE, not_found, meta={"expectedStatus": 5})
    assert _run(env, by_number).status == StepStatus.PASSED
    http_field = _step("b2", CREATE, not_found, expectations={"expectedStatusCode": 404})
    result = _run(env, http_field)
    assert _codes(result) == [("VALIDATION_ERROR", "CONFIGURATION_ERROR")]
    assert "action.meta.expectedStatus" in result.violations[0].message
    either = _step("c", CREATE, not_found, meta={"expectedStatus": ["ALREADY_EXISTS", "GRPC_NOT_FOUND"]})
    assert _run(env, either).status == StepStatus.PASSED
    wrong = _step("d", CREATE, {"customerId": "x"}, meta={"expectedStatus": "NOT_FOUND"})
    result = _run(env, wrong)
    assert _codes(result) == [("HTTP_ERROR", "UNEXPECTED_STATUS")]
    assert result.violations[0].details["actual"] == "OK"
    negative = _step("e", CREATE, {"customerId": "x", "behaviour": "INVALID"}, negative=True)
    assert _run(env, negative).status == StepStatus.PASSED
    accepted = _step("f", CREATE, {"customerId": "x"}, negative=True)
    assert _codes(_run(env, accepted)) == [("HTTP_ERROR", "NEGATIVE_TEST_ACCEPTED")]
    server_error = _step("g", CREATE, {"customerId": "x", "behaviour": "INTERNAL"}, negative=True)
    assert _codes(_run(env, server_error)) == [("HTTP_ERROR", "GRPC_INTERNAL")]
    bad = _step("h", CREATE, {"customerId": "x"}, meta={"expectedStatus": "NOPE"})
    result = _run(env, bad)
    assert _codes(result) == [("VALIDATION_ERROR", "CONFIGURATION_ERROR")]
    assert "NOPE" in result.violations[0].message


def test_deadline_exceeded_is_a_timeout(server: Server) -> None:
    step = _step("slow", CREATE, {"behaviour": "SLOW", "delayMs": 3000}, meta={"timeoutMs": 200})
    result = _run(_env(server), step)
    assert _codes(result) == [("TIMEOUT", "GRPC_DEADLINE_EXCEEDED")]
    assert result.violations[0].details["deadlineMs"] == 200


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"grpc://127.0.0.1:{port}", "timeoutS": 5}}, specs={"orders": SPEC}
    )
    result = _run(env, _step("s", CREATE, {"customerId": "x"}))
    assert _codes(result) == [("HTTP_ERROR", "GRPC_UNAVAILABLE")]


@pytest.mark.parametrize(
    ("message", "pointer", "words"),
    [
        ({"lines": [{"sku": "A", "qty": "many"}]}, "/action/inputTemplate/message/lines/0/qty", "qty"),
        ({"customerId": "x", "colour": "red"}, "/action/inputTemplate/message/colour", "colour"),
        ({"lines": [{"sku": "A", "bogus": 1}]}, "/action/inputTemplate/message/lines/0/bogus", "bogus"),
        ({"behaviour": "MAYBE"}, "/action/inputTemplate/message/behaviour", "MAYBE"),
    ],
)
def test_a_bad_input_message_names_the_field(server: Server, message: Any, pointer: str, words: str) -> None:
    before = len(server.calls)
    result = _run(_env(server), _step("bad", CREATE, message))
    assert _codes(result) == [("VALIDATION_ERROR", "INVALID_REQUEST_MESSAGE")]
    violation = result.violations[0]
    assert violation.details["pointer"] == pointer and words in violation.message
    assert len(server.calls) == before  # nothing was sent


@pytest.mark.parametrize(
    ("step", "code"),
    [
        (_step("t", CREATE, {"customerId": "{{data.nobody}}"}), "TEMPLATE_ERROR"),
        (_step("t", CREATE, template={"message": {}, "body": {}}), "UNKNOWN_TEMPLATE_KEY"),
        (_step("t", CREATE, template={"message": [1]}), "INVALID_TEMPLATE"),
        (_step("t", CREATE, template={"message": {}, "metadata": {"Bad Key": "x"}}), "INVALID_METADATA"),
        (_step("t", "orders.v1.Orders/WatchOrders", {}), "UNSUPPORTED_STREAMING"),
        (_step("t", "orders.v1.Orders/Nope", {}), "UNKNOWN_RPC"),
        (_step("t", "shop.Nope/Get", {}), "UNKNOWN_RPC"),
    ],
)
def test_template_and_binding_problems_fail_before_sending(
    server: Server, step: ScenarioStepSpec, code: str
) -> None:
    result = _run(_env(server), step)
    assert [v.code for v in result.violations] == [code], result.violations
    assert str(result.violations[0].type) == "VALIDATION_ERROR"


def test_bad_environment_settings_are_clear(server: Server) -> None:
    step = _step("s", CREATE, {})
    for service, words in [
        ({"baseUrl": "ftp://x:1"}, "not a gRPC scheme"),
        ({"baseUrl": "localhost"}, "needs a port"),
        ({"baseUrl": ""}, "no baseUrl"),
        ({"baseUrl": "grpcs://127.0.0.1:1", "tls": {"verify": False}}, "tls.verify=false"),
        ({"baseUrl": "grpcs://127.0.0.1:1", "tls": {"caBundle": "/nonexistent/ca.pem"}}, "CA bundle"),
    ]:
        env = ExecutionEnvironment(services={"orders": service}, specs={"orders": SPEC})
        result = _run(env, step)
        assert [v.code for v in result.violations] == ["CONFIGURATION_ERROR"], (service, result.violations)
        assert words in result.violations[0].message
    for config, words in [
        ({"maxMessageBytes": -1}, "plugin_config.grpc.maxMessageBytes"),
        ({"reflectionTimeoutS": "soon"}, "plugin_config.grpc.reflectionTimeoutS"),
        ({"bogus": 1}, "plugin_config.grpc.bogus"),
    ]:
        env = ExecutionEnvironment(
            services={"orders": {"baseUrl": f"grpc://{server.address}"}},
            specs={"orders": SPEC},
            plugin_config={"grpc": config},
        )
        result = _run(env, step)
        assert [v.code for v in result.violations] == ["CONFIGURATION_ERROR"] and words in result.violations[
            0
        ].message
    unknown = ExecutionEnvironment(services={}, specs={"orders": SPEC})
    result = _run(unknown, step)
    assert "no service 'orders'" in result.violations[0].message
    lenient = SPEC.model_copy(update={})
    lenient.__pydantic_extra__ = {k: v for k, v in (SPEC.model_extra or {}).items() if k != "descriptorSet"}
    env = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"grpc://{server.address}"}}, specs={"orders": lenient}
    )
    assert [v.code for v in _run(env, step).violations] == ["NO_DESCRIPTORS"]


def test_metadata_auth_from_secret_references_never_leaks(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = EnvSecretResolver(
        environ={"ORCHESTRA_SECRET_GRPC_TOKEN": TOKEN, "ORCHESTRA_SECRET_API_KEY": "k3y-Value-77"}
    )
    env = _env(server, auth={"type": "bearer", "token": {"secret": "GRPC_TOKEN"}}, secrets=secrets)
    step = _step(
        "who",
        "orders.v1.Orders/WhoAmI",
        template={"message": {}, "metadata": {"x-api-key": "{{secret:API_KEY}}", "x-trace": "t-1"}},
        expectations={"businessRules": [{"path": "$.body.subject", "equals": "bob"}]},
    )
    result = _run(env, step)
    # The server accepted the token; the rule fails on purpose so the failure path is recorded too.
    assert _codes(result) == [("BUSINESS_RULE_VIOLATION", "RULE_EQUALS")]
    dumped = json.dumps(result.to_json_dict())
    assert TOKEN not in dumped and "k3y-Value-77" not in dumped
    assert result.response_body["echoedToken"] == "***"
    assert result.request["metadata"]["authorization"] == "***"  # type: ignore[index]
    assert result.request["metadata"]["x-trace"] == "t-1"  # type: ignore[index]
    reproducer = result.request["reproducer"]  # type: ignore[index]
    assert '"authorization: Bearer ${ORCHESTRA_SECRET_GRPC_TOKEN}"' in reproducer
    assert '"x-api-key: ${ORCHESTRA_SECRET_API_KEY}"' in reproducer
    assert all(TOKEN not in r.getMessage() and "k3y-Value-77" not in r.getMessage() for r in caplog.records)

    basic = _env(
        server,
        auth={"type": "basic", "username": "qa", "password": {"secret": "GRPC_TOKEN"}},
        secrets=secrets,
    )
    result = _run(basic, _step("who", "orders.v1.Orders/WhoAmI", {}))
    assert _codes(result) == [("HTTP_ERROR", "GRPC_UNAUTHENTICATED")]  # the server wants a bearer token
    dumped = json.dumps(result.to_json_dict())
    assert TOKEN not in dumped and base64.b64encode(f"qa:{TOKEN}".encode()).decode() not in dumped
    assert '$(printf %s "qa:${ORCHESTRA_SECRET_GRPC_TOKEN}" | base64 -w0)' in result.request["reproducer"]  # type: ignore[index]
    wrong = _env(server, auth={"type": "bearer", "token": "nope"})
    result = _run(wrong, _step("who", "orders.v1.Orders/WhoAmI", {}))
    assert _codes(result) == [("HTTP_ERROR", "GRPC_UNAUTHENTICATED")]
    missing = _env(server, auth={"type": "bearer", "token": {"secret": "NOT_SET"}}, secrets=secrets)
    result = _run(missing, _step("who", "orders.v1.Orders/WhoAmI", {}))
    assert [v.code for v in result.violations] == ["CONFIGURATION_ERROR"]
    assert "NOT_SET" in result.violations[0].message


def test_responses_are_checked_against_the_message_type(server: Server) -> None:
    env = _env(server)
    drift = _run(env, _step("d", CREATE, {"behaviour": "WRONG_TYPE"}))
    assert {c for c in _codes(drift)} == {("CONTRACT_VIOLATION", "UNKNOWN_RESPONSE_FIELD")}
    assert sorted(v.details["pointer"] for v in drift.violations) == ["/#3", "/#99"]
    garbage = _run(env, _step("g", CREATE, {"behaviour": "GARBAGE"}))
    assert _codes(garbage) == [("CONTRACT_VIOLATION", "RESPONSE_DECODE_ERROR")]
    off = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"grpc://{server.address}"}},
        specs={"orders": SPEC},
        plugin_config={"grpc": {"validateResponses": False}},
    )
    assert _run(off, _step("d", CREATE, {"behaviour": "WRONG_TYPE"})).status == StepStatus.PASSED


def test_a_response_violating_business_rules(server: Server) -> None:
    step = _step(
        "r",
        CREATE,
        {"customerId": "c-9", "lines": [{"sku": "A", "qty": 2}]},
        expectations={
            "businessRules": [
                {"path": "$.body.status", "equals": "PAID"},
                {"path": "$.statusName", "equals": "OK"},
            ]
        },
    )
    result = _run(_env(server), step)
    assert _codes(result) == [("BUSINESS_RULE_VIOLATION", "RULE_EQUALS")]
    assert "PAID" in result.violations[0].message


def test_fire_and_forget_checks_the_status_only(server: Server) -> None:
    env = _env(server)
    ok = _run(env, _step("f", CREATE, {"customerId": "x"}, mode=ActionMode.FIRE_AND_FORGET))
    assert ok.status == StepStatus.PASSED and ok.response_body is None
    failed = _run(env, _step("f", CREATE, {"behaviour": "INTERNAL"}, mode=ActionMode.FIRE_AND_FORGET))
    assert _codes(failed) == [("HTTP_ERROR", "GRPC_INTERNAL")]


def test_server_reflection_gives_the_descriptors() -> None:
    with serve(reflection=True) as server:
        env = _env(server, spec=False)
        result = _run(env, _step("c", CREATE, {"customerId": "r-1", "lines": [{"sku": "A", "qty": 1}]}))
        assert result.status == StepStatus.PASSED, result.violations
        assert result.request["descriptors"] == "reflection"  # type: ignore[index]
        assert "-proto" not in result.request["reproducer"]  # type: ignore[index]
        assert result.response_body["totalQty"] == 1
        forced = _env(server, options={"reflection": True})
        assert _run(forced, _step("c", CREATE, {"customerId": "r-2"})).status == StepStatus.PASSED
        env.close()
    with serve(reflection=False) as server:
        result = _run(_env(server, spec=False), _step("c", CREATE, {}))
        assert [v.code for v in result.violations] == ["NO_DESCRIPTORS"]
        assert "UNIMPLEMENTED" in result.violations[0].message


def test_a_spec_stored_through_the_import_service_is_callable(
    server: Server, migrated_pg_engine: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The descriptors survive jsonb storage; a single uploaded file whose import is missing is stored
    with a not_compiled warning and cannot be called without reflection (NO_DESCRIPTORS says why)."""
    from sqlmodel import Session

    from orchestra_app.db.tables import ProtocolSpec
    from orchestra_app.domain.spec import SpecSummary
    from orchestra_app.services import specs
    from orchestra_app.services.tenancy import ensure_dev_principal
    from orchestra_app.settings import get_settings
    from tests.fixtures.grpc.server import PROTO

    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    original = PROTO.read_text()
    # The same wire format in one self-contained file: Money moves into the orders package.
    flat = original.replace('import "common/money.proto";\n', "").replace("common.Money", "Money")
    flat += "\nmessage Money {\n  string currency_code = 1;\n  int64 units = 2;\n}\n"
    try:
        with Session(migrated_pg_engine) as session:
            principal = ensure_dev_principal(session=session)
            flat_id = specs.import_spec(
                session=session, principal=principal, data=flat.encode(), filename="orders.proto"
            ).spec_id
            alone = specs.import_spec(
                session=session,
                principal=principal,
                data=original.encode(),
                filename="orders.proto",
                service_name="orders-alone",
            )
            session.commit()
            assert any(w.startswith("not_compiled") for w in alone.warnings)
            stored = {
                sid: SpecSummary.model_validate(session.get(ProtocolSpec, sid).parsed_summary)  # type: ignore[union-attr]
                for sid in (flat_id, alone.spec_id)
            }
    finally:
        get_settings.cache_clear()
    step = _step("c", CREATE, {"customerId": "db", "lines": [{"sku": "A", "qty": 4, "price": {"units": 5}}]})
    env = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"grpc://{server.address}"}}, specs={"orders": stored[flat_id]}
    )
    result = _run(env, step)
    assert result.status == StepStatus.PASSED and result.response_body["totalQty"] == 4
    assert result.response_body["lines"][0]["price"]["units"] == "5"  # int64 in the proto3 JSON mapping
    env = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"grpc://{server.address}"}}, specs={"orders": stored[alone.spec_id]}
    )
    result = _run(env, step)
    assert [v.code for v in result.violations] == ["NO_DESCRIPTORS"]
    assert "common/money.proto" in result.violations[0].message
