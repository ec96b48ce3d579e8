"""Pure parts of the side-effect plugins: SQL fences and binding, message matching, value decoding."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import fastavro
import pytest

from orchestra_app.domain.rules import parse_rules
from orchestra_app.plugins.db.sql import SqlRefused, prepare
from orchestra_app.plugins.kafka.serde import decode_value, encode_value
from orchestra_app.plugins.messages import (
    Correlation,
    MatcherMode,
    MessageCriteria,
    SeenMessages,
    loosely_equal,
    selector,
)
from orchestra_app.plugins.sideeffects import json_safe, subset_differences

pytestmark = pytest.mark.unit


def bind(sql: str, dialect: str = "postgresql", params: dict[str, Any] | None = None, **values: Any):  # type: ignore[no-untyped-def]
    style = "qmark" if dialect == "sqlite" else "format"
    return prepare(
        sql,
        dialect=dialect,  # type: ignore[arg-type]
        paramstyle=style,  # type: ignore[arg-type]
        render_placeholder=lambda expr, i: values[expr.split(".")[-1]],
        params=params or {},
    )


def test_placeholders_and_named_params_become_markers() -> None:
    prepared = bind(
        "SELECT * FROM t WHERE id = {{data.id}} AND kind = :kind AND created::date = now()::date",
        params={"kind": "A"},
        id=5,
    )
    assert prepared.text == "SELECT * FROM t WHERE id = %s AND kind = %s AND created::date = now()::date"
    assert prepared.params == [5, "A"] and prepared.bound == ["{{data.id}}", ":kind"]
    assert bind("SELECT * FROM t WHERE a = {{x}}", "sqlite", x=1).text == "SELECT * FROM t WHERE a = ?"


def test_percent_signs_are_escaped_for_format_drivers() -> None:
    prepared = bind("SELECT 10 % 3, name FROM t WHERE name LIKE 'a%' -- 100%\n")
    assert prepared.text == "SELECT 10 %% 3, name FROM t WHERE name LIKE 'a%%'"
    assert bind("SELECT 'a%'", "sqlite").text == "SELECT 'a%'"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ';' AS semi",
        "SELECT 1 -- ; DELETE FROM t",
        "SELECT 1 /* ; DELETE /* nested ; */ FROM t */",
        "SELECT $$ ; DELETE $$",
        "SELECT $tag$ it's ; $tag$",
        "SELECT E'it\\'s ; fine'",
        'SELECT 1 AS ";"',
        "SELECT 1;",
        "SELECT 1; -- trailing comment",
        "  (SELECT 1)",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "select 1",
    ],
)
def test_one_select_passes(sql: str) -> None:
    bind(sql)


@pytest.mark.parametrize(
    ("sql", "dialect", "code"),
    [
        ("UPDATE t SET a = 1", "postgresql", "NOT_A_SELECT"),
        ("SET search_path = x", "postgresql", "NOT_A_SELECT"),
        ("-- comment\nDELETE FROM t", "postgresql", "NOT_A_SELECT"),
        ("SELECT 1; SELECT 2", "postgresql", "MULTIPLE_STATEMENTS"),
        ("SELECT 1;;", "postgresql", "MULTIPLE_STATEMENTS"),
        ("SELECT ';'; DROP TABLE t", "postgresql", "MULTIPLE_STATEMENTS"),
        ("SELECT * INTO x FROM t", "postgresql", "NOT_A_SELECT"),
        ("SELECT a FROM t INTO OUTFILE '/tmp/x'", "mysql", "NOT_A_SELECT"),
        ("SELECT 1 # ; fine\n; DELETE FROM t", "mysql", "MULTIPLE_STATEMENTS"),
        ("SELECT 'unterminated", "postgresql", "UNTERMINATED"),
        ("SELECT /* open", "postgresql", "UNTERMINATED"),
        ("SELECT $$ open", "postgresql", "UNTERMINATED"),
        ("SELECT '{{data.x}}'", "postgresql", "PLACEHOLDER_IN_TEXT"),
        ("SELECT 1 -- {{data.x}}", "postgresql", "PLACEHOLDER_IN_TEXT"),
        ("SELECT :missing", "postgresql", "UNKNOWN_PARAMETER"),
        ("SELECT * FROM t WHERE a = ?", "sqlite", "RAW_PARAMETER_MARKER"),
        ("", "postgresql", "EMPTY_SQL"),
        ("SELECT {{data.x", "postgresql", "BAD_PLACEHOLDER"),
    ],
)
def test_refused_sql_names_the_reason(sql: str, dialect: str, code: str) -> None:
    with pytest.raises(SqlRefused) as caught:
        bind(sql, dialect, x=1)
    assert caught.value.code == code


def test_refusals_point_at_line_and_column() -> None:
    with pytest.raises(SqlRefused, match="line 2, column 8"):
        bind("SELECT 1\nFROM t ;\nDELETE FROM t")
    with pytest.raises(SqlRefused, match="line 1, column 28"):
        bind("SELECT a FROM t WHERE b = '{{data.x}}'")


def test_mysql_backticks_and_backslash_escapes() -> None:
    prepared = bind("SELECT `a;b` FROM t WHERE c = 'x\\'; y' AND d = {{data.v}}", "mysql", v="z")
    assert prepared.params == ["z"]


# ---- matching -------------------------------------------------------------------------------------


def test_subset_differences_name_pointers() -> None:
    actual = {"a": 1, "b": {"c": [1, 2, 3], "d": "x"}, "e": True}
    assert subset_differences({"a": 1.0, "b": {"c": [1, 2]}}, actual) == []
    assert subset_differences({"b": {"d": "y"}, "z": 1, "e": 1}, actual) == [
        {"pointer": "/b/d", "expected": "y", "actual": "x"},
        {"pointer": "/z", "expected": 1, "actual": "missing"},
        {"pointer": "/e", "expected": 1, "actual": True},
    ]
    assert subset_differences({"b": {"c": [1, 2, 3, 4]}}, actual)[0]["expected"] == "at least 4 items"
    assert subset_differences({"a": 1}, "text") == [
        {"pointer": "/", "expected": "an object", "actual": "text"}
    ]


@pytest.mark.parametrize(
    ("actual", "expected", "same"),
    [
        ("1001", 1001, True),
        (1001.0, "1001", True),
        ("a", "a", True),
        (True, "true", False),
        (1, True, False),
        (None, "None", False),
        ({"a": 1}, {"a": 1}, True),
        ("1001 ", 1001, False),
    ],
)
def test_correlation_ids_compare_loosely(actual: Any, expected: Any, same: bool) -> None:
    assert loosely_equal(actual, expected) is same


def test_criteria_correlate_then_match_and_seen_keeps_the_nearest() -> None:
    criteria = MessageCriteria(
        [Correlation("key", selector("$.key", ""), "K")],
        MatcherMode.PARTIAL_MATCH,
        {"status": "PAID"},
        "value",
        parse_rules([{"path": "$.value.total", "gt": 0}]),
    )
    seen = SeenMessages()
    for subject in (
        {"key": "other", "value": {"status": "PAID", "total": 1}},
        {"key": "K", "value": {"status": "NEW", "total": 0}},
        {"key": "K", "value": {"status": "NEW", "total": 5}},
    ):
        verdict = criteria.judge(subject)
        assert not verdict.matched
        seen.record(subject, verdict, {"key": subject["key"]})
    assert criteria.judge({"key": "K", "value": {"status": "PAID", "total": 2}}).matched
    summary = seen.summary()
    assert summary["scanned"] == 3 and summary["correlated"] == 2
    assert summary["nearest"][0]["differences"][0]["pointer"] == "/status"
    assert summary["nearest"][0]["ruleFailures"] == []  # total 5 passes the rule: the nearer candidate
    assert criteria.describe() == "key = K"


def test_json_safe_values() -> None:
    import datetime as dt
    import decimal
    import uuid

    value = {
        "d": decimal.Decimal("10.50"),
        "i": decimal.Decimal("3"),
        "t": dt.datetime(2026, 1, 2, 3, 4, 5),
        "u": uuid.UUID(int=1),
        "b": b"\xff\x00",
        "s": b"text",
        "n": float("nan"),
        "l": (1, {2}),
    }
    assert json_safe(value) == {
        "d": 10.5,
        "i": 3,
        "t": "2026-01-02T03:04:05",
        "u": "00000000-0000-0000-0000-000000000001",
        "b": {"base64": "/wA="},
        "s": "text",
        "n": "nan",
        "l": [1, [2]],
    }
    json.dumps(json_safe(value))


# ---- Kafka values ----------------------------------------------------------------------------------


class FakeRegistry:
    """Stands in for the registry's HTTP look-up: this test is about the wire format and decoding."""

    def __init__(self, schemas: dict[int, tuple[str, Any]]) -> None:
        self.schemas = schemas

    def schema(self, schema_id: int) -> tuple[str, Any]:
        from orchestra_app.plugins.kafka.serde import RegistryError

        if schema_id not in self.schemas:
            raise RegistryError(f"schema id {schema_id} not found")
        return self.schemas[schema_id]


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + payload


