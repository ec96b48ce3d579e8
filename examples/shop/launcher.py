"""``python -m examples.shop``: starts the order, payment and inventory services in one process.

Each service gets its own port (default 8101, 8102, 8103; 0 picks a free one), or all share one
port (``--port``) and are told apart by their path prefixes (/order-api, /payment-api,
/inventory-api). When every server listens, one JSON line with the URLs goes to stdout; SIGTERM or
SIGINT shuts down gracefully (in-flight requests finish, Kafka is flushed, connections closed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from examples.shop.api import SPECS_DIR, ApiError, json_response
from examples.shop.db import normalize_url, sqlite_url
from examples.shop.events import StartupError
from examples.shop.faults import FaultError, parse_fault_option
from examples.shop.inventory import InventoryService
from examples.shop.order import OrderService
from examples.shop.payment import PaymentService
from examples.shop.service import ServiceSettings, ShopService

SERVICES = ("orders", "payments", "inventory")
PREFIXES = {"orders": "/order-api", "payments": "/payment-api", "inventory": "/inventory-api"}
DEFAULT_PORTS = {"orders": 8101, "payments": 8102, "inventory": 8103}
SPEC_FILES = {"orders": "orders.yaml", "payments": "payments.yaml", "inventory": "inventory.yaml"}
log = logging.getLogger("shop")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class UsageError(Exception):
    """A bad option; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m examples.shop",
        description="Orchestra's demo system under test: order, payment and inventory services.",
    )
    parser.add_argument("--host", default=env("SHOP_HOST", "127.0.0.1"), help="interface to listen on")
    parser.add_argument(
        "--port",
        type=int,
        default=_int_env("SHOP_PORT"),
        help="one port for all services (path prefixes tell them apart)",
    )
    for name in SERVICES:
        parser.add_argument(
            f"--{name[:-1] if name != 'inventory' else name}-port",
            dest=f"{name}_port",
            type=int,
            default=_int_env(f"SHOP_{name.upper()}_PORT", DEFAULT_PORTS[name]),
            help=f"port of the {name} service (default {DEFAULT_PORTS[name]}; 0 = any free port)",
        )
    parser.add_argument("--only", choices=SERVICES, default=env("SHOP_ONLY"), help="run just this service")
    parser.add_argument(
        "--inventory-url", default=env("SHOP_INVENTORY_URL"), help="inventory host, with --only orders"
    )
    parser.add_argument(
        "--payment-url", default=env("SHOP_PAYMENT_URL"), help="payment host, with --only orders"
    )
    parser.add_argument(
        "--db-url",
        default=env("SHOP_DB_URL"),
        help="postgresql://user:pw@host:port/db (a schema per service) or sqlite:///FILE; "
        "default: one SQLite file per service in --data-dir",
    )
    parser.add_argument(
        "--data-dir", default=env("SHOP_DATA_DIR", ".orchestra/shop"), help="where the SQLite files go"
    )
    parser.add_argument(
        "--kafka-bootstrap", default=env("SHOP_KAFKA_BOOTSTRAP"), help="host:port; no events without it"
    )
    parser.add_argument("--kafka-topic", default=env("SHOP_KAFKA_TOPIC", "shop.orders"))
    parser.add_argument("--amqp-url", default=env("SHOP_AMQP_URL"), help="amqp://user:pw@host:port/vhost")
    parser.add_argument("--amqp-exchange", default=env("SHOP_AMQP_EXCHANGE", "shop.payments"))
    parser.add_argument(
        "--amqp-queue",
        default=env("SHOP_AMQP_QUEUE", "shop.payments.audit"),
        help="the shop's own queue bound to the exchange ('' for none)",
    )
    parser.add_argument(
        "--payment-limit", default=env("SHOP_PAYMENT_LIMIT", "1000.00"), help="amounts above are declined"
    )
    parser.add_argument(
        "--transient-failures",
        type=int,
        default=_int_env("SHOP_TRANSIENT_FAILURES", 1),
        help="503s the transient test card gives per order before it is authorised",
    )
    parser.add_argument(
        "--peer-timeout", type=float, default=5.0, help="seconds the order service waits for peers"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[f for f in (env("SHOP_FAULTS") or "").split(",") if f.strip()],
        metavar="SERVICE.FAULT[:k=v...]",
        help="switch a fault on at start (repeatable; SHOP_FAULTS takes a comma-separated list)",
    )
    parser.add_argument(
        "--log-level", default=env("SHOP_LOG_LEVEL", "warning"), choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def _int_env(name: str, default: int | None = None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not an integer") from None


def _check(args: argparse.Namespace) -> None:
    ports = [args.port] if args.port is not None else [getattr(args, f"{n}_port") for n in SERVICES]
    for port in ports:
        if not 0 <= port <= 65535:
            raise UsageError(f"port {port} is out of range 0-65535")
    if args.port is None and args.only is None:
        fixed = [p for p in ports if p]
        if len(set(fixed)) != len(fixed):
            raise UsageError(
                f"the three services need different ports (got {ports}); or use --port for one shared port"
            )
    if args.only == "orders" and not (args.inventory_url and args.payment_url):
        raise UsageError("--only orders needs --inventory-url and --payment-url (the hosts it calls)")
    for option in ("inventory_url", "payment_url"):
        value = getattr(args, option)
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise UsageError(f"--{option.replace('_', '-')} {value!r} is not an http(s) URL")
    if args.db_url:
        url = normalize_url(args.db_url)
        if not url.startswith(("postgresql", "sqlite")):
            raise UsageError(f"--db-url {args.db_url!r}: use postgresql://... or sqlite:///FILE")
    if args.transient_failures < 0:
        raise UsageError("--transient-failures must be 0 or more")
    try:
        from decimal import Decimal, InvalidOperation

        if Decimal(args.payment_limit) <= 0:
            raise UsageError("--payment-limit must be positive")
    except InvalidOperation:
        raise UsageError(f"--payment-limit {args.payment_limit!r} is not a number") from None
    if args.peer_timeout <= 0:
        raise UsageError("--peer-timeout must be positive")


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def build_services(args: argparse.Namespace) -> dict[str, ShopService]:
    wanted = [args.only] if args.only else list(SERVICES)
    services: dict[str, ShopService] = {}
    for name in wanted:
        db_url = args.db_url or sqlite_url(Path(args.data_dir), name)
        settings = ServiceSettings(
            db_url=db_url,
            kafka_bootstrap=args.kafka_bootstrap or None,
            kafka_topic=args.kafka_topic,
            amqp_url=args.amqp_url or None,
            amqp_exchange=args.amqp_exchange,
            amqp_queue=args.amqp_queue or None,
            payment_limit=args.payment_limit,
            transient_failures=args.transient_failures,
            peer_timeout_s=args.peer_timeout,
        )
        factory = {"orders": OrderService, "payments": PaymentService, "inventory": InventoryService}[name]
        services[name] = factory(settings)
    for option in args.fault:
        service, fault, params = parse_fault_option(option)
        if service not in SERVICES:
            raise FaultError(f"fault {option!r}: unknown service {service!r} (orders, payments, inventory)")
        if service in services:
            services[service].faults.set(fault, True, params)
    return services


def prefix_dispatcher(apps: dict[str, ASGIApp]) -> ASGIApp:
    """One port for all: the first path segment picks the service."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            for name, prefix in PREFIXES.items():
                if name in apps and (path == prefix or path.startswith(prefix + "/")):
                    await apps[name](scope, receive, send)
                    return
            known = ", ".join(PREFIXES[n] for n in apps)
            response = json_response(
                ApiError(404, "NOT_FOUND", f"no service at {path} (services: {known})").result()
            )
            await response(scope, receive, send)

    return app


class _Server(uvicorn.Server):
    """uvicorn server whose signals are handled by the launcher (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_guarded(server: _Server) -> None:
    # uvicorn calls sys.exit when it cannot bind; the launcher reports that and stops the rest.
    with contextlib.suppress(SystemExit):
        await server.serve()


async def serve(args: argparse.Namespace, services: dict[str, ShopService]) -> int:
    started: list[ShopService] = []
    try:
        for service in services.values():
            await service.start()
            started.append(service)
    except (StartupError, Exception) as exc:
        for service in reversed(started):
            await service.stop()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"shop: cannot start: {message}", file=sys.stderr, flush=True)
        return 2

    if args.port is not None:
        plan = {"*": (args.port, prefix_dispatcher({n: s.app() for n, s in services.items()}))}
    else:
        plan = {n: (getattr(args, f"{n}_port"), s.app()) for n, s in services.items()}
    servers: dict[str, _Server] = {}
    for key, (port, app) in plan.items():
        config = uvicorn.Config(
            app,
            host=args.host,
            port=port,
            lifespan="off",
            log_level=args.log_level,
            access_log=args.access_log,
            http="h11",
            ws="none",
            timeout_graceful_shutdown=5,
        )
        servers[key] = _Server(config)
    tasks = {key: asyncio.create_task(_serve_guarded(server)) for key, server in servers.items()}
    loop = asyncio.get_running_loop()

    def shutdown() -> None:
        for server in servers.values():
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown)

    code = 0
    while not all(s.started for s in servers.values()):
        done = [k for k, t in tasks.items() if t.done()]
        if done:  # uvicorn logs the reason (port in use, ...) and exits its serve()
            print(
                f"shop: cannot start: the {done[0]} server did not start (see above)",
                file=sys.stderr,
                flush=True,
            )
            shutdown()
            code = 2
            break
        await asyncio.sleep(0.02)
    if code == 0:
        ports = {key: s.servers[0].sockets[0].getsockname()[1] for key, s in servers.items()}
        hosts = {
            name: f"http://{_url_host(args.host)}:{ports.get(name, ports.get('*'))}" for name in services
        }
        if "orders" in services:
            order_service = services["orders"]
            assert isinstance(order_service, OrderService)
            order_service.set_peers(
                inventory_url=args.inventory_url or hosts["inventory"],
                payment_url=args.payment_url or hosts["payments"],
            )
        print(json.dumps(ready_line(args, services, hosts)), flush=True)
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    for service in reversed(list(services.values())):
        await service.stop()
    return code


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def ready_line(
    args: argparse.Namespace, services: dict[str, ShopService], hosts: dict[str, str]
) -> dict[str, Any]:
    entries = {}
    for name, service in services.items():
        prefix = PREFIXES[name]
        entries[name] = {
            "url": hosts[name],
            "api": hosts[name] + service.spec.base_path,
            "admin": f"{hosts[name]}{prefix}/_admin/faults",
            "spec": str(SPECS_DIR / SPEC_FILES[name]),
            "database": {"kind": service.db.kind, "url": redact(service.db.url), "schema": service.schema},
            "faults": service.faults.enabled_names(),
        }
    return {
        "event": "ready",
        "pid": os.getpid(),
        "services": entries,
        "kafka": {"bootstrap": args.kafka_bootstrap, "topic": args.kafka_topic}
        if args.kafka_bootstrap
        else None,
        "amqp": {
            "url": redact(args.amqp_url),
            "exchange": args.amqp_exchange,
            "queue": args.amqp_queue or None,
        }
        if args.amqp_url
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _check(args)
        services = build_services(args)
    except (UsageError, FaultError, ValueError) as exc:
        print(f"shop: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # pika logs every failed connection attempt with a traceback; the shop reports them in one line.
    logging.getLogger("pika").setLevel(logging.DEBUG if args.log_level == "debug" else logging.CRITICAL)
    return asyncio.run(serve(args, services))
