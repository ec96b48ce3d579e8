"""The ``orchestra`` console script: one typer app, one sub-app per concern."""

from __future__ import annotations

import os
import sys

import typer

from orchestra_app.cli import data as data_cli
from orchestra_app.cli import process as process_cli
from orchestra_app.cli import run as run_cli
from orchestra_app.cli import spec as spec_cli
from orchestra_app.cli import suite as suite_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Orchestra: process-driven tests.")
app.add_typer(process_cli.app, name="process", help="Import processes and generate scenario suites.")
app.add_typer(spec_cli.app, name="spec", help="Import OpenAPI, AsyncAPI and protobuf specs.")
app.add_typer(suite_cli.app, name="suite", help="A suite's specs, binding, chaining; YAML export/import.")
app.add_typer(data_cli.app, name="data", help="Scaffold the test data a suite needs.")
app.command("run")(run_cli.run_command)


@app.command()
def migrate(
    revision: str = typer.Argument("head", help="Target revision (default: head)."),
    db_url: str = typer.Option(
        "", "--db-url", help="Database URL; default DB_URL or the embedded SQLite file."
    ),
) -> None:
    """Apply the database migrations (the seed's `docker compose run --rm orchestra-api migrate`)."""
    from orchestra_app.db.migrate import upgrade
    from orchestra_app.settings import get_settings

    url = db_url or get_settings().database_url
    try:
        upgrade(url, revision)
    except Exception as exc:
        typer.echo(f"migrate failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"database at revision {revision}: {_redact(url)}")


@app.command()
def worker(
    processes: int = typer.Option(1, "--processes", "-p", min=1, help="Worker processes."),
    threads: int = typer.Option(4, "--threads", "-t", min=1, help="Threads per process (runs at once)."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Workers' Prometheus /metrics port (default ORCHESTRA_WORKER_METRICS_PORT, 9191; 0: off).",
    ),
) -> None:
    """Start Dramatiq worker processes consuming the run queue (needs REDIS_URL)."""
    import tempfile

    from orchestra_app.settings import get_settings

    settings = get_settings()
    if not settings.redis_url:
        typer.echo(
            "REDIS_URL is not set: in the embedded default the app runs its worker in-process.", err=True
        )
        raise typer.Exit(2)
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        # prometheus_client's multiprocess mode: each process writes its samples into this folder,
        # Dramatiq's forked exposition server serves their sum (docs/engine.md).
        folder = tempfile.mkdtemp(prefix="orchestra-worker-metrics-")
        os.environ.update(
            {
                "PROMETHEUS_MULTIPROC_DIR": folder,
                "dramatiq_prom_db": folder,
                "dramatiq_prom_port": str(port),
                "dramatiq_prom_host": os.environ.get("ORCHESTRA_WORKER_METRICS_HOST", "0.0.0.0"),
            }
        )
    # A process takes at most as many run messages as it has threads: another process can take the rest.
    os.environ.setdefault("dramatiq_queue_prefetch", str(threads))
    os.environ["ORCHESTRA_WORKER_PROCESS"] = "1"  # executor/broker.py: JSON logs in every worker process
    argv = [sys.executable, "-m", "dramatiq", "executor.actors", "-p", str(processes), "-t", str(threads)]
    os.execv(sys.executable, argv)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def main() -> None:
    from orchestra_app.observability.logging import configure_logging

    configure_logging()  # logs (and unexpected errors with their id) as JSON lines on stderr
    app()
