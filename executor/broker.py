"""Dramatiq broker: Redis when REDIS_URL is set, else a stub broker drained by an in-process worker.

Import this module before any actor module (Dramatiq binds actors to the broker set at import time).
"""

from __future__ import annotations

import os
import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from dramatiq.results.backends.stub import StubBackend

from executor.middleware import OrchestraMiddleware
from orchestra_app.observability.logging import configure_logging
from orchestra_app.settings import get_settings

_in_process_worker: dramatiq.Worker | None = None
_lock = threading.Lock()


def _make_broker() -> dramatiq.Broker:
    settings = get_settings()
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=settings.redis_url, namespace="orchestra")
        broker.add_middleware(
            Results(backend=RedisBackend(url=settings.redis_url, namespace="orchestra-results"))
        )
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # `orchestra worker` set it: every process writes its metrics there and a forked
            # exposition server sums them on ORCHESTRA_WORKER_METRICS_PORT (docs/engine.md).
            from dramatiq.middleware.prometheus import Prometheus

            broker.add_middleware(Prometheus())
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
        broker.add_middleware(Results(backend=StubBackend()))
    broker.add_middleware(OrchestraMiddleware())
    return broker


if os.environ.get("ORCHESTRA_WORKER_PROCESS") == "1":  # set by `orchestra worker`
    configure_logging()
broker = _make_broker()
dramatiq.set_broker(broker)


def is_in_process() -> bool:
    return isinstance(broker, StubBroker)


def start_in_process_worker(threads: int = 2) -> dramatiq.Worker | None:
    """Embedded default: drain the stub broker inside this process. No-op with a Redis broker."""
    global _in_process_worker
    if not is_in_process():
        return None
    with _lock:
        if _in_process_worker is None:
            _in_process_worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
            _in_process_worker.start()
    return _in_process_worker
