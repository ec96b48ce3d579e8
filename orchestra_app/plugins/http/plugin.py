"""HttpPlugin: wires the OpenAPI parser, matcher, executor and contract validator into one ProtocolPlugin."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.plugins.base import PluginConfig, ProtocolPlugin, step_service
from orchestra_app.plugins.http.contract import HttpContractValidator
from orchestra_app.plugins.http.executor import HttpPluginConfig, HttpStepExecutor
from orchestra_app.plugins.http.matcher import HttpEndpointMatcher


class HttpSpecParser:
    """OpenAPI 3.x / Swagger 2.0 through the shared spec importer."""

    def can_parse(self, path: Path, head: str) -> bool:
        return '"openapi"' in head or "openapi:" in head or '"swagger"' in head or "swagger:" in head

    def parse(self, path: Path) -> SpecSummary:
        # Imported lazily: the importer is a sibling layer and not needed to execute steps.
        from orchestra_app.importers.spec_detect import import_spec

        return import_spec(path)


class HttpPlugin(ProtocolPlugin):
    id: ClassVar[str] = "http"
    channel_types: ClassVar[tuple[ChannelType | str, ...]] = (ChannelType.HTTP_REST,)
    config_schema: ClassVar[type[PluginConfig]] = HttpPluginConfig
    # every wait is capped by StepRunContext.remaining_s(): the engine may run steps inline
    cooperative_timeout: ClassVar[bool] = True

    def __init__(self) -> None:
        self.contract_validator = HttpContractValidator()
        self.spec_parser = HttpSpecParser()
        self.endpoint_matcher = HttpEndpointMatcher()
        self.step_executor = HttpStepExecutor(self.contract_validator, plugin_id=self.id)

    def connections(self, step: ScenarioStepSpec) -> list[tuple[str, str]]:
        return step_service(step)
