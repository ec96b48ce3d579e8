"""gRPC ContractValidator: JSON -> request message (errors name the field); responses against their type."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import Violation, ViolationType
from orchestra_app.plugins.grpc.descriptors import DescriptorError, MessageTypes, types_from_spec

MAX_FINDINGS = 50
_AT = re.compile(r'\bat "?([A-Za-z0-9_.\[\]]+?)"?\.?(?:\n|$)')
_FAILED = re.compile(r"Failed to parse (\w+) field: ")
_NO_FIELD = re.compile(r'has no field named "([^"]+)"')
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def error_path(message: str) -> tuple[list[str], bool]:
    """The JSON path inside the request message that a json_format.ParseError talks about, and whether
    it came with list indexes (protobuf names some errors by path, others by a chain of field names)."""
    at = _AT.search(message)
    if at is not None:
        tokens = [m.group(1) or m.group(2) for m in _PATH_PART.finditer(at.group(1))]
        parts, indexed = tokens[1:], True  # the first token is the root message's name
    else:
        parts, indexed = _FAILED.findall(message), False
    missing = _NO_FIELD.search(message)
    if missing is not None and (not parts or parts[-1] != missing.group(1)):
        parts.append(missing.group(1))
    return parts, indexed


def _with_indexes(types: MessageTypes, descriptor: Descriptor, value: Any, names: list[str]) -> list[str]:
    """Inserts the index of the first failing element wherever the chain of names crosses a list."""
    out: list[str] = []
    for name in names:
        out.append(name)
        fd = descriptor.fields_by_camelcase_name.get(name) or descriptor.fields_by_name.get(name)
        if fd is None or not isinstance(value, dict):
            break
        value = value.get(name, value.get(fd.name))
        if fd.message_type is None or fd.message_type.GetOptions().map_entry:
            break
        if fd.is_repeated and isinstance(value, list):
            cls = types.message_class(fd.message_type)
            for i, item in enumerate(value):
                try:
                    json_format.ParseDict(item, cls(), descriptor_pool=types.pool)
                except json_format.ParseError:
                    out.append(str(i))
                    value = item
                    break
            else:
                break
        descriptor = fd.message_type
    return out + names[len([p for p in out if not p.isdigit()]) :]


def parse_request(
    types: MessageTypes, descriptor: Descriptor, value: Any, *, base: str = "/action/inputTemplate/message"
) -> tuple[Message | None, list[Violation]]:
    cls = types.message_class(descriptor)
    try:
        message = json_format.ParseDict(value, cls(), descriptor_pool=types.pool)
    except json_format.ParseError as exc:
        text = " ".join(str(exc).split())
        path, indexed = error_path(str(exc))
        if not indexed:
            path = _with_indexes(types, descriptor, value, path)
        pointer = base + "".join("/" + _escape(p) for p in path)
        field = ".".join(path) or None
        where = f" (field {field})" if field else ""
        return None, [
            Violation(
                type=ViolationType.VALIDATION_ERROR,
                code="INVALID_REQUEST_MESSAGE",
                message=f"inputTemplate.message is not a valid {descriptor.full_name}{where}: {text}",
                details={"pointer": pointer, "field": field, "messageType": descriptor.full_name},
            )
        ]
    return message, []


def _json_key(fd: FieldDescriptor) -> str:
    return fd.json_name or fd.name


def message_findings(message: Message, path: str = "") -> list[tuple[str, str, str]]:
    """(code, pointer, text) for fields the type does not declare (a different schema on the server or a
    wire-type mismatch) and for missing proto2/editions required fields."""
    out: list[tuple[str, str, str]] = []
    for item in UnknownFieldSet(message):
        out.append(
            (
                "UNKNOWN_RESPONSE_FIELD",
                f"{path}/#{item.field_number}",
                f"field number {item.field_number} (wire type {item.wire_type}) is not declared in "
                f"{message.DESCRIPTOR.full_name}, or arrived with a different wire type",
            )
        )
    for fd, value in message.ListFields():
        if fd.message_type is None:
            continue
        key = f"{path}/{_escape(_json_key(fd))}"
        if fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            if value_fd.message_type is not None:
                for map_key, item in value.items():
                    out.extend(message_findings(item, f"{key}/{_escape(str(map_key))}"))
        elif fd.is_repeated:
            for i, item in enumerate(value):
                out.extend(message_findings(item, f"{key}/{i}"))
        else:
            out.extend(message_findings(value, key))
        if len(out) >= MAX_FINDINGS:
            break
    if not path:
        for missing in message.FindInitializationErrors():
            pointer = "/" + "/".join(
                _escape(p) for p in missing.replace("[", ".").replace("]", "").split(".")
            )
            out.append(("MISSING_REQUIRED_FIELD", pointer, f"required field {missing} is not set"))
    return out[:MAX_FINDINGS]


class GrpcContractValidator:
    """Requests and responses against the rpc's message types, from the spec's compiled descriptors."""

    def check_message(self, message: Message, type_name: str) -> list[Violation]:
        return [
            Violation(
                type=ViolationType.CONTRACT_VIOLATION,
                code=code,
                message=text,
                details={"pointer": pointer, "messageType": type_name},
            )
            for code, pointer, text in message_findings(message)
        ]

    @staticmethod
    def _types(spec: SpecSummary) -> MessageTypes:
        encoded = (spec.model_extra or {}).get("descriptorSet")
        if not isinstance(encoded, str):
            raise DescriptorError("the spec has no compiled descriptors")
        return types_from_spec(encoded)

    def validate_request(self, spec: SpecSummary, operation: Operation, request: Any) -> list[Violation]:
        """``request``: the JSON form of the request message."""
        types = self._types(spec)
        method = types.method(operation.id)
        return parse_request(types, method.input_type, request, base="")[1]

    def validate_response(self, spec: SpecSummary, operation: Operation, response: Any) -> list[Violation]:
        """``response``: the response message's bytes (or a parsed message)."""
        types = self._types(spec)
        method = types.method(operation.id)
        name = method.output_type.full_name
        if isinstance(response, Message):
            return self.check_message(response, name)
        try:
            message = types.message_class(method.output_type).FromString(bytes(response))
        except DecodeError as exc:
            return [
                Violation(
                    type=ViolationType.CONTRACT_VIOLATION,
                    code="RESPONSE_DECODE_ERROR",
                    message=f"the response is not a valid {name}: {exc}",
                    details={"messageType": name},
                )
            ]
        return self.check_message(message, name)