def test_confluent_framed_avro_and_json_schema_values() -> None:
    avro = fastavro.parse_schema(
        {
            "type": "record",
            "name": "Order",
            "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "int"}],
        }
    )
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, avro, {"id": "A", "n": 3})
    registry = FakeRegistry({7: ("AVRO", avro), 8: ("JSON", {"type": "object", "required": ["id"]})})
    decoded = decode_value(framed(7, buffer.getvalue()), "auto", registry)  # type: ignore[arg-type]
    assert (decoded.value, decoded.format, decoded.schema_id, decoded.problem) == (
        {"id": "A", "n": 3},
        "avro",
        7,
        None,
    )
    good = decode_value(framed(8, b'{"id": 1}'), "jsonschema", registry)  # type: ignore[arg-type]
    assert good.value == {"id": 1} and good.problem is None
    bad = decode_value(framed(8, b'{"x": 1}'), "auto", registry)  # type: ignore[arg-type]
    assert bad.problem is not None and "'id' is a required property" in bad.problem
    unknown = decode_value(framed(9, b"zz"), "avro", registry)  # type: ignore[arg-type]
    assert unknown.format == "bytes" and "not found" in (unknown.problem or "")
    no_registry = decode_value(framed(7, b"zz"), "avro", None)
    assert "schemaRegistryUrl" in (no_registry.problem or "")


