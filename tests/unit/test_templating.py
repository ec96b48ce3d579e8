"""Template rendering: data, step responses, env, secrets, typed placeholders, errors with pointers."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.secrets import (
    ChainSecretResolver,
    EnvSecretResolver,
    FileSecretResolver,
    SecretNotFound,
    StaticSecretResolver,
    redact_value,
    secret_ref_name,
)
from orchestra_app.domain.steps import ExecutionContext, StepResultData
from orchestra_app.domain.templating import (
    TemplateError,
    TemplateScope,
    iter_placeholders,
    parse_path,
    render,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def scope() -> TemplateScope:
    login = StepResultData(
        step_alias="login",
        actual_status_code=200,
        response_body={"access_token": "tok", "user": {"id": 7, "roles": ["a", "b"]}},
        response_headers={"Content-Type": "application/json", "X-Trace": "t-9"},
    )
    context = ExecutionContext(
        variables={
            "data": {
                "name": "Ann",
                "qty": 3,
                "price": 9.5,
                "ok": True,
                "items": [{"sku": "s-1"}],
                "nothing": None,
            },
            "run": {"id": "r-1"},
        },
        steps_by_alias={"login": login},
    )
    return TemplateScope.from_context(
        context, env={"region": "eu"}, secrets=StaticSecretResolver({"DB_PASS": "hunter2"})
    )


def test_whole_string_placeholders_keep_json_types(scope: TemplateScope) -> None:
    rendered = render(
        {
            "q": "{{data.qty}}",
            "p": "{{ data.price }}",
            "ok": "{{data.ok}}",
            "items": "{{data.items}}",
            "none": "{{data.nothing}}",
        },
        scope,
    )
    assert rendered == {"q": 3, "p": 9.5, "ok": True, "items": [{"sku": "s-1"}], "none": None}


def test_interpolation_in_text(scope: TemplateScope) -> None:
    assert render("Hi {{data.name}}, qty={{data.qty}} ok={{data.ok}}", scope) == "Hi Ann, qty=3 ok=true"
    assert render("/orders/{{data.items[0].sku}}", scope) == "/orders/s-1"


def test_step_response_parts(scope: TemplateScope) -> None:
    assert render("{{step.login.response.body.access_token}}", scope) == "tok"
    assert render("{{step.login.response.body.user.roles[1]}}", scope) == "b"
    assert render("{{step.login.response.status}}", scope) == 200
    assert render("{{step.login.response.headers.x-trace}}", scope) == "t-9"  # header names ignore case
    assert render("{{step.login.response.headers.content-type}}", scope) == "application/json"


def test_env_run_variables_and_secrets(scope: TemplateScope) -> None:
    assert render("{{env.region}}", scope) == "eu"
    assert render("{{run.id}}", scope) == "r-1"
    assert render("pw={{secret:DB_PASS}}", scope) == "pw=hunter2"
    assert render({"password": {"secret": "DB_PASS"}}, scope) == {"password": "hunter2"}
    assert scope.secrets_used == {"hunter2"}


def test_keys_and_non_strings_are_literal(scope: TemplateScope) -> None:
    assert render({"{{data.name}}": 1, "n": 2, "b": False, "x": None}, scope) == {
        "{{data.name}}": 1,
        "n": 2,
        "b": False,
        "x": None,
    }


@pytest.mark.parametrize(
    "template,pointer,fragment",
    [
        ({"a": {"b": ["{{data.missing}}"]}}, "/a/b/0", "has no value"),
        ({"t": "{{step.nope.response.body.x}}"}, "/t", "no earlier step with alias 'nope'"),
        ({"t": "{{step.login.response.cookies}}"}, "/t", "unknown response part"),
        ({"t": "{{whatever.x}}"}, "/t", "unknown root"),
        ({"t": "{{secret:NOPE}}"}, "/t", "secret 'NOPE' is not defined"),
        ({"a/b": "{{data.items[5]}}"}, "/a~1b", "has no value"),
    ],
)
def test_errors_point_into_the_template(
    scope: TemplateScope, template: object, pointer: str, fragment: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, scope)
    assert caught.value.pointer == pointer
    assert fragment in caught.value.message


def test_placeholders_listing() -> None:
    template = {"a": "{{data.x}} and {{ env.y }}", "b": [{"secret": "S"}], "c": 3}
    assert list(iter_placeholders(template)) == ["data.x", "env.y", "secret:S"]


def test_parse_path() -> None:
    assert parse_path('a.b[0]["c.d"]') == ("a", "b", 0, "c.d")
    with pytest.raises(ValueError):
        parse_path("a..b")


def test_secret_resolvers(tmp_path: Path) -> None:
    env = EnvSecretResolver(environ={"ORCHESTRA_SECRET_TOKEN": "t1"})
    assert env.resolve("TOKEN") == "t1"
    json_file = tmp_path / "secrets.json"
    json_file.write_text('{"A": "1"}')
    lines_file = tmp_path / "secrets.env"
    lines_file.write_text("# comment\nB = two\n")
    chain = ChainSecretResolver([env, FileSecretResolver(json_file), FileSecretResolver(lines_file)])
    assert (chain.resolve("A"), chain.resolve("B"), chain.resolve("TOKEN")) == ("1", "two", "t1")
    with pytest.raises(SecretNotFound) as caught:
        chain.resolve("C")
    assert "'C'" in str(caught.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"A": "sup3rsecret" ')
    with pytest.raises(Exception) as bad:
        FileSecretResolver(broken).resolve("A")
    assert "sup3rsecret" not in str(bad.value)


def test_redaction_helpers() -> None:
    assert secret_ref_name({"secretRef": "X"}) == "X" and secret_ref_name({"a": "X"}) is None
    assert redact_value({"h": ["Bearer abc", "abcd"], "n": 1}, {"abc"}) == {
        "h": ["Bearer ***", "***d"],
        "n": 1,
    }
