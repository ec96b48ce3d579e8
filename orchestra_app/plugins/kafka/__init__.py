"""The built-in kafka plugin (assert, publish, AsyncAPI contracts); entry point `kafka` in pyproject.toml."""

from __future__ import annotations

from orchestra_app.plugins.kafka.plugin import KafkaPlugin

plugin = KafkaPlugin()

__all__ = ["KafkaPlugin", "plugin"]
