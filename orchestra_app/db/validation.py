"""Validates every jsonb/JSON column against its pydantic shape before a flush writes it.

One listener on SQLAlchemy's Session covers every writer (services, tests, scripts), so nothing
unvalidated reaches the database; a bad value raises ValidationFailed naming table.column and the
JSON pointer of the first problem, and the flush (hence the transaction) stores nothing.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import event
from sqlalchemy.orm import Session

from orchestra_app.db import tables as t
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.domain.runs import RunSnapshot
from orchestra_app.domain.spec import SpecSummary
from orchestra_app.domain.steps import (
    ActionDefinition,
    EndpointRef,
    ScenarioPath,
    StepExpectations,
    StepResultPayload,
    SuiteGeneration,
    Violation,
)
from orchestra_app.domain.tenancy import TenantSettings

_OBJECT = TypeAdapter(dict[str, Any])
_STRINGS = TypeAdapter(list[str])
_ALIAS_MAP = TypeAdapter(dict[str, str])

SHAPES: dict[type, dict[str, TypeAdapter[Any]]] = {
    t.Tenant: {"settings": TypeAdapter(TenantSettings)},
    t.ProcessVersion: {"control_flow_graph": TypeAdapter(ControlFlowGraph)},
    t.ProtocolSpec: {"parsed_summary": TypeAdapter(SpecSummary)},
    t.ScenarioSuite: {"tags": _STRINGS, "generation": TypeAdapter(SuiteGeneration)},
    t.TestScenario: {"tags": _STRINGS, "path": TypeAdapter(ScenarioPath)},
    t.ScenarioStep: {
        "endpoint_ref": TypeAdapter(EndpointRef | None),
        "action": TypeAdapter(ActionDefinition),
        "expectations": TypeAdapter(StepExpectations),
    },
    t.TestDataSet: {"tags": _STRINGS, "data": _OBJECT},
    t.Environment: {
        "db_profiles": _ALIAS_MAP,
        "kafka_profiles": _ALIAS_MAP,
        "queue_profiles": _ALIAS_MAP,
        "services": _OBJECT,
        "variables": _OBJECT,
        "plugin_config": _OBJECT,
        "secrets": TypeAdapter(dict[str, dict[str, str]]),
    },
    t.DbConnectionProfile: {"settings": _OBJECT},
    t.KafkaClusterProfile: {"settings": _OBJECT},
    t.QueueBrokerProfile: {"settings": _OBJECT},
    t.TestRun: {"pinned": TypeAdapter(RunSnapshot)},
    t.TestStepResult: {"payload": TypeAdapter(StepResultPayload), "violations": TypeAdapter(list[Violation])},
    t.TestRunReport: {"summary": _OBJECT, "recommendations": TypeAdapter(list[dict[str, Any]])},
    t.AuditLog: {"details": _OBJECT},
}


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in loc)


def validate_row(obj: object) -> None:
    shapes = SHAPES.get(type(obj))
    if not shapes:
        return
    table = type(obj).__tablename__  # type: ignore[attr-defined]
    for column, adapter in shapes.items():
        value = getattr(obj, column)
        try:
            # jsonb (and strict JSON) has no NaN or Infinity: refuse them here, not as a driver error
            json.dumps(value, allow_nan=False)
        except ValueError:
            raise ValidationFailed(
                "NaN or Infinity cannot be stored as JSON", field=f"{table}.{column}"
            ) from None
        except TypeError as exc:
            raise ValidationFailed(f"not JSON-serialisable: {exc}", field=f"{table}.{column}") from None
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            pointer = _pointer(tuple(first["loc"]))
            raise ValidationFailed(
                f"{first['msg']} ({exc.error_count()} problem(s) in this value)",
                field=f"{table}.{column}",
                pointer=pointer,
            ) from None


@event.listens_for(Session, "before_flush")
def _validate_before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        validate_row(obj)
