"""The HTTP plugin against a real loopback server: violation kinds, auth methods, modes, redirects."""

from __future__ import annotations

import json
import socket
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
    StepExpectations,
    StepResultData,
    StepStatus,
)
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.http.server import API_KEY, OAUTH_CLIENT, TOKEN, LoopbackServer, serve

pytestmark = pytest.mark.integration

SECRETS = {"ALICE_PASSWORD": "wonderland", "API_KEY": API_KEY, "OAUTH_SECRET": OAUTH_CLIENT[1]}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def spec(fixtures_dir: Path) -> SpecSummary:
    return import_spec(fixtures_dir / "http" / "orders-openapi.yaml")


def make_env(server: LoopbackServer, spec: SpecSummary, **service: Any) -> ExecutionEnvironment:
    plugin_config = service.pop("plugin_config", {})
    return ExecutionEnvironment(
        services={"orders": {"baseUrl": server.base_url, "timeoutS": 5, **service}},
        specs={"orders": spec},
        secrets=StaticSecretResolver(SECRETS),
        variables={"tenant": "acme"},
        plugin_config={"http": plugin_config},
    )


@pytest.fixture
def env(server: LoopbackServer, spec: SpecSummary) -> Iterator[ExecutionEnvironment]:
    environment = make_env(server, spec)
    yield environment
    environment.close()


def step(
    operation: str | None,
    template: dict[str, Any] | None = None,
    *,
    alias: str = "s1",
    expected: int | None = None,
    rules: Any = None,
    schema_refs: Any = None,
    negative: bool = False,
    mode: ActionMode = ActionMode.SYNC,
    meta: dict[str, Any] | None = None,
) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias,
        name=alias,
        endpoint_ref=EndpointRef(protocol_id="http", service_name="orders", endpoint_name=operation)
        if operation
        else None,
        action=ActionDefinition(
            input_template=template or {},
            mode=mode,
            meta=meta if meta is not None else ({} if operation else {"service": "orders"}),
        ),
        expectations=StepExpectations(
            expected_status_code=expected, business_rules=rules or [], schema_refs=schema_refs or []
        ),
        negative=negative,
    )


def run(
    env: ExecutionEnvironment,
    spec_step: ScenarioStepSpec,
    context: ExecutionContext | None = None,
    data: dict[str, Any] | None = None,
) -> StepResultData:
    context = context or ExecutionContext(variables={"data": data or {}})
    plugin = default_registry().plugin_for(spec_step.channel_type)
    result = plugin.execute(spec_step, StepRunContext(env, context))
    context.steps_by_alias[spec_step.alias] = result
    json.dumps(result.to_json_dict())  # every result must be storable as jsonb
    return result


def codes(result: StepResultData) -> list[tuple[str, str]]:
    return [(str(v.type), v.code) for v in result.violations]


def get_order(mode: str = "ok", order_id: str = "o-1") -> dict[str, Any]:
    return {"pathParams": {"orderId": order_id}, "query": {"mode": mode}}


# ---- happy path and contract violations ------------------------------------------------------------


def test_valid_response_passes_and_is_recorded(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order()))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.actual_status_code == 200
    assert result.response_body["id"] == "o-1"
    assert result.response_body["note"] is None  # nullable: true accepts null
    assert result.response_headers and result.response_headers["x-request-id"] == "req-1"
    assert result.request and result.request["method"] == "GET"
    assert result.request["url"].endswith("/orders/o-1?mode=ok")
    assert result.response_truncated is False


def test_undeclared_status_is_contract_violation(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("undeclared_status"), expected=418))
    assert codes(result) == [("CONTRACT_VIOLATION", "UNDECLARED_STATUS")]
    details = result.violations[0].details
    assert details["status"] == 418 and details["declared"] == ["200", "404"]


def test_body_schema_errors_carry_json_pointers(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("bad_schema")))
    assert result.status == StepStatus.FAILED
    pointers = {v.details["pointer"] for v in result.violations if v.code == "RESPONSE_SCHEMA_MISMATCH"}
    assert pointers == {"/total", "/items/1/price"}  # type error + boolean exclusiveMinimum honoured
    assert all(str(v.type) == "CONTRACT_VIOLATION" for v in result.violations)


def test_null_where_not_nullable_is_violation(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("null_total")))
    assert [(v.code, v.details["pointer"]) for v in result.violations] == [
        ("RESPONSE_SCHEMA_MISMATCH", "/total")
    ]


