"""GrpcPlugin: protoc-compiled .proto specs (or server reflection), unary calls on grpcio."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.plugins.base import PluginConfig, ProtocolPlugin, step_service
from orchestra_app.plugins.grpc.contract import GrpcContractValidator
from orchestra_app.plugins.grpc.executor import GrpcPluginConfig, GrpcStepExecutor
from orchestra_app.plugins.grpc.matcher import GrpcEndpointMatcher


class GrpcSpecParser:
    """``.proto`` files through the shared spec importer (protoc, FileDescriptorSet kept in the summary)."""

    def can_parse(self, path: Path, head: str) -> bool:
        from orchestra_app.importers.spec_detect import looks_like_proto

        return looks_like_proto(head.encode("utf-8", "replace"), path.name)

    def parse(self, path: Path) -> SpecSummary:
        from orchestra_app.importers.spec_detect import import_spec

        return import_spec(path)


class GrpcPlugin(ProtocolPlugin):
    id: ClassVar[str] = "grpc"
    channel_types: ClassVar[tuple[ChannelType | str, ...]] = (ChannelType.GRPC,)
    config_schema: ClassVar[type[PluginConfig]] = GrpcPluginConfig

    def __init__(self) -> None:
        self.contract_validator = GrpcContractValidator()
        self.spec_parser = GrpcSpecParser()
        self.endpoint_matcher = GrpcEndpointMatcher()
        self.step_executor = GrpcStepExecutor(self.contract_validator, plugin_id=self.id)

    def connections(self, step: ScenarioStepSpec) -> list[tuple[str, str]]:
        return step_service(step)
