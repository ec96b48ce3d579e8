"""Secret references (`{{secret:NAME}}`, `{"secret": "NAME"}`) resolved from env vars or a file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

from orchestra_app.domain.errors import ConfigurationError, ErrorKind

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
