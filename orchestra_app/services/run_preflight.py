"""Checks before `orchestra run` starts anything: every problem a run would only hit step by step.

A CI run that fails on step 3 with a 401 because a token variable was not exported, or with a
template error because the data file lacks a field, wastes a pipeline and hides the cause. These
checks name each problem up front (exit code 2, nothing run): data variables the data does not
define, services and connection profiles the environment does not define, secrets that are not
set, and ACTION steps that are not bound to any operation.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.paths import format_path, select
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec, StepKind
from orchestra_app.domain.templating import data_variables
from orchestra_app.importers.suite_yaml import SuiteFileError, load_located
from orchestra_app.services.environment_file import EnvironmentFile, secret_names

PROFILE_KEYS = {"db": ("dataSource",), "kafka": ("clusterAlias",), "queue": ("brokerAlias",)}
SERVICE_CHANNELS = (ChannelType.HTTP_REST, ChannelType.GRPC)


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_data_file(path: Path) -> dict[str, Any]:
    """A data file (YAML or JSON mapping) -> the run's `data`; problems name file and line."""
    from orchestra_app.services.file_suite import read_file

    raw = read_file(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    try:
        located = load_located(text, str(path))
    except SuiteFileError as exc:
        raise ConfigurationError(exc.message, file=exc.file, line=exc.line, field=exc.field) from None
    if not isinstance(located.data, dict):
        raise ConfigurationError(
            "a data file is a mapping of variable names to values", file=str(path), line=1
        )
    try:
        json.dumps(located.data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"data must be JSON values: {exc}", file=str(path)) from None
    return located.data


def _where(scenario: str, step: ScenarioStepSpec, pointer: str = "") -> str:
    return f"{scenario}/{step.alias}{(' ' + pointer) if pointer else ''}"


def check_run(
    scenarios: Sequence[tuple[str, Sequence[ScenarioStepSpec]]],
    *,
    data: Mapping[str, Any],
    environment: EnvironmentFile | None,
    start_index: int = 0,
    check_secrets: bool = True,
) -> Preflight:
    """Problems that would fail the selected scenarios for reasons outside the system under test.

    ``check_secrets=False`` when another process (a remote worker) resolves the secrets.
    """
    result = Preflight()
    missing_data: dict[str, list[str]] = {}
    missing_services: dict[str, list[str]] = {}
    missing_profiles: dict[tuple[str, str], list[str]] = {}
    unbound: dict[str, list[str]] = {}
    secrets: dict[str, str] = {}
    checked: list[ScenarioStepSpec] = []
    for key, steps in scenarios:
        for step in steps:
            if step.order_index < start_index:
                continue  # reused from the earlier run (FROM_STEP)
            checked.append(step)
            templates = [
                ("/action/inputTemplate", step.action.input_template),
                ("/action/meta", {k: v for k, v in step.action.meta.items() if k != "chaining"}),
                ("/expectations", {"expectedStatusCode": step.expectations.expected_status_code}),
            ]
            for prefix, template in templates:
                for pointer, segments in data_variables(template):
                    if not select(data, segments):
                        name = "data." + format_path(list(segments))
                        missing_data.setdefault(name, []).append(_where(key, step, prefix + pointer))
                for secret in secret_names(template):
                    secrets.setdefault(secret, _where(key, step))
            if step.kind is StepKind.ACTION and step.channel_type in SERVICE_CHANNELS:
                service = (
                    step.endpoint_ref.service_name if step.endpoint_ref else step.action.meta.get("service")
                )
                if step.endpoint_ref is None and not step.action.input_template:
                    unbound.setdefault(step.name or step.alias, []).append(_where(key, step))
                elif (
                    isinstance(service, str)
                    and environment is not None
                    and service not in environment.services
                ):
                    missing_services.setdefault(service, []).append(_where(key, step))
            for kind, meta_keys in PROFILE_KEYS.items():
                for meta_key in meta_keys:
                    alias = step.action.meta.get(meta_key)
                    if (
                        isinstance(alias, str)
                        and environment is not None
                        and alias not in environment.profiles.get(kind, {})
                    ):
                        missing_profiles.setdefault((kind, alias), []).append(_where(key, step))
    for name, users in missing_data.items():
        result.problems.append(f"{name} is not in the data (used by {_users(users)})")
    if missing_data:
        result.problems.append(
            "  start a data file with `orchestra data scaffold PROCESS_FILE --spec ... -o data.yaml`"
        )
    for service, users in missing_services.items():
        known = ", ".join(sorted(environment.services)) if environment else ""
        result.problems.append(
            f"service {service!r} (used by {_users(users)}) is not in the environment file "
            f"(services there: {known or 'none'})"
        )
    for (kind, alias), users in missing_profiles.items():
        result.problems.append(
            f"{kind} profile {alias!r} (used by {_users(users)}) is not in the environment file's "
            f"profiles.{kind}"
        )
    for name, users in unbound.items():
        result.problems.append(
            f"task {name!r} (in {_users(users)}) is not bound to any operation: bind it with "
            "--override NODE=service:operationId, or give it an input template"
        )
    if environment is not None and check_secrets:
        result.problems.extend(environment.missing_secrets(secrets, used=used_by(checked)))
    return result


_STEP_REF = re.compile(r"\{\{\s*step\.([^.\s}\[]+)")


def step_references(step: ScenarioStepSpec) -> set[str]:
    """Aliases of earlier steps a step's templates read (``{{step.<alias>...}}``)."""
    text = json.dumps(
        [step.action.input_template, step.action.meta, step.expectations.to_json_dict()], default=str
    )
    return set(_STEP_REF.findall(text))


def check_context(scenario: str, step: ScenarioStepSpec, known: set[str]) -> list[str]:
    """SINGLE_STEP: every ``{{step.<alias>...}}`` the step reads must be in the supplied context."""
    missing = sorted(step_references(step) - known)
    if not missing:
        return []
    return [
        f"{scenario}/{step.alias} reads {{{{step.{alias}...}}}}, which the context does not hold: "
        "supply it with --context FILE ({alias: {responseBody: ..., actualStatusCode: ...}}) "
        "or --from-run RUN_ID"
        for alias in missing
    ]


def _endpoints(value: str, default_port: int | None = None) -> list[tuple[str, int]]:
    """host:port pairs of a URL (``scheme://host:port/...``) or a bootstrap list (``h1:p1,h2:p2``)."""
    out: list[tuple[str, int]] = []
    text = value.strip()
    if text.startswith("jdbc:"):
        text = text[5:]
    if "://" in text:
        parsed = urlsplit(text)
        if parsed.scheme.startswith("sqlite") or not parsed.hostname:
            return []
        port = parsed.port or DEFAULT_PORTS.get(parsed.scheme.split("+")[0]) or default_port
        return [(parsed.hostname, port)] if port else []
    for part in text.split(","):
        host, sep, port_text = part.strip().rpartition(":")
        if sep and host and port_text.isdigit():
            out.append((host.strip("[]"), int(port_text)))
    return out


DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "postgresql": 5432,
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "amqp": 5672,
    "amqps": 5671,
    "redis": 6379,
    "rediss": 6379,
}


