"""What an import answers and stores (issue 7 items 2, 10, 14): readable distinct keys for Unicode file
names, invisible characters removed from names, damaged files reported as partial imports, suites told
apart by their process key, node counts above the graph's explained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from starlette.testclient import TestClient

from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from orchestra_app.db.tables import Process, ScenarioStep, TestScenario
from orchestra_app.services import processes
from orchestra_app.services import session as svc
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ORDER = (FIXTURES / "app" / "order.bpmn").read_bytes()


@pytest.fixture
def client(
    migrated_pg_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("DB_URL", migrated_pg_engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    get_engine.cache_clear()
    with TestClient(create_api()) as c:
        yield c
    get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


def _post(client: TestClient, name: str, data: bytes = ORDER, **params: str) -> dict[str, object]:
    query = "&".join([f"filename={quote(name)}", *(f"{k}={quote(v)}" for k, v in params.items())])
    r = client.post(f"/api/v1/processes?{query}", content=data)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_unicode_file_names_get_distinct_readable_keys(
    client: TestClient, migrated_pg_engine: sa.Engine
) -> None:
    names = ["заказ 🚀.bpmn", "платёж.bpmn", "注文.bpmn", "🚀.bpmn", "🛒.bpmn", "Order Flow.bpmn"]
    keys = [_post(client, name)["process_key"] for name in names]
    assert keys[:3] == ["заказ", "платёж", "注文"] and keys[5] == "order-flow"
    assert len(set(keys)) == len(keys), keys  # emoji-only names differ by a hash, not all "process"
    assert all(k.startswith("process-") for k in keys[3:5])
    again = _post(client, "заказ 🚀.bpmn")
    assert (again["process_key"], again["version"]) == ("заказ", 2)
    listed = client.get("/api/v1/processes?limit=500").json()
    assert listed["total"] == 6


def test_bidi_and_control_characters_are_removed_from_names(
    client: TestClient, migrated_pg_engine: sa.Engine
) -> None:
    evil = ORDER.replace(b'name="Create order"', 'name="Create\u202e redro\u200b"'.encode())
    assert evil != ORDER
    body = _post(client, "\u202eevil\u0007.bpmn", evil)
    assert body["process_key"] == "evil"
    with Session(migrated_pg_engine) as session:
        names = [s.name for s in session.exec(select(ScenarioStep)).all()]
        names += [p.name for p in session.exec(select(Process)).all()]
        names += [s.name for s in session.exec(select(TestScenario)).all()]
    assert names and not any(ch in n for n in names for ch in ("\u202e", "\u200b", "\u0007"))
    assert any("Create redro" in n for n in names)
    r = client.post("/api/v1/processes?filename=x.bpmn&key=%E2%80%AEkey", content=ORDER)
    assert r.status_code == 400 and r.json()["error"]["field"] == "key"


def test_damaged_file_is_a_partial_import_not_a_plain_success(client: TestClient) -> None:
    intact = _post(client, "order.bpmn")
    assert (intact["outcome"], intact["problems"]) == ("warning", [])  # NO_DI is a plain warning
    damaged = _post(client, "cut.bpmn", ORDER[:700])
    assert damaged["outcome"] == "partial"
    problems = " ".join(damaged["problems"])  # type: ignore[arg-type]
    assert "damaged at line 11" in problems and "missing from the suite" in problems
    assert any("XML_RECOVERED" in w for w in damaged["warnings"])  # type: ignore[union-attr]


def test_suites_show_their_process_key_and_node_visits_are_explained(client: TestClient) -> None:
    # Three processes whose diagrams carry the same name: the suite names alone are identical.
    for key in ("onboarding-eu", "onboarding-us", "onboarding-apac"):
        _post(client, "onboarding.bpmn", key=key)
    suites = client.get("/api/v1/suites").json()["items"]
    assert len({s["name"] for s in suites}) == 1 and len({s["label"] for s in suites}) == 3
    assert {s["label"].rsplit("[", 1)[1] for s in suites} == {
        "onboarding-eu]",
        "onboarding-us]",
        "onboarding-apac]",
    }

    result = _post(client, "par.bpmn", _parallel_cross_merge())
    detail = svc.run(
        processes.version_detail, svc.current_principal(), version_id=UUID(str(result["version_id"]))
    )
    graph_nodes = detail["summary"]["nodes"]
    counts = [s["nodes"] for s in detail["scenarios"]]
    repeated = [c for c in counts if "distinct" in c]
    assert repeated, counts  # the UI's Nodes column: "7 (6 distinct; repeats are ... parallel tokens)"
    visits, distinct = int(repeated[0].split()[0]), int(repeated[0].split("(")[1].split()[0])
    assert visits > graph_nodes >= distinct and "parallel tokens" in repeated[0]


def _parallel_cross_merge() -> bytes:
    """A parallel split whose two branches each merge into a shared task: tokens repeat after joins."""
    return (
        b'<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
        b'<process id="p"><startEvent id="s"/><parallelGateway id="split"/><task id="a" name="A"/>'
        b'<task id="b" name="B"/><task id="shared" name="Shared"/><endEvent id="e"/>'
        b'<sequenceFlow id="f1" sourceRef="s" targetRef="split"/>'
        b'<sequenceFlow id="f2" sourceRef="split" targetRef="a"/>'
        b'<sequenceFlow id="f3" sourceRef="split" targetRef="b"/>'
        b'<sequenceFlow id="f4" sourceRef="a" targetRef="shared"/>'
        b'<sequenceFlow id="f5" sourceRef="b" targetRef="shared"/>'
        b'<sequenceFlow id="f6" sourceRef="shared" targetRef="e"/>'
        b"</process></definitions>"
    )
