"""Redis Streams: a window is a stream id; XREAD from it sees new entries without touching any group.

The window remembers the stream's ``last-generated-id`` when it opens (``0-0`` for a stream that does
not exist yet) and the assertion reads with ``XREAD BLOCK`` from there: the system's consumer groups
keep their pending lists and delivery counts. Limits: a stream trimmed with MAXLEN between the action
and the read loses entries before the tap reads them; a step without a prepared window starts from
an id derived from the clock (``<now - lookbackMs>-0``), which only holds for auto-generated ids.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import redis

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.plugins.base import QueueProfile

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class RedisBroker:
    """A redis client per environment and broker alias (redis-py's pool is thread-safe)."""

    def __init__(self, profile: QueueProfile, alias: str, username: Any, password: Any) -> None:
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": profile.connect_timeout_s,
            "socket_timeout": max(profile.connect_timeout_s, 30.0),
            "decode_responses": False,
        }
        if username is not None:
            kwargs["username"] = str(username)
        if password is not None:
            kwargs["password"] = str(password)
        if profile.endpoint.startswith("rediss://"):
            kwargs["ssl_ca_certs"] = profile.tls.ca_bundle
            kwargs["ssl_cert_reqs"] = "required" if profile.tls.verify else "none"
        try:
            self.client = redis.Redis.from_url(profile.endpoint, **kwargs)
        except ValueError as exc:
            raise ConfigurationError(
                f"queue profile {alias!r}: endpoint {profile.endpoint!r} is not a Redis URL: {exc}",
                field=f"queue.{alias}.endpoint",
            ) from None

    def close(self) -> None:
        with contextlib.suppress(*CONNECTION_ERRORS):
            self.client.close()

    def last_id(self, stream: str) -> str:
        try:
            info: Any = self.client.xinfo_stream(stream)
        except redis.exceptions.ResponseError:
            return "0-0"  # no such stream yet: everything it will hold is new
        raw = info.get("last-generated-id") or info.get(b"last-generated-id") or b"0-0"
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def read(
        self, stream: str, after: str, budget_s: float, count: int = 500
    ) -> list[tuple[str, dict[str, Any]]]:
        block = max(1, int(budget_s * 1000))
        found: Any = self.client.xread({stream: after}, count=count, block=block)
        out: list[tuple[str, dict[str, Any]]] = []
        for _name, entries in found or []:
            for entry_id, fields in entries:
                out.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
        return out

    def add(self, stream: str, fields: dict[str, Any], maxlen: int | None) -> str:
        encoded: dict[Any, Any] = {
            k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for k, v in fields.items()
        }
        return _text(self.client.xadd(stream, encoded, maxlen=maxlen, approximate=maxlen is not None))


def clock_id(lookback_ms: int) -> str:
    return f"{max(0, int(time.time() * 1000) - lookback_ms)}-0"


def redis_subject(stream: str, entry_id: str, fields: dict[str, Any], body_field: str) -> dict[str, Any]:
    body: Any = fields
    if body_field in fields:
        raw = fields[body_field]
        try:
            body = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            body = raw
    return {"stream": stream, "id": entry_id, "fields": fields, "body": body}


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"base64": base64.b64encode(value).decode("ascii")}
    return value
