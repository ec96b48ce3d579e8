"""The hostile-input script (tests/hostile_inputs.py) against the API on the embedded default (SQLite),
served by uvicorn in its own process with a short import budget (issue 7, "Done when")."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.db.migrate import upgrade
from tests import hostile_inputs
from tests.fixtures.api_server import serve_api

pytestmark = pytest.mark.integration
UPLOAD_LIMIT = 2 * 1024 * 1024


def test_hostile_inputs_in_parallel_leave_the_server_healthy(tmp_path: Path) -> None:
    upgrade(f"sqlite:///{tmp_path / 'orchestra.db'}")
    env = {
        "ORCHESTRA_DATA_DIR": str(tmp_path),
        "ORCHESTRA_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "ORCHESTRA_IMPORT_TIMEOUT_S": "3",
    }
    with serve_api(env, tmp_path / "api.log") as base:
        report = hostile_inputs.run(base, upload_limit=UPLOAD_LIMIT)
    assert report.problems == [], "\n".join(report.problems)
    assert len(report.health_latencies) >= 5
    assert report.statuses["alias bomb 0"] == 413 and report.statuses["billion laughs"] == 400
    assert report.accepted["process"] >= 14  # 12 same-key imports, the damaged file, the bidi name
