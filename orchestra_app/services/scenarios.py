"""Scenario use cases: open a scenario, save an edited copy as a new version, clone it.

Versions are copy-on-write (seed 10.1): a save inserts a new ``test_scenario`` row with the same suite
and key and ``version + 1`` plus its own steps, and marks the version it was based on DEPRECATED and
inactive, as the suite import does; runs keep pointing at the (scenario id, version) they ran. A save
names the version it was based on (optimistic locking, seed 10.2): when that version is no longer the
newest, the save is refused with ``Conflict`` and nothing is stored. Under concurrency the base row
is locked (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite) and the unique
(suite, key, version) constraint backstops it, so exactly one of many savers of one version wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import Field, ValidationError, field_validator
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    Process,
    ProcessVersion,
    ScenarioStep,
    ScenarioSuite,
    TestScenario,
    User,
)
from orchestra_app.db.types import utcnow
from orchestra_app.domain.diagram import describe_decisions
from orchestra_app.domain.errors import Conflict, NotFound, ValidationFailed
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.names import clean_name
from orchestra_app.domain.steps import (
    ActionDefinition,
    ChannelType,
    EndpointRef,
    StepExpectations,
    StepKind,
)
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import audit
from orchestra_app.services.concurrency import locked
from orchestra_app.services.guards import require
from orchestra_app.services.step_checks import FieldProblem, blocking_problems, check_step

MAX_STEPS = 500
MAX_TAGS = 20
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StepDraft(DomainModel):
    """One step as the editor and the API send it (scenario_step without storage columns)."""

    alias: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=500)
    kind: StepKind = StepKind.ACTION
    channel_type: ChannelType = ChannelType.HTTP_REST
    endpoint_ref: EndpointRef | None = None
    action: ActionDefinition = Field(default_factory=ActionDefinition)
    expectations: StepExpectations = Field(default_factory=StepExpectations)
    source_node_id: str | None = Field(default=None, max_length=300)


def _check_tags(value: list[str]) -> list[str]:
    for i, tag in enumerate(value):
        if not tag.strip() or len(tag) > 100:
            raise ValueError(f"tag {i + 1} must be 1-100 characters")
    return value


class ScenarioDraft(DomainModel):
    """What a save stores: the scenario's name, tags and its steps in order."""

    name: str = Field(min_length=1, max_length=500)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    steps: list[StepDraft] = Field(default_factory=list, max_length=MAX_STEPS)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _check_tags(value)


