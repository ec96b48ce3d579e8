"""Parsing of user-supplied parameters (query strings, CLI options): one error per parameter, named.

The REST API and the CLI read the same parameters through these functions, so ``max_loop=0`` or
``strategy=bogus`` is refused the same way everywhere, with a ValidationFailed whose ``field`` is the
parameter's name.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar
from uuid import UUID

from orchestra_app.domain.errors import ValidationFailed

C = TypeVar("C", bound=str)

_SHOWN = 60  # a parameter value is quoted in an error message at most this long


def shown(value: object) -> str:
    """``repr`` of a user value, cut short and without control characters (safe to echo back)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value)[: _SHOWN + 1])
    return repr(text[:_SHOWN] + "...") if len(text) > _SHOWN else repr(text)


def parse_int(
    value: str | int | None,
    *,
    name: str,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer within [minimum, maximum]; ``None``/empty gives ``default``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise ValidationFailed(f"{name} must be an integer, got {shown(value)}", field=name)
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if len(text) > 20 or not text.lstrip("+-").isdigit() or not text.isascii():
            raise ValidationFailed(f"{name} must be an integer, got {shown(value)}", field=name)
        number = int(text)
    if minimum is not None and number < minimum:
        raise ValidationFailed(f"{name} must be at least {minimum}, got {number}", field=name)
    if maximum is not None and number > maximum:
        raise ValidationFailed(f"{name} must be at most {maximum}, got {number}", field=name)
    return number


def parse_choice(value: str | None, *, name: str, choices: Collection[C], default: C) -> C:
    """One of ``choices`` (exact, case-sensitive); ``None``/empty gives ``default``."""
    if value is None or not value.strip():
        return default
    for choice in choices:
        if value.strip() == choice:
            return choice
    allowed = ", ".join(sorted(choices))
    raise ValidationFailed(f"{name} must be one of {allowed}, got {shown(value)}", field=name)


def parse_uuid(value: str, *, name: str) -> UUID:
    """A UUID in its usual text form; anything else names the parameter."""
    try:
        if len(value) > 64:
            raise ValueError(value)
        return UUID(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a UUID, got {shown(value)}", field=name) from None


def parse_text(value: str | None, *, name: str, max_length: int, default: str | None = None) -> str | None:
    """Free text (a key, a service name): at most ``max_length`` characters, no control characters."""
    if value is None or not value.strip():
        return default
    if len(value) > max_length:
        raise ValidationFailed(f"{name} is longer than {max_length} characters", field=name)
    if any(not ch.isprintable() for ch in value):
        raise ValidationFailed(f"{name} contains control characters", field=name)
    return value.strip()
