"""Regression over every file of ../shared/corpus/bpmn: node and flow counts equal MANIFEST.tsv's."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.bpmn import LINK_FLOW_PREFIX, import_bpmn

pytestmark = pytest.mark.corpus

TARGET = 0.995
COMPARED = (
    "flow_nodes",
    "seq_flows",
    "message_flows",
    "participants",
    "lanes",
    "tasks",
    "call_activities",
    "gw_xor",
    "gw_or",
    "gw_and",
    "gw_event",
    "gw_complex",
    "ev_start",
    "ev_end",
    "ev_intermediate",
    "ev_boundary",
    "has_cycle",
)
TASKS = {
    "task",
    "serviceTask",
    "userTask",
    "manualTask",
    "scriptTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
}
BY_TYPE = {
    "call_activities": {"callActivity"},
    "gw_xor": {"exclusiveGateway"},
    "gw_or": {"inclusiveGateway"},
    "gw_and": {"parallelGateway"},
    "gw_event": {"eventBasedGateway"},
    "gw_complex": {"complexGateway"},
    "ev_start": {"startEvent"},
    "ev_end": {"endEvent"},
    "ev_intermediate": {"intermediateCatchEvent", "intermediateThrowEvent"},
    "ev_boundary": {"boundaryEvent"},
}


@dataclass
class Outcome:
    path: str
    graph: ControlFlowGraph | None
    error: ImportError_ | None


def counts(graph: ControlFlowGraph) -> dict[str, int | str]:
    # Derived link flows are not drawn elements; the manifest counts only real ones.
    real = [f for f in graph.flows if not f.id.startswith(LINK_FLOW_PREFIX)]
    types = [n.type for n in graph.nodes]
    return {
        "tasks": sum(1 for t in types if t in TASKS),
        **{key: sum(1 for t in types if t in names) for key, names in BY_TYPE.items()},
        "has_cycle": str(bool(graph.loops)),
        "flow_nodes": len(graph.nodes),
        "seq_flows": sum(1 for f in real if f.kind == "sequence"),
        "message_flows": sum(1 for f in real if f.kind == "message"),
        "participants": len(graph.participants),
        "lanes": len(graph.lanes),
    }


def mismatch(row: dict[str, str], graph: ControlFlowGraph) -> str | None:
    got = counts(graph)
    diff = {k: (got[k], row[k]) for k in COMPARED if str(got[k]) != row[k]}
    return None if not diff else ", ".join(f"{k}: got {a}, manifest {b}" for k, (a, b) in diff.items())


def refusal_agrees(row: dict[str, str], error: ImportError_, data: bytes) -> bool:
    """A refusal is right when the manifest itself shows the reason."""
    if error.kind is ErrorKind.NO_PROCESS:
        return int(row["flow_nodes"]) == 0
    if error.kind is ErrorKind.NOT_BPMN:
        return row["bpmn20_ns"] == "False"
    if error.kind is ErrorKind.UNSAFE_XML:
        return re.search(rb"<!ENTITY", data) is not None
    return False


@pytest.fixture(scope="module")
def manifest(corpus_dir: Path) -> list[dict[str, str]]:
    with (corpus_dir / "bpmn" / "MANIFEST.tsv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) > 1000, "manifest unexpectedly small"
    return rows


def run(corpus_dir: Path, rows: list[dict[str, str]], *, allow_empty: bool) -> tuple[int, list[str], int]:
    passed = 0
    refusals = 0
    failures: list[str] = []
    for row in rows:
        data = (corpus_dir / "bpmn" / row["path"]).read_bytes()
        try:
            graph = import_bpmn(data, filename=row["path"], allow_empty=allow_empty)
        except ImportError_ as error:
            if refusal_agrees(row, error, data):
                refusals += 1
                passed += 1
            else:
                failures.append(f"{row['path']}: {error.kind}: {error}")
            continue
        problem = mismatch(row, graph)
        if problem:
            failures.append(f"{row['path']}: {problem}")
        else:
            passed += 1
    return passed, failures, refusals


def test_every_file_is_in_the_manifest(corpus_dir: Path, manifest: list[dict[str, str]]) -> None:
    root = corpus_dir / "bpmn"
    listed = {row["path"] for row in manifest}
    on_disk = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.name not in ("MANIFEST.tsv", "LICENSES.md") and p.parent.name != "licenses"
    }
    assert on_disk == listed


def test_corpus_imports_with_manifest_counts(corpus_dir: Path, manifest: list[dict[str, str]]) -> None:
    """Accepting empty models (allow_empty=True): files that import with exactly the manifest's counts."""
    passed, failures, refusals = run(corpus_dir, manifest, allow_empty=True)
    imported = passed - refusals
    rate = imported / len(manifest)
    summary = "\n".join(failures)
    assert rate >= TARGET, f"{imported}/{len(manifest)} = {rate:.2%} imported with equal counts\n{summary}"
    # Only hostile or non-BPMN files may be refused in this mode.
    assert refusals <= 2, summary


def test_corpus_default_outcomes_agree_with_manifest(
    corpus_dir: Path, manifest: list[dict[str, str]]
) -> None:
    """Defaults: equal counts, or a refusal whose reason the manifest shows (e.g. no flow nodes)."""
    passed, failures, refusals = run(corpus_dir, manifest, allow_empty=False)
    rate = passed / len(manifest)
    summary = "\n".join(failures)
    assert rate >= TARGET, (
        f"{passed}/{len(manifest)} = {rate:.2%} agree ({refusals} justified refusals)\n{summary}"
    )
