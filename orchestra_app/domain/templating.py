"""Step templates: `{{data.*}}`, `{{step.<alias>.response.*}}`, `{{env.*}}`, `{{run.id}}`, secrets, functions.

Placeholders use the path grammar of ``domain/paths.py`` (shared with the business rules) and a
small set of documented functions (``uuid()``, ``now(...)``, ``random.int(a, b)``, ...), described
in docs/templating.md. Rendering is strict: a placeholder that cannot be resolved raises
TemplateError naming the expression and the JSON pointer of the string that holds it.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.paths import (
    PathSyntaxError,
    Segment,
    escape_pointer_token,
    explain_missing,
    has_wildcard,
    parse_path,
    select,
)
from orchestra_app.domain.secrets import SecretResolver, secret_ref_name
from orchestra_app.domain.steps import ExecutionContext, StepResultData

__all__ = [
    "FUNCTIONS",
    "TemplateError",
    "TemplateScope",
    "evaluate_expression",
    "iter_placeholders",
    "parse_path",
    "render",
    "render_string",
]

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\((.*)\)$", re.S)
_ARG = re.compile(
    r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null))\s*"""
)
_MISSING = object()
# Response parts a step result offers; rows/message come from the DB, Kafka and queue plugins.
RESPONSE_PARTS = ("body", "headers", "status", "statusCode", "rows", "message", "durationMs")


class TemplateError(OrchestraError):
    """A placeholder cannot be resolved; ``pointer`` locates the string inside the template."""

    kind = ErrorKind.VALIDATION


