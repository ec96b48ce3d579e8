"""Reading a DB step's SQL: one SELECT, placeholders turned into bound parameters, never into text.

The SQL is split into code, quoted text and comments (single quotes, E'' escapes, double quotes,
MySQL backticks, dollar quotes, nested block comments, ``--`` and MySQL ``#`` comments). In code:

* ``{{expression}}`` (the template language) and ``:name`` (a key of ``meta.params``) become the
  driver's parameter marker, their values bound separately (``::type`` casts are left alone);
* a ``;`` may only end the text: several statements are refused;
* the first keyword must be SELECT or WITH (optionally after parentheses); ``INTO`` is refused
  (``SELECT ... INTO`` creates a table or writes a file).

This is the first fence only; the second is the READ ONLY transaction the query runs in, which stops
what text cannot show (a function with side effects, a data-modifying CTE).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ParamStyle = Literal["format", "qmark"]
Dialect = Literal["postgresql", "mysql", "sqlite"]

ALLOWED_FIRST = ("SELECT", "WITH")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class SqlRefused(ValueError):
    """The SQL is not a single read-only SELECT (code: NOT_A_SELECT, MULTIPLE_STATEMENTS, ...)."""

    def __init__(self, code: str, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position


@dataclass
class Segment:
    kind: Literal["code", "text", "comment"]
    text: str
    start: int


@dataclass
class PreparedSql:
    text: str  # with driver parameter markers
    params: list[Any] = field(default_factory=list)
    first_keyword: str = ""
    bound: list[str] = field(default_factory=list)  # what each parameter came from, for the report


def split(sql: str, dialect: Dialect) -> list[Segment]:
    """Code / quoted text / comment segments of ``sql``; raises SqlRefused on an unterminated one."""
    out: list[Segment] = []
    i, n, code_start = 0, len(sql), 0

    def flush_code(end: int) -> None:
        if end > code_start:
            out.append(Segment("code", sql[code_start:end], code_start))

    while i < n:
        c = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        end: int
        kind: Literal["text", "comment"]
        if (c == "-" and nxt == "-") or (c == "#" and dialect == "mysql"):
            j = sql.find("\n", i)
            end, kind = (n if j < 0 else j + 1), "comment"
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j) and dialect == "postgresql":
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise SqlRefused("UNTERMINATED", "a /* comment */ is not closed", position=i)
            end, kind = j, "comment"
        elif c == "'" or (c in "eE" and nxt == "'" and dialect == "postgresql" and not _word_before(sql, i)):
            backslash = c in "eE" or dialect == "mysql"
            j = i + (2 if c in "eE" else 1)
            while True:
                if j >= n:
                    raise SqlRefused("UNTERMINATED", "a quoted string is not closed", position=i)
                if backslash and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            end, kind = j + 1, "text"
        elif c == '"' or (c == "`" and dialect == "mysql"):
            j = i + 1
            while True:
                if j >= n:
                    raise SqlRefused("UNTERMINATED", f"a {c}quoted{c} name is not closed", position=i)
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            end, kind = j + 1, "text"
        elif c == "$" and dialect == "postgresql" and not _word_before(sql, i):
            match = _DOLLAR_TAG.match(sql, i)
            if match is None:
                i += 1
                continue
            tag = match.group(0)
            j = sql.find(tag, match.end())
            if j < 0:
                raise SqlRefused("UNTERMINATED", f"a {tag}-quoted string is not closed", position=i)
            end, kind = j + len(tag), "text"
        elif c == "{" and nxt == "{":
            j = sql.find("}}", i + 2)
            i = n if j < 0 else j + 2  # a placeholder is code; a "}" inside it must not confuse anything
            continue
        else:
            i += 1
            continue
        flush_code(i)
        out.append(Segment(kind, sql[i:end], i))
        i = code_start = end
    flush_code(n)
    return out


def _word_before(sql: str, i: int) -> bool:
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")


def _line_col(sql: str, position: int) -> str:
    line = sql.count("\n", 0, position) + 1
    column = position - (sql.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


def prepare(
    sql: str,
    *,
    dialect: Dialect,
    paramstyle: ParamStyle,
    render_placeholder: Callable[[str, int], Any],
    params: Mapping[str, Any],
) -> PreparedSql:
    """Check ``sql`` and bind its placeholders (``render_placeholder(expression, index)`` gives a value)."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlRefused("EMPTY_SQL", "meta.sql is empty")
    segments = split(sql, dialect)
    code = [s for s in segments if s.kind == "code"]
    # A placeholder inside quotes would be text in the SQL: refused, with where it is.
    for seg in segments:
        if seg.kind != "code" and "{{" in seg.text:
            pos = seg.start + seg.text.index("{{")
            raise SqlRefused(
                "PLACEHOLDER_IN_TEXT",
                f"a {{{{...}}}} placeholder inside quotes or a comment ({_line_col(sql, pos)}) would become "
                "SQL text; write it unquoted (status = {{data.status}}) and it is bound as a parameter",
                position=pos,
            )
    # One statement: nothing but blanks and comments after a ';'.
    seen_end: int | None = None
    for seg in segments:
        if seg.kind == "comment":
            continue
        if seen_end is not None and (seg.kind == "text" or seg.text.strip()):
            raise SqlRefused(
                "MULTIPLE_STATEMENTS",
                f"only one statement may run; another starts after the ';' at {_line_col(sql, seen_end)}",
                position=seen_end,
            )
        if seg.kind == "code" and ";" in _without_placeholders(seg.text):
            semi = _without_placeholders(seg.text).index(";")
            seen_end = seg.start + semi
            if seg.text[semi + 1 :].strip():
                raise SqlRefused(
                    "MULTIPLE_STATEMENTS",
                    f"only one statement may run; another starts after the ';' at {_line_col(sql, seen_end)}",
                    position=seen_end,
                )
    words = [
        (m.group(0).upper(), seg.start + m.start())
        for seg in code
        for m in _WORD.finditer(_without_placeholders(seg.text))
    ]
    first = words[0][0] if words else ""
    if first not in ALLOWED_FIRST:
        raise SqlRefused(
            "NOT_A_SELECT",
            "a DB assertion runs one SELECT (or WITH ... SELECT); "
            f"this SQL starts with {first or 'nothing'!r}",
            position=words[0][1] if words else 0,
        )
    for word, pos in words:
        if word == "INTO":
            raise SqlRefused(
                "NOT_A_SELECT",
                f"SELECT ... INTO writes (a table, a file or variables); refused at {_line_col(sql, pos)}",
                position=pos,
            )
    return _bind(segments, sql, dialect, paramstyle, render_placeholder, params, first)


