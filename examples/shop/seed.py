"""Seeds Orchestra with the demo shop: its order process, its specs, the demo suite (examples/shop/
suite.yaml, with its data set) and an environment pointing at a running shop.

    python -m examples.shop.seed --ready READY_JSON [--environment NAME]

``READY_JSON`` is the ``{"event": "ready", ...}`` line ``python -m examples.shop`` prints (or a file
holding it). The environment gets one DB profile per service table set (``shop-orders``,
``shop-payments``, ``shop-inventory``: SQLite files or PostgreSQL schemas, as the shop runs) and, only
when the shop publishes to them, ``shop-kafka`` and ``shop-rabbitmq`` (docs/demo.md). Passwords are
never written: a PostgreSQL or AMQP password becomes a secret read from ``SHOP_DB_PASSWORD`` /
``SHOP_AMQP_PASSWORD`` in the worker's environment. Running it again changes nothing that is already
there (the process is imported once, specs and suite are matched, the environment is updated in place).
Prints one JSON line: the suite id, the environment id and what was created.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from sqlmodel import select

from orchestra_app.db.tables import Process
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import environments as env_service
from orchestra_app.services import processes as process_service
from orchestra_app.services import session as svc
from orchestra_app.services import specs as spec_service
from orchestra_app.services import suite_io

HERE = Path(__file__).resolve().parent
PROCESS_KEY = "order-process"
SERVICES = {
    "orders": "shop-order-service",
    "payments": "shop-payment-service",
    "inventory": "shop-inventory-service",
}
DEFAULT_ENVIRONMENT = "shop-demo"


def _bare(url: str) -> tuple[str, str | None, bool]:
    """(URL without credentials, user, whether it held a password)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return (
        urlunsplit((parts.scheme, host, parts.path, parts.query, "")),
        parts.username,
        parts.password is not None,
    )


def db_profile(database: dict[str, Any]) -> dict[str, Any]:
    """A shop service's database as a DB profile: its SQLite file, or PostgreSQL with its schema."""
    url = str(database["url"])
    if database.get("kind") == "sqlite":
        return {"url": url}
    bare, user, has_password = _bare(url.replace("postgresql+psycopg://", "postgresql://"))
    profile: dict[str, Any] = {"url": bare, "defaultSchema": database.get("schema")}
    if user:
        profile["username"] = user
    if has_password:
        profile["password"] = {"secret": "SHOP_DB_PASSWORD"}
    return profile


def environment_document(ready: dict[str, Any], name: str) -> dict[str, Any]:
    """The orchestra-environment/1 document of a running shop (``ready``: its ready line)."""
    services = ready["services"]
    doc: dict[str, Any] = {
        "format": "orchestra-environment/1",
        "name": name,
        "description": "The demo shop started by scripts/run (examples/shop).",
        "services": {SERVICES[key]: {"baseUrl": services[key]["url"], "timeoutS": 10} for key in SERVICES},
        "profiles": {"db": {f"shop-{key}": db_profile(services[key]["database"]) for key in SERVICES}},
    }
    secrets: dict[str, str] = {}
    if any("password" in p for p in doc["profiles"]["db"].values()):
        secrets["SHOP_DB_PASSWORD"] = "SHOP_DB_PASSWORD"
    kafka = ready.get("kafka") or {}
    if kafka.get("bootstrap"):
        doc["profiles"]["kafka"] = {"shop-kafka": {"bootstrapServers": kafka["bootstrap"]}}
    amqp = ready.get("amqp") or {}
    if amqp.get("url"):
        endpoint, user, has_password = _bare(str(amqp["url"]))
        queue: dict[str, Any] = {"kind": "rabbitmq", "endpoint": endpoint}
        if user:
            queue["username"] = user
        if has_password:
            queue["password"] = {"secret": "SHOP_AMQP_PASSWORD"}
            secrets["SHOP_AMQP_PASSWORD"] = "SHOP_AMQP_PASSWORD"
        doc["profiles"]["queue"] = {"shop-rabbitmq": queue}
    if secrets:
        doc["secrets"] = secrets
    return doc


def _process_imported(principal: Principal) -> bool:
    def find(session: Any) -> bool:
        row = session.exec(
            select(Process.id).where(Process.tenant_id == principal.tenant_id, Process.key == PROCESS_KEY)
        ).first()
        return row is not None

    return svc.with_session(find)


def seed(
    ready: dict[str, Any], *, environment: str = DEFAULT_ENVIRONMENT, suite_text: str | None = None
) -> dict[str, Any]:
    """Imports what is missing and returns ids and counts (blocking)."""
    principal = svc.current_principal()
    created: list[str] = []
    if not _process_imported(principal):
        bpmn = HERE / "order-process.bpmn"
        process_service.import_file(principal, data=bpmn.read_bytes(), filename=bpmn.name, key=PROCESS_KEY)
        created.append("process")
    for spec in sorted((HERE / "specs").glob("*.yaml")):
        result = spec_service.import_file(principal, data=spec.read_bytes(), filename=spec.name)
        if result.created:
            created.append(f"spec {result.service_name}")
    text = suite_text if suite_text is not None else (HERE / "suite.yaml").read_text()
    suite = svc.write(suite_io.import_suite, principal, text=text, filename="examples/shop/suite.yaml")
    if suite.suite_created:
        created.append("suite")
    env_text = yaml.safe_dump(environment_document(ready, environment), sort_keys=False)
    env = svc.write(
        env_service.import_environment, principal, text=env_text, filename="shop-environment.yaml", environ={}
    )
    if env.created:
        created.append(f"environment {environment}")
    profiles = env.environment.profiles
    return {
        "suiteId": str(suite.suite_id),
        "environmentId": str(env.environment.id),
        "environment": environment,
        "brokers": {"kafka": bool(profiles.get("kafka")), "rabbitmq": bool(profiles.get("queue"))},
        "created": created,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.shop.seed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--ready", required=True, help="the shop's ready JSON line, or a file holding it")
    parser.add_argument(
        "--environment", default=DEFAULT_ENVIRONMENT, help="environment name to create/update"
    )
    args = parser.parse_args(argv)
    raw = args.ready
    if not raw.lstrip().startswith("{"):
        try:
            raw = Path(raw).read_text().strip().splitlines()[-1]
        except (OSError, IndexError) as exc:
            print(f"seed: cannot read the ready line from {args.ready!r}: {exc}", file=sys.stderr)
            return 2
    try:
        ready = json.loads(raw)
        if ready.get("event") != "ready" or "services" not in ready:
            raise ValueError("not the shop's ready line")
    except (ValueError, AttributeError) as exc:
        print(f"seed: --ready: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(seed(ready, environment=args.environment)))
    except OrchestraError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
