"""Environments and connection profiles (seed 4.7): create, edit, clone, delete; environment files in and out.

An Environment says where the system under test lives: HTTP/gRPC services (base URL, auth, headers,
timeouts, TLS), ``{{env.*}}`` variables, plugin settings, where each secret is read from, and a map
from the aliases steps name to connection profiles. Profiles (DbConnectionProfile,
KafkaClusterProfile, QueueBrokerProfile) are tenant-wide named connections, so several environments
may share one; their ``alias`` column is that name. A profile row keeps the seed's columns (URL,
bootstrap servers, endpoint, the secret *names* in ``*_ref``) plus ``settings`` for the rest of the
typed profile of ``plugins/base.py``.

Secrets are references everywhere: ``{"secret": NAME}`` (or ``{{secret:NAME}}`` text) in a service or
profile, and ``secrets: {NAME: {"env": VAR} | {"file": PATH}}`` on the environment says where a
worker reads the value (names without a source: ``ORCHESTRA_SECRET_<NAME>``). A literal password,
token or credential header is refused when written, so no value is ever stored, returned or exported.

Roles (seed 8.2): ORG_ADMIN manages environments and profiles; every other role reads them. Writes are
race-safe (``INSERT ... ON CONFLICT DO NOTHING`` on the unique names, ``FOR UPDATE`` on the rows
edited, an advisory lock per imported name, an optimistic ``version``); runs pin what they use
(services/runs.py), so editing or deleting an environment never changes a run that was created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField
from pydantic.alias_generators import to_camel
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    DbConnectionProfile,
    Environment,
    KafkaClusterProfile,
    QueueBrokerProfile,
    TestRun,
)
from orchestra_app.db.types import utcnow
from orchestra_app.domain.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.names import clean_name
from orchestra_app.domain.runs import PinnedEnvironment
from orchestra_app.domain.secrets import REDACTED, SECRET_NAME, secret_ref_name, secret_source
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.importers.suite_yaml import SECRET_HEADERS, YamlDumper, canonical
from orchestra_app.plugins.base import PROFILE_KINDS, ServiceConfig
from orchestra_app.services import audit
from orchestra_app.services.concurrency import advisory_lock, insert_ignore, locked
from orchestra_app.services.environment_file import (
    AUTH_SECRET_FIELDS,
    FORMAT,
    EnvironmentFile,
    parse_environment,
    secret_names,
)
from orchestra_app.services.guards import require

READ_ROLES = (Role.VIEWER, Role.TEST_RUNNER, Role.TEST_DESIGNER)  # ORG_ADMIN passes every check
KINDS = ("db", "kafka", "queue")
PROFILE_MODELS: dict[str, Any] = {
    "db": DbConnectionProfile,
    "kafka": KafkaClusterProfile,
    "queue": QueueBrokerProfile,
}
MAP_COLUMNS = {"db": "db_profiles", "kafka": "kafka_profiles", "queue": "queue_profiles"}
KIND_NAMES = {"db": "database", "kafka": "Kafka cluster", "queue": "message broker"}

MAX_NAME = 200
MAX_PROFILE_NAME = 100
MAX_DESCRIPTION = 2000
MAX_SERVICES = 200
MAX_ALIASES = 200
MAX_SECRETS = 500
MAX_PAGE = 500
ALIAS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_SECRET_TEXT = re.compile(r"\{\{\s*secret:\s*([^}\s]+)\s*\}\}")
_CREDENTIAL_KEY = ("password", "secret", "token", "passwd", "credential")

ProfileRow = DbConnectionProfile | KafkaClusterProfile | QueueBrokerProfile
R = TypeVar("R", DbConnectionProfile, KafkaClusterProfile, QueueBrokerProfile)


# ---- literal secrets: refused on every write --------------------------------------------------------


def _literal(value: Any) -> bool:
    """A value written in clear: text without a template, or a number (a reference is an object or
    ``{{secret:NAME}}`` text; other templates such as ``{{step.login.response.body.token}}`` are fine)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(value) and "{{" not in value


def _url_password(url: Any) -> bool:
    if not isinstance(url, str) or "@" not in url:
        return False
    try:
        return bool(urlsplit(url.removeprefix("jdbc:")).password)
    except ValueError:
        return False


def _credential_keys(options: Any, base: str) -> Iterator[tuple[str, str]]:
    if not isinstance(options, dict):
        return
    for key, value in options.items():
        if any(word in str(key).lower() for word in _CREDENTIAL_KEY) and _literal(value):
            yield f"{base}.{key}", f"{base}.{key} is a literal secret: reference one, e.g. {{secret: NAME}}"