def test_missing_required_header(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("missing_header")))
    assert codes(result) == [("CONTRACT_VIOLATION", "MISSING_RESPONSE_HEADER")]
    assert result.violations[0].details["pointer"] == "/headers/x-request-id"


def test_header_against_its_schema(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("bad_header")))
    assert codes(result) == [("CONTRACT_VIOLATION", "INVALID_RESPONSE_HEADER")]


def test_wrong_content_type(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("wrong_ct")))
    assert codes(result) == [("CONTRACT_VIOLATION", "UNDECLARED_CONTENT_TYPE")]
    assert result.violations[0].details["actual"] == "text/plain"


def test_body_that_is_not_json(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("not_json")))
    assert codes(result) == [("CONTRACT_VIOLATION", "INVALID_JSON_BODY")]
    assert result.response_body == "{oops"


def test_server_error_is_http_error_and_undeclared(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("server_error")))
    assert codes(result) == [("HTTP_ERROR", "HTTP_SERVER_ERROR"), ("CONTRACT_VIOLATION", "UNDECLARED_STATUS")]


def test_expected_status(env: ExecutionEnvironment) -> None:
    declared_404 = run(env, step("getOrder", get_order(order_id="missing"), expected=404))
    assert declared_404.status == StepStatus.PASSED, declared_404.violations
    mismatch = run(env, step("getOrder", get_order(), expected=201))
    assert codes(mismatch) == [("HTTP_ERROR", "UNEXPECTED_STATUS")]
    assert mismatch.violations[0].details == {"expected": 201, "actual": 200}
    unexpected_4xx = run(env, step("getOrder", get_order(order_id="missing")))
    assert codes(unexpected_4xx) == [("HTTP_ERROR", "HTTP_CLIENT_ERROR")]


def test_recursive_schema_validates_recursive_body(env: ExecutionEnvironment) -> None:
    assert run(env, step("getTree", {"query": {"mode": "ok"}})).status == StepStatus.PASSED
    bad = run(env, step("getTree", {"query": {"mode": "bad"}}))
    assert [v.details["pointer"] for v in bad.violations] == ["/children/0/children/0/name"]


def test_discriminator_picks_the_branch(env: ExecutionEnvironment) -> None:
    for pet in ("cat", "dog"):
        result = run(env, step("getPet", {"pathParams": {"petId": pet}}))
        assert result.status == StepStatus.PASSED, (pet, result.violations)
    badcat = run(env, step("getPet", {"pathParams": {"petId": "badcat"}}))
    assert [v.details["pointer"] for v in badcat.violations] == ["/lives"]
    fish = run(env, step("getPet", {"pathParams": {"petId": "fish"}}))
    assert [v.details["pointer"] for v in fish.violations] == ["/petType"]


def test_no_content_response(env: ExecutionEnvironment) -> None:
    result = run(env, step("deleteOrder", {"pathParams": {"orderId": "o-1"}}))
    assert result.status == StepStatus.PASSED and result.actual_status_code == 204
    assert result.response_body is None


# ---- expectations -------------------------------------------------------------------------------------


def test_business_rules(env: ExecutionEnvironment) -> None:
    rules = {
        "all": [
            {"path": "$.body.status", "equals": "APPROVED"},
            {"path": "$.body.items", "length": {"gte": 1}},
            {"path": "$.body.items[*].price", "gt": 0},
            {"path": "$.headers.X-Request-Id", "exists": True},
            {"path": "$.status", "one_of": [200, 201]},
        ]
    }
    assert run(env, step("getOrder", get_order(), rules=rules)).status == StepStatus.PASSED
    failing = run(env, step("getOrder", get_order("pending"), rules=rules))
    assert codes(failing) == [("BUSINESS_RULE_VIOLATION", "RULE_EQUALS")]
    details = failing.violations[0].details
    assert details["path"] == "$.body.status"
    assert details["expected"] == "APPROVED" and details["actual"] == "NEW"
    assert details["rule"] == "/all/0"


def test_malformed_rule_is_validation_error(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order(), rules=[{"path": "$.body.status", "equalz": 1}]))
    assert codes(result) == [("VALIDATION_ERROR", "INVALID_BUSINESS_RULE")]
    assert result.violations[0].details["pointer"] == "/expectations/businessRules/0"


