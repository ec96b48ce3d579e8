"""grpc plugin parts without a server: targets, matching, starter templates, request parsing, type checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import ActionDefinition, ChannelType, ScenarioStepSpec
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.grpc import GrpcPlugin
from orchestra_app.plugins.grpc.contract import GrpcContractValidator, error_path, parse_request
from orchestra_app.plugins.grpc.descriptors import DescriptorError, UnknownRpc, types_from_spec
from orchestra_app.plugins.grpc.executor import parse_target

pytestmark = pytest.mark.unit

PROTO = Path(__file__).parents[1] / "fixtures" / "grpc" / "orders.proto"


@pytest.fixture(scope="module")
def spec() -> SpecSummary:
    return import_spec(PROTO)


@pytest.mark.parametrize(
    ("url", "options", "address", "secure"),
    [
        ("grpc://localhost:50051", {}, "localhost:50051", False),
        ("http://10.0.0.1:80", {}, "10.0.0.1:80", False),
        ("grpcs://api.example.test", {}, "api.example.test:443", True),
        ("https://[::1]:8443", {}, "[::1]:8443", True),
        ("svc.internal:9000", {}, "svc.internal:9000", True),
        ("svc.internal:9000", {"plaintext": True}, "svc.internal:9000", False),
        ("unix:/tmp/grpc.sock", {"plaintext": True}, "unix:/tmp/grpc.sock", False),
    ],
)
def test_targets(url: str, options: dict[str, Any], address: str, secure: bool) -> None:
    target = parse_target(url, options)
    assert (target.address, target.secure) == (address, secure)


@pytest.mark.parametrize("url", ["", "ftp://x:1", "grpc://:50051", "grpc://h:99999", "hostonly"])
def test_bad_targets(url: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_target(url, {})
    assert err.value.field == "baseUrl"


def test_matcher_binds_steps_to_rpcs_with_a_starter_message(spec: SpecSummary) -> None:
    plugin = GrpcPlugin()
    steps = [
        ScenarioStepSpec(alias="a", name="Create order", channel_type=ChannelType.GRPC),
        ScenarioStepSpec(alias="b", name="Who am I", channel_type=ChannelType.GRPC),
        ScenarioStepSpec(
            alias="c",
            name="whatever",
            channel_type=ChannelType.GRPC,
            action=ActionDefinition(meta={"operation": "orders.v1.Orders/GetOrder"}),
        ),
    ]
    assert plugin.endpoint_matcher is not None
    bindings = plugin.endpoint_matcher.match(steps, spec)
    assert [(b.status, b.operation_id) for b in bindings] == [
        ("MATCHED", "orders.v1.Orders/CreateOrder"),
        ("MATCHED", "orders.v1.Orders/WhoAmI"),
        ("EXPLICIT", "orders.v1.Orders/GetOrder"),
    ]
    bound = plugin.endpoint_matcher.bind(steps[0], bindings[0], spec, "orders")
    assert bound.endpoint_ref is not None and bound.endpoint_ref.protocol_id == "grpc"
    message = bound.action.input_template["message"]
    assert message["customerId"] == "{{data.customerId}}"
    assert message["lines"] == "{{data.lines}}"  # repeated fields stay one placeholder
    assert message["behaviour"] == "{{data.behaviour}}"


def test_parse_request_names_fields(spec: SpecSummary) -> None:
    types = types_from_spec(spec.model_extra["descriptorSet"])  # type: ignore[index]
    descriptor = types.method("orders.v1.Orders/CreateOrder").input_type
    message, problems = parse_request(types, descriptor, {"customerId": "c", "lines": [{"qty": 2}]})
    assert problems == [] and message is not None and message.lines[0].qty == 2
    _, problems = parse_request(types, descriptor, {"lines": [{"qty": 1}, {"price": {"units": "x"}}]})
    (problem,) = problems
    assert problem.details["pointer"] == "/action/inputTemplate/message/lines/1/price/units"
    assert problem.details["field"] == "lines.1.price.units"


def test_error_path_reads_both_protobuf_error_styles() -> None:
    assert error_path('Message type "a.R" has no field named "x" at "R.lines[2]".\n Available') == (
        ["lines", "2", "x"],
        True,
    )
    assert error_path("Failed to parse a field: Failed to parse b field: bad.") == (["a", "b"], False)


def test_lookups_fail_clearly(spec: SpecSummary) -> None:
    types = types_from_spec(spec.model_extra["descriptorSet"])  # type: ignore[index]
    with pytest.raises(UnknownRpc) as err:
        types.method("orders.v1.Nope/X")
    assert "orders.v1.Orders" in str(err.value)  # the services it does know
    with pytest.raises(UnknownRpc):
        types.method("orders.v1.Orders/Nope")
    assert types.method("/orders.v1.Orders/GetOrder").name == "GetOrder"
    assert types.method("orders.v1.Orders.GetOrder").name == "GetOrder"
    with pytest.raises(DescriptorError):
        types_from_spec("not base64!")


def test_contract_validator_spi(spec: SpecSummary) -> None:
    validator = GrpcContractValidator()
    op = next(o for o in spec.operations if o.id.endswith("/CreateOrder"))
    assert validator.validate_request(spec, op, {"customerId": "x"}) == []
    assert [v.code for v in validator.validate_request(spec, op, {"nope": 1})] == ["INVALID_REQUEST_MESSAGE"]
    types = types_from_spec(spec.model_extra["descriptorSet"])  # type: ignore[index]
    drifted = types.message_class(types.pool.FindMessageTypeByName("orders.v1.OrderV2"))
    raw = drifted(id="x", status=3).SerializeToString()
    assert [v.code for v in validator.validate_response(spec, op, raw)] == ["UNKNOWN_RESPONSE_FIELD"]
    assert [v.code for v in validator.validate_response(spec, op, b"\xff\xff")] == ["RESPONSE_DECODE_ERROR"]


def test_proto2_required_fields_missing_in_a_response() -> None:
    spec = import_spec(
        b'syntax = "proto2";\npackage p;\nmessage R { required string id = 1; optional int32 n = 2; }\n'
        b"service S { rpc Get(R) returns (R); }\n",
        filename="p.proto",
    )
    op = spec.operations[0]
    found = GrpcContractValidator().validate_response(spec, op, b"\x10\x01")
    assert [(v.code, v.details["pointer"]) for v in found] == [("MISSING_REQUIRED_FIELD", "/id")]


def test_spec_parser_reads_proto_files(tmp_path: Path) -> None:
    parser = GrpcPlugin().spec_parser
    assert parser is not None
    assert parser.can_parse(PROTO, PROTO.read_text()[:200])
    assert not parser.can_parse(tmp_path / "x.yaml", "openapi: 3.0.0")
    assert parser.parse(PROTO).operations[0].id == "orders.v1.Orders/CreateOrder"
