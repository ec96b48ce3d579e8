"""Finding one message among many: correlation, EXISTS_ONLY / PARTIAL_MATCH, rules, and what was seen.

Shared by the kafka and queue plugins. A message is turned into a *subject* (a JSON object such as
``{"key", "headers", "value", "topic", "partition", "offset", "timestamp"}`` for Kafka); a
``MessageCriteria`` then says whether it is *correlated* (every given correlation holds: key, header,
property or an expression into the body) and whether it *matches* (PARTIAL_MATCH: the expected object
is a subset of the body; the step's businessRules hold on the subject). ``SeenMessages`` keeps counts
and the few nearest candidates for the failure message.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from orchestra_app.domain.rules import RuleError, RuleSet, Selector, parse_selector
from orchestra_app.domain.steps import Violation, ViolationType
from orchestra_app.plugins.sideeffects import PollingMeta, invalid, preview, subset_differences, violation

NEAREST_KEPT = 3


class MatcherMode(StrEnum):
    EXISTS_ONLY = "EXISTS_ONLY"
    PARTIAL_MATCH = "PARTIAL_MATCH"


class MessageAssertMeta(PollingMeta):
    """Meta every message assertion shares: matcher mode, expected subset, waits."""

    value_matcher_mode: MatcherMode | None = None
    expected: Any = None  # PARTIAL_MATCH: templated subset of the body
    lookback_ms: int | None = Field(default=None, ge=0, le=86_400_000)
    poll_interval_ms: int = Field(default=100, ge=10, le=60_000)  # longest single wait for new messages

    @model_validator(mode="after")
    def _matcher_mode(self) -> MessageAssertMeta:
        if self.value_matcher_mode is None:
            self.value_matcher_mode = (
                MatcherMode.PARTIAL_MATCH if self.expected is not None else MatcherMode.EXISTS_ONLY
            )
        elif self.value_matcher_mode is MatcherMode.EXISTS_ONLY and self.expected is not None:
            raise ValueError("expected needs valueMatcherMode PARTIAL_MATCH (EXISTS_ONLY ignores the body)")
        elif self.value_matcher_mode is MatcherMode.PARTIAL_MATCH and self.expected is None:
            raise ValueError("valueMatcherMode PARTIAL_MATCH needs an expected object")
        return self


@dataclass(frozen=True)
class Correlation:
    label: str  # e.g. "key", "header x-correlation-id", "$.value.orderId"
    selector: Selector  # into the message subject
    expected: Any

    def holds(self, subject: Any) -> bool:
        found = self.selector.select(subject, frozenset({"headers", "properties"}))
        return any(loosely_equal(value, self.expected) for _, value in found)


def loosely_equal(actual: Any, expected: Any) -> bool:
    """Correlation ids compare as JSON values, and a number equals its text form ("1001" == 1001):
    the same id often travels as a number in a body and as text in a key or header."""
    if actual == expected and type(actual) is type(expected):
        return True
    scalar = (str, int, float)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, scalar) and isinstance(expected, scalar):
        return _text(actual) == _text(expected)
    return bool(actual == expected)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def selector(text: str, pointer: str) -> Selector:
    try:
        return parse_selector(text, pointer)
    except RuleError as exc:
        raise invalid("INVALID_STEP_META", exc.message, pointer=pointer) from None


@dataclass
class Verdict:
    correlated: bool
    matched: bool
    differences: list[dict[str, Any]] = field(default_factory=list)
    rule_failures: list[Violation] = field(default_factory=list)


@dataclass
class MessageCriteria:
    correlations: list[Correlation]
    mode: MatcherMode
    expected: Any  # PARTIAL_MATCH: subset of the body
    body_path: str  # where the body is in the subject ("value" for Kafka, "body" for queues)
    rules: RuleSet

    def judge(self, subject: dict[str, Any]) -> Verdict:
        if not all(c.holds(subject) for c in self.correlations):
            return Verdict(False, False)
        differences: list[dict[str, Any]] = []
        if self.mode is MatcherMode.PARTIAL_MATCH and self.expected is not None:
            differences = subset_differences(self.expected, subject.get(self.body_path))
        failures = self.rules.violations(subject, case_insensitive_roots=frozenset({"headers", "properties"}))
        return Verdict(True, not differences and not failures, differences, failures)

    def describe(self) -> str:
        if not self.correlations:
            return "any message"
        return " and ".join(f"{c.label} = {preview(c.expected, 80)!s}" for c in self.correlations)


@dataclass
class SeenMessages:
    """What an assertion saw, for the failure summary: counts and the nearest candidates."""

    scanned: int = 0
    skipped_before_window: int = 0
    correlated: int = 0
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=NEAREST_KEPT))
    nearest: list[tuple[int, dict[str, Any], Verdict]] = field(default_factory=list)

    def record(self, subject: dict[str, Any], verdict: Verdict, brief: dict[str, Any]) -> None:
        self.scanned += 1
        if verdict.correlated:
            self.correlated += 1
            score = len(verdict.differences) + len(verdict.rule_failures)
            self.nearest.append((score, brief, verdict))
            self.nearest.sort(key=lambda item: item[0])
            del self.nearest[NEAREST_KEPT:]
        else:
            self.recent.append(brief)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scanned": self.scanned, "correlated": self.correlated}
        if self.skipped_before_window:
            out["skippedBeforeWindow"] = self.skipped_before_window
        if self.nearest:
            out["nearest"] = [
                {
                    **brief,
                    "differences": verdict.differences[:10],
                    "ruleFailures": [v.message for v in verdict.rule_failures[:10]],
                }
                for _, brief, verdict in self.nearest
            ]
        elif self.recent:
            out["lastSeen"] = list(self.recent)
        return out


def not_found_violations(
    not_found: ViolationType, timeout_ms: int, seen: SeenMessages, criteria: MessageCriteria, where: str
) -> list[Violation]:
    """TIMEOUT / ASSERTION_TIMEOUT (unless the step looked only once), then what was seen."""
    out: list[Violation] = []
    if timeout_ms > 0:
        out.append(
            violation(
                ViolationType.TIMEOUT,
                "ASSERTION_TIMEOUT",
                f"no matching message on {where} within {timeout_ms} ms",
                timeoutMs=timeout_ms,
            )
        )
    return out + mismatch_violations(not_found, seen, criteria, where)


def mismatch_violations(
    not_found: ViolationType, seen: SeenMessages, criteria: MessageCriteria, where: str
) -> list[Violation]:
    """KAFKA_/QUEUE_MESSAGE_NOT_FOUND with the summary; when correlated messages were seen but none
    matched, the nearest one's rule failures follow as BUSINESS_RULE_VIOLATIONs."""
    summary = seen.summary()
    if seen.correlated:
        verdict = seen.nearest[0][2]
        diffs = "; ".join(
            f"{d['pointer']}: expected {preview(d['expected'], 60)}, got {preview(d['actual'], 60)}"
            for d in verdict.differences[:3]
        )
        message = (
            f"{seen.correlated} message(s) with {criteria.describe()} arrived on {where}, but none matched"
            + (f" (nearest: {diffs})" if diffs else "")
        )
        out = [Violation(type=not_found, code="MESSAGE_MISMATCH", message=message, details=summary)]
        out.extend(verdict.rule_failures)
        return out
    message = f"no message with {criteria.describe()} arrived on {where} ({seen.scanned} scanned)"
    return [Violation(type=not_found, code="MESSAGE_NOT_FOUND", message=message, details=summary)]
