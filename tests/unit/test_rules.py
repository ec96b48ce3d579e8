"""Business-rule language: selectors, operators, combinators and malformed-rule errors."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra_app.domain.rules import RuleError, evaluate_rules, parse_rules, parse_selector
from orchestra_app.domain.steps import ViolationType

pytestmark = pytest.mark.unit

SUBJECT: dict[str, Any] = {
    "status": 201,
    "headers": {"content-type": "application/json", "x-request-id": "r-1"},
    "body": {
        "id": "o-1",
        "status": "APPROVED",
        "total": 12.5,
        "flag": True,
        "note": None,
        "tags": ["vip", "eu"],
        "items": [{"id": 1, "price": 2.5}, {"id": 2, "price": 10}],
        "odd.key": "dotted",
    },
}


def failures(rules: Any) -> list[dict[str, Any]]:
    return [v.details | {"code": v.code, "message": v.message} for v in evaluate_rules(rules, SUBJECT)]


@pytest.mark.parametrize(
    "rule",
    [
        {"path": "$.body.status", "equals": "APPROVED"},
        {"path": "$.body.status", "not_equals": "REJECTED"},
        {"path": "$.body.id", "matches": "^o-\\d+$"},
        {"path": "$.body.note", "exists": True},  # present with a null value still exists
        {"path": "$.body.missing", "absent": True},
        {"path": "$.body.missing", "exists": False},
        {"path": "$.body.total", "gt": 12, "lte": 12.5},
        {"path": "$.body.items[*].price", "gte": 2.5},
        {"path": "$.body.items[*].price", "equals": 10, "match": "any"},
        {"path": "$.body.tags", "contains": "vip"},
        {"path": "$.body.id", "contains": "-"},
        {"path": "$.body", "contains": "total"},
        {"path": "$.body.items", "length": 2},
        {"path": "$.body.items", "length": {"gte": 1, "lt": 3}},
        {"path": "$.body.status", "one_of": ["NEW", "APPROVED"]},
        {"path": "$.status", "one_of": [200, 201]},
        {"path": "$.headers.Content-Type", "equals": "application/json"},  # header names ignore case
        {"path": "$.body.items[1].id", "equals": 2},
        {"path": "$.body.items[-1].id", "equals": 2},
        {"path": "$.body['odd.key']", "equals": "dotted"},
        {"path": "$.body.total", "equals": 12.5},
        {"path": "$.body.items[1].price", "equals": 10.0},  # 10 == 10.0 in JSON
        {"any": [{"path": "$.body.status", "equals": "X"}, {"path": "$.body.status", "equals": "APPROVED"}]},
        {"not": {"path": "$.body.status", "equals": "REJECTED"}},
        [{"path": "$.body.flag", "equals": True}, {"path": "$.body.tags[*]", "matches": "^[a-z]+$"}],
    ],
)
def test_rules_that_hold(rule: Any) -> None:
    assert failures(rule) == []


def test_failing_rule_reports_path_expected_actual() -> None:
    [failure] = failures(
        {"all": [{"path": "$.body.status", "equals": "APPROVED"}, {"path": "$.body.status", "equals": "NEW"}]}
    )
    assert failure["code"] == "RULE_EQUALS"
    assert failure["rule"] == "/all/1"
    assert failure["path"] == "$.body.status"
    assert failure["expected"] == "NEW" and failure["actual"] == "APPROVED"
    assert failure["at"] == "/body/status"
    assert 'expected equals "NEW"' in failure["message"]


def test_each_failing_rule_is_one_violation() -> None:
    violations = evaluate_rules(
        [
            {"path": "$.body.total", "lt": 5},
            {"path": "$.body.missing", "exists": True},
            {"path": "$.body.flag", "equals": 1},  # true is not 1
            {"path": "$.body.items[*].price", "gt": 3},
        ],
        SUBJECT,
    )
    assert [v.code for v in violations] == ["RULE_LT", "RULE_EXISTS", "RULE_EQUALS", "RULE_GT"]
    assert all(v.type == ViolationType.BUSINESS_RULE_VIOLATION for v in violations)
    wildcard = violations[3].details
    assert wildcard["at"] == "/body/items/0/price" and wildcard["actual"] == 2.5
    assert wildcard["matched"] == 2 and wildcard["failing"] == [{"at": "/body/items/0/price", "actual": 2.5}]


def test_missing_value_fails_comparisons() -> None:
    [failure] = failures({"path": "$.body.nope", "equals": 1})
    assert failure["actual"] is None and "is missing" in failure["message"]


def test_length_and_types() -> None:
    [failure] = failures({"path": "$.body.items", "length": {"gte": 3}})
    assert failure["code"] == "RULE_LENGTH" and "length was 2" in failure["message"]
    assert failures({"path": "$.body.total", "gt": "a"})[0]["code"] == "RULE_GT"  # number vs string: no match


def test_any_and_not_failures() -> None:
    [any_failure] = failures(
        {
            "any": [{"path": "$.body.status", "equals": "X"}, {"path": "$.body.status", "equals": "Y"}],
            "name": "final state",
        }
    )
    assert any_failure["code"] == "RULE_ANY" and any_failure["name"] == "final state"
    assert [c["rule"] for c in any_failure["actual"]] == ["/any/0", "/any/1"]
    [not_failure] = failures({"not": {"path": "$.body.status", "equals": "APPROVED"}})
    assert not_failure["code"] == "RULE_NOT"


def test_custom_message() -> None:
    [failure] = failures({"path": "$.body.status", "equals": "NEW", "message": "order must start NEW"})
    assert failure["message"] == "order must start NEW"


@pytest.mark.parametrize(
    "rules,pointer,fragment",
    [
        ({"path": "$.a", "equalz": 1}, "", "unknown operator"),
        ([{"path": "$.a", "equals": 1}, {"path": "body.a", "equals": 1}], "/1/path", "starting with '$'"),
        ({"all": [{"path": "$.a"}]}, "/all/0", "no operator"),
        ({"all": []}, "/all", "non-empty list"),
        ({"any": [{"path": "$.a", "matches": "("}]}, "/any/0/matches", "invalid regular expression"),
        ({"path": "$.a", "length": {"most": 1}}, "/length/most", "unknown length comparison"),
        ({"path": "$.a", "one_of": 3}, "/one_of", "non-empty list"),
        ({"path": "$.a", "exists": "yes"}, "/exists", "true or false"),
        ({"all": [{"path": "$.a", "equals": 1}], "path": "$.b"}, "", "not both"),
        ({"path": "$.a[", "equals": 1}, "/path", "bad path syntax"),
        ("nonsense", "", "must be an object"),
        ({"path": "$.a", "equals": 1, "match": "some"}, "/match", "'all' or 'any'"),
    ],
)
def test_malformed_rules_point_at_the_rule(rules: Any, pointer: str, fragment: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(rules)
    assert caught.value.pointer == pointer
    assert fragment in caught.value.message


def test_empty_documents_are_no_rules() -> None:
    for empty in (None, [], {}):
        assert parse_rules(empty).rules == []


def test_selector_parsing() -> None:
    selector = parse_selector("$.body.items[*].price")
    assert [p for p, _ in selector.select(SUBJECT, frozenset())] == [
        "/body/items/0/price",
        "/body/items/1/price",
    ]
    assert parse_selector("$").select(SUBJECT, frozenset())[0][1] is SUBJECT
    assert parse_selector("$.body.*").select({"body": {"a": 1, "b": 2}}, frozenset()) == [
        ("/body/a", 1),
        ("/body/b", 2),
    ]
