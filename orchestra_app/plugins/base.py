"""ProtocolPlugin SPI (seed section 6): parser, matcher, executor and contract validator per protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.secrets import SecretResolver, StaticSecretResolver
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import (
    ChannelType,
    ExecutionContext,
    ScenarioStepSpec,
    StepResultData,
    Violation,
)
from orchestra_app.domain.templating import TemplateScope

T = TypeVar("T")


# ---- environment: what a step needs to reach a service -------------------------------------------------


class TlsOptions(DomainModel):
    verify: bool = True
    ca_bundle: str | None = None  # PEM file with extra trusted CAs
    client_cert: str | None = None  # PEM certificate (may contain the key)
    client_key: str | None = None


class BasicAuth(DomainModel):
    type: Literal["basic"] = "basic"
    username: Any  # templated: literal, "{{secret:NAME}}" or {"secret": "NAME"}
    password: Any


class BearerAuth(DomainModel):
    type: Literal["bearer"] = "bearer"
    token: Any  # e.g. "{{step.login.response.body.access_token}}" or a secret reference


class ApiKeyAuth(DomainModel):
    type: Literal["apiKey"] = "apiKey"
    location: Literal["header", "query", "cookie"] = Field(default="header", alias="in")
    name: str
    value: Any


class OAuth2ClientCredentials(DomainModel):
    type: Literal["oauth2ClientCredentials"] = "oauth2ClientCredentials"
    token_url: str
    client_id: Any
    client_secret: Any
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "body"] = "basic"  # client_secret_basic or client_secret_post


class NoAuth(DomainModel):
    type: Literal["none"] = "none"


AuthConfig = BasicAuth | BearerAuth | ApiKeyAuth | OAuth2ClientCredentials | NoAuth


class ServiceConfig(DomainModel):
    """How to reach one service of the system under test in one environment."""

    base_url: str = ""
    auth: AuthConfig | None = Field(default=None, discriminator="type")
    timeout_s: float = 30.0
    connect_timeout_s: float | None = None
    tls: TlsOptions = Field(default_factory=TlsOptions)
    follow_redirects: bool = False
    max_redirects: int = 5
    headers: dict[str, Any] = Field(default_factory=dict)  # sent with every request (templated)
    options: dict[str, Any] = Field(default_factory=dict)  # protocol-specific extras


class DbProfile(DomainModel):
    """A database a DB ASSERTION step reads (seed 4.7 DbConnectionProfile), resolved by alias.

    ``url``: a SQLAlchemy-style URL without credentials - ``postgresql://host:5432/db`` (psycopg 3),
    ``mysql://host:3306/db`` or ``mariadb://...`` (PyMySQL), ``sqlite:///path/file.db`` (always opened
    read-only); ``jdbc:postgresql:``/``jdbc:mysql:``/``jdbc:mariadb:``/``jdbc:sqlite:`` URLs are accepted.
    """

    url: str
    username: Any = None  # literal or secret reference ({"secret": "NAME"} / "{{secret:NAME}}")
    password: Any = None  # always a secret reference in stored environments
    default_schema: str | None = None  # PostgreSQL search_path / MariaDB database for unqualified names
    statement_timeout_ms: int = Field(default=10_000, ge=1, le=600_000)  # per query, enforced by the server
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    pool_size: int = Field(default=4, ge=1, le=64)  # connections kept per environment and alias
    max_rows: int = Field(default=100, ge=1, le=10_000)  # rows kept in dbResult (a step may ask for fewer)
    options: dict[str, Any] = Field(
        default_factory=dict
    )  # driver connect args (sslmode, ssl_ca...), templated


class SchemaRegistryAuth(DomainModel):
    """Basic credentials of a schema registry (both usually secret references)."""

    username: Any
    password: Any


class KafkaProfile(DomainModel):
    """A Kafka cluster (seed 4.7 KafkaClusterProfile), resolved by alias.

    ``security`` holds librdkafka settings such as ``security.protocol``, ``sasl.mechanism``,
    ``sasl.username``, ``sasl.password`` and ``ssl.ca.location``; every value is templated, so secrets
    are references. ``options`` are further librdkafka settings applied to producers and readers.
    """

    bootstrap_servers: str
    security: dict[str, Any] = Field(
        default_factory=dict
    )  # librdkafka security.* / sasl.* / ssl.* (secret refs)
    schema_registry_url: str | None = None  # Confluent-compatible registry for Avro / JSON Schema values
    schema_registry_auth: SchemaRegistryAuth | None = None
    client_id: str = "orchestra"
    request_timeout_ms: int = Field(default=10_000, ge=100, le=300_000)  # metadata / offsets look-ups
    options: dict[str, Any] = Field(default_factory=dict)


class QueueProfile(DomainModel):
    """A message broker (seed 4.7 QueueBrokerProfile), resolved by alias; kind: rabbitmq | redis.

    ``endpoint``: ``amqp://host:5672/vhost`` (``amqps://`` for TLS) or ``redis://host:6379/0``
    (``rediss://`` for TLS), without credentials; ``username``/``password`` are templated (secret refs).
    """

    kind: Literal["rabbitmq", "redis"]
    endpoint: str  # amqp://host:5672/vhost, redis://host:6379/0 (no credentials in the URL)
    username: Any = None
    password: Any = None
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    tap_max_length: int = Field(default=10_000, ge=1, le=1_000_000)  # RabbitMQ tap queue bound (drop-head)
    tls: TlsOptions = Field(default_factory=TlsOptions)
    options: dict[str, Any] = Field(default_factory=dict)


PROFILE_KINDS: dict[str, type[DomainModel]] = {"db": DbProfile, "kafka": KafkaProfile, "queue": QueueProfile}


def _profile(model: type[DomainModel], kind: str, alias: str, value: Any) -> DomainModel:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(
            f"{kind} profile {alias!r}: {where or 'profile'}: {first['msg']}",
            field=f"{kind}.{alias}" + (f".{where}" if where else ""),
        ) from None


class ExecutionEnvironment:
    """Long-lived per run (or per worker): service endpoints, specs, secrets and pooled connections.

    Plugins keep their connection pools in ``resources`` so a pool lives exactly as long as the
    environment; ``close()`` releases them all.
    """

    def __init__(
        self,
        *,
        name: str = "default",
        services: Mapping[str, ServiceConfig | Mapping[str, Any]] | None = None,
        specs: Mapping[str, SpecSummary] | None = None,
        variables: Mapping[str, Any] | None = None,
        secrets: SecretResolver | None = None,
        plugin_config: Mapping[str, Any] | None = None,
        profiles: Mapping[str, Mapping[str, DomainModel | Mapping[str, Any]]] | None = None,
    ) -> None:
        self.name = name
        self.services: dict[str, ServiceConfig] = {
            key: value if isinstance(value, ServiceConfig) else ServiceConfig.model_validate(value)
            for key, value in (services or {}).items()
        }
        self.specs: dict[str, SpecSummary] = dict(specs or {})
        self.variables: dict[str, Any] = dict(variables or {})
        self.secrets: SecretResolver = secrets or StaticSecretResolver({})
        self.plugin_config: dict[str, Any] = dict(plugin_config or {})
        # kind ("db", "kafka", "queue") -> alias -> typed profile; steps name aliases only
        self.profiles: dict[str, dict[str, DomainModel]] = {}
        for kind, by_alias in (profiles or {}).items():
            model = PROFILE_KINDS.get(kind)
            if model is None:
                raise ConfigurationError(
                    f"unknown connection profile kind {kind!r} (known: {', '.join(sorted(PROFILE_KINDS))})"
                )
            self.profiles[kind] = {
                alias: value if isinstance(value, model) else _profile(model, kind, alias, value)
                for alias, value in by_alias.items()
            }
        self.resources: dict[str, Any] = {}
        self._lock = threading.Lock()

    def service(self, name: str) -> ServiceConfig:
        config = self.services.get(name)
        if config is None:
            known = ", ".join(sorted(self.services)) or "none"
            raise ConfigurationError(f"environment {self.name!r} has no service {name!r} (known: {known})")
        return config

    def profile(self, kind: str, alias: str) -> DomainModel:
        """The connection profile ``alias`` of ``kind``; a missing alias is a ConfigurationError naming it."""
        config = self.profiles.get(kind, {}).get(alias)
        if config is None:
            known = ", ".join(sorted(self.profiles.get(kind, {}))) or "none"
            raise ConfigurationError(
                f"environment {self.name!r} has no {kind} profile {alias!r} (known: {known})", field=alias
            )
        return config

    def resource(self, key: str, factory: Callable[[], T]) -> T:
        """The shared object under ``key``, created once (thread-safe)."""
        with self._lock:
            if key not in self.resources:
                self.resources[key] = factory()
            return self.resources[key]  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            items = list(self.resources.values())
            self.resources.clear()
        for item in items:
            close = getattr(item, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> ExecutionEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _never() -> bool:
    return False


@dataclass
class StepRunContext:
    """Everything one step execution sees: the environment and the run's ExecutionContext.

    ``cancelled()`` turns True when the run is cancelled (or has run out of time): a plugin that polls
    (DB, Kafka, queue assertions) checks it between attempts and stops early. ``deadline`` is the
    ``time.monotonic()`` value by which the step must end (None: no limit); ``remaining_s()`` helps a
    plugin cap its own waits. The engine enforces the timeout either way.
    """

    environment: ExecutionEnvironment
    context: ExecutionContext = field(default_factory=ExecutionContext)
    cancelled: Callable[[], bool] = _never
    deadline: float | None = None

    def remaining_s(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def template_scope(self) -> TemplateScope:
        return TemplateScope.from_context(
            self.context, env=self.environment.variables, secrets=self.environment.secrets
        )

    def spec_for(self, service_name: str) -> SpecSummary | None:
        return self.environment.specs.get(service_name)


# ---- the four capabilities ---------------------------------------------------------------------------


@runtime_checkable
class ProtocolSpecParser(Protocol):
    """Turns a spec document into a SpecSummary (parsedSummary)."""

    def can_parse(self, path: Path, head: str) -> bool: ...

    def parse(self, path: Path) -> SpecSummary: ...


class StepBinding(DomainModel):
    """The matcher's verdict for one process step."""

    step_alias: str
    step_name: str = ""
    status: Literal["EXPLICIT", "MATCHED", "AMBIGUOUS", "UNMATCHED"]
    operation_id: str | None = None
    confidence: float = 0.0
    candidates: list[dict[str, Any]] = Field(default_factory=list)  # [{"operationId", "score"}], best first
    reason: str = ""


@runtime_checkable
class EndpointMatcher(Protocol):
    """Binds process steps to operations of a spec and proposes a starter inputTemplate."""

    def match(
        self,
        steps: Sequence[ScenarioStepSpec],
        spec: SpecSummary,
        *,
        overrides: Mapping[str, str] | None = None,
    ) -> list[StepBinding]: ...

    def bind(
        self, step: ScenarioStepSpec, binding: StepBinding, spec: SpecSummary, service_name: str
    ) -> ScenarioStepSpec: ...


@runtime_checkable
class StepExecutor(Protocol):
    """Runs one step and returns its result; never raises for SUT failures (they become violations)."""

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData: ...


@runtime_checkable
class ContractValidator(Protocol):
    """Checks an observed request/response against the spec's operation."""

    def validate_request(self, spec: SpecSummary, operation: Operation, request: Any) -> list[Violation]: ...

    def validate_response(
        self, spec: SpecSummary, operation: Operation, response: Any
    ) -> list[Violation]: ...


class PluginConfig(BaseModel):
    """Base of a plugin's typed config schema (read from ExecutionEnvironment.plugin_config[plugin id])."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ProtocolPlugin:
    """Base class of every plugin; built-ins and third-party plugins register through entry points."""

    id: ClassVar[str] = ""
    channel_types: ClassVar[tuple[ChannelType | str, ...]] = ()
    # True when execute() caps every wait by ``run.remaining_s()`` (and so ends by ``run.deadline``):
    # the engine then runs its steps on the run's own thread instead of a watchdog thread
    cooperative_timeout: ClassVar[bool] = False
    config_schema: ClassVar[type[PluginConfig]] = PluginConfig

    spec_parser: ProtocolSpecParser | None = None
    endpoint_matcher: EndpointMatcher | None = None
    step_executor: StepExecutor
    contract_validator: ContractValidator | None = None

    def config(self, environment: ExecutionEnvironment) -> PluginConfig:
        """The typed config for this plugin in ``environment`` (validated once, then cached)."""
        return environment.resource(
            f"{self.id}:config",
            lambda: self.config_schema.model_validate(environment.plugin_config.get(self.id, {})),
        )

    def prepare(self, step: ScenarioStepSpec, run: StepRunContext) -> bool:
        """Optional hook: open ``step``'s observation window before the run's steps start.

        The engine calls it for every ASSERTION step before the first step (see ``plugins/windows.py``)
        and ``close_windows(run)`` after the run. Returns True when a window was opened; raises an
        OrchestraError when it cannot be (the run then fails before any step, naming the step).
        """
        return False

    def connections(self, step: ScenarioStepSpec) -> list[tuple[str, str]]:
        """Optional hook: the environment entries ``step`` needs, as ``(kind, name)``: ``("service",
        name)`` for an HTTP/gRPC service, ``("db" | "kafka" | "queue", alias)`` for a connection
        profile. The engine checks them before a run's first step: a missing one fails the run before
        any step runs, naming it (a templated service name is left to the step)."""
        return []

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        return self.step_executor.execute(step, run)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} channels={[str(c) for c in self.channel_types]}>"


def step_service(step: ScenarioStepSpec) -> list[tuple[str, str]]:
    """``connections`` of a step that calls a service: its endpointRef's service, else meta.service."""
    name = step.endpoint_ref.service_name if step.endpoint_ref else step.action.meta.get("service")
    return [("service", name)] if isinstance(name, str) and name and "{{" not in name else []


def step_profile(step: ScenarioStepSpec, kind: str, key: str) -> list[tuple[str, str]]:
    """``connections`` of a side-effect step: the profile alias in ``action.meta[key]``."""
    alias = step.action.meta.get(key)  # plugins take aliases literally (never templated)
    return [(kind, alias)] if isinstance(alias, str) and alias else []
