"""Health use case: real checks of the database and Redis, as served on GET /api/v1/health."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestra_app.settings import Settings


def check_health(*, engine: Engine, settings: Settings) -> dict[str, Any]:
    db = _check_db(engine)
    redis_state = _check_redis(settings.redis_url)
    ok = db == "ok" and redis_state in ("ok", "not configured")
    return {
        "status": "ok" if ok else "degraded",
        "db": db,
        "redis": redis_state,
        "mode": "embedded" if settings.embedded else "servers",
        "database": engine.dialect.name,
    }


def _check_db(engine: Engine) -> str:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_redis(url: str) -> str:
    if not url:
        return "not configured"
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return "ok" if client.ping() else "error: no PONG"
        finally:
            client.close()
    except Exception as exc:
        return f"error: {type(exc).__name__}"