def service_secret_problems(name: str, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every credential of a service written in clear."""
    base = f"services.{name}"
    out: list[tuple[str, str]] = []
    auth = config.get("auth")
    if isinstance(auth, dict):
        for key in AUTH_SECRET_FIELDS:
            if _literal(auth.get(key)):
                out.append(
                    (
                        f"{base}.auth.{key}",
                        f"auth.{key} of service {name!r} is a literal secret: reference one instead, "
                        "e.g. {secret: ORDERS_TOKEN} (and say where a worker reads it under secrets)",
                    )
                )
    headers = config.get("headers")
    if isinstance(headers, dict):
        for header, value in headers.items():
            if str(header).lower() in SECRET_HEADERS and _literal(value):
                out.append(
                    (
                        f"{base}.headers.{header}",
                        f"header {header} of service {name!r} is a literal credential: "
                        "use '{{secret:NAME}}' text",
                    )
                )
    if _url_password(config.get("baseUrl")):
        out.append((f"{base}.baseUrl", f"the base URL of service {name!r} holds a password: use auth"))
    out.extend(_credential_keys(config.get("options"), f"{base}.options"))
    return out


def profile_secret_problems(kind: str, name: str, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every credential of a connection profile written in clear."""
    out: list[tuple[str, str]] = []
    if _literal(settings.get("password")):
        out.append(
            (
                "password",
                f"{kind} profile {name!r}: password is a literal secret; reference one, "
                "e.g. {secret: DB_PASSWORD}",
            )
        )
    for key in ("url", "endpoint", "schemaRegistryUrl"):
        if _url_password(settings.get(key)):
            out.append(
                (key, f"{kind} profile {name!r}: {key} holds a password; give it as a secret reference")
            )
    for key, value in (
        (settings.get("security") or {}).items() if isinstance(settings.get("security"), dict) else ()
    ):
        if any(word in str(key).lower() for word in _CREDENTIAL_KEY) and _literal(value):
            out.append(
                (
                    f"security.{key}",
                    f"{kind} profile {name!r}: security {key} is a literal secret; reference one",
                )
            )
    registry = settings.get("schemaRegistryAuth")
    if isinstance(registry, dict) and _literal(registry.get("password")):
        out.append(
            (
                "schemaRegistryAuth.password",
                f"{kind} profile {name!r}: the registry password is a literal secret",
            )
        )
    out.extend(_credential_keys(settings.get("options"), "options"))
    return out


def _ref_name(value: Any, field_name: str) -> str:
    """The secret name of a reference (``{"secret": NAME}`` or exactly ``{{secret:NAME}}``); '' for None."""
    if value is None or value == "":
        return ""
    name = secret_ref_name(value)
    if name is None and isinstance(value, str):
        match = _SECRET_TEXT.fullmatch(value.strip())
        name = match.group(1) if match else None
    if name is None or not SECRET_NAME.fullmatch(name):
        raise ValidationFailed(
            f"{field_name} must be one secret reference, e.g. {{secret: DB_PASSWORD}}", field=field_name
        )
    return name


def _mask(value: Any) -> Any:
    """A defensive copy for views: a credential found in clear (a row written before the checks
    existed, or by hand) is shown as ``***``, never as its value."""
    if isinstance(value, dict):
        if secret_ref_name(value) is not None:
            return dict(value)  # a reference: safe to show
        out = {}
        for key, item in value.items():
            low = str(key).lower()
            sensitive = (
                low in SECRET_HEADERS
                or key in AUTH_SECRET_FIELDS
                or any(word in low for word in _CREDENTIAL_KEY)
            )
            out[key] = REDACTED if sensitive and _literal(item) else _mask(item)
        return out
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str) and _url_password(value):
        parts = urlsplit(value.removeprefix("jdbc:"))
        return value.replace(f":{parts.password}@", f":{REDACTED}@")
    return value


# ---- typed profiles <-> rows ----------------------------------------------------------------------------


def _errors(exc: ValidationError, base: str) -> ValidationFailed:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
    return ValidationFailed(
        f"{message} ({exc.error_count()} problem(s))", field=f"{base}.{where}" if where else base
    )


def typed_profile(kind: str, settings: Any, *, base: str = "settings") -> dict[str, Any]:
    """A profile's JSON checked against its typed model (DbProfile, KafkaProfile, QueueProfile) and
    written back with only the keys given (camelCase); a bad value names ``base.<field>``."""
    model = PROFILE_KINDS[kind]
    if not isinstance(settings, dict):
        raise ValidationFailed(f"a {kind} profile is an object", field=base)
    try:
        parsed = model.model_validate(settings)
    except ValidationError as exc:
        raise _errors(exc, base) from None
    return parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


def profile_settings(row: ProfileRow) -> dict[str, Any]:
    """The typed profile JSON of a row (secrets as ``{"secret": NAME}``)."""
    stored = dict(row.settings or {})
    if isinstance(row, DbConnectionProfile):
        out: dict[str, Any] = {**stored, "url": row.jdbc_url}
        if row.default_schema:
            out["defaultSchema"] = row.default_schema
        if row.username_ref:
            out["username"] = {"secret": row.username_ref}
        if row.password_ref:
            out["password"] = {"secret": row.password_ref}
        return out
    if isinstance(row, KafkaClusterProfile):
        return {**stored, "bootstrapServers": row.bootstrap_servers}
    out = {**stored, "kind": row.kind, "endpoint": row.endpoint}
    if row.credentials_ref:
        out["password"] = {"secret": row.credentials_ref}
    return out


def _columns(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Row columns for a checked typed profile JSON: the seed's columns, the rest in ``settings``."""
    rest = dict(settings)
    if kind == "db":
        columns: dict[str, Any] = {
            "jdbc_url": rest.pop("url"),
            "default_schema": rest.pop("defaultSchema", None),
            "password_ref": _ref_name(rest.pop("password", None), "settings.password"),
            "username_ref": "",
        }
        username = rest.get("username")
        if username is not None and (secret_ref_name(username) or _SECRET_TEXT.fullmatch(str(username))):
            columns["username_ref"] = _ref_name(rest.pop("username"), "settings.username")
    elif kind == "kafka":
        columns = {"bootstrap_servers": rest.pop("bootstrapServers")}
    else:
        columns = {
            "kind": rest.pop("kind"),
            "endpoint": rest.pop("endpoint"),
            "credentials_ref": _ref_name(rest.pop("password", None), "settings.password") or None,
        }
    columns["settings"] = rest
    for key, limit in (
        ("jdbc_url", 1000),
        ("bootstrap_servers", 1000),
        ("endpoint", 1000),
        ("default_schema", 200),
    ):
        value = columns.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise ValidationFailed(f"{key} is longer than {limit} characters", field=f"settings.{key}")
    return columns


def check_profile(kind: str, name: str, settings: Any) -> dict[str, Any]:
    """The row columns of a profile, or ValidationFailed naming the field (literal secrets refused)."""
    typed = typed_profile(kind, settings)
    problems = profile_secret_problems(kind, name, typed)
    if problems:
        where, message = problems[0]
        raise ValidationFailed(message, field=f"settings.{where}")
    return _columns(kind, typed)


def _check_kind(kind: str, field_name: str = "kind") -> str:
    if kind not in KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(KINDS)}, got {str(kind)[:40]!r}", field=field_name
        )
    return kind


