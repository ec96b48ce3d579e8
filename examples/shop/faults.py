"""Fault switches: deliberate misbehaviour of the demo services, set at start or through /_admin/faults.

Each service owns a FaultRegistry holding the faults it knows. A fault is off until enabled; its
parameters have defaults and can be overridden when it is switched on. The table in README.md says
which violation Orchestra should report for each of them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class FaultError(ValueError):
    """A fault name or parameter that does not exist or has the wrong type."""


@dataclass(frozen=True)
class FaultSpec:
    name: str
    description: str
    violation: str  # what Orchestra reports when this fault is on
    defaults: dict[str, Any] = field(default_factory=dict)


# Faults every service has; ``operation`` is an operationId of the service or "*" for all.
def generic_faults(default_operation: str, missing_field: str, wrong_status: int = 200) -> list[FaultSpec]:
    return [
        FaultSpec(
            "wrong_status",
            "successful responses of `operation` get `status` instead of the documented one "
            "(with an error body when `status` is 4xx/5xx)",
            "HTTP_ERROR (UNEXPECTED_STATUS, or HTTP_SERVER_ERROR for 5xx); plus CONTRACT_VIOLATION "
            "(UNDECLARED_STATUS) when the status is not in the spec",
            {"operation": default_operation, "status": wrong_status},
        ),
        FaultSpec(
            "missing_field",
            "successful responses of `operation` lose the top-level field `field`",
            "CONTRACT_VIOLATION (RESPONSE_SCHEMA_MISMATCH: required property missing)",
            {"operation": default_operation, "field": missing_field},
        ),
        FaultSpec(
            "slow_response",
            "responses of `operation` are delayed by `delayMs` milliseconds",
            "TIMEOUT (READ_TIMEOUT) when the step's timeout is shorter than the delay",
            {"operation": default_operation, "delayMs": 5000},
        ),
    ]


_TYPES: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}
_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass
class FaultState:
    spec: FaultSpec
    enabled: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "enabled": self.enabled,
            "params": {**self.spec.defaults, **self.params},
            "description": self.spec.description,
            "violation": self.spec.violation,
        }


class FaultRegistry:
    """Thread-safe: read by request handlers (event loop and worker threads), written by the admin API."""

    def __init__(self, service: str, specs: list[FaultSpec]) -> None:
        self.service = service
        self._states = {spec.name: FaultState(spec) for spec in specs}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._states)

    def set(self, name: str, enabled: bool, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        state = self._states.get(name)
        if state is None:
            raise FaultError(
                f"unknown fault {name!r} for the {self.service} service (known: {', '.join(self.names())})"
            )
        checked: dict[str, Any] = {}
        for key, value in (params or {}).items():
            if key not in state.spec.defaults:
                known = ", ".join(sorted(state.spec.defaults)) or "none"
                raise FaultError(f"fault {name!r} has no parameter {key!r} (parameters: {known})")
            default = state.spec.defaults[key]
            allowed = _TYPES.get(type(default), (type(default),))
            if isinstance(value, bool) and not isinstance(default, bool):
                allowed = ()
            if not isinstance(value, allowed):
                kind = _KIND_NAMES.get(type(default), type(default).__name__)
                raise FaultError(f"fault {name!r} parameter {key!r} must be {kind}, got {json.dumps(value)}")
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise FaultError(f"fault {name!r} parameter {key!r} must not be negative")
            checked[key] = value
        with self._lock:
            state.enabled = enabled
            state.params = checked if enabled else {}
        return state.as_json()

    def reset(self) -> None:
        with self._lock:
            for state in self._states.values():
                state.enabled = False
                state.params = {}

    def active(self, name: str) -> dict[str, Any] | None:
        """The parameters of an enabled fault (defaults filled in), or None when it is off."""
        with self._lock:
            state = self._states.get(name)
            if state is None or not state.enabled:
                return None
            return {**state.spec.defaults, **state.params}

    def for_operation(self, name: str, operation_id: str) -> dict[str, Any] | None:
        params = self.active(name)
        if params is None:
            return None
        target = params.get("operation", "*")
        return params if target in ("*", operation_id) else None

    def enabled_names(self) -> list[str]:
        with self._lock:
            return sorted(name for name, state in self._states.items() if state.enabled)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._states[name].as_json() for name in sorted(self._states)]


def parse_fault_option(text: str) -> tuple[str, str, dict[str, Any]]:
    """``service.fault[:key=value[:key=value...]]`` -> (service, fault, params); values are JSON or text.

    Used by ``--fault`` and the ``SHOP_FAULTS`` variable (comma-separated).
    """
    head, *pairs = text.strip().split(":")
    service, dot, fault = head.partition(".")
    if not dot or not service or not fault:
        raise FaultError(f"fault {text!r}: expected SERVICE.FAULT[:key=value...] (e.g. orders.slow_response)")
    params: dict[str, Any] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            raise FaultError(f"fault {text!r}: parameter {pair!r} is not key=value")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return service, fault, params