def test_plain_values_and_encoding() -> None:
    assert decode_value(b'{"a": 1}', "auto", None).value == {"a": 1}
    assert decode_value(b"hello", "auto", None).format == "string"
    assert decode_value(b"hello", "json", None).problem == "the value is not JSON"
    assert decode_value(b"\xff", "auto", None).value == {"base64": "/w=="}
    assert decode_value(None, "auto", None).format == "empty"
    assert encode_value({"a": "é"}, "json") == '{"a":"é"}'.encode()
    assert encode_value("x", "string") == b"x"
    assert encode_value({"base64": "/w=="}, "bytes") == b"\xff"
    with pytest.raises(ValueError):
        encode_value({"a": 1}, "avro")


# ---- AsyncAPI contracts from an imported document --------------------------------------------------


def test_asyncapi_messages_from_the_importer_are_checked(fixtures_dir: Any) -> None:
    from orchestra_app.domain.steps import ScenarioStepSpec
    from orchestra_app.importers.spec_detect import import_spec
    from orchestra_app.plugins.kafka import plugin

    path = fixtures_dir / "specs" / "asyncapi2-kafka.yaml"
    assert plugin.spec_parser is not None and plugin.spec_parser.can_parse(path, path.read_text()[:200])
    spec = import_spec(path)
    validator = plugin.contract_validator
    operation = validator.find_operation(spec, "orders.created")  # by channel address
    assert operation is not None and operation.id == "onOrderCreated"
    assert validator.validate_message(spec, operation, {"orderId": "A", "lines": [{"orderId": "B"}]}) == []
    bad = validator.validate_message(spec, operation, {"orderId": 5, "lines": [{}]})
    assert [v.code for v in bad] == ["MESSAGE_SCHEMA_MISMATCH"]
    assert {e["pointer"] for e in bad[0].details["errors"]} == {"/orderId", "/lines/0"}
    either = validator.find_operation(spec, "send_orders_created")
    assert either is not None  # oneOf messages: valid when any message schema accepts it
    assert validator.validate_message(spec, either, {"orderId": "only"}) == []
    assert validator.find_operation(spec, "nope") is None
    steps = [ScenarioStepSpec(alias="pay", name="send payment", channel_type="KAFKA")]
    binding = plugin.endpoint_matcher.match(steps, spec)[0]  # type: ignore[union-attr]
    assert binding.operation_id == "sendPayment"