def test_schema_refs(env: ExecutionEnvironment) -> None:
    ok = run(
        env,
        step(
            "getOrder",
            get_order(),
            schema_refs=[
                "#/components/schemas/Order",
                {"ref": "#/components/schemas/NewItem", "path": "$.body.items[*]"},
            ],
        ),
    )
    assert ok.status == StepStatus.PASSED, ok.violations
    bad = run(env, step("getOrder", get_order(), schema_refs=["#/components/schemas/Error"]))
    assert codes(bad) == [("CONTRACT_VIOLATION", "SCHEMA_REF_MISMATCH")]
    unknown = run(env, step("getOrder", get_order(), schema_refs=["#/components/schemas/Nope"]))
    assert codes(unknown) == [("VALIDATION_ERROR", "UNKNOWN_SCHEMA_REF")]


def test_large_body_is_truncated(server: LoopbackServer, spec: SpecSummary) -> None:
    with make_env(server, spec, plugin_config={"maxBodyBytes": 1000}) as environment:
        result = run(environment, step("getOrder", get_order("big")))
    assert result.response_truncated is True
    assert isinstance(result.response_body, str) and len(result.response_body) == 1000
    assert result.status == StepStatus.PASSED  # a truncated body is not schema-checked


# ---- request validation ----------------------------------------------------------------------------------


def test_invalid_request_is_not_sent(env: ExecutionEnvironment, server: LoopbackServer) -> None:
    before = len(server.state.requests)
    template = {"json": {"customerId": "c-1", "items": []}, "query": {"dryRun": "maybe"}}
    result = run(env, step("createOrder", template))
    assert len(server.state.requests) == before
    assert result.actual_status_code is None
    found = {(v.code, v.details["pointer"]) for v in result.violations}
    assert found == {
        ("MISSING_PARAMETER", "/header/X-Tenant"),
        ("INVALID_PARAMETER", "/query/dryRun"),
        ("INVALID_REQUEST_BODY", "/json/items"),
    }
    assert {str(v.type) for v in result.violations} == {"VALIDATION_ERROR"}


def test_negative_test_sends_invalid_request(env: ExecutionEnvironment, server: LoopbackServer) -> None:
    before = len(server.state.requests)
    template = {"headers": {"X-Tenant": "{{env.tenant}}"}, "json": {"customerId": "c-1", "items": []}}
    result = run(env, step("createOrder", template, negative=True))
    assert len(server.state.requests) == before + 1
    assert result.actual_status_code == 422
    assert result.status == StepStatus.PASSED, result.violations  # 422 matches the declared 4XX Error schema
    assert result.request and result.request["requestValidation"][0]["code"] == "INVALID_REQUEST_BODY"


def test_negative_test_accepted_is_http_error(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order(), negative=True))
    assert codes(result) == [("HTTP_ERROR", "NEGATIVE_TEST_ACCEPTED")]


def test_path_parameter_pattern(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", {"pathParams": {"orderId": "NOT VALID"}}))
    assert codes(result) == [("VALIDATION_ERROR", "INVALID_PARAMETER")]


def test_template_error_names_the_pointer(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", {"pathParams": {"orderId": "{{data.orderId}}"}}))
    assert codes(result) == [("VALIDATION_ERROR", "TEMPLATE_ERROR")]
    assert result.violations[0].details["pointer"] == "/action/inputTemplate/pathParams/orderId"


def test_typed_placeholders_and_data(env: ExecutionEnvironment, server: LoopbackServer) -> None:
    template = {
        "headers": {"X-Tenant": "{{env.tenant}}"},
        "json": {"customerId": "{{data.customer}}", "items": [{"sku": "x", "qty": "{{data.qty}}"}]},
    }
    env.variables["tenant"] = "acme"
    result = run(env, step("createOrder", template, expected=201), data={"customer": "c-9", "qty": 3})
    assert result.status == StepStatus.PASSED, result.violations
    sent = json.loads(server.state.requests[-1]["body"])
    assert sent == {"customerId": "c-9", "items": [{"sku": "x", "qty": 3}]}  # qty stayed an integer
    assert server.state.requests[-1]["headers"]["x-tenant"] == "acme"


# ---- network failures --------------------------------------------------------------------------------


def test_timeout(env: ExecutionEnvironment) -> None:
    result = run(env, step("getOrder", get_order("slow"), meta={"timeoutMs": 200}))
    assert codes(result) == [("TIMEOUT", "READ_TIMEOUT")]
    assert result.duration_ms < 2000


def test_connection_refused(spec: SpecSummary) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"http://127.0.0.1:{port}"}}, specs={"orders": spec}
    )
    with environment:
        result = run(environment, step("getOrder", get_order()))
    assert codes(result) == [("HTTP_ERROR", "CONNECTION_REFUSED")]