def _system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class TemplateScope:
    """What placeholders can see; ``secrets_used`` collects resolved secret values for redaction.

    ``rng`` and ``clock`` feed the functions: seeded (``run.seed`` in the context's variables), the
    random functions repeat exactly; a fixed ``clock`` makes ``now()`` repeat too (tests).
    """

    data: Any = None
    steps: Mapping[str, StepResultData] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    secrets: SecretResolver | None = None
    secrets_used: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=lambda: _SYSTEM_RNG)
    clock: Callable[[], datetime] = _system_clock

    @classmethod
    def from_context(
        cls,
        context: ExecutionContext,
        *,
        env: Mapping[str, Any] | None = None,
        secrets: SecretResolver | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> TemplateScope:
        variables = dict(context.variables)
        run = dict(variables.get("run") or {}) if isinstance(variables.get("run"), Mapping) else None
        if run is not None or context.run_id is not None:
            run = run or {}
            if context.run_id is not None:
                run.setdefault("id", str(context.run_id))
            variables["run"] = run
        seed = run.get("seed") if run else None
        # Each step gets its own stream (keyed by how many steps ran before it), so two steps of
        # a seeded run do not draw the same uuid while a re-run draws exactly the same values.
        # Unseeded runs share one SystemRandom (os.urandom per draw): seeding a fresh Random per step
        # read 2.5 KB from os.urandom every step, a measurable part of a step's cost.
        rng = random.Random(f"{seed}:{len(context.steps_by_alias)}") if seed is not None else _SYSTEM_RNG
        return cls(
            data=variables.get("data", {}),
            steps=context.steps_by_alias,
            env=env or {},
            variables=variables,
            secrets=secrets,
            rng=rng,
            clock=clock or _system_clock,
        )


_SYSTEM_RNG: random.Random = random.SystemRandom()


# ---- expressions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Expr:
    kind: str  # "secret" | "call" | "path"
    name: str = ""
    args: tuple[Any, ...] = ()
    segments: tuple[Segment, ...] = ()


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _parse_args(text: str, expr: str) -> tuple[Any, ...]:
    if not text.strip():
        return ()
    args: list[Any] = []
    pos = 0
    while True:
        match = _ARG.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(
                f"{expr!r}: function arguments are literals: numbers, 'text', \"text\", true, false, null"
            )
        double, single, number, keyword = match.groups()
        if double is not None:
            args.append(_unescape(double))
        elif single is not None:
            args.append(_unescape(single))
        elif number is not None:
            args.append(float(number) if any(c in number for c in ".eE") else int(number))
        else:
            args.append({"true": True, "false": False, "null": None}[keyword])
        pos = match.end()
        if pos == len(text):
            return tuple(args)
        if text[pos] != ",":
            raise ValueError(f"{expr!r}: expected ',' between function arguments at character {pos + 1}")
        pos += 1


@lru_cache(maxsize=4096)
def parse_expression(expr: str) -> _Expr:
    """Classify one placeholder body: a secret reference, a function call or a path."""
    if expr.startswith("secret:"):
        return _Expr("secret", name=expr[len("secret:") :].strip())
    call = _CALL.match(expr)
    if call is not None:
        name = call.group(1)
        if name not in FUNCTIONS:
            known = ", ".join(f"{n}()" for n in sorted(FUNCTIONS))
            raise ValueError(f"{expr!r}: unknown function {name!r} (known: {known})")
        return _Expr("call", name=name, args=_parse_args(call.group(2), expr))
    if not expr:
        raise ValueError("empty placeholder")
    try:
        segments = parse_path(expr)
    except PathSyntaxError as exc:
        raise ValueError(str(exc)) from None
    if expr.startswith("$"):
        raise ValueError(f"{expr!r}: template paths start with a root name (data, step, env, run), not '$'")
    return _Expr("path", segments=segments)


# ---- functions ----------------------------------------------------------------------------------


def _fn_uuid(scope: TemplateScope, expr: str) -> str:
    return str(uuid.UUID(int=scope.rng.getrandbits(128), version=4))


_OFFSET_TERM = re.compile(r"([+-])\s*(\d+)\s*(ms|s|m|h|d|w)", re.I)
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def _offset(text: str, expr: str) -> timedelta:
    compact = text.replace(" ", "")
    total = timedelta()
    pos = 0
    for match in _OFFSET_TERM.finditer(compact):
        if match.start() != pos:
            break
        amount = int(match.group(2)) * _UNITS[match.group(3).lower()]
        total += amount if match.group(1) == "+" else -amount
        pos = match.end()
    if pos == 0 or pos != len(compact):
        raise ValueError(
            f"{expr!r}: bad offset {text!r}; use e.g. '+1d', '-2h', '+1d-30m' (units ms s m h d w)"
        )
    return total


def _fn_now(scope: TemplateScope, expr: str, *args: Any) -> Any:
    """now(), now(format), now(offset), now(format, offset); UTC."""
    if len(args) > 2 or not all(isinstance(a, str) for a in args):
        raise ValueError(f"{expr!r}: now() takes an optional format and an optional offset, both text")
    fmt, shift = "iso", timedelta()
    if len(args) == 2:
        fmt, shift = args[0], _offset(args[1], expr)
    elif len(args) == 1 and args[0].strip().startswith(("+", "-")):
        shift = _offset(args[0], expr)
    elif len(args) == 1:
        fmt = args[0]
    moment = scope.clock().astimezone(UTC) + shift
    if fmt == "iso":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if fmt == "date":
        return moment.strftime("%Y-%m-%d")
    if fmt == "epoch":
        return int(moment.timestamp())
    if fmt == "epochMillis":
        return int(moment.timestamp() * 1000)
    if "%" in fmt:
        return moment.strftime(fmt)
    raise ValueError(
        f"{expr!r}: unknown format {fmt!r} (iso, date, epoch, epochMillis or a strftime pattern with %)"
    )


def _integer(value: Any, what: str, expr: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{expr!r}: {what} must be an integer")
    return value


def _fn_random_int(scope: TemplateScope, expr: str, *args: Any) -> int:
    if len(args) != 2:
        raise ValueError(f"{expr!r}: random.int(min, max) takes two integers")
    low, high = _integer(args[0], "min", expr), _integer(args[1], "max", expr)
    if low > high:
        raise ValueError(f"{expr!r}: min {low} is above max {high}")
    return scope.rng.randint(low, high)


_ALPHABET = string.ascii_lowercase + string.digits


def _fn_random_string(scope: TemplateScope, expr: str, *args: Any) -> str:
    if len(args) not in (1, 2):
        raise ValueError(
            f"{expr!r}: random.string(length[, alphabet]) takes a length and an optional alphabet"
        )
    length = _integer(args[0], "length", expr)
    if not 0 <= length <= 10_000:
        raise ValueError(f"{expr!r}: length must be between 0 and 10000")
    alphabet = args[1] if len(args) == 2 else _ALPHABET
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"{expr!r}: the alphabet must be non-empty text")
    return "".join(scope.rng.choice(alphabet) for _ in range(length))


def _fn_random_choice(scope: TemplateScope, expr: str, *args: Any) -> Any:
    if not args:
        raise ValueError(f"{expr!r}: random.choice(a, b, ...) needs at least one value")
    return args[scope.rng.randrange(len(args))]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "uuid": _fn_uuid,
    "now": _fn_now,
    "random.int": _fn_random_int,
    "random.string": _fn_random_string,
    "random.choice": _fn_random_choice,
}


