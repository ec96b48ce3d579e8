"""Run modes, run statuses and the snapshot a TestRun pins at creation (seed sections 4.8 and 5)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.steps import ScenarioStepSpec, StepResultData


class RunMode(StrEnum):
    RUN_ALL_STEPS = "RUN_ALL_STEPS"
    STOP_ON_FIRST_FAILURE = "STOP_ON_FIRST_FAILURE"
    SINGLE_STEP = "SINGLE_STEP"
    FROM_STEP = "FROM_STEP"


class RunStatus(StrEnum):
    PENDING = "PENDING"  # waiting for a slot (the tenant's maxParallelRuns is reached)
    QUEUED = "QUEUED"  # a message is on the run queue
    IN_PROGRESS = "IN_PROGRESS"  # claimed by a worker
    PASSED = "PASSED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.IN_PROGRESS)
TERMINAL_STATUSES = (RunStatus.PASSED, RunStatus.FAILED, RunStatus.CANCELLED)


class PinnedEnvironment(DomainModel):
    """What a run needs from its Environment, copied at creation (secrets stay references)."""

    id: UUID | None = None
    name: str = "default"
    services: dict[str, Any] = Field(default_factory=dict)  # serviceName -> ServiceConfig JSON
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)  # kind -> alias -> profile JSON
    variables: dict[str, Any] = Field(default_factory=dict)  # {{env.*}}
    plugin_config: dict[str, Any] = Field(default_factory=dict)
    # secret name -> the environment variable holding it in the worker (an environment file's
    # `secrets:`); names not listed are read from ORCHESTRA_SECRET_<NAME>
    secret_env: dict[str, str] = Field(default_factory=dict)
    # secret name -> a file on the worker whose content is the value (an environment's {file: PATH})
    secret_files: dict[str, str] = Field(default_factory=dict)


class RunSnapshot(DomainModel):
    """test_run.pinned: the scenario version, data and environment a run executes, frozen at creation.

    Later edits of the scenario, data set or environment do not change a queued or running run.
    Specs are referenced by id: a ProtocolSpec row is immutable (a changed document is a new row).
    """

    scenario_key: str = ""
    scenario_name: str = ""
    suite_id: UUID | None = None
    steps: list[ScenarioStepSpec] = Field(default_factory=list)
    data_set_id: UUID | None = None
    data_set_name: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    environment: PinnedEnvironment = Field(default_factory=PinnedEnvironment)
    spec_ids: dict[str, UUID] = Field(default_factory=dict)  # serviceName -> protocol_spec.id
    variables: dict[str, Any] = Field(default_factory=dict)  # extra run variables (SINGLE_STEP context)
    step_results: dict[str, StepResultData] = Field(default_factory=dict)  # supplied {{step.alias...}}
    step_timeout_s: float | None = None
    run_timeout_s: float | None = None