def _profile_target(kind: str, row: ProfileRow) -> str:
    if isinstance(row, DbConnectionProfile):
        return row.jdbc_url
    if isinstance(row, KafkaClusterProfile):
        return row.bootstrap_servers
    return row.endpoint


# ---- views ------------------------------------------------------------------------------------------


class ProfileRef(DomainModel):
    id: UUID
    name: str
    kind: str
    target: str = ""


class ProfileView(DomainModel):
    id: UUID
    kind: str
    name: str
    target: str  # url, bootstrap servers or endpoint
    settings: dict[str, Any]  # the typed profile (plugins/base.py), secrets as references
    secrets: list[str] = PydanticField(default_factory=list)  # secret names it references
    used_by: list[str] = PydanticField(default_factory=list)  # environments that map it
    created_at: datetime | None = None
    updated_at: datetime | None = None


class EnvironmentSummary(DomainModel):
    id: UUID
    name: str
    description: str = ""
    services: list[str] = PydanticField(default_factory=list)
    profiles: dict[str, list[str]] = PydanticField(default_factory=dict)  # kind -> aliases
    secrets: list[str] = PydanticField(default_factory=list)
    version: int = 1
    updated_at: datetime | None = None


class EnvironmentView(DomainModel):
    id: UUID
    name: str
    description: str = ""
    services: dict[str, Any] = PydanticField(default_factory=dict)
    variables: dict[str, Any] = PydanticField(default_factory=dict)
    secrets: dict[str, dict[str, str]] = PydanticField(default_factory=dict)  # name -> {env|file}
    plugin_config: dict[str, Any] = PydanticField(default_factory=dict)
    profiles: dict[str, dict[str, ProfileRef]] = PydanticField(default_factory=dict)  # kind -> alias ->
    secret_refs: dict[str, str] = PydanticField(default_factory=dict)  # secret name -> where it is used
    version: int = 1
    runs: int = 0  # runs created with it (they keep their pinned copy)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Listing:
    items: list[dict[str, Any]]
    total: int
    offset: int = 0

    @property
    def truncated(self) -> bool:
        return self.offset + len(self.items) < self.total


def _summary(env: Environment) -> EnvironmentSummary:
    return EnvironmentSummary(
        id=env.id,
        name=env.name,
        description=env.description or "",
        services=sorted(env.services or {}),
        profiles={kind: sorted(getattr(env, MAP_COLUMNS[kind]) or {}) for kind in KINDS},
        secrets=sorted(env.secrets or {}),
        version=env.version,
        updated_at=env.updated_at,
    )


