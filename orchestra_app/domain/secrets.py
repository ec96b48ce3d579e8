"""Secret references (`{{secret:NAME}}`, `{"secret": "NAME"}`) resolved from env vars or a file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

from orchestra_app.domain.errors import ConfigurationError, ErrorKind, ValidationFailed

REDACTED = "***"

# Reference objects accepted wherever a secret may appear in a template or an auth config.
SECRET_REF_KEYS = ("secret", "$secret", "secretRef")


class SecretNotFound(ConfigurationError):
    """A referenced secret does not exist in any configured source (the value is never in the message)."""

    kind = ErrorKind.NOT_FOUND


class SecretResolver(Protocol):
    def resolve(self, name: str) -> str: ...


class EnvSecretResolver:
    """Reads ``<prefix><NAME>`` from the process environment (prefix ``ORCHESTRA_SECRET_`` by default)."""

    def __init__(self, prefix: str = "ORCHESTRA_SECRET_", environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ = environ if environ is not None else os.environ

    def resolve(self, name: str) -> str:
        for key in (self.prefix + name, self.prefix + name.upper()):
            value = self._environ.get(key)
            if value is not None:
                return value
        raise SecretNotFound(f"secret {name!r} is not set (looked for env var {self.prefix}{name})")


class FileSecretResolver:
    """Reads a JSON object file or a ``NAME=value`` lines file (``#`` comments), loaded once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._values: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._values is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read secrets file: {exc.strerror}", file=str(self.path)
                ) from None
            values: dict[str, str] = {}
            if text.lstrip().startswith("{"):
                try:
                    loaded = json.loads(text)
                except ValueError:
                    # The parser's message could quote a secret value, so it is not repeated.
                    raise ConfigurationError("secrets file is not valid JSON", file=str(self.path)) from None
                if not isinstance(loaded, dict):
                    raise ConfigurationError("secrets file must hold a JSON object", file=str(self.path))
                values = {str(k): str(v) for k, v in loaded.items()}
            else:
                for line in text.splitlines():
                    line = line.strip()
                    if not line or line.startswith("#") or "=" not in line:
                        continue
                    key, _, value = line.partition("=")
                    values[key.strip()] = value.strip()
            self._values = values
        return self._values

    def resolve(self, name: str) -> str:
        values = self._load()
        if name not in values:
            raise SecretNotFound(f"secret {name!r} is not in the secrets file", file=str(self.path))
        return values[name]


class StaticSecretResolver:
    """In-memory secrets (tests, single-step debugging)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def resolve(self, name: str) -> str:
        if name not in self._values:
            raise SecretNotFound(f"secret {name!r} is not defined")
        return self._values[name]


class ChainSecretResolver:
    """Tries each resolver in order; the first that knows the name wins."""

    def __init__(self, resolvers: Iterable[SecretResolver]) -> None:
        self.resolvers = list(resolvers)

    def resolve(self, name: str) -> str:
        for resolver in self.resolvers:
            try:
                return resolver.resolve(name)
            except SecretNotFound:
                continue
        raise SecretNotFound(f"secret {name!r} is not defined in any secret source")


SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")


def secret_source(value: Any, *, field: str) -> dict[str, str]:
    """A secret's source as stored in an environment: ``{"env": VAR}`` (an environment variable of the
    worker) or ``{"file": PATH}`` (a file on the worker whose whole content is the value, as Docker and
    Kubernetes mount secrets). Never the value itself; a bad source is a ValidationFailed naming ``field``."""
    if isinstance(value, str):
        value = {"env": value}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("env", "file"):
        raise ValidationFailed(
            "a secret source is {env: VARIABLE} or {file: /absolute/path} (never the value)", field=field
        )
    ((kind, where),) = value.items()
    if not isinstance(where, str) or not where.strip():
        raise ValidationFailed(f"the secret's {kind} must be text", field=f"{field}.{kind}")
    if kind == "env" and not ENV_VAR_NAME.fullmatch(where):
        raise ValidationFailed(
            "an environment variable name has letters, digits and underscores, not starting with a digit",
            field=f"{field}.env",
        )
    if kind == "file" and (not where.startswith("/") or "\x00" in where or len(where) > 1000):
        raise ValidationFailed(
            "a secret file is an absolute path on the worker (at most 1000 characters)", field=f"{field}.file"
        )
    return {kind: where}


class SourceSecretResolver:
    """Secrets by name from their sources (``{"env": VAR}`` / ``{"file": PATH}``); names without a
    source are not known here (chain it with EnvSecretResolver for ``ORCHESTRA_SECRET_<NAME>``)."""

    def __init__(
        self, sources: Mapping[str, Mapping[str, str]], environ: Mapping[str, str] | None = None
    ) -> None:
        self.sources = {name: dict(source) for name, source in sources.items()}
        self._environ = environ if environ is not None else os.environ

    def resolve(self, name: str) -> str:
        source = self.sources.get(name)
        if not source:
            raise SecretNotFound(f"secret {name!r} has no source in this environment")
        if "env" in source:
            value = self._environ.get(source["env"])
            if value is None:
                raise SecretNotFound(f"secret {name!r} is not set: export {source['env']}")
            return value
        path = Path(source.get("file", ""))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            # the path is a reference, never the value, so naming it is safe
            raise SecretNotFound(f"secret {name!r} cannot be read from {path}: {reason}") from None
        return text[:-1] if text.endswith("\n") else text


def secret_ref_name(value: Any) -> str | None:
    """The secret name when ``value`` is a reference object like ``{"secret": "NAME"}``, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, name),) = value.items()
        if key in SECRET_REF_KEYS and isinstance(name, str):
            return name
    return None


@lru_cache(maxsize=1024)
def secret_forms(secret: str) -> tuple[str, ...]:
    """How a secret can show up in recorded text: as is, percent-encoded in a path, query or form
    (``p%40ss``, ``p%40ss+w``), JSON-escaped (in a raw body or an error message)."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    return tuple(f for f in forms if f)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a known secret value, in any of its encoded forms, by ``***``."""
    forms = {form for s in secrets if s for form in secret_forms(s)}
    for form in sorted(forms, key=len, reverse=True):  # longest first: a secret may contain another
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """Deep copy of a JSON-like value with known secret values replaced."""
    known = [s for s in secrets if s]
    if not known:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact_text(item, known)
        if isinstance(item, dict):
            return {redact_text(k, known) if isinstance(k, str) else k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    try:
        return walk(value)
    except RecursionError:  # a pathologically deep value (e.g. a response body) is dropped, not leaked
        return REDACTED
