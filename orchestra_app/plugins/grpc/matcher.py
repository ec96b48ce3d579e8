"""gRPC EndpointMatcher: similarity on rpc names plus a starter inputTemplate from the request type."""

from __future__ import annotations

from typing import Any

from orchestra_app.domain.spec import Operation, SpecSummary, resolve_component_ref
from orchestra_app.plugins.matching import SimilarityEndpointMatcher

MAX_DEPTH = 3


def _placeholder(path: str) -> str:
    return "{{data." + path + "}}"


def _skeleton(schema: Any, spec: SpecSummary, path: str, depth: int, seen: frozenset[str]) -> Any:
    """Every field of the request message as a ``{{data.<path>}}`` placeholder (proto3 has no required
    fields, so all of them are proposed; the designer deletes what the call does not need)."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str):
        if ref in seen or depth >= MAX_DEPTH:
            return _placeholder(path)
        seen = seen | {ref}
        schema = resolve_component_ref(spec.components, ref) or {}
    if not isinstance(schema, dict) or schema.get("type") != "object" or "properties" not in schema:
        return _placeholder(path)
    oneof_members = {m for members in (schema.get("x-proto-oneofs") or {}).values() for m in members[1:]}
    return {
        name: _skeleton(sub, spec, f"{path}.{name}" if path else name, depth + 1, seen)
        for name, sub in schema["properties"].items()
        if name not in oneof_members  # only the first member of a oneof: setting two is an error
    }


def starter_template(operation: Operation, spec: SpecSummary) -> dict[str, Any]:
    body = operation.request_body
    schema = body.content.get("application/grpc") if body is not None else None
    message = _skeleton(schema, spec, "", 0, frozenset()) if schema else {}
    return {"message": message if isinstance(message, dict) else {}}


class GrpcEndpointMatcher(SimilarityEndpointMatcher):
    protocol_id = "grpc"

    def starter_template(self, operation: Operation, spec: SpecSummary) -> dict[str, Any]:
        return starter_template(operation, spec)
