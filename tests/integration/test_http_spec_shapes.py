"""The HTTP plugin against loopback services whose specs have the shapes real services publish.

Swagger 2 ``basePath``, OpenAPI 3.1 relative ``servers`` with variables, an impossible path
parameter, an over-strict request schema, 201 under a 200-only spec (issue 9, items 1-6).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.secrets import StaticSecretResolver
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import (
    ActionDefinition,
    ActionMode,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    Severity,
    StepExpectations,
    StepResultData,
    StepStatus,
    SuiteGeneration,
    with_suite_defaults,
)
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.http.matcher import starter_template
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.http.shapes_server import build_shapes_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve(app_factory=build_shapes_app) as running:
        yield running


@pytest.fixture(scope="module")
def shapes(fixtures_dir: Path) -> Path:
    return fixtures_dir / "http" / "shapes"


@pytest.fixture(scope="module")
def inventory(shapes: Path) -> SpecSummary:
    return import_spec(shapes / "swagger2-basepath.yaml")


@pytest.fixture(scope="module")
def flows(shapes: Path) -> SpecSummary:
    return import_spec(shapes / "openapi31-servers.yaml")


def environment(
    server: LoopbackServer,
    inventory: SpecSummary,
    flows: SpecSummary,
    *,
    inventory_url: str | None = None,
    flows_url: str | None = None,
    flows_options: dict[str, Any] | None = None,
    plugin_config: dict[str, Any] | None = None,
) -> ExecutionEnvironment:
    return ExecutionEnvironment(
        name="shapes",
        services={
            "inventory": {
                "baseUrl": inventory_url if inventory_url is not None else server.base_url,
                "auth": {"type": "basic", "username": "alice", "password": {"secret": "ALICE"}},
                "timeoutS": 10,
            },
            "flows": {
                "baseUrl": flows_url if flows_url is not None else server.base_url,
                "timeoutS": 10,
                "options": flows_options or {},
            },
        },
        specs={"inventory": inventory, "flows": flows},
        secrets=StaticSecretResolver({"ALICE": "wonderland"}),
        plugin_config={"http": plugin_config or {}},
    )


@pytest.fixture
def env(server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary) -> Iterator[ExecutionEnvironment]:
    with environment(server, inventory, flows) as environment_:
        yield environment_


def step(
    service: str,
    operation: str,
    template: dict[str, Any],
    *,
    expected: Any = None,
    meta: dict[str, Any] | None = None,
    mode: ActionMode = ActionMode.SYNC,
) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=operation,
        name=operation,
        endpoint_ref=EndpointRef(protocol_id="http", service_name=service, endpoint_name=operation),
        action=ActionDefinition(input_template=template, meta=meta or {}, mode=mode),
        expectations=StepExpectations(expected_status_code=expected),
    )


def run(
    env: ExecutionEnvironment, spec_step: ScenarioStepSpec, data: dict[str, Any] | None = None
) -> StepResultData:
    context = ExecutionContext(variables={"data": data or {}})
    result = (
        default_registry().plugin_for(spec_step.channel_type).execute(spec_step, StepRunContext(env, context))
    )
    json.dumps(result.to_json_dict())  # storable as jsonb
    return result


def codes(result: StepResultData) -> list[tuple[str, str, str]]:
    return [(str(v.type), v.code, str(v.severity)) for v in result.violations]


def seen(server: LoopbackServer) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in server.state.requests]


# ---- 1. base path from the spec -----------------------------------------------------------------------


def test_swagger2_base_path_is_appended_to_the_environment_host(
    env: ExecutionEnvironment, server: LoopbackServer
) -> None:
    result = run(env, step("inventory", "getItem", {"pathParams": {"itemId": "i-7"}}))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.request is not None
    assert result.request["url"] == f"{server.base_url}/v1/items/i-7"
    assert result.request["target"] == {
        "baseUrl": server.base_url,
        "basePath": "/v1",
        "basePathFrom": "basePath",
    }
    assert "GET /v1/items/i-7" in seen(server)


def test_base_url_that_already_ends_with_the_base_path_is_not_doubled(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(
        server,
        inventory,
        flows,
        inventory_url=server.base_url + "/v1/",
        flows_url=server.base_url + "/api/v2",
    ) as env:
        item = run(env, step("inventory", "getItem", {"pathParams": {"itemId": "i-8"}}))
        flow = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-8"}}))
    assert item.status == StepStatus.PASSED, item.violations
    assert item.request and item.request["url"] == f"{server.base_url}/v1/items/i-8"
    assert item.request["target"]["basePathAlreadyInBaseUrl"] is True
    assert flow.status == StepStatus.PASSED, flow.violations
    assert flow.request and flow.request["url"] == f"{server.base_url}/api/v2/flows/f-8"


def test_relative_server_with_variable_defaults(env: ExecutionEnvironment, server: LoopbackServer) -> None:
    result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-1"}}))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.request is not None
    assert result.request["url"] == f"{server.base_url}/api/v2/flows/f-1"
    assert result.request["target"]["basePath"] == "/api/v2"
    assert result.request["target"]["basePathFrom"] == "servers[0] 'current'"


def test_server_variables_overridden_per_environment_service(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, flows_options={"serverVariables": {"version": "v1"}}) as env:
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-2"}}))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.request and result.request["url"] == f"{server.base_url}/api/v1/flows/f-2"
    assert "GET /api/v1/flows/f-2" in seen(server)


def test_server_variable_outside_the_spec_enum_is_refused_and_nothing_is_sent(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, flows_options={"serverVariables": {"version": "v3"}}) as env:
        before = len(server.state.requests)
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "x"}}))
        assert len(server.state.requests) == before
    [violation] = result.violations
    assert (violation.type, violation.code) == ("VALIDATION_ERROR", "CONFIGURATION_ERROR")
    assert "options.serverVariables.version" in violation.message and "'v3'" in violation.message
    assert violation.details["field"] == "services.flows.options.serverVariables.version"
    assert result.status == StepStatus.FAILED


def test_environment_prefix_and_spec_base_path_compose(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, flows_url=server.base_url + "/gw") as env:
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-3"}}))
    assert result.status == StepStatus.PASSED, result.violations
    assert "GET /gw/api/v2/flows/f-3" in seen(server)


@pytest.mark.parametrize("selector", [1, "edge", "EDGE", "https://{region}.flows.example.test/edge"])
def test_server_chosen_by_index_or_description_keeps_the_environment_host(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary, selector: Any
) -> None:
    with environment(server, inventory, flows, flows_options={"server": selector}) as env:
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-4"}}))
    assert result.status == StepStatus.PASSED, result.violations
    # The spec's server is https://eu.flows.example.test/edge: only its path is used.
    assert result.request and result.request["url"] == f"{server.base_url}/edge/flows/f-4"
    assert result.request["target"]["basePathFrom"] == "servers[1] 'edge'"


@pytest.mark.parametrize(
    ("options", "field", "text"),
    [
        ({"server": 5}, "services.flows.options.server", "out of range: the spec has 2 server(s)"),
        ({"server": "staging"}, "services.flows.options.server", "matches no server"),
        ({"server": [1]}, "services.flows.options.server", "neither a server index"),
        ({"server": ""}, "services.flows.options.server", "neither a server index"),
        ({"server": -1}, "services.flows.options.server", "0 or more"),
        ({"serverVariables": "v1"}, "services.flows.options.serverVariables", "valid dictionary"),
        ({"basePath": 7}, "services.flows.options.basePath", "valid string"),
    ],
)
def test_bad_server_options_name_the_field_and_send_nothing(
    server: LoopbackServer,
    inventory: SpecSummary,
    flows: SpecSummary,
    options: dict[str, Any],
    field: str,
    text: str,
) -> None:
    with environment(server, inventory, flows, flows_options=options) as env:
        before = len(server.state.requests)
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-5"}}))
        assert len(server.state.requests) == before
    [violation] = result.violations
    assert violation.code == "CONFIGURATION_ERROR"
    assert violation.details["field"] == field
    assert text in violation.message


def test_operation_level_servers_win_over_the_spec_servers(
    env: ExecutionEnvironment, server: LoopbackServer
) -> None:
    result = run(env, step("flows", "edgePing", {}))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.request and result.request["url"] == f"{server.base_url}/edge-api/edge/ping"
    assert result.request["target"]["basePathFrom"] == "operation servers[0] 'edge-only'"


def test_explicit_base_path_option_replaces_the_spec_one(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, flows_options={"basePath": "/api/v1/"}) as env:
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-6"}}))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.request and result.request["url"] == f"{server.base_url}/api/v1/flows/f-6"
    assert result.request["target"]["basePathFrom"] == "options.basePath"


def test_missing_base_url_names_the_service(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, flows_url="") as env:
        result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": "f-7"}}))
    [violation] = result.violations
    assert violation.code == "INVALID_URL"
    assert "service 'flows' has no baseUrl" in violation.message


# ---- 2. an impossible path parameter -----------------------------------------------------------------


def test_impossible_path_parameter_warns_at_import_and_is_ignored_when_sending(
    env: ExecutionEnvironment, server: LoopbackServer, flows: SpecSummary
) -> None:
    warnings = {(w.code, w.message) for w in flows.warnings}
    assert any(
        code == "path_parameter_not_in_path"
        and "getCollectionSnapshot" in msg
        and "'collection_id}@{timestamp'" in msg
        for code, msg in warnings
    ), warnings
    assert any(code == "undeclared_path_variable" and "{timestamp}" in msg for code, msg in warnings), (
        warnings
    )
    operation = next(op for op in flows.operations if op.id == "getCollectionSnapshot")
    template = starter_template(operation, flows)
    assert template["pathParams"] == {
        "collection_id": "{{data.collection_id}}",
        "timestamp": "{{data.timestamp}}",
    }
    result = run(
        env,
        step("flows", "getCollectionSnapshot", template),
        data={"collection_id": "c-1", "timestamp": 1700000000},
    )
    assert result.status == StepStatus.PASSED, result.violations
    assert result.response_body == {"collection": "c-1", "at": 1700000000}
    assert "GET /api/v2/collections/c-1@1700000000" in seen(server)


def test_impossible_path_parameter_in_a_summary_stored_before_the_fix_is_still_ignored(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    old = flows.model_copy(deep=True)
    operation = next(op for op in old.operations if op.id == "getCollectionSnapshot")
    for param in operation.parameters:
        param.required = True  # what the importer used to store
    with environment(server, inventory, old) as env:
        result = run(
            env,
            step("flows", "getCollectionSnapshot", {"pathParams": {"collection_id": "c-2", "timestamp": 5}}),
        )
    assert result.status == StepStatus.PASSED, result.violations


# ---- 3. request checks: block, warn, off ----------------------------------------------------------------

BATCH = {"json": {"defaults": {"path": "/a"}, "items": [{"value": 1}, {"path": "/b", "value": 2}]}}


def test_over_strict_request_schema_blocks_by_default(
    env: ExecutionEnvironment, server: LoopbackServer
) -> None:
    before = len(server.state.requests)
    result = run(env, step("flows", "runBatch", BATCH))
    assert len(server.state.requests) == before  # not sent
    assert codes(result) == [("VALIDATION_ERROR", "INVALID_REQUEST_BODY", "error")]
    assert result.status == StepStatus.FAILED
    details = result.violations[0].details
    assert details["pointer"] == "/json/items/0"
    assert details["specPointer"] == (
        "/paths/~1batch/post/requestBody/content/application~1json/schema/properties/items/items/required"
    )


def test_warn_sends_anyway_and_keeps_the_request_violation_as_a_warning(
    env: ExecutionEnvironment, server: LoopbackServer
) -> None:
    result = run(env, step("flows", "runBatch", BATCH, meta={"requestValidation": "warn"}))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.response_body == {"applied": ["/a=1", "/b=2"]}
    assert codes(result) == [("VALIDATION_ERROR", "INVALID_REQUEST_BODY", "warning")]
    assert result.violations[0].details["requestValidation"] == "warn"
    assert "POST /api/v2/batch" in seen(server)
    stored = result.to_json_dict()["violations"][0]
    assert stored["severity"] == "warning"


def test_warn_does_not_hide_a_failing_response(env: ExecutionEnvironment) -> None:
    no_defaults = {"json": {"items": [{"value": 1}]}}
    result = run(env, step("flows", "runBatch", no_defaults, meta={"requestValidation": "WARN"}))
    assert result.actual_status_code == 422
    assert ("VALIDATION_ERROR", "INVALID_REQUEST_BODY", "warning") in codes(result)
    assert ("HTTP_ERROR", "HTTP_CLIENT_ERROR", "error") in codes(result)
    assert result.status == StepStatus.FAILED


def test_off_skips_the_request_check(env: ExecutionEnvironment) -> None:
    result = run(env, step("flows", "runBatch", BATCH, meta={"requestValidation": "off"}))
    assert result.status == StepStatus.PASSED and result.violations == []


def test_suite_default_applies_unless_the_step_says_otherwise(env: ExecutionEnvironment) -> None:
    suite = SuiteGeneration.model_validate({"requestValidation": "warn"})
    warned = run(env, with_suite_defaults(step("flows", "runBatch", BATCH), suite))
    assert warned.status == StepStatus.PASSED
    assert [v.severity for v in warned.violations] == [Severity.WARNING]
    blocked = run(
        env, with_suite_defaults(step("flows", "runBatch", BATCH, meta={"requestValidation": "block"}), suite)
    )
    assert blocked.status == StepStatus.FAILED and blocked.actual_status_code is None
    untouched = run(env, with_suite_defaults(step("flows", "runBatch", BATCH), SuiteGeneration()))
    assert untouched.status == StepStatus.FAILED and untouched.actual_status_code is None


def test_environment_default_is_below_suite_and_step(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, plugin_config={"requestValidation": "warn"}) as env:
        warned = run(env, step("flows", "runBatch", BATCH))
        blocked = run(env, step("flows", "runBatch", BATCH, meta={"requestValidation": "block"}))
    assert warned.status == StepStatus.PASSED and warned.violations[0].severity == Severity.WARNING
    assert blocked.status == StepStatus.FAILED and blocked.actual_status_code is None
    with environment(server, inventory, flows, plugin_config={"validateRequests": False}) as env:
        legacy_off = run(env, step("flows", "runBatch", BATCH))
    assert legacy_off.status == StepStatus.PASSED and legacy_off.violations == []


@pytest.mark.parametrize("value", ["maybe", True, 3, ""])
def test_bad_request_validation_value_is_refused_before_sending(
    env: ExecutionEnvironment, server: LoopbackServer, value: Any
) -> None:
    before = len(server.state.requests)
    result = run(env, step("flows", "runBatch", BATCH, meta={"requestValidation": value}))
    assert len(server.state.requests) == before
    [violation] = result.violations
    assert violation.code == "INVALID_META"
    assert violation.details["pointer"] == "/action/meta/requestValidation"
    assert "'block', 'warn', 'off'" in violation.message


def test_bad_plugin_config_value_fails_with_the_setting_named(
    server: LoopbackServer, inventory: SpecSummary, flows: SpecSummary
) -> None:
    with environment(server, inventory, flows, plugin_config={"requestValidation": "sometimes"}) as env:
        result = run(env, step("flows", "runBatch", BATCH))
    [violation] = result.violations
    assert violation.code == "CONFIGURATION_ERROR"
    assert violation.details["field"] == "plugin_config.http.requestValidation"
    assert "'sometimes'" in violation.message


# ---- 4. 201 under a 200-only spec ----------------------------------------------------------------------


def test_undeclared_201_keeps_the_violation_and_checks_the_body_against_200(
    env: ExecutionEnvironment,
) -> None:
    valid = run(env, step("flows", "createFlow", {"json": {"name": "nightly"}}))
    assert codes(valid) == [("CONTRACT_VIOLATION", "UNDECLARED_STATUS", "error")]
    undeclared = valid.violations[0]
    assert undeclared.details["bodyCheckedAgainst"] == "200"
    assert undeclared.details["specPointer"] == "/paths/~1flows/post/responses"
    assert "checked against the 200 response" in undeclared.message

    broken = run(env, step("flows", "createFlow", {"json": {"name": "bad-id"}}))
    assert codes(broken) == [
        ("CONTRACT_VIOLATION", "UNDECLARED_STATUS", "error"),
        ("CONTRACT_VIOLATION", "RESPONSE_SCHEMA_MISMATCH", "error"),
    ]
    mismatch = broken.violations[1]
    assert mismatch.details["responseKey"] == "200" and mismatch.details["status"] == 201
    assert mismatch.details["standIn"] is True
    assert "checked against the 200 response" in mismatch.message
    assert mismatch.details["pointer"] == "/id"
    assert mismatch.details["specPointer"] == (
        "/paths/~1flows/post/responses/200/content/application~1json/schema/properties/id/type"
    )


def test_undeclared_201_without_a_body_only_reports_the_status(env: ExecutionEnvironment) -> None:
    result = run(env, step("flows", "createFlow", {"json": {"name": "empty"}}))
    assert codes(result) == [("CONTRACT_VIOLATION", "UNDECLARED_STATUS", "error")]


def test_swagger2_undeclared_201_body_points_at_the_definition(env: ExecutionEnvironment) -> None:
    result = run(
        env, step("inventory", "createItem", {"json": {"name": "bolt", "qty": 2}, "query": {"mode": "bad"}})
    )
    assert codes(result) == [
        ("CONTRACT_VIOLATION", "UNDECLARED_STATUS", "error"),
        ("CONTRACT_VIOLATION", "RESPONSE_SCHEMA_MISMATCH", "error"),
    ]
    details = result.violations[1].details
    assert details["pointer"] == "/qty"
    assert details["specPointer"] == "/definitions/Item/properties/qty/type"
    assert details["schemaPointer"] == "/$ref/properties/qty/type"


# ---- 5. expected status as a set or a class ---------------------------------------------------------


@pytest.mark.parametrize("expected", [[200, 201], "2XX", "2xx", [200, "2XX"], 201, "201"])
def test_expected_status_sets_and_classes_accept_201(env: ExecutionEnvironment, expected: Any) -> None:
    result = run(env, step("flows", "createFlow", {"json": {"name": "ok"}}, expected=expected))
    assert [v.code for v in result.violations] == ["UNDECLARED_STATUS"]


@pytest.mark.parametrize(
    ("expected", "text"),
    [
        (200, "expected status 200, got 201"),
        ([200, 204], "expected status 200 or 204, got 201"),
        ("4xx", "expected status 4XX, got 201"),
    ],
)
def test_expected_status_mismatch_names_the_set(env: ExecutionEnvironment, expected: Any, text: str) -> None:
    result = run(env, step("flows", "createFlow", {"json": {"name": "ok"}}, expected=expected))
    unexpected = [v for v in result.violations if v.code == "UNEXPECTED_STATUS"]
    assert [v.message for v in unexpected] == [text]


def test_expected_status_from_test_data(env: ExecutionEnvironment, server: LoopbackServer) -> None:
    templated = step("flows", "createFlow", {"json": {"name": "ok"}}, expected="{{data.expected}}")
    assert [v.code for v in run(env, templated, data={"expected": [201]}).violations] == ["UNDECLARED_STATUS"]
    assert "UNEXPECTED_STATUS" in [v.code for v in run(env, templated, data={"expected": "4XX"}).violations]
    before = len(server.state.requests)
    bad = run(env, templated, data={"expected": "soon"})
    assert len(server.state.requests) == before
    [violation] = bad.violations
    assert violation.code == "INVALID_EXPECTATION"
    assert violation.details["pointer"] == "/expectations/expectedStatusCode"
    assert "'soon'" in violation.message
    missing = run(env, templated, data={})
    assert [v.code for v in missing.violations] == ["TEMPLATE_ERROR"]


def test_fire_and_forget_accepts_a_status_class(env: ExecutionEnvironment) -> None:
    accepted = run(
        env,
        step(
            "flows", "createFlow", {"json": {"name": "ok"}}, expected="2XX", mode=ActionMode.FIRE_AND_FORGET
        ),
    )
    assert accepted.status == StepStatus.PASSED, accepted.violations
    refused = run(
        env,
        step(
            "flows",
            "createFlow",
            {"json": {"name": "ok"}},
            expected=[200, 202],
            mode=ActionMode.FIRE_AND_FORGET,
        ),
    )
    assert [v.message for v in refused.violations] == ["expected status 200 or 202, got 201"]


# ---- 6. absolute pointers into the spec document -----------------------------------------------------


@pytest.mark.parametrize(
    ("flow_id", "pointer", "spec_pointer", "schema_pointer"),
    [
        (
            "bad-step",
            "/steps/1/kind",
            "/components/schemas/Step/properties/kind/enum",
            "/$ref/properties/steps/items/$ref/properties/kind/enum",
        ),
        (
            "bad-parent",
            "/parent/login",
            "/components/schemas/Owner/properties/login/type",
            "/$ref/properties/parent/else/allOf/0/$ref/properties/login/type",
        ),
    ],
)
def test_response_violations_point_into_the_spec_document(
    env: ExecutionEnvironment, flow_id: str, pointer: str, spec_pointer: str, schema_pointer: str
) -> None:
    result = run(env, step("flows", "getFlow", {"pathParams": {"flowId": flow_id}}))
    [violation] = result.violations
    assert violation.code == "RESPONSE_SCHEMA_MISMATCH"
    assert violation.details["pointer"] == pointer
    assert violation.details["specPointer"] == spec_pointer
    assert violation.details["schemaPointer"] == schema_pointer
    assert "specFile" not in violation.details  # one-file spec: pointers are into it


def test_null_parent_passes(env: ExecutionEnvironment) -> None:
    assert run(env, step("flows", "getFlow", {"pathParams": {"flowId": "null-parent"}})).violations == []


def test_component_used_inline_points_at_the_component(env: ExecutionEnvironment) -> None:
    result = run(env, step("flows", "createFlow", {"json": {"name": "bad-owner"}}, expected=201))
    mismatch = [v for v in result.violations if v.code == "RESPONSE_SCHEMA_MISMATCH"]
    assert [v.details["specPointer"] for v in mismatch] == ["/components/schemas/Owner/properties/login/type"]
    assert [v.details["schemaPointer"] for v in mismatch] == ["/properties/owner/$ref/properties/login/type"]
