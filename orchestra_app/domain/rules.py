"""Business-rule language: JSONPath-like selectors, operators and all/any/not (docs/business-rules.md)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.paths import PathSyntaxError, Segment, parse_path, select
from orchestra_app.domain.steps import Violation, ViolationType

COMPARISONS = ("gt", "gte", "lt", "lte")
OPERATORS = (
    "equals",
    "not_equals",
    "matches",
    "exists",
    "absent",
    *COMPARISONS,
    "contains",
    "length",
    "one_of",
)
LEAF_KEYS = {"path", "name", "message", "match", *OPERATORS}
COMBINATORS = ("all", "any", "not")
_MISSING = object()
_MAX_DETAIL_CHARS = 500


class RuleError(OrchestraError):
    """A malformed rule; ``pointer`` is the JSON pointer of the offending rule inside the rule document."""

    kind = ErrorKind.VALIDATION


@dataclass(frozen=True)
class Selector:
    """A compiled ``$``-path (the grammar of ``domain/paths.py``, shared with templates)."""

    text: str
    segments: tuple[Segment, ...]

    def select(self, subject: Any, case_insensitive_roots: frozenset[str]) -> list[tuple[str, Any]]:
        """All (json pointer, value) pairs the selector reaches; empty when nothing matches."""
        fold = bool(self.segments) and self.segments[0] in case_insensitive_roots
        return select(subject, self.segments, fold_depths=frozenset({1}) if fold else frozenset())


def parse_selector(text: str, pointer: str = "") -> Selector:
    """``$.body.items[*].price`` -> Selector; ``$`` alone selects the whole subject."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise RuleError(f"path must be a string starting with '$', got {text!r}", pointer=pointer + "/path")
    try:
        return Selector(text, parse_path(text))
    except PathSyntaxError as exc:
        raise RuleError(str(exc), pointer=pointer + "/path") from None


@dataclass
class RuleFailure:
    rule_pointer: str
    operator: str
    message: str
    path: str | None = None
    expected: Any = None
    actual: Any = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_violation(
        self, violation_type: ViolationType = ViolationType.BUSINESS_RULE_VIOLATION
    ) -> Violation:
        details: dict[str, Any] = {
            "rule": self.rule_pointer or "/",
            "operator": self.operator,
            "expected": _clip(self.expected),
            "actual": _clip(self.actual),
        }
        if self.path is not None:
            details["path"] = self.path
        if self.name:
            details["name"] = self.name
        details.update(self.extra)
        return Violation(
            type=violation_type, code=f"RULE_{self.operator.upper()}", message=self.message, details=details
        )


def _clip(value: Any) -> Any:
    """Keep details small: big actual values are replaced by a truncated JSON preview."""
    if value is _MISSING:
        return None
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= _MAX_DETAIL_CHARS:
        return value
    return {"truncatedPreview": text[:_MAX_DETAIL_CHARS] + "..."}


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing"
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class Rule:
    pointer: str
    name: str | None
    message: str | None

    def evaluate(self, subject: Any, folds: frozenset[str]) -> list[RuleFailure]:
        raise NotImplementedError


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1 and "1" != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def _compare(op: str, actual: Any, expected: Any) -> bool:
    comparable = (_is_number(actual) and _is_number(expected)) or (
        isinstance(actual, str) and isinstance(expected, str)
    )
    if not comparable:
        return False
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)


