"""AsyncAPI contract checks: a Kafka message bound to an operation must match one of its message payloads."""

from __future__ import annotations

from typing import Any

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import Violation, ViolationType
from orchestra_app.plugins.http.schemas import spec_index


class AsyncApiContractValidator:
    """Validates message payloads (JSON Schema of the AsyncAPI document, refs into its components)."""

    def find_operation(self, spec: SpecSummary, ref: str, topic: str | None = None) -> Operation | None:
        """By operation id, or the only operation whose channel address is ``ref`` (or the topic)."""
        for op in spec.operations:
            if op.id == ref:
                return op
        for address in (ref, topic):
            matches = [op for op in spec.operations if address and op.path == address]
            if len(matches) >= 1:
                return matches[0]
        return None

    def validate_request(self, spec: SpecSummary, operation: Operation, request: Any) -> list[Violation]:
        """A message about to be published (the request of a publish ACTION)."""
        return self.validate_message(spec, operation, request)

    def validate_response(self, spec: SpecSummary, operation: Operation, response: Any) -> list[Violation]:
        """A message found by an assertion."""
        return self.validate_message(spec, operation, response)

    def validate_message(self, spec: SpecSummary, operation: Operation, value: Any) -> list[Violation]:
        messages: list[dict[str, Any]] = [
            m for m in getattr(operation, "messages", None) or [] if isinstance(m, dict)
        ]
        payloads = [(i, m) for i, m in enumerate(messages) if m.get("payload") is not None]
        if not payloads:
            return []
        index = spec_index(spec)
        problems: list[tuple[str, list[Any]]] = []
        for i, message in payloads:
            fmt = str(message.get("schemaFormat") or "")
            if fmt and "json" not in fmt and "asyncapi" not in fmt:
                return []  # Avro/protobuf schemas in the document: not checked here (documented)
            compiled = index.validator(("asyncapi", operation.id, i), message["payload"], "response")
            errors = compiled.errors(value)
            if not errors:
                return []
            problems.append((str(message.get("name") or f"message {i}"), errors))
        name, errors = problems[0]
        first = errors[0]
        names = ", ".join(n for n, _ in problems)
        return [
            Violation(
                type=ViolationType.CONTRACT_VIOLATION,
                code="MESSAGE_SCHEMA_MISMATCH",
                message=f"the message matches none of {operation.id}'s message schemas ({names}); "
                f"{name}{' at ' + first.pointer if first.pointer else ''}: {first.message}",
                details={
                    "operation": operation.id,
                    "message": name,
                    "errors": [{"pointer": e.pointer, "message": e.message} for e in errors[:10]],
                },
            )
        ]
