"""``orchestra process import|scenarios``: JSON shapes, JSON Lines, exit codes, no tracebacks."""

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
runner = CliRunner()


@pytest.fixture()
def gen_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "generation"


def _lines(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_import_one_file_prints_one_graph_object(gen_dir: Path) -> None:
    result = runner.invoke(app, ["process", "import", str(gen_dir / "order.bpmn"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"nodes", "flows", "warnings", "file"} <= data.keys()
    node = next(n for n in data["nodes"] if n["id"] == "approved")
    assert node["type"] == "exclusiveGateway" and node["name"] == "Order approved?"
    assert all({"id", "type", "name"} <= n.keys() for n in data["nodes"])
    flow = next(f for f in data["flows"] if f["id"] == "yes")
    assert (flow["source"], flow["target"]) == ("approved", "charge")


def test_import_several_files_gives_json_lines_and_goes_on_after_a_failure(gen_dir: Path) -> None:
    files = [gen_dir / "order.bpmn", gen_dir / "notes.txt", gen_dir / "order.mmd", gen_dir / "missing.bpmn"]
    result = runner.invoke(app, ["process", "import", *map(str, files), "--json"])
    assert result.exit_code == 2
    lines = _lines(result.stdout)
    assert [line["file"] for line in lines] == [str(f) for f in files]
    assert "nodes" in lines[0] and "nodes" in lines[2]
    assert lines[1]["kind"] == "unknown_format" and "notes.txt" in lines[1]["error"]
    assert lines[3]["kind"] == "io" and "not found" in lines[3]["error"]
    assert "Traceback" not in result.output


def test_import_human_summary_and_exit_codes(gen_dir: Path) -> None:
    ok = runner.invoke(app, ["process", "import", str(gen_dir / "order.bpmn")])
    assert ok.exit_code == 0
    assert "11 nodes" in ok.stdout and "warning" in ok.stdout
    bad = runner.invoke(app, ["process", "import", str(gen_dir / "not-bpmn.xml")])
    assert bad.exit_code == 2
    assert "not-bpmn.xml" in bad.output and "Traceback" not in bad.output


def test_scenarios_json_shape(gen_dir: Path) -> None:
    result = runner.invoke(
        app, ["process", "scenarios", str(gen_dir / "order.bpmn"), "--json", "--max-loop", "2"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["file"] == str(gen_dir / "order.bpmn")
    assert set(data["coverage"]) >= {"flows_total", "flows_covered", "decisions_total", "decisions_covered"}
    assert data["coverage"]["flows_covered"] == data["coverage"]["flows_total"]
    assert isinstance(data["capped"], bool)
    first = data["scenarios"][0]
    assert {"key", "name", "nodes", "flows", "decisions"} <= first.keys()
    assert first["key"] == "S001"
    assert first["decisions"]["approved"]["flow"] in ("yes", "no")
    loops = [d for s in data["scenarios"] for d in s["decisions"].values() if d.get("loop")]
    assert max(d["iterations"] for d in loops) == 2


def test_scenarios_paths_strategy_and_cap(gen_dir: Path) -> None:
    result = runner.invoke(
        app,
        [
            "process",
            "scenarios",
            str(gen_dir / "order.bpmn"),
            "--strategy",
            "paths",
            "--max-scenarios",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["scenarios"]) == 2 and data["capped"] is True


def test_scenarios_several_files_json_lines(gen_dir: Path) -> None:
    files = [gen_dir / "order.mmd", gen_dir / "order.json", gen_dir / "notes.txt"]
    result = runner.invoke(app, ["process", "scenarios", *map(str, files), "--json"])
    assert result.exit_code == 2
    lines = _lines(result.stdout)
    assert [line["file"] for line in lines] == [str(f) for f in files]
    assert lines[0]["scenarios"] and lines[1]["scenarios"]
    assert "error" in lines[2]


def test_scenarios_human_output(gen_dir: Path) -> None:
    result = runner.invoke(app, ["process", "scenarios", str(gen_dir / "order.bpmn")])
    assert result.exit_code == 0
    assert "S001 [happy]" in result.stdout and "[exception]" in result.stdout


def test_invalid_strategy_is_a_usage_error(gen_dir: Path) -> None:
    result = runner.invoke(app, ["process", "scenarios", str(gen_dir / "order.bpmn"), "--strategy", "random"])
    assert result.exit_code == 2


def test_real_subprocess(gen_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.bpmn"
    broken.write_bytes(
        b"<?xml version='1.0'?><definitions xmlns='http://www.omg.org/spec/BPMN/20100524/MODEL'><process"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestra_app.cli",
            "process",
            "scenarios",
            str(gen_dir / "order.bpmn"),
            str(broken),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = _lines(proc.stdout)
    assert lines[0]["coverage"]["flows_total"] == 10
    assert lines[1]["file"] == str(broken) and "broken.bpmn" in lines[1]["error"]
    assert "Traceback" not in proc.stderr


EMPTY_POOL = b"""<?xml version="1.0"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <collaboration id="c"><participant id="p" name="Supplier" processRef="empty"/></collaboration>
  <process id="empty" name="Nothing here"/>
</definitions>
"""


def test_empty_process_warns_on_import_and_is_refused_for_scenarios(tmp_path: Path) -> None:
    path = tmp_path / "empty.bpmn"
    path.write_bytes(EMPTY_POOL)
    imported = runner.invoke(app, ["process", "import", str(path), "--json"])
    assert imported.exit_code == 0, imported.output
    graph = json.loads(imported.output)
    assert graph["nodes"] == [] and any(w["code"] == "EMPTY_MODEL" for w in graph["warnings"])

    strict = runner.invoke(app, ["process", "import", str(path), "--json", "--strict"])
    assert strict.exit_code == 2
    record = json.loads(strict.output)
    assert record["kind"] == "no_process" and "empty.bpmn:4" in record["error"]

    scenarios = runner.invoke(app, ["process", "scenarios", str(path), "--json"])
    assert scenarios.exit_code == 2
    assert "no flow nodes" in json.loads(scenarios.output)["error"]
