"""Plugin registry: loads ProtocolPlugins from the `orchestra.plugins` entry points; one per channel."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from orchestra_app.domain.errors import ConfigurationError, ErrorKind
from orchestra_app.domain.steps import ChannelType
from orchestra_app.plugins.base import ProtocolPlugin

ENTRY_POINT_GROUP = "orchestra.plugins"
log = logging.getLogger(__name__)


class PluginError(ConfigurationError):
    """No plugin serves a channel, or a plugin could not be loaded."""


@dataclass
class PluginLoadError:
    entry_point: str
    distribution: str | None
    message: str


@dataclass
class PluginRegistry:
    plugins: dict[str, ProtocolPlugin] = field(default_factory=dict)
    by_channel: dict[str, ProtocolPlugin] = field(default_factory=dict)
    errors: list[PluginLoadError] = field(default_factory=list)

    def register(self, plugin: ProtocolPlugin, *, source: str = "<direct>") -> None:
        if not plugin.id:
            raise PluginError(f"plugin from {source} has an empty id")
        if plugin.id in self.plugins:
            raise PluginError(
                f"plugin id {plugin.id!r} from {source} is already registered by {self.plugins[plugin.id]!r}"
            )
        if getattr(plugin, "step_executor", None) is None:
            raise PluginError(f"plugin {plugin.id!r} from {source} has no step_executor")
        taken = [str(c) for c in plugin.channel_types if str(c) in self.by_channel]
        if taken:
            raise PluginError(
                f"plugin {plugin.id!r} from {source} claims channel(s) {taken} already served by "
                f"{', '.join(sorted({self.by_channel[c].id for c in taken}))}"
            )
        self.plugins[plugin.id] = plugin
        for channel in plugin.channel_types:
            self.by_channel[str(channel)] = plugin

    def plugin_for(self, channel_type: ChannelType | str) -> ProtocolPlugin:
        plugin = self.by_channel.get(str(channel_type))
        if plugin is not None:
            return plugin
        served = ", ".join(f"{c} ({p.id})" for c, p in sorted(self.by_channel.items())) or "none"
        hint = ""
        if self.errors:
            hint = "; plugins that failed to load: " + "; ".join(
                f"{e.entry_point}: {e.message}" for e in self.errors
            )
        raise PluginError(
            f"no plugin serves channel {channel_type!s} (served: {served}){hint}",
            kind=ErrorKind.CONFIGURATION,
        )

    def get(self, plugin_id: str) -> ProtocolPlugin:
        try:
            return self.plugins[plugin_id]
        except KeyError:
            raise PluginError(
                f"no plugin with id {plugin_id!r} (loaded: {', '.join(sorted(self.plugins))})"
            ) from None


def _instantiate(obj: object, name: str) -> ProtocolPlugin:
    """An entry point may name a plugin instance, a ProtocolPlugin subclass or a zero-argument factory."""
    if isinstance(obj, ProtocolPlugin):
        return obj
    if isinstance(obj, type) and issubclass(obj, ProtocolPlugin):
        return obj()
    if callable(obj):
        made = obj()
        if isinstance(made, ProtocolPlugin):
            return made
        raise PluginError(f"factory {name} returned {type(made).__name__}, not a ProtocolPlugin")
    raise PluginError(f"{name} is {type(obj).__name__}, not a ProtocolPlugin")


def load_plugins(entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> PluginRegistry:
    """Load every plugin; one that fails is recorded in ``errors`` and does not stop the others."""
    registry = PluginRegistry()
    eps = (
        list(entry_points)
        if entry_points is not None
        else list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    )
    # The same distribution can appear twice on sys.path (editable + site); load each entry point once,
    # built-ins (this distribution) first so a third party cannot silently replace them.
    seen: set[tuple[str, str]] = set()
    unique = []
    for ep in eps:
        if (ep.name, ep.value) not in seen:
            seen.add((ep.name, ep.value))
            unique.append(ep)
    unique.sort(key=lambda ep: (_dist_name(ep) != "orchestra", ep.name))
    for ep in unique:
        dist = _dist_name(ep)
        try:
            plugin = _instantiate(ep.load(), ep.value)
            registry.register(plugin, source=f"entry point {ep.name} = {ep.value}")
        except Exception as exc:  # a third-party plugin may raise anything; it must not break the rest
            message = exc.message if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            registry.errors.append(PluginLoadError(ep.name, dist, message))
            log.warning("plugin %s (%s) failed to load: %s", ep.name, ep.value, message)
    return registry


def _dist_name(ep: importlib.metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else None


_default: PluginRegistry | None = None


def default_registry(*, reload: bool = False) -> PluginRegistry:
    """The process-wide registry (loaded on first use)."""
    global _default
    if _default is None or reload:
        _default = load_plugins()
    return _default


def plugin_for(channel_type: ChannelType | str) -> ProtocolPlugin:
    return default_registry().plugin_for(channel_type)