# ---- evaluation -----------------------------------------------------------------------------------


def _walk(value: Any, segments: tuple[Segment, ...], *, fold_first: bool = False) -> Any:
    """The value a path reaches (a list of every match when it has wildcards), or _MISSING."""
    folds = frozenset({0}) if fold_first else frozenset()
    found = select(value, segments, fold_depths=folds)
    if has_wildcard(segments):
        return [v for _, v in found]
    return found[0][1] if found else _MISSING


def _response(result: StepResultData) -> dict[str, Any]:
    rows = result.db_result
    if isinstance(rows, Mapping) and "rows" in rows:
        rows = rows["rows"]
    message = result.kafka_message if result.kafka_message is not None else result.queue_message
    return {
        "status": result.actual_status_code,
        "statusCode": result.actual_status_code,
        "body": result.response_body,
        "headers": result.response_headers or {},
        "rows": rows,
        "message": message,
        "durationMs": result.duration_ms,
    }


def _missing(
    expr: str, subject: Any, segments: tuple[Segment, ...], prefix: str, fold: bool = False
) -> KeyError:
    why = explain_missing(subject, segments, fold_depths=frozenset({0}) if fold else frozenset())
    return KeyError(f"{expr!r} has no value: {prefix}{why}")


def _lookup_step(segments: tuple[Segment, ...], scope: TemplateScope, expr: str) -> Any:
    if len(segments) < 3 or segments[2] not in ("response", "request"):
        raise ValueError(f"{expr!r}: expected step.<alias>.response.(body|headers|status|rows|message)...")
    alias = str(segments[1])
    result = scope.steps.get(alias)
    if result is None:
        ran = ", ".join(sorted(scope.steps)) or "none yet"
        raise KeyError(f"{expr!r}: no earlier step with alias {alias!r} has a result (steps so far: {ran})")
    if segments[2] == "request":
        value = _walk(result.request or {}, segments[3:])
        if value is _MISSING:
            raise _missing(expr, result.request or {}, segments[3:], f"step {alias}'s request: ")
        return value
    rest = segments[3:]
    response = _response(result)
    if not rest:
        return {k: v for k, v in response.items() if k != "statusCode"}
    part = rest[0]
    if part not in RESPONSE_PARTS:
        raise ValueError(
            f"{expr!r}: unknown response part {part!r} (use body, headers, status, rows or message)"
        )
    if part in ("status", "statusCode", "durationMs"):
        if len(rest) > 1:
            raise KeyError(f"{expr!r} has no value: {part} is a number")
        return response[part]
    subject = response[part]
    value = _walk(subject, rest[1:], fold_first=part == "headers")
    if value is _MISSING:
        raise _missing(expr, subject, rest[1:], f"step {alias}'s response {part}: ", fold=part == "headers")
    return value


