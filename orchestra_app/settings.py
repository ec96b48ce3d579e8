"""One typed settings object read from the environment (embedded defaults when nothing is set)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Environment variables are the seed's names (DB_URL, REDIS_URL, MQ_URL, OIDC_ISSUER, ...)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    db_url: str = Field(default="", alias="DB_URL")
    redis_url: str = Field(default="", alias="REDIS_URL")
    mq_url: str = Field(default="", alias="MQ_URL")
    oidc_issuer: str = Field(default="", alias="OIDC_ISSUER")
    ai_service_url: str = Field(default="", alias="AI_SERVICE_URL")
    data_dir: Path = Field(default=PROJECT_ROOT / ".orchestra", alias="ORCHESTRA_DATA_DIR")
    port: int = Field(default=3000, alias="ORCHESTRA_PORT")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, alias="ORCHESTRA_MAX_UPLOAD_BYTES")
    # Engine (docs/engine.md). Timeouts are per run unless the run request sets its own.
    step_timeout_s: float = Field(default=300.0, gt=0, alias="ORCHESTRA_STEP_TIMEOUT_S")
    run_timeout_s: float = Field(default=3600.0, gt=0, alias="ORCHESTRA_RUN_TIMEOUT_S")
    # a step whose outcome differs from its outcome in any of the last N ended runs of the same scenario
    # version and data is flaky (docs/engine.md); 0 turns the comparison off
    flaky_window: int = Field(default=5, ge=0, le=100, alias="ORCHESTRA_FLAKY_WINDOW")
    heartbeat_interval_s: float = Field(default=5.0, gt=0, alias="ORCHESTRA_HEARTBEAT_INTERVAL_S")
    heartbeat_timeout_s: float = Field(default=30.0, gt=0, alias="ORCHESTRA_HEARTBEAT_TIMEOUT_S")
    cancel_poll_s: float = Field(default=0.25, gt=0, alias="ORCHESTRA_CANCEL_POLL_S")
    reaper_interval_s: float = Field(default=10.0, gt=0, alias="ORCHESTRA_REAPER_INTERVAL_S")
    requeue_after_s: float = Field(default=120.0, gt=0, alias="ORCHESTRA_REQUEUE_AFTER_S")
    event_stream_maxlen: int = Field(default=10_000, ge=100, alias="ORCHESTRA_EVENT_STREAM_MAXLEN")
    event_stream_ttl_s: int = Field(default=86_400, ge=60, alias="ORCHESTRA_EVENT_STREAM_TTL_S")
    worker_metrics_port: int = Field(default=9191, ge=0, alias="ORCHESTRA_WORKER_METRICS_PORT")
    # Imports (parse + generate) run in child processes under these limits (services/isolation.py).
    import_timeout_s: float = Field(default=30.0, gt=0, alias="ORCHESTRA_IMPORT_TIMEOUT_S")
    import_workers: int = Field(default=0, ge=0, alias="ORCHESTRA_IMPORT_WORKERS")  # 0: CPU count, >= 2
    import_queue_s: float = Field(default=120.0, gt=0, alias="ORCHESTRA_IMPORT_QUEUE_S")
    import_memory_mb: int = Field(default=2048, ge=0, alias="ORCHESTRA_IMPORT_MEMORY_MB")  # 0: no cap
    import_isolation: str = Field(default="process", alias="ORCHESTRA_IMPORT_ISOLATION")  # or "inline"

    @field_validator("db_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        # The seed's compose file writes postgres://...; SQLAlchemy wants a driver name.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def embedded(self) -> bool:
        """True when no servers are configured: SQLite file and an in-process worker."""
        return not self.db_url

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'orchestra.db'}"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
