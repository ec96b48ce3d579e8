"""The built-in queue plugin (RabbitMQ, Redis Streams); entry point `queue` in pyproject.toml."""

from __future__ import annotations

from orchestra_app.plugins.queue.plugin import QueuePlugin

plugin = QueuePlugin()

__all__ = ["QueuePlugin", "plugin"]
