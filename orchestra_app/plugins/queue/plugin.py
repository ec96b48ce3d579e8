"""QueuePlugin: RabbitMQ and Redis Streams assertions (by correlation id) and publish actions (seed 6)."""

from __future__ import annotations

from typing import ClassVar

from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.plugins.base import PluginConfig, ProtocolPlugin, StepRunContext, step_profile
from orchestra_app.plugins.queue.executor import QueueStepExecutor


class QueuePluginConfig(PluginConfig):
    """ExecutionEnvironment.plugin_config["queue"]: nothing yet; brokers are QueueProfiles."""


class QueuePlugin(ProtocolPlugin):
    id: ClassVar[str] = "queue"
    channel_types: ClassVar[tuple[ChannelType | str, ...]] = (ChannelType.QUEUE,)
    config_schema: ClassVar[type[PluginConfig]] = QueuePluginConfig

    def __init__(self) -> None:
        self.executor = QueueStepExecutor(plugin_id=self.id)
        self.step_executor = self.executor

    def prepare(self, step: ScenarioStepSpec, run: StepRunContext) -> bool:
        return self.executor.prepare(step, run)

    def connections(self, step: ScenarioStepSpec) -> list[tuple[str, str]]:
        return step_profile(step, "queue", "brokerAlias")