def _connect(host: str, port: int, timeout_s: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def check_reachable(
    environment: EnvironmentFile, used: set[tuple[str, str]], *, timeout_s: float = 3.0
) -> list[str]:
    """One line per service or connection profile a run will use whose host does not accept a TCP
    connection: a wrong base URL or a stopped environment is a configuration problem, reported
    before the first step instead of as a FAILED run."""
    targets: list[tuple[str, str, str, int]] = []  # (what, where it is configured, host, port)
    for kind, name in sorted(used):
        if kind == "service":
            config = environment.services.get(name)
            if config is None:
                continue
            for host, port in _endpoints(config.base_url):
                targets.append((f"service {name!r}", f"baseUrl {config.base_url}", host, port))
            continue
        profile = environment.profiles.get(kind, {}).get(name)
        if profile is None:
            continue
        address = str(
            getattr(profile, "url", None)
            or getattr(profile, "bootstrap_servers", None)
            or getattr(profile, "endpoint", None)
            or ""
        )
        for host, port in _endpoints(address):
            targets.append((f"{kind} profile {name!r}", address, host, port))
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(len(targets), 16)) as pool:
        errors = list(pool.map(lambda t: _connect(t[2], t[3], timeout_s), targets))
    where = f" in {environment.path}" if environment.path else ""
    return [
        f"{what} is unreachable: cannot connect to {host}:{port} ({error}); check {setting}{where}"
        for (what, setting, host, port), error in zip(targets, errors, strict=True)
        if error is not None
    ]


def used_by(steps: Sequence[ScenarioStepSpec]) -> set[tuple[str, str]]:
    """("service", name) and (profile kind, alias) pairs the steps reach."""
    used: set[tuple[str, str]] = set()
    for step in steps:
        if step.kind is StepKind.ACTION and step.channel_type in SERVICE_CHANNELS:
            service = step.endpoint_ref.service_name if step.endpoint_ref else step.action.meta.get("service")
            if isinstance(service, str):
                used.add(("service", service))
        for kind, meta_keys in PROFILE_KEYS.items():
            for meta_key in meta_keys:
                alias = step.action.meta.get(meta_key)
                if isinstance(alias, str):
                    used.add((kind, alias))
    return used


def _users(users: list[str], limit: int = 3) -> str:
    shown = ", ".join(users[:limit])
    return shown + (f" and {len(users) - limit} more" if len(users) > limit else "")
