"""The built-in HTTP plugin (OpenAPI contracts, httpx); registered as entry point `http` in pyproject.toml."""

from __future__ import annotations

from orchestra_app.plugins.http.plugin import HttpPlugin, HttpSpecParser

plugin = HttpPlugin()

__all__ = ["HttpPlugin", "HttpSpecParser", "plugin"]
