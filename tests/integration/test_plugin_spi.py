"""A third-party plugin installed as a real distribution is found through entry points and runs a step."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_app.domain.steps import (
    ActionDefinition,
    ChannelType,
    ExecutionContext,
    ScenarioStepSpec,
    StepStatus,
)
from orchestra_app.plugins.base import (
    ContractValidator,
    EndpointMatcher,
    ExecutionEnvironment,
    ProtocolPlugin,
    StepExecutor,
    StepRunContext,
)
from orchestra_app.plugins.http import plugin as http_plugin
from orchestra_app.plugins.registry import PluginError, load_plugins

pytestmark = pytest.mark.integration

ECHO = """
from orchestra_app.domain.steps import StepResultData, StepStatus
from orchestra_app.domain.templating import render
from orchestra_app.plugins.base import PluginConfig, ProtocolPlugin


class EchoConfig(PluginConfig):
    prefix: str = ">"


class EchoExecutor:
    def __init__(self, plugin):
        self.plugin = plugin

    def execute(self, step, run):
        config = self.plugin.config(run.environment)
        body = render(step.action.input_template, run.template_scope())
        return StepResultData(step_alias=step.alias, status=StepStatus.PASSED,
                              response_body={"echo": body, "prefix": config.prefix})


class EchoPlugin(ProtocolPlugin):
    id = "echo"
    channel_types = ("ECHO",)  # a channel of its own: the built-in channels are taken
    config_schema = EchoConfig

    def __init__(self):
        self.step_executor = EchoExecutor(self)
"""

THIEF = """
from orchestra_app.plugins.base import ProtocolPlugin


class Thief(ProtocolPlugin):
    id = "thief"
    channel_types = ("HTTP_REST",)

    def __init__(self):
        self.step_executor = object()
"""


def make_distribution(site: Path, name: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    for module, source in modules.items():
        package = site / module
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(textwrap.dedent(source))
    dist_info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[orchestra.plugins]\n{lines}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    make_distribution(
        site,
        "orchestra-echo-plugin",
        {"echo_plugin_t": ECHO, "broken_plugin_t": "raise RuntimeError('boom')\n", "thief_plugin_t": THIEF},
        {
            "echo": "echo_plugin_t:EchoPlugin",
            "broken": "broken_plugin_t:plugin",
            "missing": "no_such_module_t:plugin",
            "thief": "thief_plugin_t:Thief",
        },
    )
    monkeypatch.syspath_prepend(str(site))  # also invalidates import caches
    yield site
    for module in ("echo_plugin_t", "broken_plugin_t", "thief_plugin_t"):
        sys.modules.pop(module, None)


def test_third_party_plugin_is_discovered_and_runs_a_step(site: Path) -> None:
    registry = load_plugins()
    assert {"http", "grpc", "db", "kafka", "queue", "echo"} <= set(registry.plugins)
    echo = registry.plugin_for("ECHO")
    assert echo.id == "echo"
    assert registry.plugin_for("HTTP_REST") is not None and registry.plugin_for("HTTP_REST").id == "http"

    environment = ExecutionEnvironment(plugin_config={"echo": {"prefix": "#"}})
    step = ScenarioStepSpec(
        alias="e1",
        channel_type=ChannelType.GRPC,
        action=ActionDefinition(input_template={"hello": "{{data.name}}", "n": "{{data.n}}"}),
    )
    context = ExecutionContext(variables={"data": {"name": "world", "n": 3}})
    result = echo.execute(step, StepRunContext(environment, context))
    assert result.status == StepStatus.PASSED
    assert result.response_body == {"echo": {"hello": "world", "n": 3}, "prefix": "#"}


def test_broken_plugins_are_reported_not_fatal(site: Path) -> None:
    registry = load_plugins()
    errors = {e.entry_point: e.message for e in registry.errors}
    assert set(errors) == {"broken", "missing", "thief"}
    assert "RuntimeError: boom" in errors["broken"]
    assert "No module named" in errors["missing"]
    assert "already served by http" in errors["thief"]  # a third party cannot hijack a built-in channel
    with pytest.raises(PluginError) as caught:
        registry.plugin_for("SMTP")
    message = str(caught.value)
    assert "no plugin serves channel SMTP" in message and "broken" in message


def test_builtin_http_plugin_implements_the_spi() -> None:
    registry = load_plugins()
    plugin = registry.plugin_for(ChannelType.HTTP_REST)
    assert isinstance(plugin, ProtocolPlugin) and plugin is not None
    assert isinstance(http_plugin.step_executor, StepExecutor)
    assert isinstance(http_plugin.endpoint_matcher, EndpointMatcher)
    assert isinstance(http_plugin.contract_validator, ContractValidator)
    assert http_plugin.spec_parser is not None
    assert http_plugin.config(ExecutionEnvironment()).model_dump()["max_body_bytes"] == 1_048_576