def _profile_rows(
    session: Session, principal: Principal, kind: str, ids: Iterable[str]
) -> dict[str, ProfileRow]:
    wanted: list[UUID] = []
    for value in ids:
        try:
            wanted.append(UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    model = PROFILE_MODELS[kind]
    rows = session.exec(
        select(model).where(model.tenant_id == principal.tenant_id, col(model.id).in_(wanted))
    ).all()
    return {str(r.id): r for r in rows}


def _secret_refs(env: Environment, profiles: Mapping[str, Mapping[str, ProfileRow]]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for service, config in sorted((env.services or {}).items()):
        for name in secret_names(config):
            refs.setdefault(name, f"service {service}")
    for kind in KINDS:
        for alias, row in sorted(profiles.get(kind, {}).items()):
            for name in secret_names(profile_settings(row)):
                refs.setdefault(name, f"{kind} profile {alias} ({row.alias})")
    return refs


def _mapped(session: Session, principal: Principal, env: Environment) -> dict[str, dict[str, ProfileRow]]:
    out: dict[str, dict[str, ProfileRow]] = {}
    for kind in KINDS:
        mapping = dict(getattr(env, MAP_COLUMNS[kind]) or {})
        rows = _profile_rows(session, principal, kind, mapping.values())
        out[kind] = {alias: rows[str(pid)] for alias, pid in mapping.items() if str(pid) in rows}
    return out


def environment_view(session: Session, principal: Principal, env: Environment) -> EnvironmentView:
    mapped = _mapped(session, principal, env)
    runs = int(
        session.exec(select(func.count()).select_from(TestRun).where(TestRun.environment_id == env.id)).one()
    )
    return EnvironmentView(
        id=env.id,
        name=env.name,
        description=env.description or "",
        services=_mask(dict(env.services or {})),
        variables=dict(env.variables or {}),
        secrets={k: dict(v) for k, v in (env.secrets or {}).items()},
        plugin_config=_mask(dict(env.plugin_config or {})),
        profiles={
            kind: {
                alias: ProfileRef(
                    id=row.id, name=row.alias, kind=kind, target=_mask(_profile_target(kind, row))
                )
                for alias, row in sorted(by_alias.items())
            }
            for kind, by_alias in mapped.items()
        },
        secret_refs=_secret_refs(env, mapped),
        version=env.version,
        runs=runs,
        created_at=env.created_at,
        updated_at=env.updated_at,
    )


def _used_by(session: Session, principal: Principal, kind: str) -> dict[str, list[str]]:
    """profile id -> names of the environments that map it."""
    column = MAP_COLUMNS[kind]
    out: dict[str, list[str]] = {}
    for name, mapping in session.exec(
        select(Environment.name, getattr(Environment, column)).where(
            Environment.tenant_id == principal.tenant_id
        )
    ).all():
        for pid in (mapping or {}).values():
            out.setdefault(str(pid), []).append(name)
    return {k: sorted(set(v)) for k, v in out.items()}


def profile_view(kind: str, row: ProfileRow, used_by: Sequence[str] = ()) -> ProfileView:
    settings = _mask(profile_settings(row))
    return ProfileView(
        id=row.id,
        kind=kind,
        name=row.alias,
        target=_mask(_profile_target(kind, row)),
        settings=settings,
        secrets=sorted(set(secret_names(settings))),
        used_by=list(used_by),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# ---- reading ----------------------------------------------------------------------------------------


def _page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must be 0 or more", field="offset")


def list_environments(
    *, session: Session, principal: Principal, limit: int = 50, offset: int = 0, query: str | None = None
) -> Listing:
    """The tenant's environments by name (``query``: part of the name, case-insensitive)."""
    require(principal, *READ_ROLES)
    _page(limit, offset)
    where: list[Any] = [Environment.tenant_id == principal.tenant_id]
    if query:
        where.append(func.lower(Environment.name).contains(query.lower()))
    total = int(session.exec(select(func.count()).select_from(Environment).where(*where)).one())
    rows = session.exec(
        select(Environment)
        .where(*where)
        .order_by(col(Environment.name), col(Environment.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return Listing([_summary(r).to_json_dict() for r in rows], total, offset)


def _env_row(
    session: Session, principal: Principal, environment_id: UUID, *, lock: bool = False
) -> Environment:
    stmt = select(Environment).where(
        Environment.id == environment_id, Environment.tenant_id == principal.tenant_id
    )
    row = session.exec(locked(session, stmt) if lock else stmt).first()
    if row is None:
        raise NotFound(f"environment {environment_id} not found", field="id")
    return row


def find_environment(*, session: Session, principal: Principal, ref: str) -> Environment:
    """An environment by id or name (CLI)."""
    require(principal, *READ_ROLES)
    try:
        return _env_row(session, principal, UUID(ref))
    except ValueError:
        pass
    row = session.exec(
        select(Environment).where(Environment.tenant_id == principal.tenant_id, Environment.name == ref)
    ).first()
    if row is None:
        names = session.exec(
            select(Environment.name)
            .where(Environment.tenant_id == principal.tenant_id)
            .order_by(col(Environment.name))
            .limit(20)
        ).all()
        raise NotFound(
            f"no environment {ref!r} (environments: {', '.join(names) or 'none'})", field="environment"
        )
    return row


def get_environment(*, session: Session, principal: Principal, environment_id: UUID) -> EnvironmentView:
    require(principal, *READ_ROLES)
    return environment_view(session, principal, _env_row(session, principal, environment_id))


def list_profiles(
    *, session: Session, principal: Principal, kind: str | None = None, limit: int = 50, offset: int = 0
) -> Listing:
    """The tenant's connection profiles (one kind or all), by kind and name, with who uses them."""
    require(principal, *READ_ROLES)
    _page(limit, offset)
    kinds = [_check_kind(kind)] if kind else list(KINDS)
    views: list[dict[str, Any]] = []
    total = 0
    for k in kinds:
        model = PROFILE_MODELS[k]
        total += int(
            session.exec(
                select(func.count()).select_from(model).where(model.tenant_id == principal.tenant_id)
            ).one()
        )
    skip, left = offset, limit
    for k in kinds:
        if left <= 0:
            break
        model = PROFILE_MODELS[k]
        count = int(
            session.exec(
                select(func.count()).select_from(model).where(model.tenant_id == principal.tenant_id)
            ).one()
        )
        if skip >= count:
            skip -= count
            continue
        rows = session.exec(
            select(model)
            .where(model.tenant_id == principal.tenant_id)
            .order_by(col(model.alias), col(model.id))
            .offset(skip)
            .limit(left)
        ).all()
        skip = 0
        used = _used_by(session, principal, k)
        for row in rows:
            views.append(profile_view(k, row, used.get(str(row.id), [])).to_json_dict())
        left -= len(rows)
    return Listing(views, total, offset)


def _profile_row(
    session: Session, principal: Principal, kind: str, profile_id: UUID, *, lock: bool = False
) -> ProfileRow:
    model = PROFILE_MODELS[_check_kind(kind)]
    stmt = select(model).where(model.id == profile_id, model.tenant_id == principal.tenant_id)
    row = session.exec(locked(session, stmt) if lock else stmt).first()
    if row is None:
        raise NotFound(f"{kind} profile {profile_id} not found", field="id")
    return row


def get_profile(*, session: Session, principal: Principal, kind: str, profile_id: UUID) -> ProfileView:
    require(principal, *READ_ROLES)
    row = _profile_row(session, principal, kind, profile_id)
    return profile_view(kind, row, _used_by(session, principal, kind).get(str(row.id), []))


# ---- writing: input -------------------------------------------------------------------------------------


class EnvironmentInput(BaseModel):
    """Body of ``POST /api/v1/environments`` and ``PUT /api/v1/environments/{id}`` (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str
    description: str = ""
    services: dict[str, Any] = PydanticField(default_factory=dict)
    variables: dict[str, Any] = PydanticField(default_factory=dict)
    secrets: dict[str, Any] = PydanticField(default_factory=dict)
    plugin_config: dict[str, Any] = PydanticField(default_factory=dict)
    # kind -> alias steps name -> a profile's id or name
    profiles: dict[str, dict[str, str]] = PydanticField(default_factory=dict)
    version: int | None = None  # the version being edited: a newer one stored meanwhile is a Conflict


def _camel_path(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc)


def parse_environment_input(data: Any) -> EnvironmentInput:
    if isinstance(data, EnvironmentInput):
        return data
    if not isinstance(data, Mapping):
        raise ValidationFailed("an environment is a JSON object (name, services, ...)", field="body")
    try:
        return EnvironmentInput.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise ValidationFailed(message, field=_camel_path(first["loc"]) or "body") from None


def _name(value: Any, field_name: str = "name", limit: int = MAX_NAME) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{field_name} must be text", field=field_name)
    if len(value) > limit:
        raise ValidationFailed(f"{field_name} is longer than {limit} characters", field=field_name)
    name = clean_name(value)
    if not name:
        raise ValidationFailed(f"{field_name} is empty", field=field_name)
    return name


def _services(raw: Mapping[str, Any]) -> dict[str, Any]:
    if len(raw) > MAX_SERVICES:
        raise ValidationFailed(f"at most {MAX_SERVICES} services", field="services")
    out: dict[str, Any] = {}
    for name, config in raw.items():
        base = f"services.{name}"
        if not name.strip() or len(name) > MAX_NAME or clean_name(name) != name:
            raise ValidationFailed(
                f"a service name is 1-{MAX_NAME} characters without control characters or spaces at the ends",
                field=base,
            )
        if not isinstance(config, dict):
            raise ValidationFailed(
                "a service is an object (baseUrl, auth, headers, timeoutS, tls, ...)", field=base
            )
        try:
            parsed = ServiceConfig.model_validate(config)
        except ValidationError as exc:
            raise _errors(exc, base) from None
        if not parsed.base_url:
            raise ValidationFailed(f"service {name!r} has no baseUrl", field=f"{base}.baseUrl")
        if (
            not re.match(r"^(https?|grpcs?|unix|dns):", parsed.base_url, re.I)
            and "://" not in parsed.base_url
            and not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d+", parsed.base_url)
        ):
            raise ValidationFailed(
                f"baseUrl {parsed.base_url[:80]!r} is not a URL (http://host:port, https://..., grpc://...)",
                field=f"{base}.baseUrl",
            )
        stored = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        problems = service_secret_problems(name, stored)
        if problems:
            where, message = problems[0]
            raise ValidationFailed(message, field=where)
        out[name] = stored
    return out


def _secrets(raw: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    if len(raw) > MAX_SECRETS:
        raise ValidationFailed(f"at most {MAX_SECRETS} secrets", field="secrets")
    out: dict[str, dict[str, str]] = {}
    for name, source in raw.items():
        if not SECRET_NAME.fullmatch(name):
            raise ValidationFailed(
                "a secret name has letters, digits, '_', '.', '-' (at most 100, not starting with a digit)",
                field=f"secrets.{name}",
            )
        out[name] = secret_source(source, field=f"secrets.{name}")
    return out


def _json_object(value: dict[str, Any], field_name: str) -> dict[str, Any]:
    try:
        import json

        if len(json.dumps(value, allow_nan=False)) > 256 * 1024:
            raise ValidationFailed(f"{field_name} is above 256 KB", field=field_name)
    except ValueError:
        raise ValidationFailed("NaN and Infinity are not JSON", field=field_name) from None
    return value


def _plugin_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    for plugin, config in raw.items():
        if not isinstance(config, dict):
            raise ValidationFailed("a plugin's settings are an object", field=f"pluginConfig.{plugin}")
    problems = list(_credential_keys(raw, "pluginConfig"))
    for plugin, config in raw.items():
        problems.extend(_credential_keys(config, f"pluginConfig.{plugin}"))
    if problems:
        raise ValidationFailed(problems[0][1], field=problems[0][0])
    return _json_object(dict(raw), "pluginConfig")


def _profile_map(
    session: Session, principal: Principal, raw: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """kind -> alias -> profile id, each reference resolved in the tenant (by id or name) and locked,
    so a profile cannot be deleted while an environment starts to use it."""
    out: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for kind, by_alias in raw.items():
        _check_kind(kind, f"profiles.{kind}")
        if len(by_alias) > MAX_ALIASES:
            raise ValidationFailed(f"at most {MAX_ALIASES} {kind} aliases", field=f"profiles.{kind}")
        model = PROFILE_MODELS[kind]
        for alias, ref in by_alias.items():
            where = f"profiles.{kind}.{alias}"
            if not ALIAS.fullmatch(alias):
                raise ValidationFailed(
                    "an alias has letters, digits, '_', '.', '-' (at most 100 characters)", field=where
                )
            if not isinstance(ref, str) or not ref.strip() or len(ref) > MAX_PROFILE_NAME:
                raise ValidationFailed("name a profile by its id or name", field=where)
            try:
                condition: Any = model.id == UUID(ref)
            except ValueError:
                condition = model.alias == ref
            row = session.exec(
                locked(session, select(model).where(model.tenant_id == principal.tenant_id, condition))
            ).first()
            if row is None:
                raise NotFound(f"no {kind} profile {ref!r} (create it first, or name another)", field=where)
            out[kind][alias] = str(row.id)
    return out


@dataclass
class _Content:
    name: str
    description: str
    services: dict[str, Any]
    variables: dict[str, Any]
    secrets: dict[str, dict[str, str]]
    plugin_config: dict[str, Any]
    profiles: dict[str, dict[str, str]]

    def apply(self, env: Environment) -> bool:
        """Writes the content into ``env``; True when anything changed."""
        values = {
            "name": self.name,
            "description": self.description,
            "services": self.services,
            "variables": self.variables,
            "secrets": self.secrets,
            "plugin_config": self.plugin_config,
            **{MAP_COLUMNS[kind]: self.profiles.get(kind, {}) for kind in KINDS},
        }
        changed = False
        for key, value in values.items():
            if getattr(env, key) != value:
                setattr(env, key, value)
                changed = True
        return changed


def _content(session: Session, principal: Principal, data: EnvironmentInput) -> _Content:
    description = data.description or ""
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"description is longer than {MAX_DESCRIPTION} characters", field="description"
        )
    return _Content(
        name=_name(data.name),
        description=description.strip(),
        services=_services(data.services),
        variables=_json_object(dict(data.variables), "variables"),
        secrets=_secrets(data.secrets),
        plugin_config=_plugin_config(data.plugin_config),
        profiles=_profile_map(session, principal, data.profiles),
    )


def _name_taken(session: Session, principal: Principal, name: str, but: UUID | None = None) -> bool:
    stmt = select(Environment.id).where(
        Environment.tenant_id == principal.tenant_id, Environment.name == name
    )
    if but is not None:
        stmt = stmt.where(Environment.id != but)
    return session.exec(stmt).first() is not None


def _insert(session: Session, principal: Principal, content: _Content) -> Environment:
    """INSERT ... ON CONFLICT DO NOTHING on (tenant, name): concurrent creators of one name get one
    row and a Conflict each for the others."""
    now = utcnow()
    new_id = uuid4()
    inserted = insert_ignore(
        session,
        Environment,
        {
            "id": new_id,
            "tenant_id": principal.tenant_id,
            "name": content.name,
            "description": content.description,
            "services": content.services,
            "variables": content.variables,
            "secrets": content.secrets,
            "plugin_config": content.plugin_config,
            **{MAP_COLUMNS[kind]: content.profiles.get(kind, {}) for kind in KINDS},
            "version": 1,
            "created_at": now,
            "created_by": principal.user_id,
            "updated_at": now,
            "updated_by": principal.user_id,
        },
    )
    if not inserted:
        raise Conflict(f"an environment named {content.name!r} already exists", field="name")
    row = session.get(Environment, new_id)
    assert row is not None
    _validate(row)
    return row


def _validate(row: Any) -> None:
    from orchestra_app.db.validation import validate_row

    validate_row(row)  # INSERTs through insert_ignore bypass the ORM flush check: run it here


def create_environment(*, session: Session, principal: Principal, data: Any) -> EnvironmentView:
    """A new environment (ORG_ADMIN); every problem names its field and nothing is stored."""
    require(principal, Role.ORG_ADMIN)
    content = _content(session, principal, parse_environment_input(data))
    env = _insert(session, principal, content)
    audit.record(
        session=session,
        principal=principal,
        action="environment.create",
        entity_type="environment",
        entity_id=env.id,
        details={"name": env.name},
    )
    session.flush()
    return environment_view(session, principal, env)


def _check_version(env: Environment, version: int | None) -> None:
    if version is not None and version != env.version:
        raise Conflict(
            f"environment {env.name!r} was changed meanwhile (stored version {env.version}, you edited "
            f"version {version}); reload it and edit again",
            field="version",
        )


def update_environment(
    *, session: Session, principal: Principal, environment_id: UUID, data: Any
) -> EnvironmentView:
    """Replaces an environment's content (ORG_ADMIN). ``version`` (optional) guards against lost
    updates; runs already created keep their pinned copy."""
    require(principal, Role.ORG_ADMIN)
    request = parse_environment_input(data)
    env = _env_row(session, principal, environment_id, lock=True)
    _check_version(env, request.version)
    content = _content(session, principal, request)
    if content.name != env.name and _name_taken(session, principal, content.name, env.id):
        raise Conflict(f"an environment named {content.name!r} already exists", field="name")
    before = env.name
    if content.apply(env):
        env.version += 1
        env.updated_at = utcnow()
        env.updated_by = principal.user_id
        session.add(env)
        audit.record(
            session=session,
            principal=principal,
            action="environment.update",
            entity_type="environment",
            entity_id=env.id,
            details={"name": env.name, **({"renamedFrom": before} if before != env.name else {})},
        )
        session.flush()
    return environment_view(session, principal, env)


def clone_environment(
    *, session: Session, principal: Principal, environment_id: UUID, name: Any
) -> EnvironmentView:
    """A copy under a new name (ORG_ADMIN): services, variables, secret sources, plugin settings and
    the same profile mapping (profiles are shared connections; map others to point the clone elsewhere)."""
    require(principal, Role.ORG_ADMIN)
    source = _env_row(session, principal, environment_id)
    content = _Content(
        name=_name(name),
        description=source.description or "",
        services=dict(source.services or {}),
        variables=dict(source.variables or {}),
        secrets=dict(source.secrets or {}),
        plugin_config=dict(source.plugin_config or {}),
        profiles={kind: dict(getattr(source, MAP_COLUMNS[kind]) or {}) for kind in KINDS},
    )
    env = _insert(session, principal, content)
    audit.record(
        session=session,
        principal=principal,
        action="environment.clone",
        entity_type="environment",
        entity_id=env.id,
        details={"name": env.name, "from": source.name},
    )
    session.flush()
    return environment_view(session, principal, env)


def delete_environment(
    *, session: Session, principal: Principal, environment_id: UUID, version: int | None = None
) -> dict[str, Any]:
    """Deletes an environment (ORG_ADMIN). Its runs keep their pinned snapshot (name, services,
    profiles) and lose only the link; the profiles it mapped stay (other environments may use them)."""
    require(principal, Role.ORG_ADMIN)
    env = _env_row(session, principal, environment_id, lock=True)
    _check_version(env, version)
    runs_table: Any = TestRun.__table__  # type: ignore[attr-defined]
    changed: Any = session.execute(
        sa.update(runs_table)
        .where(runs_table.c.environment_id == env.id, runs_table.c.tenant_id == principal.tenant_id)
        .values(environment_id=None)
    )
    kept = changed.rowcount
    name = env.name
    session.delete(env)
    audit.record(
        session=session,
        principal=principal,
        action="environment.delete",
        entity_type="environment",
        entity_id=environment_id,
        details={"name": name, "runsKept": kept},
    )
    session.flush()
    return {"id": str(environment_id), "name": name, "deleted": True, "runsKept": int(kept)}


# ---- profiles ---------------------------------------------------------------------------------------


class ProfileInput(BaseModel):
    """Body of ``POST /api/v1/profiles/{kind}`` and ``PUT /api/v1/profiles/{kind}/{id}``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str
    settings: dict[str, Any]


def _parse_profile_input(data: Any) -> ProfileInput:
    if not isinstance(data, Mapping):
        raise ValidationFailed("a profile is a JSON object {name, settings}", field="body")
    try:
        return ProfileInput.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise ValidationFailed(message, field=_camel_path(first["loc"]) or "body") from None


def _insert_profile(
    session: Session, principal: Principal, kind: str, name: str, columns: dict[str, Any]
) -> ProfileRow:
    model = PROFILE_MODELS[kind]
    new_id = uuid4()
    now = utcnow()
    inserted = insert_ignore(
        session,
        model,
        {
            "id": new_id,
            "tenant_id": principal.tenant_id,
            "alias": name,
            **columns,
            "created_at": now,
            "updated_at": now,
            "updated_by": principal.user_id,
        },
    )
    if not inserted:
        raise Conflict(f"a {kind} profile named {name!r} already exists", field="name")
    row = session.get(model, new_id)
    assert row is not None
    _validate(row)
    return row


def create_profile(*, session: Session, principal: Principal, kind: str, data: Any) -> ProfileView:
    """A new connection profile (ORG_ADMIN); secrets only as references."""
    require(principal, Role.ORG_ADMIN)
    _check_kind(kind)
    request = _parse_profile_input(data)
    name = _name(request.name, limit=MAX_PROFILE_NAME)
    columns = check_profile(kind, name, request.settings)
    row = _insert_profile(session, principal, kind, name, columns)
    audit.record(
        session=session,
        principal=principal,
        action="profile.create",
        entity_type=PROFILE_MODELS[kind].__tablename__,
        entity_id=row.id,
        details={"name": name},
    )
    session.flush()
    return profile_view(kind, row)


def _apply_columns(row: ProfileRow, name: str, columns: Mapping[str, Any]) -> bool:
    changed = False
    for key, value in {"alias": name, **columns}.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def update_profile(
    *, session: Session, principal: Principal, kind: str, profile_id: UUID, data: Any
) -> ProfileView:
    """Replaces a profile's name and settings (ORG_ADMIN); every environment mapping it sees the change
    from its next run on (runs created before keep their pinned copy)."""
    require(principal, Role.ORG_ADMIN)
    request = _parse_profile_input(data)
    row = _profile_row(session, principal, kind, profile_id, lock=True)
    name = _name(request.name, limit=MAX_PROFILE_NAME)
    columns = check_profile(kind, name, request.settings)
    model = PROFILE_MODELS[kind]
    if (
        name != row.alias
        and session.exec(
            select(model.id).where(
                model.tenant_id == principal.tenant_id, model.alias == name, model.id != row.id
            )
        ).first()
    ):
        raise Conflict(f"a {kind} profile named {name!r} already exists", field="name")
    if _apply_columns(row, name, columns):
        row.updated_at = utcnow()
        row.updated_by = principal.user_id
        session.add(row)
        audit.record(
            session=session,
            principal=principal,
            action="profile.update",
            entity_type=model.__tablename__,
            entity_id=row.id,
            details={"name": name},
        )
        session.flush()
    return profile_view(kind, row, _used_by(session, principal, kind).get(str(row.id), []))


def delete_profile(*, session: Session, principal: Principal, kind: str, profile_id: UUID) -> dict[str, Any]:
    """Deletes a profile no environment maps (ORG_ADMIN); otherwise a Conflict naming them."""
    require(principal, Role.ORG_ADMIN)
    row = _profile_row(session, principal, kind, profile_id, lock=True)
    users = _used_by(session, principal, kind).get(str(row.id), [])
    if users:
        raise Conflict(
            f"{kind} profile {row.alias!r} is used by environment(s) {', '.join(users[:10])}; "
            "map those aliases to another profile first",
            field="id",
        )
    name = row.alias
    session.delete(row)
    audit.record(
        session=session,
        principal=principal,
        action="profile.delete",
        entity_type=PROFILE_MODELS[kind].__tablename__,
        entity_id=profile_id,
        details={"name": name},
    )
    session.flush()
    return {"id": str(profile_id), "kind": kind, "name": name, "deleted": True}


# ---- pinning (services/runs.py) ----------------------------------------------------------------------


def pin_environment(session: Session, env: Environment | None) -> PinnedEnvironment:
    """What a run needs from a stored environment, copied at creation (secrets stay references): its
    services, every mapped profile as typed JSON under the alias steps name, variables, plugin
    settings and the secrets' sources."""
    if env is None:
        return PinnedEnvironment()
    principal = Principal(tenant_id=env.tenant_id, user_id=env.tenant_id)
    mapped = _mapped(session, principal, env)
    sources = dict(env.secrets or {})
    return PinnedEnvironment(
        id=env.id,
        name=env.name,
        services=dict(env.services or {}),
        profiles={
            kind: {alias: profile_settings(row) for alias, row in by_alias.items()}
            for kind, by_alias in mapped.items()
            if by_alias
        },
        variables=dict(env.variables or {}),
        plugin_config=dict(env.plugin_config or {}),
        secret_env={name: s["env"] for name, s in sources.items() if "env" in s},
        secret_files={name: s["file"] for name, s in sources.items() if "file" in s},
    )


# ---- environment files: import and export -------------------------------------------------------------


@dataclass
class EnvironmentImportResult:
    environment: EnvironmentView
    created: bool
    changed: bool
    profiles_created: list[str] = field(default_factory=list)
    profiles_updated: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment.model_dump(mode="json", by_alias=True),
            "created": self.created,
            "changed": self.changed,
            "profilesCreated": self.profiles_created,
            "profilesUpdated": self.profiles_updated,
        }


def owned_profile_name(environment: str, alias: str) -> str:
    """The name an imported file's inline profile gets: ``<environment>/<alias>`` (cut to fit)."""
    name = f"{environment}/{alias}"
    if len(name) <= MAX_PROFILE_NAME:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = MAX_PROFILE_NAME - len(alias) - 10
    return f"{environment[: max(keep, 1)]}~{digest}/{alias}"[:MAX_PROFILE_NAME]


def _file_profiles(
    session: Session,
    principal: Principal,
    parsed: EnvironmentFile,
    env_name: str,
    current: Environment | None,
    result: EnvironmentImportResult,
) -> dict[str, dict[str, str]]:
    """alias -> profile id for every inline profile of the file. A profile the environment already
    maps with the same settings is kept (shared profiles stay shared); otherwise the environment's own
    profile ``<environment>/<alias>`` is created or updated in place."""
    out: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for kind, by_alias in parsed.profiles.items():
        model = PROFILE_MODELS[kind]
        for alias, profile in by_alias.items():
            where = f"profiles.{kind}.{alias}"
            if not ALIAS.fullmatch(alias):
                raise ValidationFailed(
                    "an alias has letters, digits, '_', '.', '-' (at most 100)", field=where
                )
            settings = (
                profile.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
                if isinstance(profile, DomainModel)
                else typed_profile(kind, profile, base=where)
            )
            try:
                columns = check_profile(kind, alias, settings)
            except ValidationFailed as exc:
                raise ValidationFailed(
                    exc.message, field=f"{where}.{(exc.field or '').removeprefix('settings.')}"
                ) from None
            wanted = profile_settings(model(**columns, alias="", tenant_id=principal.tenant_id))
            mapped_id = (getattr(current, MAP_COLUMNS[kind]) or {}).get(alias) if current else None
            if mapped_id:
                rows = _profile_rows(session, principal, kind, [mapped_id])
                row = rows.get(str(mapped_id))
                if row is not None and profile_settings(row) == wanted:
                    out[kind][alias] = str(row.id)
                    continue
            name = owned_profile_name(env_name, alias)
            existing = session.exec(
                locked(
                    session, select(model).where(model.tenant_id == principal.tenant_id, model.alias == name)
                )
            ).first()
            if existing is None:
                created = _insert_profile(session, principal, kind, name, columns)
                result.profiles_created.append(f"{kind}:{name}")
                out[kind][alias] = str(created.id)
                continue
            if _apply_columns(existing, name, columns):
                existing.updated_at = utcnow()
                existing.updated_by = principal.user_id
                session.add(existing)
                result.profiles_updated.append(f"{kind}:{name}")
            out[kind][alias] = str(existing.id)
    return out


def import_environment(
    *,
    session: Session,
    principal: Principal,
    text: str | bytes,
    filename: str = "environment.yaml",
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> EnvironmentImportResult:
    """Stores an environment file (docs/environment-file.md) as the environment it names (or ``name``):
    created, or updated in place; importing the same file again changes nothing.

    ``environ`` is what ``${VAR}`` reads: the CLI passes the shell's variables; the API passes none
    (``${VAR:-default}`` then takes the default), so a file can never pull a server's variables into
    stored data. Every problem names the file, line and field; nothing is stored on refusal.
    """
    require(principal, Role.ORG_ADMIN)
    raw = text.decode("utf-8-sig") if isinstance(text, bytes) else text
    try:
        parsed = parse_environment(
            raw, filename, base_dir=base_dir, environ=environ if environ is not None else {}
        )
    except ConfigurationError as exc:  # a bad file is the caller's input: 400 with file/line/field
        raise ValidationFailed(
            exc.message, file=exc.file or filename, line=exc.line, field=exc.field
        ) from None
    env_name = _name(name if name is not None else parsed.name)
    advisory_lock(session, principal.tenant_id, "environment", env_name)
    current = session.exec(
        locked(
            session,
            select(Environment).where(
                Environment.tenant_id == principal.tenant_id, Environment.name == env_name
            ),
        )
    ).first()
    services = {
        svc: config.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        for svc, config in parsed.services.items()
    }
    for svc, config in services.items():
        problems = service_secret_problems(svc, config)
        if problems:
            raise ValidationFailed(problems[0][1], file=filename, field=problems[0][0])
    secrets = {n: {"env": v} for n, v in parsed.secrets.mapping.items()}
    secrets.update({n: {"file": v} for n, v in parsed.secrets.files.items()})
    placeholder = EnvironmentView(id=uuid4(), name=env_name)
    result = EnvironmentImportResult(environment=placeholder, created=current is None, changed=False)
    try:
        profiles = _file_profiles(session, principal, parsed, env_name, current, result)
        content = _Content(
            name=env_name,
            description=(parsed.description or "").strip()[:MAX_DESCRIPTION],
            services=_services(services),
            variables=_json_object(dict(parsed.variables), "variables"),
            secrets=_secrets(secrets),
            plugin_config=_plugin_config(parsed.plugin_config),
            profiles=profiles,
        )
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, file=filename, field=exc.field) from None
    if current is None:
        env = _insert(session, principal, content)
        result.changed = True
    else:
        env = current
        if content.apply(env):
            env.version += 1
            env.updated_at = utcnow()
            env.updated_by = principal.user_id
            session.add(env)
            result.changed = True
    result.changed = result.changed or bool(result.profiles_created or result.profiles_updated)
    if result.changed:
        audit.record(
            session=session,
            principal=principal,
            action="environment.import",
            entity_type="environment",
            entity_id=env.id,
            details={"name": env.name, "file": filename[:200], "created": result.created},
        )
    session.flush()
    result.environment = environment_view(session, principal, env)
    return result


HEADER = (
    "# Orchestra environment (docs/environment-file.md). Secrets appear only as references;\n"
    "# `secrets:` says where a worker reads each value.\n"
)


def environment_document(session: Session, principal: Principal, env: Environment) -> dict[str, Any]:
    mapped = _mapped(session, principal, env)
    doc: dict[str, Any] = {"format": FORMAT, "name": env.name}
    if env.description:
        doc["description"] = env.description
    if env.services:
        doc["services"] = canonical(_mask(dict(env.services)))
    if env.variables:
        doc["variables"] = canonical(dict(env.variables))
    if env.secrets:
        doc["secrets"] = {
            name: source["env"] if set(source) == {"env"} else dict(source)
            for name, source in sorted(env.secrets.items())
        }
    profiles = {
        kind: {alias: canonical(_mask(profile_settings(row))) for alias, row in sorted(by_alias.items())}
        for kind, by_alias in mapped.items()
        if by_alias
    }
    if profiles:
        doc["profiles"] = profiles
    if env.plugin_config:
        doc["plugins"] = canonical(_mask(dict(env.plugin_config)))
    return doc


def export_environment(*, session: Session, principal: Principal, environment_id: UUID) -> str:
    """The environment as an ``orchestra-environment/1`` file (what ``orchestra run --env`` reads)."""
    require(principal, *READ_ROLES)
    env = _env_row(session, principal, environment_id)
    body = yaml.dump(
        environment_document(session, principal, env),
        Dumper=YamlDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=110,
        indent=2,
    )
    return HEADER + body
