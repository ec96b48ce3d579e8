"""Runs the Alembic migrations programmatically (``orchestra migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from orchestra_app.settings import PROJECT_ROOT, get_settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(Path(PROJECT_ROOT) / "alembic.ini"))
    cfg.set_main_option("script_location", str(Path(PROJECT_ROOT) / "alembic"))
    cfg.attributes["url"] = url or get_settings().database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
