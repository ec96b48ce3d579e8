"""``python -m examples.shop``: ready line, clean SIGTERM, one port or three, three processes, bad options."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from examples.shop.launcher import main
from tests.fixtures.shop import ROOT, authorise, place_order, running_shop, start_shop, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nobody listens there any more (connections in TIME_WAIT do not count, as for any server)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_three_ports_ready_line_and_clean_sigterm(tmp_path: Path) -> None:
    ports = [free_port(), free_port(), free_port()]
    shop = start_shop(
        [
            "--order-port",
            str(ports[0]),
            "--payment-port",
            str(ports[1]),
            "--inventory-port",
            str(ports[2]),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        tmp_path,
    )
    try:
        ready = shop.ready
        assert ready["event"] == "ready" and ready["pid"] == shop.process.pid
        assert [ready["services"][n]["url"] for n in ("orders", "payments", "inventory")] == [
            f"http://127.0.0.1:{p}" for p in ports
        ]
        assert ready["services"]["orders"]["api"] == f"http://127.0.0.1:{ports[0]}/order-api/v1"
        assert (
            ready["services"]["payments"]["admin"] == f"http://127.0.0.1:{ports[1]}/payment-api/_admin/faults"
        )
        assert Path(ready["services"]["inventory"]["spec"]).is_file()
        assert ready["services"]["orders"]["database"]["kind"] == "sqlite"
        order = place_order(shop)
        assert order.status_code == 201
    finally:
        code = shop.stop()
    assert code == 0, shop.stderr()
    assert "Traceback" not in shop.stderr()
    assert all(port_is_free(p) for p in ports)


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    shop = start_shop(["--port", "0", "--data-dir", str(tmp_path / "data"), "--log-level", "info"], tmp_path)
    try:
        signalled = False
        shop.fault("orders", "slow_response", operation="getOrder", delayMs=1500)
        order = place_order(shop).json()
        result: dict[str, httpx.Response] = {}
        with httpx.Client(timeout=30, trust_env=False) as client:
            url = shop.url("orders", f"/orders/{order['id']}")
            worker = threading.Thread(target=lambda: result.setdefault("r", client.get(url)))
            worker.start()
            # The service logs when the slow fault starts waiting: the request is in flight then.
            wait_for(lambda: "slow_response: getOrder waits" in shop.stderr(), what="the request in flight")
            shop.process.send_signal(signal.SIGTERM)
            signalled = True
            worker.join(30)
        assert result["r"].status_code == 200 and result["r"].json()["id"] == order["id"]
    finally:
        code = shop.stop(signalled=signalled)
    assert code == 0, shop.stderr()


def test_one_port_serves_every_service_by_prefix(tmp_path: Path) -> None:
    with running_shop(["--port", "0", "--data-dir", str(tmp_path / "d")], tmp_path) as shop:
        base = shop.ready["services"]["orders"]["url"]
        assert {s["url"] for s in shop.ready["services"].values()} == {base}
        for prefix in ("/order-api/v1/health", "/payment-api/v1/health", "/inventory-api/v1/health"):
            assert shop.client.get(base + prefix).status_code == 200
        unknown = shop.client.get(base + "/elsewhere")
        assert unknown.status_code == 404 and "/order-api" in unknown.json()["error"]["message"]


def test_three_processes_with_only(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    with (
        running_shop(
            ["--only", "inventory", "--inventory-port", "0", "--data-dir", data], tmp_path
        ) as inventory,
        running_shop(["--only", "payments", "--payment-port", "0", "--data-dir", data], tmp_path) as payments,
    ):
        args = [
            "--only",
            "orders",
            "--order-port",
            "0",
            "--data-dir",
            data,
            "--inventory-url",
            inventory.ready["services"]["inventory"]["url"],
            "--payment-url",
            payments.ready["services"]["payments"]["url"],
        ]
        with running_shop(args, tmp_path) as orders:
            assert list(orders.ready["services"]) == ["orders"]
            order = orders.client.post(
                orders.url("orders", "/orders"),
                json={"customerId": "cust-3", "items": [{"sku": "SKU-1002", "quantity": 1}]},
            )
            assert order.status_code == 201, order.text
            body = order.json()
            payment = authorise(payments, body).json()
            payments.client.post(payments.url("payments", f"/payments/{payment['id']}/capture"))
            paid = orders.client.post(
                orders.url("orders", f"/orders/{body['id']}/pay"), json={"paymentId": payment["id"]}
            )
            assert paid.status_code == 200 and paid.json()["status"] == "PAID"
            stock = inventory.client.get(inventory.url("inventory", "/stock/SKU-1002")).json()
            assert stock["reserved"] == 1


def test_faults_switched_on_at_start(tmp_path: Path) -> None:
    env = {"SHOP_FAULTS": "orders.wrong_status:status=202, payments.slow_response:delayMs=1:operation=*"}
    args = ["--port", "0", "--data-dir", str(tmp_path / "d"), "--fault", "inventory.missing_field"]
    with running_shop(args, tmp_path, env=env) as shop:
        services = shop.ready["services"]
        assert services["orders"]["faults"] == ["wrong_status"]
        assert services["payments"]["faults"] == ["slow_response"]
        assert services["inventory"]["faults"] == ["missing_field"]
        assert place_order(shop).status_code == 202
        assert "available" not in shop.client.get(shop.url("inventory", "/stock/SKU-1001")).json()


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "examples.shop", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "70000"], {}, "port 70000 is out of range"),
        (["--order-port", "9001", "--payment-port", "9001"], {}, "different ports"),
        (["--db-url", "mysql://x/y"], {}, "--db-url 'mysql://x/y'"),
        (["--db-url", "sqlite://"], {}, "in-memory SQLite database cannot be shared"),
        (["--only", "orders"], {}, "--only orders needs --inventory-url and --payment-url"),
        (
            ["--only", "orders", "--inventory-url", "ftp://x", "--payment-url", "http://y"],
            {},
            "not an http(s) URL",
        ),
        (["--fault", "orders"], {}, "expected SERVICE.FAULT"),
        (["--fault", "shipping.slow_response"], {}, "unknown service 'shipping'"),
        (["--fault", "orders.explode"], {}, "unknown fault 'explode'"),
        (["--fault", "orders.slow_response:delayMs=soon"], {}, "must be an integer"),
        (["--fault", "orders.slow_response:delayMs"], {}, "is not key=value"),
        (["--payment-limit", "lots"], {}, "--payment-limit 'lots' is not a number"),
        (["--payment-limit", "-5"], {}, "--payment-limit must be positive"),
        (["--transient-failures", "-1"], {}, "--transient-failures must be 0 or more"),
        ([], {"SHOP_PORT": "eighty"}, "SHOP_PORT='eighty' is not an integer"),
        (["--order-port", "x"], {}, "invalid int value"),
    ],
)
def test_bad_options_exit_2_with_one_clear_line(
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process (the options are refused before anything starts); the real process is tested below."""
    for key in [k for k in os.environ if k.startswith("SHOP_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_a_bad_option_in_a_real_process() -> None:
    result = run_cli(["--port", "70000"])
    assert result.returncode == 2 and result.stderr.strip() == "shop: port 70000 is out of range 0-65535"
    assert result.stdout == ""


def test_unreachable_brokers_and_database_refuse_to_start(tmp_path: Path) -> None:
    closed = free_port()
    cases = [
        (
            ["--amqp-url", f"amqp://guest:guest@127.0.0.1:{closed}/%2F"],
            f"RabbitMQ at amqp://127.0.0.1:{closed}/",
        ),
        (["--db-url", f"postgresql://nobody:pw@127.0.0.1:{closed}/none"], "cannot start"),
        (["--kafka-bootstrap", f"127.0.0.1:{closed}"], f"Kafka at 127.0.0.1:{closed}"),
    ]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    processes = [  # in parallel: each waits for its own connection timeout
        subprocess.Popen(
            [sys.executable, "-m", "examples.shop", "--port", "0", "--data-dir", str(tmp_path / "d"), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=base_env,
        )
        for extra, _ in cases
    ]
    for process, (_, message) in zip(processes, cases, strict=True):
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 2, (stdout, stderr)
        assert message in stderr, stderr
        assert "Traceback" not in stderr and "pw@" not in stderr
        assert stdout == ""


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["--port", str(port), "--data-dir", str(tmp_path / "d")])
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "did not start" in result.stderr
    assert result.stdout == ""


def test_ready_line_redacts_passwords(pg_url: str, tmp_path: Path) -> None:
    with running_shop(["--port", "0", "--db-url", pg_url], tmp_path) as shop:
        line = json.dumps(shop.ready)
        assert ":orchestra@" not in line and "***" in shop.ready["services"]["orders"]["database"]["url"]
