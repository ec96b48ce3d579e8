"""A suite's uncovered flows (with reasons) and step-less scenario notes are stored and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from orchestra_app.db.tables import ScenarioSuite, TestScenario
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.services import processes
from orchestra_app.services.tenancy import ensure_dev_principal

pytestmark = pytest.mark.integration
MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "generation" / "dangling_gateway.bpmn"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from orchestra_app.settings import get_settings

    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_uncovered_flows_and_notes_are_stored_with_the_suite(
    migrated_pg_engine: sa.Engine, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        result = processes.import_process(
            session=session, principal=principal, data=MODEL.read_bytes(), filename="dangling_gateway.bpmn"
        )
        session.commit()
        assert result.coverage["flowsReachable"] == 4 and result.coverage["flowsCovered"] == 4

        suite = session.exec(select(ScenarioSuite).where(ScenarioSuite.id == result.suite_id)).one()
        uncovered = suite.generation["uncoveredFlows"]
        assert [(u["flow"], u["reason"]) for u in uncovered] == [
            ("f_old", "NO_PATH_FROM_START"),
            ("f_audited", "NO_PATH_FROM_START"),
        ]
        assert "'Old check?' (leftover)" in uncovered[0]["detail"]

        notes = {
            s.key: s.path.get("note")
            for s in session.exec(select(TestScenario).where(TestScenario.suite_id == result.suite_id)).all()
        }
        assert notes["S001"] is None
        assert notes["S002"].startswith("No task runs on this path")

        detail = processes.version_detail(session=session, principal=principal, version_id=result.version_id)
        assert detail["suite"]["uncoveredFlows"] == uncovered


def test_a_malformed_uncovered_flow_is_refused_at_storage(
    migrated_pg_engine: sa.Engine, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        result = processes.import_process(
            session=session, principal=principal, data=MODEL.read_bytes(), filename="dangling_gateway.bpmn"
        )
        session.commit()
        suite = session.exec(select(ScenarioSuite).where(ScenarioSuite.id == result.suite_id)).one()
        suite.generation = {**suite.generation, "uncoveredFlows": [{"flow": "f_old"}]}  # no reason
        with pytest.raises(OrchestraError, match="uncoveredFlows"):
            session.flush()
