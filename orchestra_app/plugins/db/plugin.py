"""DbPlugin: read-only SELECT assertions on PostgreSQL, MariaDB/MySQL and SQLite (seed 6 db-plugin)."""

from __future__ import annotations

from typing import ClassVar

from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.plugins.base import PluginConfig, ProtocolPlugin, step_profile
from orchestra_app.plugins.db.executor import DbStepExecutor


class DbPluginConfig(PluginConfig):
    """ExecutionEnvironment.plugin_config["db"]: nothing yet; per-database settings live on DbProfile."""


class DbPlugin(ProtocolPlugin):
    id: ClassVar[str] = "db"
    channel_types: ClassVar[tuple[ChannelType | str, ...]] = (ChannelType.DB,)
    config_schema: ClassVar[type[PluginConfig]] = DbPluginConfig

    def __init__(self) -> None:
        # No spec parser, matcher or contract validator: a DB step names its data source and SQL.
        self.step_executor = DbStepExecutor(plugin_id=self.id)

    def connections(self, step: ScenarioStepSpec) -> list[tuple[str, str]]:
        return step_profile(step, "db", "dataSource")
