"""JSON-lines logging for the app, the CLI and the workers, plus error ids for unexpected exceptions.

Every record is one JSON object: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``;
the seed's correlation fields (section 11.2) ``tenantId``, ``runId``, ``scenarioId``, ``stepAlias``
when the code logging it knows them (``log.info("...", extra=fields(tenant_id=...))``, or bound for a
block with ``log_context(...)``); ``errorId`` and ``exception`` (the traceback) for failures.

An exception nobody expected is logged once with its traceback by ``report_unexpected``, which
returns a short id; the user sees only "unexpected error (id ...)" and can quote the id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

# Seed 11.2 field names, keyed by the python-side names code passes in.
CONTEXT_FIELDS = {
    "tenant_id": "tenantId",
    "run_id": "runId",
    "scenario_id": "scenarioId",
    "step_alias": "stepAlias",
    "user_id": "userId",
    "error_id": "errorId",
}
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "orchestra_log_context", default=None
)
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

log = logging.getLogger("orchestra")


def fields(**values: object) -> dict[str, str]:
    """``extra=`` for a log call: correlation ids under their seed names (None values left out)."""
    return {CONTEXT_FIELDS.get(k, k): str(v) for k, v in values.items() if v is not None}


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Adds correlation fields to every record logged inside the block (this thread / task only)."""
    token = _context.set({**(_context.get() or {}), **fields(**values)})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields and the bound context become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_context.get() or {})
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


LOGGERS = ("orchestra", "orchestra_app", "executor", "state")
_configured = False


def configure_logging(*, level: str | None = None) -> None:
    """JSON lines for the app, the CLI and the workers (called by their entry points, not on import).

    The root logger's handlers (a worker's, the app server's) get the JSON formatter; without any, one
    writing to stderr is added. Orchestra's loggers log at ``ORCHESTRA_LOG_LEVEL`` (default INFO).
    Idempotent.
    """
    global _configured
    chosen = (level or os.environ.get("ORCHESTRA_LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_StderrHandler())
        if root.level > logging.WARNING or root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
    formatter = JsonFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(chosen)
    _configured = True


def new_error_id() -> str:
    return uuid.uuid4().hex[:12]


def report_unexpected(exc: BaseException, *, where: str, **context: object) -> str:
    """Log an unexpected exception with its traceback; returns the id to show the user."""
    error_id = new_error_id()
    log.error(
        "unexpected error in %s: %s: %s",
        where,
        type(exc).__name__,
        exc,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra=fields(error_id=error_id, **context),
    )
    return error_id


def unexpected_text(error_id: str) -> str:
    return f"unexpected error (id {error_id}); it has been logged"
