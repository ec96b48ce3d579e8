"""Suite files: the format parses, writes back the same, and every problem names file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from orchestra_app.importers.suite_yaml import SuiteFileError, dump_suite, load_located, parse_suite

pytestmark = pytest.mark.unit

GOOD = textwrap.dedent(
    """\
    format: orchestra-suite/1
    suite:
      name: Order fulfilment v1
      process: {key: order, version: 1}
      tags: [edges]
      specs:
        - {service: orders-api, protocol: http, version: 1.2.0}
    scenarios:
      - key: S001
        name: approved and paid
        tags: [HAPPY_PATH]
        steps:
          - alias: create_order
            name: Create order
            kind: ACTION
            channel: HTTP_REST
            node: create_order
            endpoint: http:orders-api:createOrder
            input:
              method: POST
              path: /orders
              json: {sku: '{{data.sku}}', quantity: '{{data.quantity}}'}
            expect:
              status: 201
              rules:
                - {path: $.body.status, equals: NEW}
          - alias: get_order
            kind: ACTION
            channel: HTTP_REST
            endpoint: http:orders-api:getOrder
            input:
              pathParams: {id: '{{step.create_order.response.body.id}}'}
              headers: {Authorization: 'Bearer {{secret:ORDERS_TOKEN}}'}
            chaining:
              /pathParams/id:
                source: '{{step.create_order.response.body.id}}'
                replaces: '{{data.id}}'
                step: create_order
                confidence: 0.8
        covers:
          nodes: [start, create_order]
    dataSets:
      - name: default
        data: {sku: SKU-1, quantity: 2}
      - name: big order
        scope: SCENARIO
        scenario: S001
        origin: MANUAL
        data: {sku: SKU-9, quantity: 50}
    """
)


def test_a_good_file_parses() -> None:
    doc, located = parse_suite(GOOD, "suite.yaml")
    assert doc.suite.process.key == "order" and doc.suite.specs[0].version == "1.2.0"
    step = doc.scenarios[0].steps[1]
    assert step.chaining["/pathParams/id"].confidence == 0.8
    assert doc.data_sets[1].scope == "SCENARIO" and doc.data_sets[0].origin == "IMPORTED"
    assert located.line(("scenarios", 0, "steps", 1, "alias")) == 27


def test_written_files_read_back_identically() -> None:
    data = load_located(GOOD).data
    text = dump_suite(data)
    assert load_located(text).data == data
    assert dump_suite(load_located(text).data) == text
    assert text.startswith("# Orchestra suite")
    multiline = dump_suite({"a": "line one\nline two\n", "b": "yes", "c": "2026-01-01", "d": "{{data.x}}"})
    assert "a: |" in multiline
    assert load_located(multiline).data == {
        "a": "line one\nline two\n",
        "b": "yes",
        "c": "2026-01-01",
        "d": "{{data.x}}",
    }


def _swap(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    "text,line,field,fragment",
    [
        ("", 1, None, "empty"),
        ("- a\n- b\n", 1, None, "is a mapping"),
        (
            _swap("format: orchestra-suite/1", "format: orchestra-suite/9"),
            1,
            "format",
            "must be 'orchestra-suite/1'",
        ),
        (_swap("  tags: [edges]", "  tags: [edges\n"), None, None, "not valid YAML"),
        (
            _swap("    tags: [HAPPY_PATH]", "    tags: [HAPPY_PATH]\n    tags: [X]"),
            12,
            "scenarios[0].tags",
            "duplicate key",
        ),
        (
            _swap(
                "        kind: ACTION\n        channel: HTTP_REST\n        node",
                "        kind: ACTON\n        channel: HTTP_REST\n        node",
            ),
            15,
            "scenarios[0].steps[0].kind",
            "ACTION",
        ),
        (
            _swap("        node: create_order", "        nodes: create_order"),
            17,
            "scenarios[0].steps[0].nodes",
            "Extra inputs",
        ),
        (
            _swap("http:orders-api:createOrder", "orders-api/createOrder"),
            18,
            "scenarios[0].steps[0].endpoint",
            "protocol:service:operation",
        ),
        (
            _swap("'{{data.quantity}}'", "'{{data..quantity}}'"),
            22,
            "scenarios[0].steps[0].input.json.quantity",
            "bad path syntax",
        ),
        (
            _swap("'{{data.sku}}'", "'{{nope()}}'"),
            22,
            "scenarios[0].steps[0].input.json.sku",
            "unknown function",
        ),
        (
            _swap("equals: NEW", "equalz: NEW"),
            26,
            "scenarios[0].steps[0].expect.rules[0]",
            "unknown operator",
        ),
        (
            _swap("status: 201", "status: 99"),
            24,
            "scenarios[0].steps[0].expect.status",
            "99 is not an HTTP status (100-599)",
        ),
        (
            _swap("'Bearer {{secret:ORDERS_TOKEN}}'", "'Bearer abc123'"),
            33,
            "scenarios[0].steps[1].input.headers.Authorization",
            "literal credential",
        ),
        (
            _swap(
                "      pathParams: {id:",
                "      auth: {type: basic, username: u, password: hunter2}\n          pathParams: {id:",
            ),
            32,
            "scenarios[0].steps[1].input.auth.password",
            "literal secret",
        ),
        (
            _swap("    - alias: get_order", "    - alias: create_order"),
            27,
            "scenarios[0].steps[1].alias",
            "used twice",
        ),
        (
            _swap("    - alias: get_order", "    - alias: 'get order!'"),
            27,
            "scenarios[0].steps[1].alias",
            "pattern",
        ),
        (
            _swap("          source: '{{step.create_order.", "          source: '{{step.get_order."),
            36,
            "scenarios[0].steps[1].chaining./pathParams/id.source",
            "does not run before",
        ),
        (
            _swap("        /pathParams/id:", "        pathParams/id:"),
            35,
            "scenarios[0].steps[1].chaining.pathParams/id",
            "JSON pointers",
        ),
        (_swap("    scenario: S001", "    scenario: S404"), 47, "dataSets[1].scenario", "scenario keys"),
        (
            _swap("  - name: big order\n    scope: SCENARIO\n    scenario: S001\n", "  - name: default\n"),
            45,
            "dataSets[1].name",
            "defined twice",
        ),
        (
            _swap("    data: {sku: SKU-1, quantity: 2}", "    data: {sku: &a SKU-1, <<: {q: 1}}"),
            44,
            "dataSets[0].data",
            "merge keys",
        ),
        (
            _swap("    data: {sku: SKU-1, quantity: 2}", "    data: {sku: SKU-1, quantity: .nan}"),
            44,
            "dataSets[0].data.quantity",
            "NaN",
        ),
        (
            _swap("    data: {sku: SKU-1, quantity: 2}", "    data: {sku: SKU-1, when: 2026-01-01}"),
            44,
            "dataSets[0].data",
            None,
        ),
    ],
)
def test_problems_name_file_line_and_field(
    text: str, line: int | None, field: str | None, fragment: str | None
) -> None:
    try:
        doc, _ = parse_suite(text, "suite.yaml")
    except SuiteFileError as exc:
        assert exc.file == "suite.yaml"
        if line is not None:
            assert exc.line == line, (exc.line, str(exc))
        assert exc.field == field, str(exc)
        assert fragment is None or fragment in exc.message, exc.message
        assert (
            str(exc).startswith(f"suite.yaml:{exc.line}") if exc.line else str(exc).startswith("suite.yaml")
        )
    else:
        # dates stay text (JSON-shaped YAML): the last case must parse with the date as a string
        assert fragment is None and doc.data_sets[0].data["when"] == "2026-01-01"


def test_status_sets_and_suite_request_check() -> None:
    text = GOOD.replace("      status: 201", "      status: [200, 2xx]").replace(
        "  tags: [edges]", "  tags: [edges]\n  requestValidation: warn"
    )
    doc, _ = parse_suite(text, "s.yaml")
    assert doc.scenarios[0].steps[0].expect.status == [200, "2XX"]
    assert doc.suite.request_validation == "warn"
    templated, _ = parse_suite(GOOD.replace("status: 201", "status: '{{data.expected}}'"), "s.yaml")
    assert templated.scenarios[0].steps[0].expect.status == "{{data.expected}}"
    with pytest.raises(SuiteFileError) as caught:
        parse_suite(GOOD.replace("  tags: [edges]", "  tags: [edges]\n  requestValidation: loud"), "s.yaml")
    assert caught.value.field == "suite.requestValidation"


def test_templates_in_meta_are_checked() -> None:
    text = GOOD.replace(
        "        node: create_order\n",
        "        node: create_order\n        meta: {params: {id: '{{data..id}}'}}\n",
    )
    with pytest.raises(SuiteFileError) as caught:
        parse_suite(text, "s.yaml")
    assert caught.value.field == "scenarios[0].steps[0].meta.params.id" and caught.value.line == 18


def test_second_scenario_key_twice_and_missing_fields() -> None:
    twice = GOOD.replace("dataSets:", "  - {key: S001, name: again}\ndataSets:")
    with pytest.raises(SuiteFileError) as caught:
        parse_suite(twice, "s.yaml")
    assert caught.value.field == "scenarios[1].key" and "used twice" in caught.value.message
    missing = GOOD.replace("  process: {key: order, version: 1}\n", "")
    with pytest.raises(SuiteFileError) as caught:
        parse_suite(missing, "s.yaml")
    assert caught.value.field == "suite.process" and "Field required" in caught.value.message
    assert caught.value.line == 2  # the suite mapping that lacks it


def test_depth_is_bounded() -> None:
    deep = "format: orchestra-suite/1\nx: " + "[" * 80 + "]" * 80 + "\n"
    with pytest.raises(SuiteFileError) as caught:
        load_located(deep, "deep.yaml")
    assert "nested deeper" in caught.value.message and caught.value.line == 2