def test_unknown_service_is_configuration_error(env: ExecutionEnvironment) -> None:
    spec_step = step(None, {"method": "GET", "path": "/health"}, meta={"service": "billing"})
    result = run(env, spec_step)
    assert codes(result) == [("VALIDATION_ERROR", "CONFIGURATION_ERROR")]
    assert "billing" in result.violations[0].message


# ---- auth ---------------------------------------------------------------------------------------------


def test_basic_auth_with_secret_reference(server: LoopbackServer, spec: SpecSummary) -> None:
    auth = {"type": "basic", "username": "alice", "password": {"secret": "ALICE_PASSWORD"}}
    with make_env(server, spec, auth=auth) as environment:
        result = run(environment, step("secureBasic"))
    assert result.status == StepStatus.PASSED, result.violations
    assert result.request and result.request["headers"]["authorization"] == "***"
    assert "wonderland" not in json.dumps(result.to_json_dict())


def test_bearer_from_previous_step(server: LoopbackServer, spec: SpecSummary) -> None:
    auth = {"type": "bearer", "token": "{{step.login.response.body.access_token}}"}
    with make_env(server, spec, auth=auth) as environment:
        context = ExecutionContext(variables={"data": {"user": "alice"}})
        login = run(
            environment,
            step(
                "login",
                {
                    "json": {"username": "{{data.user}}", "password": "{{secret:ALICE_PASSWORD}}"},
                    "auth": None,
                },
                alias="login",
            ),
            context,
        )
        assert login.status == StepStatus.PASSED, login.violations
        assert login.request and "wonderland" not in json.dumps(login.request)
        secured = run(environment, step("secureBearer", alias="secured"), context)
    assert secured.status == StepStatus.PASSED, secured.violations
    assert TOKEN not in json.dumps(secured.request)


@pytest.mark.parametrize(
    "location,name", [("header", "X-API-Key"), ("query", "api_key"), ("cookie", "session_key")]
)
def test_api_key(server: LoopbackServer, spec: SpecSummary, location: str, name: str) -> None:
    auth = {"type": "apiKey", "in": location, "name": name, "value": "{{secret:API_KEY}}"}
    with make_env(server, spec, auth=auth) as environment:
        result = run(environment, step("secureApiKey"))
    assert result.status == StepStatus.PASSED, result.violations
    assert API_KEY not in json.dumps(result.to_json_dict())


def test_oauth2_client_credentials_token_is_cached(server: LoopbackServer, spec: SpecSummary) -> None:
    auth = {
        "type": "oauth2ClientCredentials",
        "tokenUrl": "/oauth/token",
        "clientId": OAUTH_CLIENT[0],
        "clientSecret": {"secret": "OAUTH_SECRET"},
        "scope": "orders:read",
    }
    issued = server.state.oauth_tokens_issued
    with make_env(server, spec, auth=auth) as environment:
        first = run(environment, step("secureOauth", alias="a"))
        second = run(environment, step("secureOauth", alias="b"))
    assert first.status == StepStatus.PASSED and second.status == StepStatus.PASSED, (first, second)
    assert server.state.oauth_tokens_issued == issued + 1
    dumped = json.dumps(first.to_json_dict())
    assert OAUTH_CLIENT[1] not in dumped and "oauth-" not in dumped


def test_oauth2_bad_client(server: LoopbackServer, spec: SpecSummary) -> None:
    auth = {
        "type": "oauth2ClientCredentials",
        "tokenUrl": "/oauth/token",
        "clientId": OAUTH_CLIENT[0],
        "clientSecret": "wrong",
    }
    with make_env(server, spec, auth=auth) as environment:
        result = run(environment, step("secureOauth"))
    assert codes(result) == [("HTTP_ERROR", "OAUTH2_TOKEN_FAILED")]
    assert result.violations[0].details["status"] == 401


def test_missing_secret_is_template_error(server: LoopbackServer, spec: SpecSummary) -> None:
    auth = {"type": "bearer", "token": "{{secret:NOPE}}"}
    with make_env(server, spec, auth=auth) as environment:
        result = run(environment, step("secureBearer"))
    assert codes(result) == [("VALIDATION_ERROR", "TEMPLATE_ERROR")]


