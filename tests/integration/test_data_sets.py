"""Data sets on PostgreSQL and SQLite: create, edit, clone, delete, list; bad values; races on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from orchestra_app.db.tables import AuditLog, Tenant, TestDataSet, TestRun
from orchestra_app.domain.errors import Conflict, NotFound, OrchestraError, PermissionDenied, ValidationFailed
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import data_sets, run_queue
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from tests.fixtures.runs import Seeded, get_step, seed_suite, viewer
from tests.integration.concurrency import hammer, wide_engine

pytestmark = pytest.mark.integration
CALLERS = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    name = "sqlite_engine" if request.param == "sqlite" else "migrated_pg_engine"
    yield request.getfixturevalue(name)


@pytest.fixture
def seeded(engine: sa.Engine) -> Seeded:
    return seed_suite(
        engine,
        base_url="http://127.0.0.1:9",
        scenarios={"a": [get_step("one")], "b": [get_step("two")]},
        process_key="ds",
    )


def _call(engine: sa.Engine, use_case: Any, principal: Principal, **kwargs: Any) -> Any:
    return svc.write_on(engine, use_case, principal, **kwargs)


def _count(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(TestDataSet.id)).all())


def test_create_in_each_scope_and_read_back(engine: sa.Engine, seeded: Seeded) -> None:
    p = seeded.principal
    g = _call(
        engine,
        data_sets.create_data_set,
        p,
        body={"name": "Shared", "data": {"sku": "a-1"}, "tags": "smoke, eu"},
    )
    s = _call(
        engine,
        data_sets.create_data_set,
        p,
        body={"name": "Suite data", "scope": "suite", "suiteId": str(seeded.suite_id), "data": {"n": [1, 2]}},
    )
    c = _call(
        engine,
        data_sets.create_data_set,
        p,
        body={
            "name": "Edge",
            "scope": "SCENARIO",
            "scenarioId": str(seeded.scenarios["a"]),
            "tags": ["edge"],
        },
    )
    assert (g.scope, g.suite_id, g.tags, g.variables) == ("GLOBAL", None, ["smoke", "eu"], 1)
    assert (s.scope, s.suite_id, s.suite_name, s.variables) == ("SUITE", seeded.suite_id, "ds v1", 2)
    # a SCENARIO data set also records the scenario's suite
    assert (c.scope, c.scenario_id, c.suite_id, c.scenario_key) == (
        "SCENARIO",
        seeded.scenarios["a"],
        seeded.suite_id,
        "a",
    )
    detail = svc.write_on(engine, data_sets.get_data_set, p, data_set_id=g.id)
    assert detail.data == {"sku": "a-1"} and detail.revision == g.revision and detail.runs == 0
    # the same name is fine in another owner, refused (case-insensitively) in the same one
    _call(
        engine,
        data_sets.create_data_set,
        p,
        body={"name": "shared", "scope": "SUITE", "suiteId": str(seeded.suite_id)},
    )
    with pytest.raises(Conflict) as exc:
        _call(engine, data_sets.create_data_set, p, body={"name": " SHARED "})
    assert exc.value.field == "name" and "already exists" in exc.value.message
    with Session(engine) as session:
        actions = [a for (a,) in session.exec(sa.select(AuditLog.action))]
    assert actions.count("dataset.create") == 4


BAD_CREATES: list[tuple[dict[str, Any], str, str]] = [
    ({}, "name", "1 to 300 characters"),
    ({"name": ""}, "name", "1 to 300"),
    ({"name": "x" * 301}, "name", "1 to 300"),
    ({"name": 5}, "name", "is text"),
    ({"name": "a\x07b"}, "name", "control characters"),
    ({"name": "n", "scope": "TENANT"}, "scope", "GLOBAL, SUITE, SCENARIO"),
    ({"name": "n", "scope": 3}, "scope", "GLOBAL, SUITE, SCENARIO"),
    ({"name": "n", "scope": "SUITE"}, "suiteId", "needs suiteId"),
    ({"name": "n", "scope": "SUITE", "suiteId": "nope"}, "suiteId", "must be a UUID"),
    ({"name": "n", "scope": "SUITE", "suiteId": str(uuid.uuid4())}, "suiteId", "not found"),
    ({"name": "n", "scope": "SCENARIO"}, "scenarioId", "needs scenarioId"),
    ({"name": "n", "scope": "SCENARIO", "scenarioId": 7}, "scenarioId", "must be a UUID"),
    ({"name": "n", "scope": "GLOBAL", "suiteId": str(uuid.uuid4())}, "suiteId", "no suite or scenario"),
    ({"name": "n", "data": [1, 2]}, "data", "must be a JSON object"),
    ({"name": "n", "data": "text"}, "data", "must be a JSON object"),
    ({"name": "n", "data": {"x": float("nan")}}, "data", "finite"),
    ({"name": "n", "data": {"": 1}}, "data", "needs a name"),
    ({"name": "n", "data": {"big": "x" * (1024 * 1024)}}, "data", "above"),
    ({"name": "n", "tags": "a,,b," + ",".join(f"t{i}" for i in range(60))}, "tags", "at most 50"),
    ({"name": "n", "tags": [1]}, "tags.0", "a tag is text"),
    ({"name": "n", "tags": ["x" * 101]}, "tags.0", "1 to 100"),
    ({"name": "n", "tags": {"a": 1}}, "tags", "list of texts"),
    ({"name": "n", "colour": "red"}, "colour", "unknown field"),
]


@pytest.mark.parametrize(
    ("body", "field", "text"), BAD_CREATES, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_CREATES)]
)
def test_bad_values_are_refused_naming_the_field_and_store_nothing(
    engine: sa.Engine, seeded: Seeded, body: dict[str, Any], field: str, text: str
) -> None:
    before = _count(engine)
    with pytest.raises(OrchestraError) as exc:
        _call(engine, data_sets.create_data_set, seeded.principal, body=body)
    assert exc.value.field == field and text in exc.value.message, str(exc.value)
    assert _count(engine) == before


def test_deep_data_and_a_scenario_from_another_suite_are_refused(engine: sa.Engine, seeded: Seeded) -> None:
    other = seed_suite(
        engine,
        base_url="http://127.0.0.1:9",
        scenarios={"z": [get_step("z")]},
        process_key="other",
        environment_name="other",
    )
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(70):
        node["d"] = {}
        node = node["d"]
    with pytest.raises(ValidationFailed, match="deeper than 64"):
        _call(engine, data_sets.create_data_set, seeded.principal, body={"name": "deep", "data": deep})
    with pytest.raises(ValidationFailed) as exc:
        _call(
            engine,
            data_sets.create_data_set,
            seeded.principal,
            body={
                "name": "n",
                "scope": "SCENARIO",
                "scenarioId": str(other.scenarios["z"]),
                "suiteId": str(seeded.suite_id),
            },
        )
    assert exc.value.field == "suiteId"


def test_other_tenants_rows_are_invisible(engine: sa.Engine, seeded: Seeded) -> None:
    with Session(engine) as session:
        tenant = Tenant(name=f"other-{uuid.uuid4().hex[:6]}")
        session.add(tenant)
        session.commit()
        stranger = Principal(tenant_id=tenant.id, user_id=uuid.uuid4(), roles=frozenset({Role.ORG_ADMIN}))
    mine = _call(engine, data_sets.create_data_set, seeded.principal, body={"name": "mine"})
    for call, kwargs in (
        (data_sets.get_data_set, {"data_set_id": mine.id}),
        (data_sets.update_data_set, {"data_set_id": mine.id, "body": {"name": "theirs"}}),
        (data_sets.clone_data_set, {"data_set_id": mine.id}),
        (data_sets.delete_data_set, {"data_set_id": mine.id}),
    ):
        with pytest.raises(NotFound):
            _call(engine, call, stranger, **kwargs)
    with pytest.raises(NotFound) as exc:  # their suite is not a place for my data set
        _call(
            engine,
            data_sets.create_data_set,
            stranger,
            body={"name": "x", "scope": "SUITE", "suiteId": str(seeded.suite_id)},
        )
    assert exc.value.field == "suiteId"
    assert _call(engine, data_sets.list_data_sets, stranger).total == 0


def test_roles(engine: sa.Engine, seeded: Seeded) -> None:
    made = _call(engine, data_sets.create_data_set, seeded.principal, body={"name": "r"})
    reader = viewer(seeded.principal, Role.VIEWER)
    assert _call(engine, data_sets.get_data_set, reader, data_set_id=made.id).name == "r"
    for call, kwargs in (
        (data_sets.create_data_set, {"body": {"name": "v"}}),
        (data_sets.update_data_set, {"data_set_id": made.id, "body": {"name": "v"}}),
        (data_sets.clone_data_set, {"data_set_id": made.id}),
        (data_sets.delete_data_set, {"data_set_id": made.id}),
    ):
        with pytest.raises(PermissionDenied):
            _call(engine, call, reader, **kwargs)


def test_edit_with_revision_refuses_a_stale_copy(engine: sa.Engine, seeded: Seeded) -> None:
    p = seeded.principal
    made = _call(engine, data_sets.create_data_set, p, body={"name": "orders", "data": {"qty": 1}})
    edited = _call(
        engine,
        data_sets.update_data_set,
        p,
        data_set_id=made.id,
        body={"data": {"qty": 2}, "tags": ["x"], "revision": made.revision},
    )
    assert edited.data == {"qty": 2} and edited.revision != made.revision
    with pytest.raises(Conflict) as exc:  # the first revision is stale now: nothing changes
        _call(
            engine,
            data_sets.update_data_set,
            p,
            data_set_id=made.id,
            body={"data": {"qty": 3}, "revision": made.revision},
        )
    assert exc.value.field == "revision"
    with pytest.raises(Conflict):
        _call(engine, data_sets.delete_data_set, p, data_set_id=made.id, revision=made.revision)
    assert _call(engine, data_sets.get_data_set, p, data_set_id=made.id).data == {"qty": 2}
    # move it to a suite, then to a scenario of that suite; a bad move names the field
    moved = _call(
        engine,
        data_sets.update_data_set,
        p,
        data_set_id=made.id,
        body={"scope": "SUITE", "suiteId": str(seeded.suite_id)},
    )
    assert (moved.scope, moved.suite_id) == ("SUITE", seeded.suite_id)
    with pytest.raises(ValidationFailed) as bad:
        _call(engine, data_sets.update_data_set, p, data_set_id=made.id, body={"scope": "SCENARIO"})
    assert bad.value.field == "scenarioId"
    moved = _call(
        engine,
        data_sets.update_data_set,
        p,
        data_set_id=made.id,
        body={"scope": "SCENARIO", "scenarioId": str(seeded.scenarios["b"])},
    )
    assert (moved.scope, moved.scenario_id, moved.suite_id) == (
        "SCENARIO",
        seeded.scenarios["b"],
        seeded.suite_id,
    )
    for body, field in (
        ({"revision": 5}, "revision"),
        ({"name": ""}, "name"),
        ({"data": None}, "data"),
        ({"id": "x"}, "id"),
    ):
        with pytest.raises(OrchestraError) as exc2:
            _call(engine, data_sets.update_data_set, p, data_set_id=made.id, body=body)
        assert exc2.value.field == field
    with pytest.raises(NotFound):
        _call(engine, data_sets.update_data_set, p, data_set_id=uuid.uuid4(), body={"name": "x"})


def test_clone_names_copies_and_can_move_them(engine: sa.Engine, seeded: Seeded) -> None:
    p = seeded.principal
    made = _call(
        engine, data_sets.create_data_set, p, body={"name": "base", "data": {"a": {"b": 1}}, "tags": ["t"]}
    )
    first = _call(engine, data_sets.clone_data_set, p, data_set_id=made.id)
    second = _call(engine, data_sets.clone_data_set, p, data_set_id=made.id)
    assert (first.name, second.name) == ("base (copy)", "base (copy 2)")
    assert first.data == {"a": {"b": 1}} and first.tags == ["t"] and first.origin == "MANUAL"
    placed = _call(
        engine,
        data_sets.clone_data_set,
        p,
        data_set_id=made.id,
        body={"name": "base", "scope": "SUITE", "suiteId": str(seeded.suite_id), "tags": []},
    )
    assert (placed.name, placed.scope, placed.tags) == ("base", "SUITE", [])
    with pytest.raises(Conflict):
        _call(engine, data_sets.clone_data_set, p, data_set_id=made.id, body={"name": "BASE (copy)"})
    with pytest.raises(ValidationFailed) as exc:
        _call(engine, data_sets.clone_data_set, p, data_set_id=made.id, body={"data": {}})
    assert exc.value.field == "data"


def test_delete_detaches_runs_which_keep_their_pinned_data(engine: sa.Engine, seeded: Seeded) -> None:
    p = seeded.principal
    made = _call(engine, data_sets.create_data_set, p, body={"name": "pinned", "data": {"sku": "k-9"}})
    run_queue.set_dispatcher(lambda ids: None)
    try:
        created = svc.write_on(
            engine,
            run_service.create_runs,
            p,
            request={"suiteId": str(seeded.suite_id), "dataSetId": str(made.id)},
        )
    finally:
        from executor import bootstrap

        bootstrap.wire()
    assert len(created.runs) == 2
    assert _call(engine, data_sets.get_data_set, p, data_set_id=made.id).runs == 2
    gone = _call(engine, data_sets.delete_data_set, p, data_set_id=made.id, revision=made.revision)
    assert (gone.name, gone.detached_runs) == ("pinned", 2)
    with pytest.raises(NotFound):
        _call(engine, data_sets.get_data_set, p, data_set_id=made.id)
    with Session(engine) as session:
        runs = session.exec(select(TestRun)).all()
    assert {r.data_set_id for r in runs} == {None}
    assert {r.pinned["dataSetName"] for r in runs} == {"pinned"}
    assert all(r.pinned["data"] == {"sku": "k-9"} for r in runs)
    summary = svc.write_on(engine, run_service.get_run, p, run_id=runs[0].id)
    assert summary.data_set_name == "pinned" and summary.data_set_id is None


def test_list_searches_filters_and_pages(engine: sa.Engine, seeded: Seeded) -> None:
    p = seeded.principal
    for i in range(7):
        _call(
            engine,
            data_sets.create_data_set,
            p,
            body={"name": f"Order {i}", "tags": ["even" if i % 2 == 0 else "odd"]},
        )
    _call(engine, data_sets.create_data_set, p, body={"name": "100%_literal", "tags": ["smoke"]})
    _call(
        engine,
        data_sets.create_data_set,
        p,
        body={"name": "in suite", "scope": "SUITE", "suiteId": str(seeded.suite_id), "tags": ["even"]},
    )
    every = _call(engine, data_sets.list_data_sets, p, limit=3)
    assert (every.total, len(every.items)) == (9, 3)
    assert every.items[0].name == "in suite"  # newest first
    rest = _call(engine, data_sets.list_data_sets, p, limit=3, offset=6)
    assert len(rest.items) == 3 and not {i.id for i in rest.items} & {i.id for i in every.items}
    assert _call(engine, data_sets.list_data_sets, p, query="order").total == 7
    assert _call(engine, data_sets.list_data_sets, p, query="%_").total == 1  # LIKE characters are literal
    assert _call(engine, data_sets.list_data_sets, p, query="smok").total == 1  # tags are searched too
    assert _call(engine, data_sets.list_data_sets, p, tag="even").total == 5
    assert _call(engine, data_sets.list_data_sets, p, tag="even", scope="suite").total == 1
    assert _call(engine, data_sets.list_data_sets, p, suite_id=seeded.suite_id).total == 1
    assert _call(engine, data_sets.data_set_tags, p) == ["even", "odd", "smoke"]
    for kwargs, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"scope": "ALL"}, "scope"),
        ({"query": "q" * 201}, "q"),
        ({"tag": "a,b"}, "tag.0"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            _call(engine, data_sets.list_data_sets, p, **kwargs)
        assert exc.value.field == field


def test_scaffold_completes_a_data_set_named_in_another_case(engine: sa.Engine, seeded: Seeded) -> None:
    p = seeded.principal
    made = _call(
        engine,
        data_sets.create_data_set,
        p,
        body={"name": "Scaffold", "scope": "SUITE", "suiteId": str(seeded.suite_id), "data": {"mine": 1}},
    )
    result = _call(engine, data_sets.scaffold_suite_data, p, suite_id=seeded.suite_id, store=True)
    assert result.data_set_id == made.id and not result.created


def test_parse_data_text_names_line_and_column() -> None:
    assert data_sets.parse_data_text('{"a": 1}') == {"a": 1}
    assert data_sets.parse_data_text("  ") == {}
    with pytest.raises(ValidationFailed) as exc:
        data_sets.parse_data_text('{\n  "a": 1,\n  "b": }')
    assert (exc.value.field, exc.value.line, exc.value.column) == ("data", 3, 8)
    assert "line 3, column 8" in str(exc.value)
    with pytest.raises(ValidationFailed, match="not a JSON value"):
        data_sets.parse_data_text('{"a": NaN}')
    with pytest.raises(ValidationFailed, match="JSON object"):
        data_sets.parse_data_text("[1]")


def test_parse_data_text_reads_yaml_with_line_and_column() -> None:
    assert data_sets.parse_data_text("sku: a-1\nqty: 2\nwhen: 2026-01-02\n1: x", syntax="yaml") == {
        "sku": "a-1",
        "qty": 2,
        "when": "2026-01-02",
        "1": "x",
    }
    assert data_sets.parse_data_text("# only a comment", syntax="yaml") == {}
    with pytest.raises(ValidationFailed) as exc:
        data_sets.parse_data_text("a: [1\nb: 2", syntax="yaml")
    assert (exc.value.field, exc.value.line, exc.value.column) == ("data", 2, 2)
    with pytest.raises(ValidationFailed, match="JSON object"):
        data_sets.parse_data_text("- 1\n- 2", syntax="yaml")
    with pytest.raises(ValidationFailed, match="not valid YAML"):
        data_sets.parse_data_text("!!python/object:os.system {}", syntax="yaml")  # safe_load only
    with pytest.raises(ValidationFailed) as exc:
        data_sets.parse_data_text("a: 1", syntax="toml")
    assert exc.value.field == "syntax"


# ---- many concurrent callers on PostgreSQL -------------------------------------------------------------


@pytest.fixture
def pg_seeded(migrated_pg_engine: sa.Engine) -> Iterator[tuple[sa.Engine, Seeded]]:
    wide = wide_engine(migrated_pg_engine.url.render_as_string(hide_password=False), CALLERS)
    seeded = seed_suite(
        wide, base_url="http://127.0.0.1:9", scenarios={"a": [get_step("one")]}, process_key="race"
    )
    yield wide, seeded
    wide.dispose()


def _outcomes(results: list[Any]) -> Counter[str]:
    return Counter(type(r).__name__ for r in results)


def test_concurrent_creates_of_one_name_store_one(pg_seeded: tuple[sa.Engine, Seeded]) -> None:
    engine, seeded = pg_seeded
    results = hammer(
        engine,
        CALLERS,
        lambda s, i: data_sets.create_data_set(
            session=s, principal=seeded.principal, body={"name": "Same", "data": {"i": i}}
        ),
    )
    assert _outcomes(results) == Counter({"DataSetDetail": 1, "Conflict": CALLERS - 1}), _outcomes(results)
    distinct = hammer(
        engine,
        CALLERS,
        lambda s, i: data_sets.create_data_set(session=s, principal=seeded.principal, body={"name": f"n{i}"}),
    )
    assert _outcomes(distinct) == Counter({"DataSetDetail": CALLERS})
    assert _count(engine) == CALLERS + 1


def test_concurrent_clones_get_distinct_names(pg_seeded: tuple[sa.Engine, Seeded]) -> None:
    engine, seeded = pg_seeded
    made = svc.write_on(
        engine, data_sets.create_data_set, seeded.principal, body={"name": "src", "data": {"k": 1}}
    )
    results = hammer(
        engine,
        CALLERS,
        lambda s, i: data_sets.clone_data_set(session=s, principal=seeded.principal, data_set_id=made.id),
    )
    assert _outcomes(results) == Counter({"DataSetDetail": CALLERS}), _outcomes(results)
    names = {r.name for r in results if isinstance(r, data_sets.DataSetDetail)}
    assert len(names) == CALLERS and "src (copy)" in names and f"src (copy {CALLERS})" in names


def test_concurrent_edits_of_one_revision_let_exactly_one_win(pg_seeded: tuple[sa.Engine, Seeded]) -> None:
    engine, seeded = pg_seeded
    made = svc.write_on(
        engine, data_sets.create_data_set, seeded.principal, body={"name": "shared", "data": {"v": -1}}
    )
    results = hammer(
        engine,
        CALLERS,
        lambda s, i: data_sets.update_data_set(
            session=s,
            principal=seeded.principal,
            data_set_id=made.id,
            body={"data": {"v": i}, "revision": made.revision},
        ),
    )
    outcome = _outcomes(results)
    assert outcome == Counter({"DataSetDetail": 1, "Conflict": CALLERS - 1}), outcome
    winner = next(r for r in results if isinstance(r, data_sets.DataSetDetail))
    stored = svc.write_on(engine, data_sets.get_data_set, seeded.principal, data_set_id=made.id)
    assert stored.data == winner.data and stored.revision == winner.revision
    deletes = hammer(
        engine,
        CALLERS,
        lambda s, i: data_sets.delete_data_set(session=s, principal=seeded.principal, data_set_id=made.id),
    )
    assert _outcomes(deletes) == Counter({"DeletedDataSet": 1, "NotFound": CALLERS - 1}), _outcomes(deletes)


def test_runs_created_while_their_data_set_is_deleted(pg_seeded: tuple[sa.Engine, Seeded]) -> None:
    """Run creations racing a delete either pin the data (and are detached) or are refused as not
    found; no foreign-key error escapes and the data set is gone."""
    engine, seeded = pg_seeded
    made = svc.write_on(
        engine, data_sets.create_data_set, seeded.principal, body={"name": "victim", "data": {"x": 1}}
    )
    sent: list[Any] = []
    lock = threading.Lock()

    def record(ids: Any) -> None:
        with lock:
            sent.extend(ids)

    run_queue.set_dispatcher(record)
    barrier = threading.Barrier(CALLERS)

    def one(i: int) -> Any:
        barrier.wait(timeout=120)
        try:
            if i == CALLERS // 2:
                return svc.write_on(engine, data_sets.delete_data_set, seeded.principal, data_set_id=made.id)
            return svc.write_on(
                engine,
                run_service.create_runs,
                seeded.principal,
                request={"suiteId": str(seeded.suite_id), "dataSetId": str(made.id)},
            )
        except Exception as exc:
            return exc

    try:
        results: list[Any] = [None] * CALLERS
        threads = [
            threading.Thread(target=lambda i=i: results.__setitem__(i, one(i))) for i in range(CALLERS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
    finally:
        from executor import bootstrap

        bootstrap.wire()
    kinds = _outcomes(results)
    assert set(kinds) <= {"CreateRunsResult", "NotFound", "DeletedDataSet"}, [
        r for r in results if isinstance(r, Exception)
    ][:3]
    assert kinds["DeletedDataSet"] == 1
    with Session(engine) as session:
        runs = session.exec(select(TestRun)).all()
        assert session.get(TestDataSet, made.id) is None
    assert len(runs) == kinds["CreateRunsResult"]
    assert all(r.data_set_id is None and r.pinned["data"] == {"x": 1} for r in runs)
    deleted = next(r for r in results if isinstance(r, data_sets.DeletedDataSet))
    assert deleted.detached_runs == len(runs)
    for r in results:
        if isinstance(r, NotFound):
            assert r.field == "dataSetId"
