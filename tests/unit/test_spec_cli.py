"""``orchestra spec import``: JSON Lines, human output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_app.cli import app

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_json_lines_for_several_files_with_failures(fixtures_dir: Path) -> None:
    specs = fixtures_dir / "specs"
    files = [specs / "petstore-3.0.yaml", specs / "broken.yaml", specs / "proto" / "shop.proto"]
    result = CliRunner().invoke(app, ["spec", "import", "--json", *map(str, files)])
    assert result.exit_code == 2, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["file"] for x in lines] == [str(f) for f in files]
    pet, broken, shop = lines
    assert {"protocol", "title", "version", "operations", "warnings"} <= set(pet)
    assert pet["protocol"] == "http" and pet["title"] == "Fixture Petstore"
    assert pet["operations"][0] == {
        "id": "listPets",
        "method": "get",
        "path": "/pets",
        "summary": "List pets",
        "tags": ["pets"],
        "parameters": ["header:X-Trace-Id", "query:limit"],
        "responses": ["200", "default"],
    }
    assert pet["warnings"][0]["code"] == "duplicate_operation_id"
    assert set(broken) == {"file", "error", "kind"} and ":4:11: broken YAML" in broken["error"]
    assert shop["protocol"] == "grpc" and shop["operations"][1]["server_streaming"] is True


def test_all_good_exits_zero_and_human_output(fixtures_dir: Path) -> None:
    result = CliRunner().invoke(app, ["spec", "import", str(fixtures_dir / "specs" / "swagger2.yaml")])
    assert result.exit_code == 0, result.output
    assert "swagger 2.0 - Fixture Swagger 1.0" in result.stdout
    assert "POST     /pets/{id}/photo  (uploadPhoto)" in result.stdout
    assert "warning [file_type_outside_form]" in result.stdout


def test_missing_file_human_output_no_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["spec", "import", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert "ERROR" in result.stdout and "Traceback" not in result.output


def test_real_subprocess(fixtures_dir: Path) -> None:
    spec = fixtures_dir / "specs" / "asyncapi3.yaml"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestra_app.cli import main; main()",
            "spec",
            "import",
            "--json",
            str(spec),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout)
    assert line["protocol"] == "asyncapi"
    assert [(o["id"], o["method"]) for o in line["operations"]] == [
        ("requestPayment", "send"),
        ("onPaymentDone", "receive"),
    ]