def evaluate_expression(expr: str, scope: TemplateScope) -> Any:
    """Value of one placeholder expression; raises KeyError/ValueError with a readable message."""
    parsed = parse_expression(expr)
    if parsed.kind == "secret":
        if scope.secrets is None:
            raise KeyError(f"secret {parsed.name!r} referenced but no secret resolver is configured")
        secret = scope.secrets.resolve(parsed.name)
        scope.secrets_used.add(secret)
        return secret
    if parsed.kind == "call":
        return FUNCTIONS[parsed.name](scope, expr, *parsed.args)
    segments = parsed.segments
    root = segments[0]
    if root == "step":
        return _lookup_step(segments, scope, expr)
    if root == "data":
        subject: Any = scope.data
    elif root == "env":
        subject = scope.env
    elif isinstance(root, str) and root in scope.variables:
        subject = scope.variables[root]
    else:
        raise KeyError(f"{expr!r}: unknown root {root!r} (use data, step, env, run, secret: or a function)")
    value = _walk(subject, segments[1:])
    if value is _MISSING:
        raise _missing(expr, subject, segments[1:], f"{root}: " if len(segments) > 2 else "")
    return value


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


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


def render(template: Any, scope: TemplateScope, pointer: str = "") -> Any:
    """Render every string (keys stay literal) of a JSON-like template; secret refs are resolved."""
    if isinstance(template, str):
        return render_string(template, scope, pointer)
    if isinstance(template, dict):
        name = secret_ref_name(template)
        if name is not None:
            return render_string("{{secret:" + name + "}}", scope, pointer)
        return {k: render(v, scope, f"{pointer}/{escape_pointer_token(str(k))}") for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, scope, f"{pointer}/{i}") for i, v in enumerate(template)]
    return template


def iter_placeholders(template: Any) -> Iterator[str]:
    """Every placeholder expression used in a template (for designers and linting)."""
    for _, expr in iter_placeholder_pointers(template):
        yield expr


def iter_placeholder_pointers(template: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer of the string, expression) for every placeholder of a template."""
    if isinstance(template, str):
        if "{{" in template:
            for chunk, is_expr in _parse_string(template):
                if is_expr:
                    yield pointer, chunk
    elif isinstance(template, dict):
        name = secret_ref_name(template)
        if name is not None:
            yield pointer, "secret:" + name
            return
        for key, value in template.items():
            yield from iter_placeholder_pointers(value, f"{pointer}/{escape_pointer_token(str(key))}")
    elif isinstance(template, list):
        for i, value in enumerate(template):
            yield from iter_placeholder_pointers(value, f"{pointer}/{i}")


def check_template(template: Any, pointer: str = "") -> list[tuple[str, str]]:
    """Syntax problems of every placeholder, found without evaluating anything: [(pointer, message)]."""
    problems: list[tuple[str, str]] = []
    for where, expr in iter_placeholder_pointers(template, pointer):
        try:
            parse_expression(expr)
        except ValueError as exc:
            problems.append((where, str(exc.args[0] if exc.args else exc)))
    return problems


def data_variables(template: Any) -> list[tuple[str, tuple[Segment, ...]]]:
    """(pointer, path below ``data``) of every ``{{data.*}}`` placeholder (for scaffolding data sets)."""
    out: list[tuple[str, tuple[Segment, ...]]] = []
    for where, expr in iter_placeholder_pointers(template):
        try:
            parsed = parse_expression(expr)
        except ValueError:
            continue
        if parsed.kind == "path" and parsed.segments[0] == "data" and len(parsed.segments) > 1:
            out.append((where, parsed.segments[1:]))
    return out
