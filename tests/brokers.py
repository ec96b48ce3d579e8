"""Test helpers for the real brokers: what a test run left behind on Kafka and RabbitMQ."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def leftover_consumer_groups(bootstrap: str) -> list[str]:
    """Every consumer group the broker knows (a run of the suite must leave none)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    listing = admin.list_consumer_groups(request_timeout=15).result()
    return sorted(g.group_id for g in listing.valid)


def leftover_rabbitmq_queues(amqp_url: str) -> list[str]:
    """Every queue on the services script's RabbitMQ node, asked through rabbitmqctl."""
    port = urlsplit(amqp_url).port or 5672
    env = {**os.environ, "ORCHESTRA_RABBITMQ_PORT": str(port)}
    done = subprocess.run(
        [str(ROOT / "scripts" / "services"), "rabbitmqctl", "-q", "list_queues", "name"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl list_queues failed: {done.stderr.strip()[:500]}")
    return sorted(
        line.strip() for line in done.stdout.splitlines() if line.strip() and line.strip() != "name"
    )
