"""Where an HTTP step's request goes: the environment's baseUrl composed with the spec's base path.

The environment says which host the tests hit (``ServiceConfig.baseUrl``: scheme, host, port and an
optional prefix such as a gateway route); the spec says where its paths live on that host (Swagger 2
``basePath``, OpenAPI 3 ``servers[].url`` with its ``variables``). See docs/plugins.md, "Base URL".
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.spec import Operation, Server, SpecSummary

_VARIABLE = re.compile(r"\{([^{}]+)\}")


class HttpServiceOptions(BaseModel):
    """The HTTP part of ``ServiceConfig.options`` (other keys are left to other plugins)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # Which of the spec's servers gives the base path: an index, or a description / url (any case).
    server: Any = None
    # Values for server URL variables ({version}, {region}); override the spec's defaults.
    server_variables: dict[str, str] = Field(default_factory=dict, alias="serverVariables")
    # The base path itself, instead of the spec's ("" = none: paths go right after baseUrl).
    base_path: str | None = Field(default=None, alias="basePath")

    @field_validator("server_variables", mode="before")
    @classmethod
    def _scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value

    @field_validator("server")
    @classmethod
    def _selector(cls, value: Any) -> int | str | None:
        if value is None or (isinstance(value, str) and value.strip()):
            return value  # type: ignore[no-any-return]
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError("a server index is 0 or more")
            return value
        raise ValueError(f"{value!r} is neither a server index (0, 1, ...) nor a server description or url")


@dataclass(frozen=True)
class ResolvedBase:
    """What the operation path is appended to, and where each part of it came from."""

    url: str  # environment baseUrl + base path (unless the baseUrl already ends with it)
    environment_url: str
    base_path: str  # "" when the spec gives none
    # "servers[0]", "servers[1] 'staging'", "operation servers[0]", "basePath", "options.basePath" or ""
    source: str
    already_in_base_url: bool  # the baseUrl already ended with the base path, so it was not added again

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"baseUrl": self.environment_url, "basePath": self.base_path}
        if self.source:
            out["basePathFrom"] = self.source
        if self.already_in_base_url:
            out["basePathAlreadyInBaseUrl"] = True
        return out


def service_options(service_name: str, options: dict[str, Any]) -> HttpServiceOptions:
    try:
        return HttpServiceOptions.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigurationError(
            f"service {service_name!r}: options.{where}: {message}",
            field=f"services.{service_name}.options.{where}",
        ) from None


def normalize_base_path(path: str) -> str:
    """``/api/`` -> ``/api``, ``api`` -> ``/api``, ``/`` and ``""`` -> ``""``, ``./v1`` -> ``/v1``."""
    path = path.split("?", 1)[0].split("#", 1)[0].strip()
    if not path or path in ("/", "."):
        return ""
    normalized = posixpath.normpath("/" + path.lstrip("/"))
    normalized = normalized.lstrip("/")  # normpath keeps a leading "//"
    return "" if normalized in ("", ".") else "/" + normalized


def _path_of(url: str) -> str:
    """The path part of a server URL: absolute (``https://h/v1``), scheme-relative or relative."""
    if "://" in url or url.startswith("//"):
        return urlsplit(url).path
    return url


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def ends_with_path(url_path: str, base_path: str) -> bool:
    """Segment-wise: ``/gw/api`` ends with ``/api``; ``/myapi`` does not."""
    tail = _segments(base_path)
    head = _segments(url_path)
    return bool(tail) and len(head) >= len(tail) and head[-len(tail) :] == tail


def _choose(
    servers: list[Server], selector: int | str | None, service_name: str, *, strict: bool
) -> int | None:
    if not servers:
        return None
    if selector is None:
        return 0
    if isinstance(selector, int):
        if selector < len(servers):
            return selector
        if not strict:
            return 0
        raise ConfigurationError(
            f"service {service_name!r}: options.server {selector} is out of range: "
            f"the spec has {len(servers)} server(s) ({_listing(servers)})",
            field=f"services.{service_name}.options.server",
        )
    wanted = selector.strip().lower()
    for i, server in enumerate(servers):
        if (server.description or "").strip().lower() == wanted or server.url.strip().lower() == wanted:
            return i
    if not strict:
        return 0
    raise ConfigurationError(
        f"service {service_name!r}: options.server {selector!r} matches no server of the spec "
        f"by description or url ({_listing(servers)})",
        field=f"services.{service_name}.options.server",
    )


def _listing(servers: list[Server]) -> str:
    return ", ".join(
        f"{i}: {s.url}" + (f" '{s.description}'" if s.description else "") for i, s in enumerate(servers)
    )


def expand_server_url(server: Server, overrides: dict[str, str], service_name: str) -> str:
    """The server URL with every ``{variable}`` replaced: environment override, else the spec's default."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        spec_var = server.variables.get(name)
        spec_var = spec_var if isinstance(spec_var, dict) else {}
        enum = spec_var.get("enum")
        if name in overrides:
            chosen = overrides[name]
            if isinstance(enum, list) and enum and chosen not in [str(e) for e in enum]:
                raise ConfigurationError(
                    f"service {service_name!r}: options.serverVariables.{name} {chosen!r} is not one of "
                    f"the values the spec allows {[str(e) for e in enum]} (server {server.url!r}); "
                    "set options.basePath to use another base path",
                    field=f"services.{service_name}.options.serverVariables.{name}",
                )
            return chosen
        default = spec_var.get("default")
        if isinstance(default, str | int | float) and not isinstance(default, bool):
            return str(default)
        raise ConfigurationError(
            f"service {service_name!r}: server {server.url!r} needs a value for {{{name}}}: "
            f"the spec gives no default; set options.serverVariables.{name}",
            field=f"services.{service_name}.options.serverVariables.{name}",
        )

    return _VARIABLE.sub(value, server.url)


def spec_base_path(
    spec: SpecSummary | None, operation: Operation | None, options: HttpServiceOptions, service_name: str
) -> tuple[str, str]:
    """(base path, where it came from) for requests of ``operation``."""
    if options.base_path is not None:
        return normalize_base_path(options.base_path), "options.basePath"
    if spec is None:
        return "", ""
    if spec.format == "swagger" and spec.base_path is not None:
        return normalize_base_path(spec.base_path), "basePath"
    servers = spec.servers
    label = "servers"
    strict = True
    if operation is not None and operation.servers:
        servers, label, strict = operation.servers, "operation servers", False
    index = _choose(servers, options.server, service_name, strict=strict)
    if index is None:
        return "", ""
    server = servers[index]
    path = normalize_base_path(_path_of(expand_server_url(server, options.server_variables, service_name)))
    source = f"{label}[{index}]" + (f" '{server.description}'" if server.description else "")
    return path, source


def resolve_base(
    service_name: str,
    base_url: str,
    options: dict[str, Any],
    spec: SpecSummary | None,
    operation: Operation | None,
) -> ResolvedBase:
    """The environment's baseUrl with the spec's base path appended, unless it already ends with it.

    Only the path of a server URL is used: scheme, host and port always come from the environment,
    so a spec listing a production host cannot send tests there.
    """
    parsed = service_options(service_name, options)
    base_path, source = spec_base_path(spec, operation, parsed, service_name)
    trimmed = base_url.rstrip("/")
    if not base_path:
        return ResolvedBase(trimmed, base_url, "", source, False)
    try:
        url_path = urlsplit(trimmed).path
    except ValueError:
        url_path = ""
    if ends_with_path(url_path, base_path):
        return ResolvedBase(trimmed, base_url, base_path, source, True)
    return ResolvedBase(trimmed + base_path, base_url, base_path, source, False)