_PLACEHOLDER_SPAN = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def _without_placeholders(text: str) -> str:
    return _PLACEHOLDER_SPAN.sub(lambda m: " " * len(m.group(0)), text)


def _bind(
    segments: list[Segment],
    sql: str,
    dialect: Dialect,
    paramstyle: ParamStyle,
    render_placeholder: Callable[[str, int], Any],
    params: Mapping[str, Any],
    first: str,
) -> PreparedSql:
    marker = "%s" if paramstyle == "format" else "?"
    prepared = PreparedSql(text="", first_keyword=first)
    pieces: list[str] = []
    for seg in segments:
        text = seg.text
        if seg.kind == "comment":
            pieces.append(" ")  # comments are not sent: nothing can hide after a ';' in one
            continue
        if seg.kind == "text":
            pieces.append(text.replace("%", "%%") if paramstyle == "format" else text)
            continue
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c == "{" and text.startswith("{{", i):
                j = text.find("}}", i + 2)
                if j < 0:
                    raise SqlRefused(
                        "BAD_PLACEHOLDER",
                        f"a '{{{{' is not closed at {_line_col(sql, seg.start + i)}",
                        position=seg.start + i,
                    )
                expression = text[i + 2 : j].strip()
                prepared.params.append(render_placeholder(expression, len(prepared.params)))
                prepared.bound.append("{{" + expression + "}}")
                pieces.append(marker)
                i = j + 2
                continue
            if c == ":" and not text.startswith("::", i) and (i == 0 or text[i - 1] != ":"):
                match = _NAME.match(text, i + 1)
                if match is not None:
                    name = match.group(0)
                    if name not in params:
                        known = ", ".join(sorted(params)) or "none"
                        raise SqlRefused(
                            "UNKNOWN_PARAMETER",
                            f":{name} at {_line_col(sql, seg.start + i)} is not in meta.params "
                            f"(known: {known})",
                            position=seg.start + i,
                        )
                    prepared.params.append(params[name])
                    prepared.bound.append(":" + name)
                    pieces.append(marker)
                    i = match.end()
                    continue
            if c == "%" and paramstyle == "format":
                pieces.append("%%")
            elif c == "?" and paramstyle == "qmark" and dialect == "sqlite":
                raise SqlRefused(
                    "RAW_PARAMETER_MARKER",
                    f"'?' at {_line_col(sql, seg.start + i)}: give values as {{{{...}}}} or :name instead",
                    position=seg.start + i,
                )
            elif c == "?" and dialect == "postgresql" and paramstyle == "format":
                pieces.append(c)  # jsonb ? operator: psycopg leaves it alone
            else:
                pieces.append(c)
            i += 1
    prepared.text = "".join(pieces).rstrip().rstrip(";").rstrip()
    return prepared
