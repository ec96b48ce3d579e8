"""No credential, in any encoding, reaches a recorded StepResultData (each auth kind, loopback server)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from orchestra_app.domain.secrets import StaticSecretResolver
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import (
    ActionDefinition,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    StepResultData,
)
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.http.server import API_KEY, OAUTH_CLIENT, TOKEN, LoopbackServer, serve

pytestmark = pytest.mark.integration

# ASCII (header values must be), with every character that URL or JSON encoding changes.
ODD = 'p@ss w/rd+=&?#%"x'
SECRETS = {"PW": "wonderland", "TOKEN": TOKEN, "KEY": API_KEY, "CLIENT": OAUTH_CLIENT[1], "ODD": ODD}

# /echo declares strict parameters so that request validation quotes the (secret) values it rejects.
ECHO_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "echo", "version": "1"},
    "paths": {
        "/echo": {
            "get": {
                "operationId": "echoGet",
                "parameters": [
                    {"name": "X-API-Key", "in": "header", "schema": {"type": "string", "maxLength": 3}},
                    {"name": "api_key", "in": "query", "schema": {"type": "string", "pattern": "^[a-z]+$"}},
                    {"name": "session_key", "in": "cookie", "schema": {"type": "integer"}},
                    {"name": "token", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}},
            },
            "post": {
                "operationId": "echoPost",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"pw": {"type": "string", "maxLength": 2}},
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "ok"}},
            },
        }
    },
}


def forms(secret: str) -> set[str]:
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        base64.b64encode(f"alice:{secret}".encode()).decode(),
    }


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def specs(fixtures_dir: Path) -> dict[str, SpecSummary]:
    return {
        "orders": import_spec(fixtures_dir / "http" / "orders-openapi.yaml"),
        "echo": import_spec(json.dumps(ECHO_SPEC).encode(), filename="echo.json"),
    }


def run(
    server: LoopbackServer,
    specs: dict[str, SpecSummary],
    service: str,
    operation: str,
    auth: dict[str, Any] | None,
    template: dict[str, Any] | None = None,
    *,
    negative: bool = False,
) -> StepResultData:
    env = ExecutionEnvironment(
        services={service: {"baseUrl": server.base_url, "timeoutS": 5, "auth": auth}},
        specs={service: specs[service]},
        secrets=StaticSecretResolver(SECRETS),
    )
    step = ScenarioStepSpec(
        alias="s",
        name="s",
        endpoint_ref=EndpointRef(protocol_id="http", service_name=service, endpoint_name=operation),
        action=ActionDefinition(input_template=template or {}),
        negative=negative,
    )
    with env:
        plugin = default_registry().plugin_for(step.channel_type)
        return plugin.execute(step, StepRunContext(env, ExecutionContext(variables={"data": {}})))


def assert_no_secret(result: StepResultData, *secrets: str) -> None:
    dumped = result.model_dump_json()
    for secret in secrets:
        leaked = sorted(f for f in forms(secret) if f in dumped)
        assert not leaked, f"{leaked} in {dumped}"


@pytest.mark.parametrize(
    ("operation", "auth", "secret"),
    [
        ("secureBasic", {"type": "basic", "username": "alice", "password": {"secret": "PW"}}, "wonderland"),
        ("secureBearer", {"type": "bearer", "token": "{{secret:TOKEN}}"}, TOKEN),
        (
            "secureApiKey",
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "value": "{{secret:KEY}}"},
            API_KEY,
        ),
        (
            "secureApiKey",
            {"type": "apiKey", "in": "query", "name": "api_key", "value": "{{secret:KEY}}"},
            API_KEY,
        ),
        (
            "secureApiKey",
            {"type": "apiKey", "in": "cookie", "name": "session_key", "value": {"secret": "KEY"}},
            API_KEY,
        ),
        (
            "secureOauth",
            {
                "type": "oauth2ClientCredentials",
                "tokenUrl": "/oauth/token",
                "clientId": OAUTH_CLIENT[0],
                "clientSecret": {"secret": "CLIENT"},
            },
            OAUTH_CLIENT[1],
        ),
    ],
    ids=["basic", "bearer", "apikey-header", "apikey-query", "apikey-cookie", "oauth2"],
)
def test_each_auth_kind_passes_and_leaves_no_secret(
    server: LoopbackServer, specs: dict[str, SpecSummary], operation: str, auth: dict[str, Any], secret: str
) -> None:
    result = run(server, specs, "orders", operation, auth)
    assert not result.violations, result.violations
    assert_no_secret(result, secret)
    if auth["type"] == "oauth2ClientCredentials":
        assert "oauth-" not in result.model_dump_json()


@pytest.mark.parametrize("negative", [False, True])
@pytest.mark.parametrize(
    "auth",
    [
        {"type": "apiKey", "in": "header", "name": "X-API-Key", "value": "{{secret:ODD}}"},
        {"type": "apiKey", "in": "query", "name": "api_key", "value": "{{secret:ODD}}"},
        {"type": "apiKey", "in": "cookie", "name": "session_key", "value": "{{secret:ODD}}"},
    ],
    ids=["header", "query", "cookie"],
)
def test_request_validation_never_quotes_an_auth_value(
    server: LoopbackServer, specs: dict[str, SpecSummary], auth: dict[str, Any], negative: bool
) -> None:
    # The parameter schemas reject the key, and the validator's message quoted it
    # (`"p@ss..." is longer than 3 characters`); a negative step also recorded the echoed value.
    result = run(server, specs, "echo", "echoGet", auth, negative=negative)
    assert result.violations
    assert_no_secret(result, ODD)


@pytest.mark.parametrize("negative", [False, True])
def test_secret_in_a_json_body_is_not_quoted_by_body_validation(
    server: LoopbackServer, specs: dict[str, SpecSummary], negative: bool
) -> None:
    result = run(
        server, specs, "echo", "echoPost", None, {"json": {"pw": "{{secret:ODD}}"}}, negative=negative
    )
    assert result.violations
    assert_no_secret(result, ODD)


def test_secret_in_query_and_path_is_redacted_in_its_url_encoded_form(
    server: LoopbackServer, specs: dict[str, SpecSummary]
) -> None:
    # The recorded URL held `token=p%40ss+w%2Frd...`, which a raw-text replacement does not find.
    result = run(server, specs, "echo", "echoGet", None, {"query": {"token": "{{secret:ODD}}"}})
    assert result.request is not None and "token=***" in result.request["url"]
    assert_no_secret(result, ODD)
    by_path = run(
        server, specs, "echo", "echoGet", None, {"path": "/echo/{x}", "pathParams": {"x": "{{secret:ODD}}"}}
    )
    assert_no_secret(by_path, ODD)


def test_redirect_history_is_redacted(server: LoopbackServer, specs: dict[str, SpecSummary]) -> None:
    auth = {"type": "apiKey", "in": "query", "name": "api_key", "value": "{{secret:KEY}}"}
    env = ExecutionEnvironment(
        services={"orders": {"baseUrl": server.base_url, "auth": auth, "followRedirects": True}},
        specs={},
        secrets=StaticSecretResolver(SECRETS),
    )
    step = ScenarioStepSpec(
        alias="s",
        name="s",
        action=ActionDefinition(
            input_template={"method": "GET", "path": "/redirect"}, meta={"service": "orders"}
        ),
    )
    with env:
        plugin = default_registry().plugin_for(step.channel_type)
        result = plugin.execute(step, StepRunContext(env, ExecutionContext()))
    assert result.request is not None and result.request["redirects"] == [
        f"{server.base_url}/redirect?api_key=***"
    ]
    assert_no_secret(result, API_KEY)


def test_broken_base_url_with_a_query_key_fails_the_step_instead_of_raising(
    specs: dict[str, SpecSummary],
) -> None:
    # urlsplit("http://[::1/echo") raised ValueError out of the executor while redacting the URL.
    auth = {"type": "apiKey", "in": "query", "name": "api_key", "value": "{{secret:ODD}}"}
    env = ExecutionEnvironment(
        services={"echo": {"baseUrl": "http://[::1", "auth": auth}},
        specs={"echo": specs["echo"]},
        secrets=StaticSecretResolver(SECRETS),
    )
    step = ScenarioStepSpec(
        alias="s",
        name="s",
        endpoint_ref=EndpointRef(protocol_id="http", service_name="echo", endpoint_name="echoGet"),
        action=ActionDefinition(input_template={}),
    )
    with env:
        result = (
            default_registry()
            .plugin_for(step.channel_type)
            .execute(step, StepRunContext(env, ExecutionContext()))
        )
    assert result.violations
    assert_no_secret(result, ODD)
