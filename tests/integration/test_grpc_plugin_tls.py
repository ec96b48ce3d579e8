"""TLS options of the grpc plugin against a loopback grpcio server that requires a client certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_app.domain.steps import (
    ActionDefinition,
    ChannelType,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    StepStatus,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.grpc.server import Server, orders_spec, serve
from tests.integration.test_http_plugin_tls import _issue, _write_pair

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    directory = tmp_path_factory.mktemp("grpc-pki")
    ca_cert, ca_key = _issue("Orchestra gRPC Test CA", None, None, ca=True)
    server_cert, server_key = _issue("127.0.0.1", ca_cert.subject, ca_key, ip="127.0.0.1")
    client_cert, client_key = _issue("orchestra-client", ca_cert.subject, ca_key)
    other_ca, other_key = _issue("Somebody Else's CA", None, None, ca=True)
    return {
        "ca": _write_pair(directory, "ca", ca_cert, ca_key),
        "server": _write_pair(directory, "server", server_cert, server_key),
        "client": _write_pair(directory, "client", client_cert, client_key),
        "other": _write_pair(directory, "other", other_ca, other_key),
    }


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, tuple[str, str]]) -> Iterator[Server]:
    key = Path(pki["server"][1]).read_bytes()
    cert = Path(pki["server"][0]).read_bytes()
    with serve(tls=(key, cert), client_ca=Path(pki["ca"][0]).read_bytes()) as running:
        yield running


def _call(server: Server, tls: dict[str, object], scheme: str = "grpcs") -> list[tuple[str, str]]:
    environment = ExecutionEnvironment(
        services={"orders": {"baseUrl": f"{scheme}://{server.address}", "tls": tls, "timeoutS": 5}},
        specs={"orders": orders_spec()},
    )
    step = ScenarioStepSpec(
        alias="c",
        channel_type=ChannelType.GRPC,
        endpoint_ref=EndpointRef(
            protocol_id="grpc", service_name="orders", endpoint_name="orders.v1.Orders/CreateOrder"
        ),
        action=ActionDefinition(input_template={"message": {"customerId": "tls"}}),
    )
    with environment:
        result = (
            default_registry()
            .plugin_for("GRPC")
            .execute(step, StepRunContext(environment, ExecutionContext()))
        )
    if not result.violations:
        assert result.status == StepStatus.PASSED and result.response_body["customerId"] == "tls"
        assert result.request is not None and result.request["tls"] is True
        assert "-cacert" in result.request["reproducer"] and "-plaintext" not in result.request["reproducer"]
    return [(str(v.type), v.code) for v in result.violations]


def test_mutual_tls_with_the_right_ca_and_client_certificate(
    tls_server: Server, pki: dict[str, tuple[str, str]]
) -> None:
    tls = {"caBundle": pki["ca"][0], "clientCert": pki["client"][0], "clientKey": pki["client"][1]}
    assert _call(tls_server, tls) == []


def test_an_untrusted_server_certificate_fails(tls_server: Server, pki: dict[str, tuple[str, str]]) -> None:
    tls = {"caBundle": pki["other"][0], "clientCert": pki["client"][0], "clientKey": pki["client"][1]}
    assert _call(tls_server, tls) == [("HTTP_ERROR", "GRPC_UNAVAILABLE")]


def test_no_client_certificate_is_refused(tls_server: Server, pki: dict[str, tuple[str, str]]) -> None:
    assert _call(tls_server, {"caBundle": pki["ca"][0]}) == [("HTTP_ERROR", "GRPC_UNAVAILABLE")]


def test_plaintext_against_a_tls_server_fails(tls_server: Server) -> None:
    assert _call(tls_server, {}, scheme="grpc") == [("HTTP_ERROR", "GRPC_UNAVAILABLE")]
