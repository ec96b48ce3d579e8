"""Static checks of the Dockerfile and docker-compose.yml (no Docker engine on this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_compose_services_and_references() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "mq", "orchestra-api", "orchestra-executor"} <= set(services)
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        assert "image" in svc or "build" in svc, name
    api = services["orchestra-api"]
    assert api["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert api["environment"]["DB_URL"].startswith("postgres://")
    assert services["orchestra-executor"]["command"][0] == "executor"
    for volume in services["postgres"].get("volumes", []):
        assert volume.split(":")[0] in compose["volumes"]


def test_compose_demo_profile_runs_the_shop_against_its_brokers() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    shop, kafka = services["demo-shop"], services["kafka"]
    assert shop["profiles"] == ["demo"] and kafka["profiles"] == ["demo"]
    assert (
        shop["entrypoint"][-1] == "examples.shop" and (ROOT / "examples" / "shop" / "__main__.py").is_file()
    )
    env = shop["environment"]
    assert env["SHOP_KAFKA_BOOTSTRAP"] == kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split("//")[1]
    assert env["SHOP_AMQP_URL"].split("@")[1].startswith("mq:") and env["SHOP_DB_URL"].split("@")[
        1
    ].startswith("postgres:")
    # every option the compose file passes exists in the launcher
    from examples.shop.launcher import build_parser

    build_parser().parse_args(shop["command"])


def test_dockerfile_entrypoint_and_commands_exist() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    entry = ROOT / "scripts" / "container-entrypoint"
    assert '"/app/scripts/container-entrypoint"' in text and entry.stat().st_mode & 0o111
    body = entry.read_text()
    for word in ("serve)", "migrate)", "executor)"):
        assert word in body
    assert "USER orchestra" in text and "HEALTHCHECK" in text
    assert "/api/v1/health" in text