class ScenarioInvalid(ValidationFailed):
    """The draft has problems; ``problems`` lists every one (the message names the first)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(first.message + more, field=first.field, pointer=first.pointer)
        self.problems = problems


@dataclass
class SavedScenario:
    id: UUID
    key: str
    version: int
    suite_id: UUID
    previous_id: UUID | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "key": self.key,
            "version": self.version,
            "suiteId": str(self.suite_id),
            **({"previousId": str(self.previous_id)} if self.previous_id else {}),
        }


@dataclass
class ScenarioDetail:
    """A scenario version with its steps, where it sits (suite, process) and its version history."""

    id: UUID
    key: str
    name: str
    version: int
    status: str
    active: bool
    tags: list[str]
    suite_id: UUID
    suite_name: str
    process_key: str
    process_version: int
    process_version_id: UUID | None
    path: dict[str, Any]
    decisions: list[dict[str, str]]
    steps: list[dict[str, Any]]
    latest_version: int
    latest_id: UUID
    updated_at: str
    updated_by: str
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_latest(self) -> bool:
        return self.version == self.latest_version

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "key": self.key,
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "active": self.active,
            "tags": self.tags,
            "suite": {"id": str(self.suite_id), "name": self.suite_name},
            "process": {
                "key": self.process_key,
                "version": self.process_version,
                "versionId": str(self.process_version_id) if self.process_version_id else None,
            },
            "path": self.path,
            "decisions": self.decisions,
            "steps": self.steps,
            "latestVersion": self.latest_version,
            "latestId": str(self.latest_id),
            "isLatest": self.is_latest,
            "updatedAt": self.updated_at,
            "updatedBy": self.updated_by,
            "versions": self.versions,
        }


def step_document(row: ScenarioStep) -> dict[str, Any]:
    """A stored step as the editor/API shape (StepDraft JSON)."""
    return StepDraft(
        alias=row.alias,
        name=row.name,
        kind=row.kind,
        channel_type=row.channel_type,
        endpoint_ref=EndpointRef.model_validate(row.endpoint_ref) if row.endpoint_ref else None,
        action=ActionDefinition.model_validate(row.action or {}),
        expectations=StepExpectations.model_validate(row.expectations or {}),
        source_node_id=row.source_node_id,
    ).to_json_dict()


def _field_of(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        parts.append(str(part))
    return ".".join(parts)


class _DraftHead(DomainModel):
    name: str = Field(min_length=1, max_length=500)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    steps: list[Any] = Field(default_factory=list, max_length=MAX_STEPS)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _check_tags(value)


def _shape_problems(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    problems = []
    for err in exc.errors()[:50]:
        where = prefix + _field_of(tuple(err["loc"]))
        message = str(err["msg"])
        if err["type"] == "extra_forbidden":
            message = f"unknown field {str(err['loc'][-1])!r}"
        problems.append(FieldProblem(where.rstrip("."), message.removeprefix("Value error, ")))
    return problems


def parse_draft(document: Any) -> tuple[ScenarioDraft | None, list[FieldProblem]]:
    """The draft and every problem in it, field by field, in step order (warnings included).

    Pure: the editor calls it on every change, a save calls it before it touches the database. A step
    whose shape is wrong (an unknown kind) does not hide the other steps' problems.
    """
    if not isinstance(document, dict):
        return None, [FieldProblem("", f"a scenario is a JSON object, got {type(document).__name__}")]
    try:
        head = _DraftHead.model_validate(document)
    except ValidationError as exc:
        return None, _shape_problems(exc)
    problems: list[FieldProblem] = []
    if not clean_name(head.name):
        problems.append(FieldProblem("name", "the name must contain a visible character"))
    steps: list[StepDraft] = []
    earlier: list[str] = []
    shape_ok = True
    for index, raw in enumerate(head.steps):
        try:
            steps.append(StepDraft.model_validate(raw))
        except ValidationError as exc:
            problems.extend(_shape_problems(exc, f"steps.{index}."))
            shape_ok = False
        if isinstance(raw, dict):
            problems.extend(check_step(raw, index, earlier))
            alias = str(raw.get("alias", ""))
            if alias and alias not in earlier:
                earlier.append(alias)
    if not shape_ok:
        return None, problems
    return ScenarioDraft(name=head.name, tags=head.tags, steps=steps), problems


# ---- reading ----------------------------------------------------------------------------------------


def _scenario(session: Session, principal: Principal, scenario_id: UUID) -> TestScenario:
    row = session.exec(
        select(TestScenario).where(
            TestScenario.tenant_id == principal.tenant_id, TestScenario.id == scenario_id
        )
    ).first()
    if row is None:
        raise NotFound(f"scenario {scenario_id} not found", field="scenario")
    return row


def _steps(session: Session, principal: Principal, scenario_id: UUID) -> list[ScenarioStep]:
    return list(
        session.exec(
            select(ScenarioStep)
            .where(ScenarioStep.tenant_id == principal.tenant_id, ScenarioStep.scenario_id == scenario_id)
            .order_by(col(ScenarioStep.order_index))
        ).all()
    )


def _user_names(session: Session, ids: set[UUID | None]) -> dict[UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {u.id: u.display_name for u in session.exec(select(User).where(col(User.id).in_(wanted))).all()}


def get_scenario(*, session: Session, principal: Principal, scenario_id: UUID) -> ScenarioDetail:
    """One scenario version with its steps and every version of its key (newest first)."""
    scenario = _scenario(session, principal, scenario_id)
    suite = session.exec(
        select(ScenarioSuite).where(
            ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == scenario.suite_id
        )
    ).one()
    process = session.exec(
        select(Process).where(Process.tenant_id == principal.tenant_id, Process.id == suite.process_id)
    ).one()
    version = session.exec(
        select(ProcessVersion).where(
            ProcessVersion.tenant_id == principal.tenant_id,
            ProcessVersion.process_id == suite.process_id,
            ProcessVersion.version == suite.process_version,
        )
    ).first()
    history = list(
        session.exec(
            select(TestScenario)
            .where(
                TestScenario.tenant_id == principal.tenant_id,
                TestScenario.suite_id == scenario.suite_id,
                TestScenario.key == scenario.key,
            )
            .order_by(col(TestScenario.version).desc())
        ).all()
    )
    names = _user_names(session, {h.updated_by for h in history})
    graph = ControlFlowGraph.model_validate(version.control_flow_graph) if version else ControlFlowGraph()
    decisions = [
        {"text": d.text, "ids": d.ids}
        for d in describe_decisions(graph, scenario.path.get("decisions", {}), scenario.path.get("nodes", []))
    ]
    return ScenarioDetail(
        id=scenario.id,
        key=scenario.key,
        name=scenario.name,
        version=scenario.version,
        status=scenario.status.value,
        active=scenario.active,
        tags=list(scenario.tags),
        suite_id=suite.id,
        suite_name=suite.name,
        process_key=process.key,
        process_version=suite.process_version,
        process_version_id=version.id if version else None,
        path=dict(scenario.path),
        decisions=decisions,
        steps=[step_document(s) for s in _steps(session, principal, scenario.id)],
        latest_version=history[0].version,
        latest_id=history[0].id,
        updated_at=scenario.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        updated_by=names.get(scenario.updated_by, "") if scenario.updated_by else "",
        versions=[
            {
                "id": str(h.id),
                "version": h.version,
                "status": h.status.value,
                "updatedAt": h.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
                "updatedBy": names.get(h.updated_by, "") if h.updated_by else "",
            }
            for h in history
        ],
    )


# ---- writing ----------------------------------------------------------------------------------------


def _insert_steps(
    session: Session, principal: Principal, scenario_id: UUID, steps: list[dict[str, Any]]
) -> None:
    for index, step in enumerate(steps):
        draft = StepDraft.model_validate(step)
        session.add(
            ScenarioStep(
                tenant_id=principal.tenant_id,
                scenario_id=scenario_id,
                order_index=index,
                alias=draft.alias,
                name=clean_name(draft.name)[:500],
                kind=draft.kind,
                channel_type=draft.channel_type,
                endpoint_ref=draft.endpoint_ref.to_json_dict() if draft.endpoint_ref else None,
                action=draft.action.to_json_dict(),
                expectations=draft.expectations.to_json_dict(),
                source_node_id=draft.source_node_id,
            )
        )


def _latest_version(session: Session, principal: Principal, suite_id: UUID, key: str) -> int:
    return int(
        session.exec(
            select(func.max(TestScenario.version)).where(
                TestScenario.tenant_id == principal.tenant_id,
                TestScenario.suite_id == suite_id,
                TestScenario.key == key,
            )
        ).one()
        or 0
    )


def save_scenario_version(
    *,
    session: Session,
    principal: Principal,
    scenario_id: UUID,
    base_version: int,
    document: Any,
) -> SavedScenario:
    """Store ``document`` (a ScenarioDraft) as the next version of the scenario ``scenario_id`` is a
    version of. ``base_version`` is the version the editor loaded: if it is not the newest any more
    (someone saved in between), or ``scenario_id`` is not that version, the save is refused with
    Conflict and nothing is stored. Run it through ``services.session.write``."""
    require(principal, Role.TEST_DESIGNER)
    draft, problems = parse_draft(document)
    errors = blocking_problems(problems)
    if errors or draft is None:
        raise ScenarioInvalid(errors or problems)
    base = session.exec(
        locked(
            session,
            select(TestScenario).where(
                TestScenario.tenant_id == principal.tenant_id, TestScenario.id == scenario_id
            ),
        )
    ).first()
    if base is None:
        raise NotFound(f"scenario {scenario_id} not found", field="scenario")
    if base.version != base_version:
        raise Conflict(
            f"scenario {base.key} {scenario_id} is version {base.version}, not {base_version}: "
            "reload it before saving",
            field="baseVersion",
        )
    latest = _latest_version(session, principal, base.suite_id, base.key)
    if latest != base.version:
        newer = session.exec(
            select(TestScenario).where(
                TestScenario.tenant_id == principal.tenant_id,
                TestScenario.suite_id == base.suite_id,
                TestScenario.key == base.key,
                TestScenario.version == latest,
            )
        ).one()
        who = _user_names(session, {newer.updated_by}).get(newer.updated_by or base.id, "someone")
        raise Conflict(
            f"scenario {base.key} was changed while you edited it: version {latest} was saved by {who} "
            f"at {newer.updated_at:%Y-%m-%d %H:%M:%S} after the version {base_version} you opened. "
            "Nothing was saved; reload to see the newer version and apply your changes there.",
            field="baseVersion",
        )
    now = utcnow()
    status = base.status if base.status != ArtifactStatus.DEPRECATED else ArtifactStatus.DRAFT
    new = TestScenario(
        tenant_id=principal.tenant_id,
        suite_id=base.suite_id,
        key=base.key,
        name=clean_name(draft.name)[:500],
        version=base.version + 1,
        status=status,
        tags=list(draft.tags),
        active=True,
        path=dict(base.path),
        created_at=now,
        created_by=principal.user_id,
        updated_at=now,
        updated_by=principal.user_id,
    )
    session.add(new)
    base.status = ArtifactStatus.DEPRECATED
    base.active = False
    session.add(base)
    session.flush()  # the unique (suite, key, version) backstops a race the lock did not serialise
    _insert_steps(session, principal, new.id, [s.to_json_dict() for s in draft.steps])
    audit.record(
        session=session,
        principal=principal,
        action="scenario.save",
        entity_type="test_scenario",
        entity_id=new.id,
        details={"key": new.key, "version": new.version, "basedOn": base.version, "steps": len(draft.steps)},
    )
    session.flush()
    return SavedScenario(new.id, new.key, new.version, new.suite_id, previous_id=base.id)


def _free_key(session: Session, principal: Principal, suite_id: UUID, wanted: str) -> str:
    taken = set(
        session.exec(
            select(TestScenario.key).where(
                TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id
            )
        ).all()
    )
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def clone_scenario(
    *,
    session: Session,
    principal: Principal,
    scenario_id: UUID,
    key: str | None = None,
    name: str | None = None,
) -> SavedScenario:
    """A new scenario (version 1, DRAFT) in the same suite with the steps and path of ``scenario_id``.
    Without ``key`` it is ``<key>-copy`` (``-copy-2``, ... when taken); a given key must be free."""
    require(principal, Role.TEST_DESIGNER)
    if key is not None:
        key = key.strip()
        if not KEY_PATTERN.match(key):
            raise ValidationFailed(
                "key must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
                field="key",
            )
    if name is not None:
        name = clean_name(name)
        if not name or len(name) > 500:
            raise ValidationFailed("name must be 1-500 visible characters", field="name")
    source = _scenario(session, principal, scenario_id)
    # Clones of one suite queue up on the suite row, so two clones never pick the same free key.
    session.exec(
        locked(
            session,
            select(ScenarioSuite).where(
                ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == source.suite_id
            ),
        )
    ).one()
    if key is not None:
        if _latest_version(session, principal, source.suite_id, key):
            raise Conflict(f"the suite already has a scenario {key!r}; choose another key", field="key")
        new_key = key
    else:
        new_key = _free_key(session, principal, source.suite_id, f"{source.key}-copy"[:100])
    now = utcnow()
    new = TestScenario(
        tenant_id=principal.tenant_id,
        suite_id=source.suite_id,
        key=new_key,
        name=(name or f"{source.name} (copy)")[:500],
        version=1,
        status=ArtifactStatus.DRAFT,
        tags=list(source.tags),
        active=True,
        path=dict(source.path),
        created_at=now,
        created_by=principal.user_id,
        updated_at=now,
        updated_by=principal.user_id,
    )
    session.add(new)
    session.flush()
    copied = [step_document(s) for s in _steps(session, principal, source.id)]
    _insert_steps(session, principal, new.id, copied)
    audit.record(
        session=session,
        principal=principal,
        action="scenario.clone",
        entity_type="test_scenario",
        entity_id=new.id,
        details={"key": new.key, "from": source.key, "fromVersion": source.version},
    )
    session.flush()
    return SavedScenario(new.id, new.key, new.version, new.suite_id)


def draft_from_text(text: str, *, field_name: str = "body") -> Any:
    """A JSON request body, or ValidationFailed naming line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"invalid JSON: {exc.msg}", field=field_name, line=exc.lineno, column=exc.colno
        ) from None
