"""Step templates: `{{data.*}}`, `{{step.<alias>.response.*}}`, `{{env.*}}`, `{{secret:NAME}}`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.secrets import SecretResolver, secret_ref_name
from orchestra_app.domain.steps import ExecutionContext, StepResultData

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_SEGMENT = re.compile(r"""\.?([^.\[\]]+)|\[(\d+)\]|\[["']([^"']*)["']\]""")
_MISSING = object()


class TemplateError(OrchestraError):
    """A placeholder cannot be resolved; ``pointer`` locates the string inside the template."""

    kind = ErrorKind.VALIDATION


@dataclass
class TemplateScope:
    """What placeholders can see; ``secrets_used`` collects resolved secret values for redaction."""

    data: Any = None
    steps: Mapping[str, StepResultData] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    secrets: SecretResolver | None = None
    secrets_used: set[str] = field(default_factory=set)

    @classmethod
    def from_context(
        cls,
        context: ExecutionContext,
        *,
        env: Mapping[str, Any] | None = None,
        secrets: SecretResolver | None = None,
    ) -> TemplateScope:
        return cls(
            data=context.variables.get("data", {}),
            steps=context.steps_by_alias,
            env=env or {},
            variables=context.variables,
            secrets=secrets,
        )


@lru_cache(maxsize=4096)
def _parse_string(text: str) -> tuple[tuple[str, bool], ...]:
    """Split a template string into (literal, False) and (expression, True) parts."""
    parts: list[tuple[str, bool]] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > pos:
            parts.append((text[pos : match.start()], False))
        parts.append((match.group(1), True))
        pos = match.end()
    if pos < len(text):
        parts.append((text[pos:], False))
    return tuple(parts)


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[str | int, ...]:
    """``a.b[0]["c.d"]`` -> ("a", "b", 0, "c.d"); raises ValueError on junk."""
    segments: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _SEGMENT.match(path, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"bad path syntax at character {pos + 1} of {path!r}")
        name, index, quoted = match.groups()
        if index is not None:
            segments.append(int(index))
        elif quoted is not None:
            segments.append(quoted)
        else:
            segments.append(name)
        pos = match.end()
    return tuple(segments)


def _walk(value: Any, segments: tuple[str | int, ...], *, headers: bool = False) -> Any:
    for segment in segments:
        if isinstance(value, Mapping):
            if segment in value:
                value = value[segment]
            elif headers and isinstance(segment, str):
                lowered = segment.lower()
                value = next((v for k, v in value.items() if k.lower() == lowered), _MISSING)
                if value is _MISSING:
                    return _MISSING
            elif isinstance(segment, int) and str(segment) in value:
                value = value[str(segment)]
            else:
                return _MISSING
        elif isinstance(value, list) and isinstance(segment, int):
            if segment >= len(value):
                return _MISSING
            value = value[segment]
        elif isinstance(value, list) and isinstance(segment, str) and segment.isdigit():
            index = int(segment)
            if index >= len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _lookup_step(segments: tuple[str | int, ...], scope: TemplateScope, expr: str) -> Any:
    if len(segments) < 3 or segments[2] not in ("response", "request"):
        raise ValueError(f"{expr!r}: expected step.<alias>.response.(body|headers|status)...")
    alias = str(segments[1])
    result = scope.steps.get(alias)
    if result is None:
        raise KeyError(f"{expr!r}: no earlier step with alias {alias!r} has a result")
    if segments[2] == "request":
        return _walk(result.request or {}, segments[3:])
    rest = segments[3:]
    if not rest:
        return {
            "status": result.actual_status_code,
            "body": result.response_body,
            "headers": result.response_headers or {},
        }
    part = rest[0]
    if part in ("status", "statusCode"):
        return result.actual_status_code if len(rest) == 1 else _MISSING
    if part == "body":
        return _walk(result.response_body, rest[1:])
    if part == "headers":
        return _walk(result.response_headers or {}, rest[1:], headers=True)
    raise ValueError(f"{expr!r}: unknown response part {part!r} (use body, headers or status)")


def evaluate_expression(expr: str, scope: TemplateScope) -> Any:
    """Value of one placeholder expression; raises KeyError/ValueError with a readable message."""
    if expr.startswith("secret:"):
        name = expr[len("secret:") :].strip()
        if scope.secrets is None:
            raise KeyError(f"secret {name!r} referenced but no secret resolver is configured")
        secret = scope.secrets.resolve(name)
        scope.secrets_used.add(secret)
        return secret
    segments = parse_path(expr)
    if not segments:
        raise ValueError("empty placeholder")
    root = segments[0]
    if root == "data":
        value = _walk(scope.data, segments[1:])
    elif root == "step":
        value = _lookup_step(segments, scope, expr)
    elif root == "env":
        value = _walk(scope.env, segments[1:])
    elif isinstance(root, str) and root in scope.variables:
        value = _walk(scope.variables[root], segments[1:])
    else:
        raise KeyError(f"{expr!r}: unknown root {root!r} (use data, step, env, secret: or a run variable)")
    if value is _MISSING:
        raise KeyError(f"{expr!r} has no value")
    return value


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def render_string(text: str, scope: TemplateScope, pointer: str = "") -> Any:
    """A whole-string placeholder keeps the JSON type of its value; mixed text is interpolated."""
    if "{{" not in text:
        return text
    parts = _parse_string(text)
    try:
        if len(parts) == 1 and parts[0][1]:
            return evaluate_expression(parts[0][0], scope)
        out: list[str] = []
        for chunk, is_expr in parts:
            out.append(_stringify(evaluate_expression(chunk, scope)) if is_expr else chunk)
        return "".join(out)
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise TemplateError(f"cannot render template: {message}", pointer=pointer) from None
    except OrchestraError as exc:  # e.g. SecretNotFound: keep its message, add where it happened
        raise TemplateError(exc.message, pointer=pointer) from None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def render(template: Any, scope: TemplateScope, pointer: str = "") -> Any:
    """Render every string (keys stay literal) of a JSON-like template; secret refs are resolved."""
    if isinstance(template, str):
        return render_string(template, scope, pointer)
    if isinstance(template, dict):
        name = secret_ref_name(template)
        if name is not None:
            return render_string("{{secret:" + name + "}}", scope, pointer)
        return {k: render(v, scope, f"{pointer}/{_escape(str(k))}") for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, scope, f"{pointer}/{i}") for i, v in enumerate(template)]
    return template


def iter_placeholders(template: Any) -> Iterator[str]:
    """Every placeholder expression used in a template (for designers and linting)."""
    if isinstance(template, str):
        for chunk, is_expr in _parse_string(template):
            if is_expr:
                yield chunk
    elif isinstance(template, dict):
        name = secret_ref_name(template)
        if name is not None:
            yield "secret:" + name
            return
        for value in template.values():
            yield from iter_placeholders(value)
    elif isinstance(template, list):
        for value in template:
            yield from iter_placeholders(value)
