"""Scenario editing on PostgreSQL: copy-on-write versions, optimistic locking, clones, checks, roles,
tenants, and many concurrent savers of one version (exactly one wins, the rest get a conflict)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from orchestra_app.db.engine import session_scope
from orchestra_app.db.tables import (
    ArtifactStatus,
    AuditLog,
    ScenarioStep,
    TestScenario,
)
from orchestra_app.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import processes
from orchestra_app.services import scenarios as sc
from orchestra_app.services import session as svc
from orchestra_app.services.tenancy import ensure_dev_principal
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
SHOP_BPMN = Path(__file__).resolve().parents[2] / "examples" / "shop" / "order-process.bpmn"


@pytest.fixture
def world(migrated_pg_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    engine = migrated_pg_engine
    with session_scope(engine) as session:
        principal = ensure_dev_principal(session=session)
    result = svc.write_on(
        engine,
        processes.import_process,
        principal,
        data=SHOP_BPMN.read_bytes(),
        filename="order-process.bpmn",
    )

    class World:
        pass

    w = World()
    w.engine, w.principal, w.result = engine, principal, result  # type: ignore[attr-defined]
    with Session(engine) as session:
        w.s001 = session.exec(  # type: ignore[attr-defined]
            select(TestScenario).where(TestScenario.suite_id == result.suite_id, TestScenario.key == "S001")
        ).one()
    yield w
    get_settings.cache_clear()


def _read(w: Any, scenario_id: uuid.UUID) -> sc.ScenarioDetail:
    with session_scope(w.engine) as session:
        return sc.get_scenario(session=session, principal=w.principal, scenario_id=scenario_id)


def _save(w: Any, scenario_id: uuid.UUID, base: int, doc: Any, principal: Principal | None = None) -> Any:
    return svc.write_on(
        w.engine,
        sc.save_scenario_version,
        principal or w.principal,
        scenario_id=scenario_id,
        base_version=base,
        document=doc,
    )


def _draft(detail: sc.ScenarioDetail) -> dict[str, Any]:
    return {"name": detail.name, "tags": detail.tags, "steps": copy.deepcopy(detail.steps)}


def _versions(w: Any, key: str) -> list[tuple[int, str, bool]]:
    with Session(w.engine) as session:
        rows = session.exec(
            select(TestScenario)
            .where(TestScenario.suite_id == w.result.suite_id, TestScenario.key == key)
            .order_by(col(TestScenario.version))
        ).all()
        return [(r.version, r.status.value, r.active) for r in rows]


def test_detail_has_steps_path_decisions_by_name_and_history(world: Any) -> None:
    detail = _read(world, world.s001.id)
    assert (detail.key, detail.version, detail.latest_version, detail.is_latest) == ("S001", 1, 1, True)
    assert detail.process_key == "order-process" and detail.process_version_id is not None
    aliases = [s["alias"] for s in detail.steps]
    assert aliases[0] == "create_order" and len(aliases) == 9
    assert detail.steps[0]["sourceNodeId"] == "Task_CreateOrder"
    texts = [d["text"] for d in detail.decisions]
    assert "Items in stock? → in stock" in texts  # gateway and flow names, not ids
    assert any("Gateway_InStock" in d["ids"] for d in detail.decisions)
    assert "Task_CreateOrder" in detail.path["nodes"]
    assert [v["version"] for v in detail.versions] == [1]


def test_save_makes_a_new_version_and_retires_the_old_one(world: Any) -> None:
    detail = _read(world, world.s001.id)
    doc = _draft(detail)
    doc["name"] = "Order paid (edited)"
    moved = doc["steps"].pop(1)
    doc["steps"].append(moved)  # reorder
    doc["steps"][0]["action"]["inputTemplate"] = {"body": {"customer": "{{data.customer.id}}"}}
    doc["steps"][0]["expectations"]["expectedStatusCode"] = [200, 201]
    del doc["steps"][2]  # remove
    saved = _save(world, world.s001.id, 1, doc)
    assert (saved.key, saved.version, saved.previous_id) == ("S001", 2, world.s001.id)
    assert _versions(world, "S001") == [(1, "DEPRECATED", False), (2, "DRAFT", True)]
    fresh = _read(world, saved.id)
    assert fresh.name == "Order paid (edited)" and fresh.version == 2
    assert [s["alias"] for s in fresh.steps] == [s["alias"] for s in doc["steps"]]
    assert fresh.steps[0]["action"]["inputTemplate"] == {"body": {"customer": "{{data.customer.id}}"}}
    assert fresh.steps[0]["expectations"]["expectedStatusCode"] == [200, 201]
    assert fresh.path == detail.path  # the scenario still tests the same walk through the process
    old = _read(world, world.s001.id)  # the old version stays readable for the runs that used it
    assert (old.version, old.status, old.latest_version, len(old.steps)) == (1, "DEPRECATED", 2, 9)
    with Session(world.engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "scenario.save")).all()
    assert [a.details["version"] for a in audit] == [2]


def test_a_stale_save_is_refused_and_stores_nothing(world: Any) -> None:
    doc = _draft(_read(world, world.s001.id))
    _save(world, world.s001.id, 1, {**doc, "name": "first editor"})
    with pytest.raises(Conflict) as info:
        _save(world, world.s001.id, 1, {**doc, "name": "second editor"})
    message = str(info.value)
    assert "version 2 was saved by Development admin" in message and "Nothing was saved" in message
    assert info.value.field == "baseVersion"
    with pytest.raises(Conflict, match="is version 1, not 3"):
        _save(world, world.s001.id, 3, doc)
    assert _versions(world, "S001") == [(1, "DEPRECATED", False), (2, "DRAFT", True)]
    with Session(world.engine) as session:
        names = session.exec(select(TestScenario.name).where(TestScenario.key == "S001")).all()
    assert "second editor" not in names


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["steps"][0].update(alias="bad alias"), "steps.0.alias", "letters, digits"),
        (lambda d: d["steps"][1].update(alias=d["steps"][0]["alias"]), "steps.1.alias", "already used"),
        (
            lambda d: d["steps"][0]["action"].update(
                inputTemplate={"id": "{{step.mark_order_as_paid.response.body.id}}"}
            ),
            "steps.0.action.inputTemplate",
            "not an earlier step",
        ),
        (
            lambda d: d["steps"][0]["action"].update(inputTemplate={"x": ["{{uuidd()}}"]}),
            "steps.0.action.inputTemplate",
            "unknown function 'uuidd'",
        ),
        (
            lambda d: d["steps"][0]["action"].update(inputTemplate={"x": "{{data.a"}),
            "steps.0.action.inputTemplate",
            "never closed",
        ),
        (
            lambda d: d["steps"][0]["expectations"].update(expectedStatusCode="2XY"),
            "steps.0.expectations.expectedStatusCode",
            "neither a status code nor a class",
        ),
        (
            lambda d: d["steps"][0]["expectations"].update(businessRules=[{"path": "$.x", "op": "sideways"}]),
            "steps.0.expectations.businessRules",
            "",
        ),
        (
            lambda d: d["steps"][0].update(
                kind="ASSERTION",
                channelType="DB",
                action={"meta": {"dataSource": "orders", "sql": "DELETE FROM t"}},
            ),
            "steps.0.action.meta",
            "SELECT",
        ),
        (
            lambda d: d["steps"][0].update(
                kind="ASSERTION", channelType="KAFKA", action={"meta": {"clusterAlias": "main", "topik": "x"}}
            ),
            "steps.0.action.meta",
            "topik",
        ),
        (lambda d: d["steps"][0].update(kind="SOMETIMES"), "steps.0.kind", "ACTION"),
        (lambda d: d.update(name="   "), "name", "visible"),
        (lambda d: d.update(colour="red"), "colour", "unknown field"),
    ],
)
def test_invalid_drafts_name_the_field_and_store_nothing(
    world: Any, change: Any, field: str, message: str
) -> None:
    doc = _draft(_read(world, world.s001.id))
    change(doc)
    with pytest.raises(sc.ScenarioInvalid) as info:
        _save(world, world.s001.id, 1, doc)
    fields = [p.field for p in info.value.problems]
    assert field in fields, info.value.problems
    assert any(message in p.message for p in info.value.problems if p.field == field), info.value.problems
    assert _versions(world, "S001") == [(1, "DRAFT", True)]


def test_placeholder_assertions_and_unbound_actions_only_warn(world: Any) -> None:
    doc = _draft(_read(world, world.s001.id))
    _, problems = sc.parse_draft(doc)
    assert problems and {p.severity for p in problems} == {"warning"}
    assert _save(world, world.s001.id, 1, doc).version == 2


def test_clone_copies_steps_and_path_under_a_free_key(world: Any) -> None:
    first = svc.write_on(world.engine, sc.clone_scenario, world.principal, scenario_id=world.s001.id)
    second = svc.write_on(world.engine, sc.clone_scenario, world.principal, scenario_id=world.s001.id)
    assert (first.key, first.version, second.key) == ("S001-copy", 1, "S001-copy-2")
    clone = _read(world, first.id)
    original = _read(world, world.s001.id)
    assert clone.steps == original.steps and clone.path == original.path
    assert (clone.status, clone.name) == ("DRAFT", original.name + " (copy)")
    named = svc.write_on(
        world.engine, sc.clone_scenario, world.principal, scenario_id=world.s001.id, key="happy", name="Happy"
    )
    assert (named.key, _read(world, named.id).name) == ("happy", "Happy")
    with pytest.raises(Conflict, match="already has a scenario 'happy'"):
        svc.write_on(world.engine, sc.clone_scenario, world.principal, scenario_id=world.s001.id, key="happy")
    with pytest.raises(ValidationFailed) as bad:
        svc.write_on(world.engine, sc.clone_scenario, world.principal, scenario_id=world.s001.id, key="a b")
    assert bad.value.field == "key"


def test_roles_and_tenants(world: Any) -> None:
    viewer = Principal(
        tenant_id=world.principal.tenant_id, user_id=uuid.uuid4(), roles=frozenset({Role.VIEWER})
    )
    doc = _draft(_read(world, world.s001.id))
    with pytest.raises(PermissionDenied):
        _save(world, world.s001.id, 1, doc, principal=viewer)
    with pytest.raises(PermissionDenied):
        svc.write_on(world.engine, sc.clone_scenario, viewer, scenario_id=world.s001.id)
    with session_scope(world.engine) as session:  # a viewer may read
        assert sc.get_scenario(session=session, principal=viewer, scenario_id=world.s001.id).key == "S001"
    stranger = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), roles=frozenset({Role.ORG_ADMIN}))
    with pytest.raises(NotFound), session_scope(world.engine) as session:
        sc.get_scenario(session=session, principal=stranger, scenario_id=world.s001.id)
    with pytest.raises(NotFound):
        _save(world, world.s001.id, 1, doc, principal=stranger)
    with pytest.raises(NotFound):
        svc.write_on(world.engine, sc.clone_scenario, stranger, scenario_id=world.s001.id)
    assert _versions(world, "S001") == [(1, "DRAFT", True)]


def _race(w: Any, base_id: uuid.UUID, base: int, n: int, name: str) -> list[Any]:
    doc = _draft(_read(w, base_id))

    def one(i: int) -> Any:
        try:
            return _save(w, base_id, base, {**doc, "name": f"{name} {i}"})
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_sixty_concurrent_savers_of_one_version_one_wins_per_round(world: Any) -> None:
    current_id, version = world.s001.id, 1
    for round_no in range(3):
        outcomes = _race(world, current_id, version, 60, f"round {round_no}")
        wins = [o for o in outcomes if isinstance(o, sc.SavedScenario)]
        losses = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(wins) == 1 and len(losses) == 59, [
            str(o) for o in outcomes if not isinstance(o, sc.SavedScenario)
        ][:3]
        assert all("Nothing was saved" in str(o) for o in losses), {str(o) for o in losses}
        current_id, version = wins[0].id, wins[0].version
        assert version == round_no + 2
    rows = _versions(world, "S001")
    assert [v for v, _, _ in rows] == [1, 2, 3, 4]
    assert [active for _, _, active in rows] == [False, False, False, True]
    with Session(world.engine) as session:
        # each version has its own complete set of steps, none duplicated by a losing saver
        counts = session.exec(
            select(TestScenario.version, func.count(col(ScenarioStep.id)))
            .join(ScenarioStep, col(ScenarioStep.scenario_id) == col(TestScenario.id))
            .where(TestScenario.key == "S001", TestScenario.suite_id == world.result.suite_id)
            .group_by(col(TestScenario.version))
        ).all()
        assert sorted(counts) == [(1, 9), (2, 9), (3, 9), (4, 9)]
        saves = session.exec(select(func.count()).where(AuditLog.action == "scenario.save")).one()
    assert saves == 3


def test_concurrent_stale_and_fresh_savers_and_clones(world: Any) -> None:
    saved = _save(world, world.s001.id, 1, _draft(_read(world, world.s001.id)))
    stale = _race(world, world.s001.id, 1, 25, "stale")
    assert all(isinstance(o, Conflict) for o in stale)
    fresh = _race(world, saved.id, 2, 25, "fresh")
    assert sum(isinstance(o, sc.SavedScenario) for o in fresh) == 1
    with ThreadPoolExecutor(max_workers=50) as pool:
        clones = list(
            pool.map(
                lambda _: svc.write_on(
                    world.engine, sc.clone_scenario, world.principal, scenario_id=saved.id
                ),
                range(50),
            )
        )
    keys = sorted(c.key for c in clones)
    assert len(set(keys)) == 50 and "S001-copy" in keys and "S001-copy-50" in keys
    assert [v for v, _, _ in _versions(world, "S001")] == [1, 2, 3]
    assert ArtifactStatus.DEPRECATED.value == _versions(world, "S001")[1][1]
