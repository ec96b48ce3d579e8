"""KafkaPlugin: message assertions and publish actions on confluent-kafka, AsyncAPI contracts (seed 6)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.plugins.base import PluginConfig, ProtocolPlugin, StepRunContext, step_profile
from orchestra_app.plugins.kafka.contract import AsyncApiContractValidator
from orchestra_app.plugins.kafka.executor import KafkaStepExecutor
from orchestra_app.plugins.matching import SimilarityEndpointMatcher


class AsyncApiSpecParser:
    """AsyncAPI 2.x / 3.x through the shared spec importer."""

    def can_parse(self, path: Path, head: str) -> bool:
        return '"asyncapi"' in head or "asyncapi:" in head

    def parse(self, path: Path) -> SpecSummary:
        from orchestra_app.importers.spec_detect import import_spec

        return import_spec(path)


class KafkaEndpointMatcher(SimilarityEndpointMatcher):
    """Binds Kafka steps to AsyncAPI operations (send/receive) by name similarity or explicitly."""

    protocol_id = "kafka"


class KafkaPluginConfig(PluginConfig):
    """ExecutionEnvironment.plugin_config["kafka"]: nothing yet; clusters are KafkaProfiles."""


class KafkaPlugin(ProtocolPlugin):
    id: ClassVar[str] = "kafka"
    channel_types: ClassVar[tuple[ChannelType | str, ...]] = (ChannelType.KAFKA,)
    config_schema: ClassVar[type[PluginConfig]] = KafkaPluginConfig

    def __init__(self) -> None:
        self.contract_validator = AsyncApiContractValidator()
        self.spec_parser = AsyncApiSpecParser()
        self.endpoint_matcher = KafkaEndpointMatcher()
        self.executor = KafkaStepExecutor(self.contract_validator, plugin_id=self.id)
        self.step_executor = self.executor

    def prepare(self, step: ScenarioStepSpec, run: StepRunContext) -> bool:
        return self.executor.prepare(step, run)

    def connections(self, step: ScenarioStepSpec) -> list[tuple[str, str]]:
        return step_profile(step, "kafka", "clusterAlias")
