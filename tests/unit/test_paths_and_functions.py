"""One path grammar for templates and rules; template functions (uuid, now, random) and strictness."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestra_app.domain.paths import WILDCARD, PathSyntaxError, format_path, parse_path, select
from orchestra_app.domain.rules import RuleError, evaluate_rules, parse_selector
from orchestra_app.domain.steps import ExecutionContext, StepResultData
from orchestra_app.domain.templating import (
    TemplateError,
    TemplateScope,
    check_template,
    data_variables,
    render,
)

pytestmark = pytest.mark.unit

FIXED = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,segments",
    [
        ("data", ("data",)),
        ("data.items[0].sku", ("data", "items", 0, "sku")),
        ("a.b[-1]", ("a", "b", -1)),
        ("a[*].b", ("a", WILDCARD, "b")),
        ("a.*", ("a", WILDCARD)),
        ("a['x.y'][\"p[q]\"]", ("a", "x.y", "p[q]")),
        ("$", ()),
        ("$.body.items[*].price", ("body", "items", WILDCARD, "price")),
        ("headers.content-type", ("headers", "content-type")),
    ],
)
def test_grammar(text: str, segments: tuple[Any, ...]) -> None:
    assert parse_path(text) == segments


@pytest.mark.parametrize("text,position", [("a..b", 2), ("a[", 2), ("", 1), ("$x", 2), ("a[1", 2), ("a]", 2)])
def test_grammar_errors_name_the_character(text: str, position: int) -> None:
    with pytest.raises(PathSyntaxError) as caught:
        parse_path(text)
    assert caught.value.position == position
    assert f"character {position}" in str(caught.value)


@pytest.mark.parametrize(
    "path", ["body.items[0].id", "body.items[*].price", "headers.x", "body['a.b']", "body.x[-1]"]
)
def test_rules_and_templates_share_one_grammar(path: str) -> None:
    assert parse_selector("$." + path).segments == parse_path(path)
    assert parse_path(format_path(parse_path(path))) == parse_path(path)


def test_bad_rule_path_is_a_rule_error_with_pointer() -> None:
    with pytest.raises(RuleError) as caught:
        parse_selector("$.a..b", "/all/0")
    assert caught.value.pointer == "/all/0/path" and "character 4" in caught.value.message


def test_select_semantics() -> None:
    doc = {"items": [{"id": 1}, {"id": 2}], "H": {"Content-Type": "x"}, "m": {"0": "zero"}}
    assert select(doc, ("items", -1, "id")) == [("/items/1/id", 2)]
    assert select(doc, ("items", "0", "id")) == [("/items/0/id", 1)]  # a digit name indexes a list
    assert select(doc, ("m", 0)) == [("/m/0", "zero")]  # an index names an object member
    assert select(doc, ("items", WILDCARD, "id")) == [("/items/0/id", 1), ("/items/1/id", 2)]
    assert select(doc, ("H", "content-type")) == []
    assert select(doc, ("H", "content-type"), fold_depths=frozenset({1})) == [("/H/Content-Type", "x")]
    assert select(doc, ("items", 5)) == []


def test_rules_use_negative_and_digit_indexes_like_templates() -> None:
    subject = {"body": {"items": [{"id": 1}, {"id": 2}]}}
    assert evaluate_rules({"path": "$.body.items.1.id", "equals": 2}, subject) == []
    scope = TemplateScope(data=subject["body"])
    assert render("{{data.items[-1].id}}", scope) == 2
    assert render("{{data.items[*].id}}", scope) == [1, 2]


def _scope(seed: object = None, steps: int = 0, **extra: Any) -> TemplateScope:
    results = {f"s{i}": StepResultData(step_alias=f"s{i}") for i in range(steps)}
    variables: dict[str, Any] = {"data": {"customer": {"id": 7, "name": "Ann"}}}
    if seed is not None:
        variables["run"] = {"seed": seed}
    context = ExecutionContext(variables=variables, steps_by_alias=results, **extra)
    return TemplateScope.from_context(context, clock=lambda: FIXED)


def test_uuid_is_a_v4_uuid_and_repeats_when_seeded() -> None:
    value = render("{{uuid()}}", _scope())
    assert uuid.UUID(value).version == 4
    assert render("{{uuid()}}", _scope()) != value  # unseeded: fresh every time
    first = render(["{{uuid()}}", "{{ uuid() }}"], _scope(seed=42))
    assert first == render(["{{uuid()}}", "{{ uuid() }}"], _scope(seed=42))
    assert first[0] != first[1]  # two calls in one step differ
    # the next step of the same seeded run draws a different stream
    assert render("{{uuid()}}", _scope(seed=42, steps=1)) != first[0]
    assert render("{{uuid()}}", _scope(seed=43)) != first[0]


def test_now_formats_and_offsets() -> None:
    scope = _scope()
    assert render("{{now()}}", scope) == "2026-03-04T05:06:07.890Z"
    assert render("{{now('date')}}", scope) == "2026-03-04"
    assert render("{{now('epoch')}}", scope) == int(FIXED.timestamp())
    assert render("{{now('epochMillis')}}", scope) == int(FIXED.timestamp() * 1000)
    assert render("{{now('+1d')}}", scope) == "2026-03-05T05:06:07.890Z"
    assert render("{{now('date', '-1w')}}", scope) == "2026-02-25"
    assert render("{{now('%Y/%m', '+1d-2h+30m')}}", scope) == "2026/03"
    assert render("due {{now('date', '+2d')}}", scope) == "due 2026-03-06"


def test_random_functions_respect_bounds_and_seed() -> None:
    values = {render("{{random.int(1, 3)}}", _scope()) for _ in range(200)}
    assert values == {1, 2, 3}
    text = render("{{random.string(12)}}", _scope())
    assert re.fullmatch(r"[a-z0-9]{12}", text)
    assert re.fullmatch(r"[AB]{5}", render("{{random.string(5, 'AB')}}", _scope()))
    assert render("{{random.choice('x', 2, true)}}", _scope(seed="s")) == render(
        "{{random.choice('x', 2, true)}}", _scope(seed="s")
    )
    seeded = [render("{{random.int(1, 1000000)}}", _scope(seed=7)) for _ in range(3)]
    assert len(set(seeded)) == 1


@pytest.mark.parametrize(
    "template,fragment",
    [
        ("{{nope()}}", "unknown function 'nope'"),
        ("{{random.int(1)}}", "takes two integers"),
        ("{{random.int(5, 1)}}", "min 5 is above max 1"),
        ("{{random.int('a', 2)}}", "min must be an integer"),
        ("{{random.string(-1)}}", "between 0 and 10000"),
        ("{{random.choice()}}", "at least one value"),
        ("{{now('+1x')}}", "bad offset"),
        ("{{now('date', 'soon')}}", "bad offset"),
        ("{{now('weekday')}}", "unknown format"),
        ("{{now(1)}}", "both text"),
        ("{{uuid(1 2)}}", "expected ','"),
        ("{{uuid(foo)}}", "arguments are literals"),
        ("{{$.data.x}}", "not '$'"),
        ("{{data..x}}", "bad path syntax"),
    ],
)
def test_function_and_syntax_errors_fail_clearly(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render({"field": template}, _scope())
    assert fragment in caught.value.message
    assert caught.value.pointer == "/field"


def test_missing_variable_names_it_and_what_exists() -> None:
    with pytest.raises(TemplateError) as caught:
        render({"json": {"email": "{{data.customer.email}}"}}, _scope())
    message = caught.value.message
    assert "'data.customer.email' has no value" in message
    assert "customer has no member 'email' (it has: id, name)" in message
    assert caught.value.pointer == "/json/email"


def test_run_id_and_response_parts_of_side_effect_steps() -> None:
    run_id = uuid.uuid4()
    db = StepResultData(step_alias="db", db_result={"rows": [{"id": 5}]}, duration_ms=12)
    kafka = StepResultData(step_alias="k", kafka_message={"key": "o-1", "value": {"total": 3}})
    context = ExecutionContext(run_id=run_id, steps_by_alias={"db": db, "k": kafka})
    scope = TemplateScope.from_context(context)
    assert render("{{run.id}}", scope) == str(run_id)
    assert render("{{step.db.response.rows[0].id}}", scope) == 5
    assert render("{{step.db.response.durationMs}}", scope) == 12
    assert render("{{step.k.response.message.value.total}}", scope) == 3
    with pytest.raises(TemplateError, match="steps so far: db, k"):
        render("{{step.login.response.body}}", scope)


def test_check_template_and_data_variables() -> None:
    template = {
        "path": "/o/{{data.order.id}}",
        "q": ["{{nope()}}", "{{data.items[0].sku}}"],
        "h": "{{env.x}}",
    }
    assert check_template(template) == [
        (
            "/q/0",
            "'nope()': unknown function 'nope' (known: now(), random.choice(), "
            "random.int(), random.string(), uuid())",
        )
    ]
    assert data_variables(template) == [("/path", ("order", "id")), ("/q/1", ("items", 0, "sku"))]
