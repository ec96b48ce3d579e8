"""The built-in db plugin (read-only SELECT assertions); registered as entry point `db` in pyproject.toml."""

from __future__ import annotations

from orchestra_app.plugins.db.plugin import DbPlugin

plugin = DbPlugin()

__all__ = ["DbPlugin", "plugin"]
