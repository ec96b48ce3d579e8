"""TLS options of the HTTP plugin against a loopback HTTPS server that requires a client certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestra_app.domain.steps import ActionDefinition, ExecutionContext, ScenarioStepSpec, StepStatus
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.http.server import LoopbackServer, serve

pytestmark = pytest.mark.integration


def _write_pair(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


def _issue(
    subject: str,
    issuer_name: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    directory = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = _issue("Orchestra Test CA", None, None, ca=True)
    server_cert, server_key = _issue("127.0.0.1", ca_cert.subject, ca_key, ip="127.0.0.1")
    client_cert, client_key = _issue("orchestra-client", ca_cert.subject, ca_key)
    return {
        "ca": _write_pair(directory, "ca", ca_cert, ca_key),
        "server": _write_pair(directory, "server", server_cert, server_key),
        "client": _write_pair(directory, "client", client_cert, client_key),
    }


@pytest.fixture(scope="module")
def https_server(pki: dict[str, tuple[str, str]]) -> Iterator[LoopbackServer]:
    with serve(
        probe_cert=pki["client"],
        ssl_certfile=pki["server"][0],
        ssl_keyfile=pki["server"][1],
        ssl_ca_certs=pki["ca"][0],
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    ) as running:
        yield running


def run_health(server: LoopbackServer, tls: dict[str, object]) -> list[tuple[str, str]]:
    environment = ExecutionEnvironment(
        services={"secure": {"baseUrl": server.base_url, "tls": tls, "timeoutS": 5}}
    )
    step = ScenarioStepSpec(
        alias="h",
        action=ActionDefinition(
            input_template={"method": "GET", "path": "/health"}, meta={"service": "secure"}
        ),
    )
    with environment:
        result = (
            default_registry()
            .plugin_for("HTTP_REST")
            .execute(step, StepRunContext(environment, ExecutionContext()))
        )
    if not result.violations:
        assert result.status == StepStatus.PASSED and result.actual_status_code == 200
    return [(str(v.type), v.code) for v in result.violations]


def test_ca_bundle_and_client_certificate(
    https_server: LoopbackServer, pki: dict[str, tuple[str, str]]
) -> None:
    tls = {"caBundle": pki["ca"][0], "clientCert": pki["client"][0], "clientKey": pki["client"][1]}
    assert run_health(https_server, tls) == []


def test_untrusted_server_is_tls_error(https_server: LoopbackServer, pki: dict[str, tuple[str, str]]) -> None:
    tls = {"clientCert": pki["client"][0], "clientKey": pki["client"][1]}
    assert run_health(https_server, tls) == [("HTTP_ERROR", "TLS_ERROR")]


def test_verification_off(https_server: LoopbackServer, pki: dict[str, tuple[str, str]]) -> None:
    tls = {"verify": False, "clientCert": pki["client"][0], "clientKey": pki["client"][1]}
    assert run_health(https_server, tls) == []
