"""Environment files for `orchestra run` (docs/environment-file.md): services, variables, profiles, secrets.

Secrets are never written in the file: a reference names a secret, and the file's ``secrets`` map
says which environment variable holds it (names it does not list fall back to
``ORCHESTRA_SECRET_<NAME>``). ``${VAR}`` / ``${VAR:-default}`` in any string reads the process
environment, so one file serves every CI stage. Every problem names file, line and field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestra_app.domain.errors import ConfigurationError, ValidationFailed
from orchestra_app.domain.runs import PinnedEnvironment
from orchestra_app.domain.secrets import SecretNotFound, SourceSecretResolver, secret_ref_name, secret_source
from orchestra_app.importers.suite_yaml import SECRET_HEADERS, Located, SuiteFileError, load_located
from orchestra_app.plugins.base import PROFILE_KINDS, ExecutionEnvironment, ServiceConfig

FORMAT = "orchestra-environment/1"
TOP_KEYS = {"format", "name", "description", "services", "variables", "secrets", "profiles", "plugins"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_TEXT = re.compile(r"\{\{\s*secret:\s*([^}\s]+)\s*\}\}")
AUTH_SECRET_FIELDS = ("password", "token", "value", "clientSecret")
PROFILE_SECRET_FIELDS = ("password",)
_TLS_FILES = ("caBundle", "clientCert", "clientKey")


class EnvironmentFileError(ConfigurationError):
    """An environment file that cannot be used."""


class MappedEnvSecretResolver:
    """Secret name -> environment variable (from the file's ``secrets`` map) or a file holding the value
    (``{file: PATH}``), else ORCHESTRA_SECRET_<NAME>."""

    def __init__(
        self,
        mapping: Mapping[str, str],
        environ: Mapping[str, str] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.mapping = dict(mapping)
        self.files = dict(files or {})
        self._environ = environ if environ is not None else os.environ

    def variable(self, name: str) -> str:
        if name in self.files:
            return f"the file {self.files[name]}"
        return self.mapping.get(name) or f"ORCHESTRA_SECRET_{name.upper()}"

    def resolve(self, name: str) -> str:
        if name in self.files:
            return SourceSecretResolver({name: {"file": self.files[name]}}).resolve(name)
        var = self.variable(name)
        value = self._environ.get(var)
        if value is None:
            raise SecretNotFound(f"secret {name!r} is not set: export {var}")
        return value


@dataclass
class EnvironmentFile:
    name: str
    services: dict[str, ServiceConfig]
    variables: dict[str, Any]
    profiles: dict[str, dict[str, Any]]
    plugin_config: dict[str, Any]
    secrets: MappedEnvSecretResolver
    path: str = ""
    secret_refs: dict[str, str] = field(default_factory=dict)  # secret name -> where it is used
    description: str = ""
    # who references which secrets: ("service", name) or (profile kind, alias) -> secret names
    secret_owners: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def execution_environment(self, specs: Mapping[str, Any] | None = None) -> ExecutionEnvironment:
        return ExecutionEnvironment(
            name=self.name,
            services=self.services,
            specs=specs,
            variables=self.variables,
            secrets=self.secrets,
            plugin_config=self.plugin_config,
            profiles=self.profiles,
        )

    def pinned(self) -> PinnedEnvironment:
        """The file's content as a run pins it (services, profiles, variables; secrets stay references
        and ``secretEnv`` says which environment variable holds each)."""
        return PinnedEnvironment(
            name=self.name,
            services={name: config.to_json_dict() for name, config in self.services.items()},
            profiles={
                kind: {alias: profile.to_json_dict() for alias, profile in by_alias.items()}
                for kind, by_alias in self.profiles.items()
            },
            variables=dict(self.variables),
            plugin_config=dict(self.plugin_config),
            secret_env=dict(self.secrets.mapping),
            secret_files=dict(self.secrets.files),
        )

    def missing_secrets(
        self, extra: Mapping[str, str] | None = None, *, used: set[tuple[str, str]] | None = None
    ) -> list[str]:
        """One line per referenced secret whose environment variable is not set.

        ``used`` (("service", name) / (profile kind, alias) pairs) limits the environment's own
        references to what a run will use: a profile no selected step reads needs no password.
        """
        own = self.secret_refs
        if used is not None:
            wanted = set().union(*(self.secret_owners.get(owner, set()) for owner in used))
            own = {name: where for name, where in own.items() if name in wanted}
        refs = {**own, **(extra or {})}
        out = []
        for name, where in sorted(refs.items()):
            try:
                self.secrets.resolve(name)
            except SecretNotFound as exc:
                if name in self.secrets.files:
                    out.append(f"secret {name!r} (used by {where}): {exc}")
                else:
                    out.append(
                        f"secret {name!r} (used by {where}) is not set: export {self.secrets.variable(name)}"
                    )
        return out


def _expand(value: Any, located: Located, path: tuple[str | int, ...], environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise located.error(
                f"${{{name}}} is not set in the environment (give a default: ${{{name}:-value}})", path
            )

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        if secret_ref_name(value) is not None:
            return value
        return {k: _expand(v, located, (*path, k), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, located, (*path, i), environ) for i, v in enumerate(value)]
    return value


def secret_names(value: Any) -> Iterator[str]:
    """Every secret a JSON-like value references (objects and {{secret:NAME}} text)."""
    name = secret_ref_name(value)
    if name is not None:
        yield name
    elif isinstance(value, str):
        yield from _SECRET_TEXT.findall(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_names(item)


def _literal(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "{{" not in value


def _check_literals(data: dict[str, Any], located: Located) -> None:
    for service, config in (data.get("services") or {}).items():
        if not isinstance(config, dict):
            continue
        auth = config.get("auth")
        if isinstance(auth, dict):
            for key in AUTH_SECRET_FIELDS:
                if _literal(auth.get(key)):
                    raise located.error(
                        f"auth.{key} of service {service!r} is a literal secret: reference one instead, "
                        "e.g. {secret: ORDERS_TOKEN}, and map it to an environment variable under secrets",
                        ("services", service, "auth", key),
                    )
        for name, value in (config.get("headers") or {}).items():
            if str(name).lower() in SECRET_HEADERS and _literal(value):
                raise located.error(
                    f"header {name} of service {service!r} is a literal credential: "
                    "use '{{secret:NAME}}' text",
                    ("services", service, "headers", name),
                )
    for kind, by_alias in (data.get("profiles") or {}).items():
        if not isinstance(by_alias, dict):
            continue
        for alias, profile in by_alias.items():
            if not isinstance(profile, dict):
                continue
            for key in PROFILE_SECRET_FIELDS:
                if _literal(profile.get(key)):
                    raise located.error(
                        f"{kind} profile {alias!r}: {key} is a literal secret; reference one instead",
                        ("profiles", kind, alias, key),
                    )
            for key, value in (profile.get("security") or {}).items():
                if ("password" in key or "secret" in key) and _literal(value):
                    raise located.error(
                        f"{kind} profile {alias!r}: security {key} is a literal secret; "
                        "reference one instead",
                        ("profiles", kind, alias, "security", key),
                    )


def _validation_error(exc: ValidationError, located: Located, base: tuple[str | int, ...]) -> SuiteFileError:
    first = exc.errors()[0]
    path = (*base, *(p for p in first["loc"] if isinstance(p, str | int)))
    probe: tuple[str | int, ...] = ()
    node: Any = located.data
    for part in path:  # keep the parts that exist (union member names are dropped)
        if isinstance(node, dict) and part in node:
            node, probe = node[part], (*probe, part)
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node, probe = node[part], (*probe, part)
        elif part == path[-1]:
            probe = (*probe, part)
    return located.error(first["msg"], probe)


def parse_environment(
    text: str, filename: str = "", *, base_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> EnvironmentFile:
    """Reads and checks an environment file; every problem is an EnvironmentFileError with file:line:field."""
    try:
        return _parse(text, filename, base_dir, environ if environ is not None else os.environ)
    except SuiteFileError as exc:  # the shared located-YAML reader; here it is a configuration problem
        raise EnvironmentFileError(exc.message, file=exc.file, line=exc.line, field=exc.field) from None


def _parse(text: str, filename: str, base_dir: Path | None, env: Mapping[str, str]) -> EnvironmentFile:
    located = load_located(text, filename)
    data = located.data
    if not isinstance(data, dict):
        raise located.error("an environment file is a mapping (name, services, ...)", ())
    fail = located.error
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})", (unknown[0],))
    if data.get("format") not in (None, FORMAT):
        raise fail(f"format must be {FORMAT!r}", ("format",))
    for key in ("services", "variables", "secrets", "profiles", "plugins"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(f"{key} must be a mapping", (key,))
    _check_literals(data, located)
    data = _expand(data, located, (), env)
    name = data.get("name") or (Path(filename).stem if filename else "default")
    if not isinstance(name, str):
        raise fail("name must be text", ("name",))
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise fail("description must be text", ("description",))

    mapping: dict[str, str] = {}
    files: dict[str, str] = {}
    for secret, source in (data.get("secrets") or {}).items():
        if isinstance(source, dict) and set(source) == {"file"} and isinstance(source["file"], str):
            if base_dir is not None and not source["file"].startswith("/"):
                source = {"file": str((base_dir / source["file"]).resolve())}
            try:
                files[str(secret)] = secret_source(source, field=f"secrets.{secret}")["file"]
            except ValidationFailed as exc:
                raise fail(exc.message, ("secrets", secret, "file")) from None
            continue
        var = source.get("env") if isinstance(source, dict) and set(source) == {"env"} else source
        if not isinstance(var, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            raise fail(
                "a secret maps to an environment variable name: NAME: ENV_VAR, NAME: {env: ENV_VAR} "
                "or NAME: {file: PATH} (values never go in this file)",
                ("secrets", secret),
            )
        mapping[str(secret)] = var

    services: dict[str, ServiceConfig] = {}
    refs: dict[str, str] = {}
    owners: dict[tuple[str, str], set[str]] = {}
    for service, raw in (data.get("services") or {}).items():
        if not isinstance(raw, dict):
            raise fail(
                "a service is a mapping (baseUrl, auth, headers, timeoutS, tls, ...)", ("services", service)
            )
        raw = dict(raw)
        tls = raw.get("tls")
        if isinstance(tls, dict) and base_dir is not None:
            raw["tls"] = {
                k: str((base_dir / v).resolve()) if k in _TLS_FILES and isinstance(v, str) else v
                for k, v in tls.items()
            }
        try:
            services[str(service)] = ServiceConfig.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(exc, located, ("services", service)) from None
        if not services[str(service)].base_url:
            raise fail(f"service {service!r} has no baseUrl", ("services", service))
        for secret in secret_names(raw):
            refs.setdefault(secret, f"service {service}")
            owners.setdefault(("service", str(service)), set()).add(secret)

    profiles: dict[str, dict[str, Any]] = {}
    for kind, by_alias in (data.get("profiles") or {}).items():
        model = PROFILE_KINDS.get(str(kind))
        if model is None:
            raise fail(
                f"unknown profile kind {kind!r} (known: {', '.join(sorted(PROFILE_KINDS))})",
                ("profiles", kind),
            )
        if not isinstance(by_alias, dict):
            raise fail("profiles of a kind map an alias to its settings", ("profiles", kind))
        profiles[str(kind)] = {}
        for alias, raw in by_alias.items():
            try:
                profiles[str(kind)][str(alias)] = model.model_validate(raw)
            except ValidationError as exc:
                raise _validation_error(exc, located, ("profiles", kind, alias)) from None
            for secret in secret_names(raw):
                refs.setdefault(secret, f"{kind} profile {alias}")
                owners.setdefault((str(kind), str(alias)), set()).add(secret)
    plugins = data.get("plugins") or {}
    for plugin, config in plugins.items():
        if not isinstance(config, dict):
            raise fail("a plugin's settings are a mapping", ("plugins", plugin))
    return EnvironmentFile(
        name=name,
        services=services,
        variables=dict(data.get("variables") or {}),
        profiles=profiles,
        plugin_config=dict(plugins),
        secrets=MappedEnvSecretResolver(mapping, env, files),
        path=filename,
        secret_refs=refs,
        description=description,
        secret_owners=owners,
    )


def from_pinned(pinned: PinnedEnvironment, environ: Mapping[str, str] | None = None) -> EnvironmentFile:
    """A pinned environment (a stored one, as a run pins it) in the shape the preflight checks."""
    refs: dict[str, str] = {}
    owners: dict[tuple[str, str], set[str]] = {}
    services: dict[str, ServiceConfig] = {}
    for name, config in pinned.services.items():
        services[name] = ServiceConfig.model_validate(config)
        for secret in secret_names(config):
            refs.setdefault(secret, f"service {name}")
            owners.setdefault(("service", name), set()).add(secret)
    profiles: dict[str, dict[str, Any]] = {}
    for kind, by_alias in pinned.profiles.items():
        model = PROFILE_KINDS[kind]
        for alias, profile in by_alias.items():
            profiles.setdefault(kind, {})[alias] = model.model_validate(profile)
            for secret in secret_names(profile):
                refs.setdefault(secret, f"{kind} profile {alias}")
                owners.setdefault((kind, alias), set()).add(secret)
    return EnvironmentFile(
        name=pinned.name,
        services=services,
        variables=dict(pinned.variables),
        profiles=profiles,
        plugin_config=dict(pinned.plugin_config),
        secrets=MappedEnvSecretResolver(pinned.secret_env, environ, pinned.secret_files),
        secret_refs=refs,
        secret_owners=owners,
    )


def load_environment_file(path: Path, environ: Mapping[str, str] | None = None) -> EnvironmentFile:
    from orchestra_app.services.file_suite import read_file

    raw = read_file(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EnvironmentFileError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    return parse_environment(text, str(path), base_dir=path.parent, environ=environ)