@dataclass
class LeafRule(Rule):
    pointer: str
    selector: Selector
    checks: list[tuple[str, Any]]
    match_mode: str = "all"
    name: str | None = None
    message: str | None = None

    def _check(self, op: str, expected: Any, actual: Any) -> bool:
        if op == "equals":
            return _same(actual, expected)
        if op == "not_equals":
            return not _same(actual, expected)
        if op == "matches":
            return isinstance(actual, str) and expected.search(actual) is not None
        if op in COMPARISONS:
            return _compare(op, actual, expected)
        if op == "contains":
            if isinstance(actual, str):
                return isinstance(expected, str) and expected in actual
            if isinstance(actual, list):
                return any(_same(item, expected) for item in actual)
            if isinstance(actual, Mapping):
                return isinstance(expected, str) and expected in actual
            return False
        if op == "one_of":
            return any(_same(actual, option) for option in expected)
        if op == "length":
            if not isinstance(actual, str | list | Mapping):
                return False
            size = len(actual)
            if isinstance(expected, int):
                return size == expected
            return all(
                size == want
                if sub == "equals"
                else size != want
                if sub == "not_equals"
                else _compare(sub, size, want)
                for sub, want in expected.items()
            )
        raise AssertionError(op)  # parse_rules only lets known operators through

    def evaluate(self, subject: Any, folds: frozenset[str]) -> list[RuleFailure]:
        matches = self.selector.select(subject, folds)
        failures: list[RuleFailure] = []
        for op, expected in self.checks:
            shown = expected.pattern if isinstance(expected, re.Pattern) else expected
            if op in ("exists", "absent"):
                want_present = bool(expected) if op == "exists" else not bool(expected)
                if bool(matches) != want_present:
                    actual = matches[0][1] if matches else _MISSING
                    failures.append(
                        self._failure(
                            op,
                            shown,
                            actual,
                            "is missing" if want_present else f"is present ({_show(actual)})",
                        )
                    )
                continue
            if not matches:
                failures.append(self._failure(op, shown, _MISSING, "is missing"))
                continue
            bad = [(ptr, value) for ptr, value in matches if not self._check(op, expected, value)]
            failed = bool(bad) if self.match_mode == "all" else len(bad) == len(matches)
            if failed:
                ptr, actual = bad[0]
                desc = "length" if op == "length" else ""
                got = len(actual) if op == "length" and isinstance(actual, str | list | Mapping) else actual
                failure = self._failure(op, shown, actual, f"{desc + ' ' if desc else ''}was {_show(got)}")
                failure.extra["at"] = ptr
                if len(matches) > 1:
                    failure.extra["failing"] = [{"at": p, "actual": _clip(v)} for p, v in bad[:10]]
                    failure.extra["matched"] = len(matches)
                failures.append(failure)
        return failures

    def _failure(self, op: str, expected: Any, actual: Any, what: str) -> RuleFailure:
        label = op.replace("_", " ")
        default = f"{self.selector.text}: expected {label} {_show(expected)}, but it {what}"
        if op in ("exists", "absent"):
            state = "present" if op == "exists" else "absent"
            default = f"{self.selector.text}: expected to be {state}, but it {what}"
        message = self.message or (f"{self.name}: {default}" if self.name else default)
        return RuleFailure(self.pointer, op, message, self.selector.text, expected, actual, self.name)


@dataclass
class Combinator(Rule):
    pointer: str
    kind: str
    children: list[Rule]
    name: str | None = None
    message: str | None = None

    def evaluate(self, subject: Any, folds: frozenset[str]) -> list[RuleFailure]:
        if self.kind == "all":
            return [f for child in self.children for f in child.evaluate(subject, folds)]
        if self.kind == "any":
            child_failures = [child.evaluate(subject, folds) for child in self.children]
            if any(not fs for fs in child_failures):
                return []
            flat = [f for fs in child_failures for f in fs]
            default = f"none of {len(self.children)} alternatives held: " + "; ".join(
                f.message for f in flat[:5]
            )
            message = self.message or (f"{self.name}: {default}" if self.name else default)
            return [
                RuleFailure(
                    self.pointer,
                    "any",
                    message,
                    None,
                    f"at least one of {len(self.children)} rules",
                    [{"rule": f.rule_pointer, "message": f.message} for f in flat[:10]],
                    self.name,
                )
            ]
        # not
        if self.children[0].evaluate(subject, folds):
            return []
        default = f"expected rule {self.children[0].pointer or '/'} not to hold, but it held"
        message = self.message or (f"{self.name}: {default}" if self.name else default)
        return [RuleFailure(self.pointer, "not", message, None, "rule does not hold", "rule held", self.name)]


@dataclass
class RuleSet:
    rules: list[Rule]

    def evaluate(
        self, subject: Any, *, case_insensitive_roots: frozenset[str] = frozenset({"headers"})
    ) -> list[RuleFailure]:
        return [f for rule in self.rules for f in rule.evaluate(subject, case_insensitive_roots)]

    def violations(
        self,
        subject: Any,
        violation_type: ViolationType = ViolationType.BUSINESS_RULE_VIOLATION,
        *,
        case_insensitive_roots: frozenset[str] = frozenset({"headers"}),
    ) -> list[Violation]:
        return [
            f.to_violation(violation_type)
            for f in self.evaluate(subject, case_insensitive_roots=case_insensitive_roots)
        ]


