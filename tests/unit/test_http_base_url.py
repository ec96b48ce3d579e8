"""Base URL composition: environment baseUrl + the spec's base path (pure rules; the loopback tests
in tests/integration/test_http_spec_shapes.py send real requests through them)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.spec import Operation, Server, SpecSummary
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.http.base_url import ends_with_path, normalize_base_path, resolve_base

pytestmark = pytest.mark.unit


def openapi(*servers: Server, operation_servers: list[Server] | None = None) -> SpecSummary:
    return SpecSummary(
        protocol="http",
        format="openapi",
        servers=list(servers),
        operations=[Operation(id="op", method="get", path="/x", servers=operation_servers)],
    )


def url(base_url: str, spec: SpecSummary | None, options: dict[str, Any] | None = None) -> str:
    operation = spec.operations[0] if spec and spec.operations else None
    return resolve_base("svc", base_url, options or {}, spec, operation).url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("/", ""),
        (".", ""),
        ("/api", "/api"),
        ("/api/", "/api"),
        ("api/v1", "/api/v1"),
        ("./v1", "/v1"),
        ("//api//v1/", "/api/v1"),
        ("/api?x=1", "/api"),
        ("/a/../b", "/b"),
    ],
)
def test_normalize_base_path(raw: str, expected: str) -> None:
    assert normalize_base_path(raw) == expected


def test_ends_with_path_is_segment_wise() -> None:
    assert ends_with_path("/gw/api", "/api")
    assert ends_with_path("/api/v2", "/api/v2")
    assert not ends_with_path("/myapi", "/api")
    assert not ends_with_path("/api", "/api/v2")
    assert not ends_with_path("/x", "")


def test_composition_rules() -> None:
    spec = openapi(Server(url="/api"))
    assert url("http://h:1", spec) == "http://h:1/api"
    assert url("http://h:1/", spec) == "http://h:1/api"
    assert url("http://h:1/api", spec) == "http://h:1/api"  # not doubled
    assert url("http://h:1/api/", spec) == "http://h:1/api"
    assert url("http://h:1/gw", spec) == "http://h:1/gw/api"
    assert url("http://h:1/myapi", spec) == "http://h:1/myapi/api"
    assert url("http://h:1", None) == "http://h:1"
    assert url("http://h:1", openapi()) == "http://h:1"
    assert url("http://h:1", openapi(Server(url="/"))) == "http://h:1"


def test_absolute_server_urls_give_only_their_path() -> None:
    assert (
        url("http://127.0.0.1:9", openapi(Server(url="https://prod.example.com/v3/")))
        == "http://127.0.0.1:9/v3"
    )
    assert (
        url("http://127.0.0.1:9", openapi(Server(url="//cdn.example.com/assets")))
        == "http://127.0.0.1:9/assets"
    )
    assert url("http://127.0.0.1:9", openapi(Server(url="https://prod.example.com"))) == "http://127.0.0.1:9"


def test_variables_defaults_overrides_and_errors() -> None:
    server = Server(
        url="https://{region}.example.com/{base}/{version}",
        variables={
            "region": {"default": "eu"},
            "base": {"default": "api"},
            "version": {"default": "v1", "enum": ["v1", "v2"]},
        },
    )
    spec = openapi(server)
    assert url("http://h", spec) == "http://h/api/v1"
    assert url("http://h", spec, {"serverVariables": {"version": "v2", "base": "rest"}}) == "http://h/rest/v2"
    with pytest.raises(ConfigurationError, match=r"serverVariables.version 'v9' is not one of"):
        url("http://h", spec, {"serverVariables": {"version": "v9"}})
    no_default = openapi(Server(url="/{tenant}/api"))
    with pytest.raises(ConfigurationError, match=r"needs a value for \{tenant\}") as err:
        url("http://h", no_default)
    assert err.value.field == "services.svc.options.serverVariables.tenant"
    assert url("http://h", no_default, {"serverVariables": {"tenant": 42}}) == "http://h/42/api"


def test_server_choice_and_operation_servers() -> None:
    spec = openapi(Server(url="/one", description="Primary"), Server(url="/two", description="Sandbox"))
    assert url("http://h", spec) == "http://h/one"  # the first server is OpenAPI's default
    assert url("http://h", spec, {"server": 1}) == "http://h/two"
    assert url("http://h", spec, {"server": " sandbox "}) == "http://h/two"
    assert url("http://h", spec, {"server": "/two"}) == "http://h/two"
    with pytest.raises(ConfigurationError, match=r"0: /one 'Primary', 1: /two 'Sandbox'"):
        url("http://h", spec, {"server": "staging"})
    per_op = openapi(
        Server(url="/one", description="Primary"),
        operation_servers=[Server(url="/files", description="uploads")],
    )
    assert url("http://h", per_op) == "http://h/files"
    # A selector written for the spec's list does not fail operations with their own servers.
    assert url("http://h", per_op, {"server": "Primary"}) == "http://h/files"
    assert url("http://h", per_op, {"basePath": "/override"}) == "http://h/override"
    assert url("http://h", per_op, {"basePath": ""}) == "http://h"


def test_swagger2_base_path_old_and_new_summaries(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent(
            """
            swagger: "2.0"
            info: {title: s, version: "1"}
            host: api.example.test
            basePath: /v1/
            paths: {/a: {get: {responses: {"200": {description: ok}}}}}
            """
        )
    )
    spec = import_spec(path)
    assert spec.base_path == "/v1/"
    base = resolve_base("svc", "http://h", {}, spec, spec.operations[0])
    assert (base.url, base.base_path, base.source) == ("http://h/v1", "/v1", "basePath")
    older = spec.model_copy(update={"base_path": None})  # stored before basePath was kept: servers carry it
    assert url("http://h", older) == "http://h/v1"


def test_import_warns_about_server_variables(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(
        textwrap.dedent(
            """
            openapi: 3.0.3
            info: {title: o, version: "1"}
            servers:
              - url: https://{region}.example.test/{stage}/{version}
                variables:
                  region: {enum: [eu, us]}
                  version: {default: v3, enum: [v1, v2]}
              - url: /x
                variables: nope
            paths: {}
            """
        )
    )
    spec = import_spec(path)
    codes = {(w.code, w.pointer) for w in spec.warnings}
    assert ("undefined_server_variable", "/servers/0/url") in codes
    assert ("server_variable_without_default", "/servers/0/variables/region") in codes
    assert ("server_variable_default_not_in_enum", "/servers/0/variables/version/default") in codes
    assert ("invalid_server_variables", "/servers/1/variables") in codes
    assert spec.servers[0].variables["version"] == {"default": "v3", "enum": ["v1", "v2"]}
