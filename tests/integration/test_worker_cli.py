"""`orchestra worker` options: bad values are refused before anything starts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--processes", "0"], "--processes"),
        (["--threads", "0"], "--threads"),
        (["--threads", "many"], "--threads"),
        (["--metrics-port", "70000"], "--metrics-port"),
        (["--metrics-port", "-3"], "--metrics-port"),
        (["--surprise"], "--surprise"),
    ],
)
def test_worker_refuses_bad_options(redis_url: str, args: list[str], needle: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/orchestra"), "worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