def _text_option(node: Mapping[str, Any], key: str, pointer: str) -> str | None:
    value = node.get(key)
    if value is not None and not isinstance(value, str):
        raise RuleError(f"'{key}' must be a string", pointer=f"{pointer}/{key}")
    return value


def _parse_expected(op: str, value: Any, pointer: str) -> Any:
    where = f"{pointer}/{op}"
    if op == "matches":
        if not isinstance(value, str):
            raise RuleError("'matches' needs a regular expression string", pointer=where)
        try:
            return re.compile(value)
        except re.error as exc:
            raise RuleError(f"invalid regular expression: {exc}", pointer=where) from None
    if op in ("exists", "absent"):
        if not isinstance(value, bool):
            raise RuleError(f"'{op}' takes true or false", pointer=where)
        return value
    if op in COMPARISONS:
        if not (_is_number(value) or isinstance(value, str)):
            raise RuleError(f"'{op}' needs a number (or a string for lexical comparison)", pointer=where)
        return value
    if op == "one_of":
        if not isinstance(value, list) or not value:
            raise RuleError("'one_of' needs a non-empty list", pointer=where)
        return value
    if op == "length":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, dict) and value:
            for sub, want in value.items():
                if sub not in (*COMPARISONS, "equals", "not_equals"):
                    raise RuleError(
                        f"unknown length comparison {sub!r} (use equals, not_equals, gt, gte, lt, lte)",
                        pointer=f"{where}/{sub}",
                    )
                if not isinstance(want, int) or isinstance(want, bool):
                    raise RuleError("length bounds must be integers", pointer=f"{where}/{sub}")
            return value
        raise RuleError("'length' needs an integer or an object like {\"gte\": 1}", pointer=where)
    return value


def _parse_rule(node: Any, pointer: str) -> Rule:
    if isinstance(node, list):
        return Combinator(
            pointer, "all", [_parse_rule(item, f"{pointer}/{i}") for i, item in enumerate(node)]
        )
    if not isinstance(node, dict):
        raise RuleError(f"a rule must be an object or a list, got {type(node).__name__}", pointer=pointer)
    name = _text_option(node, "name", pointer)
    message = _text_option(node, "message", pointer)
    combinators = [k for k in COMBINATORS if k in node]
    if combinators:
        if len(combinators) > 1 or "path" in node:
            raise RuleError(
                "a rule is either a combinator (all/any/not) or a path check, not both", pointer=pointer
            )
        kind = combinators[0]
        extra = set(node) - {kind, "name", "message"}
        if extra:
            raise RuleError(f"unknown key(s) {sorted(extra)} next to '{kind}'", pointer=pointer)
        body = node[kind]
        if kind == "not":
            return Combinator(pointer, kind, [_parse_rule(body, f"{pointer}/not")], name, message)
        if not isinstance(body, list) or not body:
            raise RuleError(f"'{kind}' needs a non-empty list of rules", pointer=f"{pointer}/{kind}")
        children = [_parse_rule(item, f"{pointer}/{kind}/{i}") for i, item in enumerate(body)]
        return Combinator(pointer, kind, children, name, message)
    if "path" not in node:
        raise RuleError("a rule needs 'path' (or one of all/any/not)", pointer=pointer)
    unknown = set(node) - LEAF_KEYS
    if unknown:
        raise RuleError(
            f"unknown operator(s) {sorted(unknown)}; known: {', '.join(OPERATORS)}", pointer=pointer
        )
    checks = [(op, _parse_expected(op, node[op], pointer)) for op in OPERATORS if op in node]
    if not checks:
        raise RuleError(f"rule has no operator; use one of {', '.join(OPERATORS)}", pointer=pointer)
    match_mode = node.get("match", "all")
    if match_mode not in ("all", "any"):
        raise RuleError("'match' is 'all' or 'any'", pointer=f"{pointer}/match")
    return LeafRule(pointer, parse_selector(node["path"], pointer), checks, match_mode, name, message)


def parse_rules(document: Any) -> RuleSet:
    """Validate and compile a businessRules document (a rule, or a list of rules meaning all)."""
    if document is None or document == [] or document == {}:
        return RuleSet([])
    if isinstance(document, list):
        return RuleSet([_parse_rule(item, f"/{i}") for i, item in enumerate(document)])
    return RuleSet([_parse_rule(document, "")])


def evaluate_rules(document: Any, subject: Any) -> list[Violation]:
    """Convenience: parse then evaluate, one BUSINESS_RULE_VIOLATION per failing rule."""
    return parse_rules(document).violations(subject)
