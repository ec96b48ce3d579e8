"""Content-based format detection and import_process dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.generation import generate_suite
from orchestra_app.importers.detect import detect_format, import_process

pytestmark = pytest.mark.unit


@pytest.fixture()
def gen_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "generation"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("order.bpmn", "bpmn"), ("order.mmd", "mermaid"), ("order.puml", "plantuml"), ("order.json", "json")],
)
def test_detects_the_format_from_content_not_the_extension(gen_dir: Path, name: str, expected: str) -> None:
    data = (gen_dir / name).read_bytes()
    assert detect_format(data, filename="upload.bin") == expected
    assert detect_format(b"\xef\xbb\xbf  \n" + data, filename="upload.bin") == expected


@pytest.mark.parametrize(
    "data", [b"", b"   \n", b"just some notes\n", b"graph TD; A-->B", b"[project]\nname='x'\n"]
)
def test_unknown_content_names_the_file(data: bytes) -> None:
    with pytest.raises(OrchestraError) as info:
        detect_format(data, filename="weird.txt")
    assert info.value.kind == ErrorKind.UNKNOWN_FORMAT
    assert "weird.txt" in str(info.value)


@pytest.mark.parametrize("name", ["order.bpmn", "order.mmd", "order.puml", "order.json"])
def test_import_process_gives_a_graph_the_generator_covers(gen_dir: Path, name: str) -> None:
    graph = import_process((gen_dir / name).read_bytes(), filename=name)
    assert graph.nodes and graph.flows
    suite = generate_suite(graph)
    assert suite.coverage.flows_covered == suite.coverage.flows_reachable > 0


def test_bpmn_fixture_gives_branches_loops_and_the_exception(gen_dir: Path) -> None:
    graph = import_process(
        (gen_dir / "order.bpmn").read_bytes(), filename="order.bpmn", max_loop_iterations=2
    )
    suite = generate_suite(graph)
    kinds = {s.kind for s in suite.scenarios}
    assert kinds == {"happy", "branch", "loop", "exception"}
    assert suite.coverage.flows_covered == suite.coverage.flows_total
    assert suite.coverage.decisions_covered == suite.coverage.decisions_total
    looped = [s for s in suite.scenarios if s.kind == "loop"]
    assert max(d["iterations"] for s in looped for d in s.decisions.values() if d.get("loop")) == 2


def test_non_bpmn_xml_is_a_clear_error(gen_dir: Path) -> None:
    with pytest.raises(OrchestraError) as info:
        import_process((gen_dir / "not-bpmn.xml").read_bytes(), filename="not-bpmn.xml")
    assert "not-bpmn.xml" in str(info.value)
