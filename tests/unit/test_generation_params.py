"""Generation parameters are parsed once (generation/params.py) for the REST API and the CLI (issue 7
item 6): the same bounds, each error naming its own parameter, whatever else is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_app.cli import app
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.params import parse_int, parse_uuid
from orchestra_app.generation.params import MAX_LOOP, MAX_SCENARIOS, GenerationParams, parse_generation_params

pytestmark = pytest.mark.unit
runner = CliRunner()
ORDER = Path(__file__).resolve().parents[1] / "fixtures" / "app" / "order.bpmn"


def test_defaults_and_valid_values() -> None:
    assert parse_generation_params({}) == GenerationParams()
    parsed = parse_generation_params(
        {"strategy": "paths", "max_loop": "5", "max_scenarios": 7, "parallel": "product"}
    )
    assert parsed == GenerationParams("paths", 7, 5, "product")
    assert (
        parse_generation_params({"max_loop": str(MAX_LOOP), "max_scenarios": str(MAX_SCENARIOS)}).max_loop
        == 20
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            {"strategy": "bogus", "max_loop": "x"},
            "strategy",
        ),  # the first bad parameter is named, not max_loop
        ({"max_loop": "0"}, "max_loop"),
        ({"max_loop": "21"}, "max_loop"),
        ({"max_loop": "1e3"}, "max_loop"),
        ({"max_loop": " 3 4"}, "max_loop"),
        ({"max_loop": "٣"}, "max_loop"),  # an Arabic-Indic digit: int() would take it, the API must not
        ({"max_scenarios": "-1"}, "max_scenarios"),
        ({"max_scenarios": str(MAX_SCENARIOS + 1)}, "max_scenarios"),
        ({"max_scenarios": "9" * 100}, "max_scenarios"),
        ({"parallel": "PAIRWISE"}, "parallel"),
    ],
)
def test_each_error_names_its_parameter(raw: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_generation_params(raw)
    assert caught.value.field == field and field in str(caught.value)


def test_long_or_odd_values_are_quoted_short_and_printable() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_int("\x1b[31m" + "9x" * 5000, name="limit")
    text = str(caught.value)
    assert len(text) < 200 and "\x1b" not in text
    with pytest.raises(ValidationFailed, match="id must be a UUID"):
        parse_uuid("1" * 10_000, name="id")


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--max-loop", "0", "at least 1"),
        ("--max-loop", "1000000000", "at most 20"),
        ("--max-scenarios", "0", "at least 1"),
        ("--strategy", "bogus", "edges, paths"),
        ("--parallel", "all", "pairwise, product"),
    ],
)
def test_cli_refuses_what_the_api_refuses_with_the_same_words(option: str, value: str, words: str) -> None:
    result = runner.invoke(app, ["process", "scenarios", str(ORDER), option, value])
    assert result.exit_code == 2
    assert (
        result.output.startswith(f"{option}: ")
        and words in result.output
        and "Traceback" not in result.output
    )


def test_cli_accepts_the_upper_bounds() -> None:
    result = runner.invoke(
        app, ["process", "scenarios", str(ORDER), "--max-loop", "20", "--max-scenarios", "10000", "--json"]
    )
    assert result.exit_code == 0, result.output