# ---- modes, redirects, body kinds ------------------------------------------------------------------


def test_fire_and_forget(env: ExecutionEnvironment, server: LoopbackServer) -> None:
    before = len(server.state.events)
    ok = run(env, step("publishEvent", {"json": {"type": "OrderPlaced"}}, mode=ActionMode.FIRE_AND_FORGET))
    assert ok.status == StepStatus.PASSED and ok.actual_status_code == 202
    assert ok.response_body is None  # the body is neither read nor validated
    assert len(server.state.events) == before + 1
    rejected = run(
        env, step("publishEvent", {"json": {}, "query": {"fail": 1}}, mode=ActionMode.FIRE_AND_FORGET)
    )
    assert codes(rejected) == [("HTTP_ERROR", "FIRE_AND_FORGET_REJECTED")]


def test_redirect_policies(server: LoopbackServer, spec: SpecSummary) -> None:
    with make_env(server, spec) as environment:
        not_followed = run(environment, step("redirectToOrder"))
    assert not_followed.status == StepStatus.PASSED and not_followed.actual_status_code == 302
    with make_env(server, spec, followRedirects=True) as environment:
        followed = run(environment, step("redirectToOrder"))
        assert followed.status == StepStatus.PASSED, followed.violations
        assert followed.actual_status_code == 200 and followed.response_body["id"] == "o-redirected"
        assert followed.request and followed.request["redirects"][0].endswith("/redirect")
    with make_env(server, spec, followRedirects=True, maxRedirects=3) as environment:
        looping = run(environment, step(None, {"method": "GET", "path": "/redirect-loop"}))
    assert codes(looping) == [("HTTP_ERROR", "TOO_MANY_REDIRECTS")]


def test_form_multipart_cookies_and_query_lists(env: ExecutionEnvironment) -> None:
    form = run(
        env,
        step(
            None,
            {
                "method": "POST",
                "path": "/echo",
                "form": {"a": "1", "b": True},
                "query": {"tag": ["x", "y"]},
                "cookies": {"c": "v"},
                "headers": {"X-N": 5},
            },
        ),
    )
    assert form.status == StepStatus.PASSED, form.violations
    assert form.response_body["contentType"] == "application/x-www-form-urlencoded"
    assert form.response_body["fields"] == {"a": "1", "b": "true"}
    assert form.response_body["cookies"] == {"c": "v"}
    assert form.response_body["headers"] == {"x-n": "5"}
    assert form.request and form.request["url"].endswith("/echo?tag=x&tag=y")
    multi = run(
        env,
        step(
            None,
            {
                "method": "POST",
                "path": "/echo",
                "multipart": {
                    "note": "hi",
                    "file": {"filename": "a.txt", "content": "hello", "contentType": "text/plain"},
                },
            },
        ),
    )
    assert multi.response_body["contentType"] == "multipart/form-data"
    assert multi.response_body["fields"] == {"note": "hi", "file": {"filename": "a.txt", "size": 5}}


def test_step_bound_by_the_matcher_runs(env: ExecutionEnvironment, spec: SpecSummary) -> None:
    plugin = default_registry().plugin_for("HTTP_REST")
    assert plugin.endpoint_matcher is not None
    process_step = ScenarioStepSpec(alias="place", name="Place new order")
    [binding] = plugin.endpoint_matcher.match([process_step], spec)
    bound = plugin.endpoint_matcher.bind(process_step, binding, spec, "orders")
    data = {"X-Tenant": "acme", "customerId": "c-1", "items": [{"sku": "s-1", "qty": 2}]}
    result = run(env, bound, data=data)
    assert result.status == StepStatus.PASSED, result.violations
    assert result.actual_status_code == 201 and result.response_body["items"][0]["qty"] == 2


def test_unfilled_path_parameter_without_spec(env: ExecutionEnvironment) -> None:
    result = run(env, step(None, {"method": "GET", "path": "/orders/{orderId}"}))
    assert codes(result) == [("VALIDATION_ERROR", "INVALID_URL")]
    assert "{orderId}" in result.violations[0].message


# ---- readOnly / writeOnly, 3.0 nullable and discriminator, media types (contracts-openapi.yaml) ----------


@pytest.fixture(scope="module")
def contracts_spec(fixtures_dir: Path) -> SpecSummary:
    return import_spec(fixtures_dir / "http" / "contracts-openapi.yaml")


@pytest.fixture
def contracts_env(server: LoopbackServer, contracts_spec: SpecSummary) -> Iterator[ExecutionEnvironment]:
    environment = make_env(server, contracts_spec)
    yield environment
    environment.close()


def test_read_only_and_write_only_follow_the_direction(contracts_env: ExecutionEnvironment) -> None:
    # request: readOnly id/createdAt ($ref'd) required but not sent; response: writeOnly password absent
    created = run(contracts_env, step("createUser", {"json": {"name": "n", "password": "p"}}, expected=201))
    assert created.status == StepStatus.PASSED, created.violations
    assert "password" not in created.response_body
    # lenient: a readOnly value sent anyway is accepted
    sent_id = run(contracts_env, step("createUser", {"json": {"id": "x", "name": "n", "password": "p"}}))
    assert sent_id.status == StepStatus.PASSED, sent_id.violations
    # writeOnly stays required in requests, readOnly stays required in responses
    no_password = run(contracts_env, step("createUser", {"json": {"name": "n"}}))
    assert [(v.code, v.details["pointer"]) for v in no_password.violations] == [
        ("INVALID_REQUEST_BODY", "/json")
    ]
    assert "password" in no_password.violations[0].message
    no_id = run(
        contracts_env,
        step("createUser", {"json": {"name": "n", "password": "p"}, "query": {"mode": "no_id"}}),
    )
    assert [(v.code, v.details["pointer"]) for v in no_id.violations] == [("RESPONSE_SCHEMA_MISMATCH", "")]
    assert "id" in no_id.violations[0].message


def test_nullable_all_of_ref_and_nullable_in_ref_component(contracts_env: ExecutionEnvironment) -> None:
    for mode in ("nulls", "full"):
        result = run(contracts_env, step("getProfile", {"pathParams": {"mode": mode}}))
        assert result.status == StepStatus.PASSED, (mode, result.violations)
    bad_city = run(contracts_env, step("getProfile", {"pathParams": {"mode": "bad_city"}}))
    assert [v.details["pointer"] for v in bad_city.violations] == ["/address/city"]
    bad_owner = run(contracts_env, step("getProfile", {"pathParams": {"mode": "bad_owner"}}))
    assert [v.details["pointer"] for v in bad_owner.violations] == ["/owner"]  # readOnly id missing


def test_discriminator_mapping_keys(contracts_env: ExecutionEnvironment) -> None:
    for kind in ("round", "sq"):
        result = run(contracts_env, step("getShape", {"pathParams": {"kind": kind}}))
        assert result.status == StepStatus.PASSED, (kind, result.violations)
    badsq = run(contracts_env, step("getShape", {"pathParams": {"kind": "badsq"}}))
    assert [v.details["pointer"] for v in badsq.violations] == ["/side"]
    by_name = run(contracts_env, step("getShape", {"pathParams": {"kind": "Circle"}}))  # not a mapping key
    assert [v.details["pointer"] for v in by_name.violations] == ["/kind"]


@pytest.mark.parametrize(
    "kind,status,expected",
    [
        ("charset", 200, []),
        ("problem", 400, []),
        ("bad_problem", 400, [("RESPONSE_SCHEMA_MISMATCH", "/status")]),
        ("app_wildcard", 202, []),
        ("app_wildcard_bad", 202, [("RESPONSE_SCHEMA_MISMATCH", "/ok")]),
        ("any_wildcard", 203, [("RESPONSE_SCHEMA_MISMATCH", "")]),
        ("any_wildcard_text", 203, []),
        ("vendor_bad", 206, [("RESPONSE_SCHEMA_MISMATCH", "/ok")]),
        ("undeclared", 200, [("UNDECLARED_CONTENT_TYPE", "/headers/content-type")]),
        ("none", 200, [("UNDECLARED_CONTENT_TYPE", "/headers/content-type")]),
    ],
)
def test_response_content_types(
    contracts_env: ExecutionEnvironment, kind: str, status: int, expected: list[tuple[str, str]]
) -> None:
    result = run(contracts_env, step("getMedia", {"pathParams": {"kind": kind}}, expected=status))
    assert result.actual_status_code == status
    assert [(v.code, v.details["pointer"]) for v in result.violations] == expected
    assert all(str(v.type) == "CONTRACT_VIOLATION" for v in result.violations)
    if kind in ("problem", "vendor_bad", "app_wildcard"):
        assert isinstance(result.response_body, dict)  # +json parsed as JSON
