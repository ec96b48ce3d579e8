"""Scenario generation over the whole BPMN and sequence corpora: no crash, complete and deterministic."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.generation import generate_suite, scenario_steps
from orchestra_app.importers.detect import import_process
from tests.unit.suite_invariants import suite_problems

pytestmark = pytest.mark.corpus


def _manifest(directory: Path) -> list[str]:
    with (directory / "MANIFEST.tsv").open(newline="", encoding="utf-8") as fh:
        return [row["path"] for row in csv.DictReader(fh, delimiter="\t")]


@pytest.mark.parametrize("kind", ["bpmn", "sequence"])
def test_every_importable_file_gets_a_complete_edges_suite(corpus_dir: Path, kind: str) -> None:
    directory = corpus_dir / kind
    paths = _manifest(directory)
    crashed: list[str] = []
    incomplete: list[str] = []
    truncated: list[str] = []
    unstable: list[str] = []
    generated = 0
    for rel in paths:
        data = (directory / rel).read_bytes()
        try:
            graph = import_process(data, filename=rel)
        except OrchestraError:
            continue  # import success rates are the importer tests' business
        try:
            suite = generate_suite(graph)
            again = generate_suite(graph)
            for scenario in suite.scenarios:
                scenario_steps(graph, scenario)
        except Exception as exc:  # the summary below names every file
            crashed.append(f"{rel}: {type(exc).__name__}: {exc}")
            continue
        generated += 1
        cov = suite.coverage
        if cov.flows_covered < cov.flows_reachable:
            incomplete.append(
                f"{rel}: {cov.flows_covered}/{cov.flows_reachable} ({suite.uncovered_flows[:3]})"
            )
        if any(s.truncated for s in suite.scenarios):
            truncated.append(rel)
        if suite.model_dump_json() != again.model_dump_json():
            unstable.append(rel)
    summary = (
        f"{generated} suites; crashed {len(crashed)}: {crashed[:5]}; "
        f"truncated {len(truncated)}: {truncated[:5]}; "
        f"nondeterministic {len(unstable)}: {unstable[:5]}; incomplete {len(incomplete)}: {incomplete[:5]}"
    )
    assert generated > 0.9 * len(paths) or kind == "sequence", summary
    assert not crashed and not truncated and not unstable, summary
    # Reachable flows the walk cannot take are rare modelling oddities (e.g. a second back flow out of
    # an implicit AND-split); they must stay below 0.5% of the files.
    assert len(incomplete) <= max(1, len(paths) // 200), summary


def test_paths_strategy_survives_the_whole_bpmn_corpus(corpus_dir: Path) -> None:
    directory = corpus_dir / "bpmn"
    crashed: list[str] = []
    for rel in _manifest(directory):
        try:
            graph = import_process((directory / rel).read_bytes(), filename=rel)
        except OrchestraError:
            continue
        try:
            suite = generate_suite(graph, strategy="paths", max_scenarios=50)
        except Exception as exc:
            crashed.append(f"{rel}: {type(exc).__name__}: {exc}")
            continue
        assert len(suite.scenarios) <= 50 * max(1, len(graph.processes)), rel
    assert not crashed, f"{len(crashed)} crashed: {crashed[:5]}"


@pytest.mark.parametrize("kind", ["bpmn", "sequence"])
def test_corpus_suites_are_valid_walks_with_consistent_coverage(corpus_dir: Path, kind: str) -> None:
    """Every scenario walks the graph, every decision leaves its gateway, coverage adds up."""
    directory = corpus_dir / kind
    wrong: list[str] = []
    for rel in _manifest(directory):
        try:
            graph = import_process((directory / rel).read_bytes(), filename=rel)
        except OrchestraError:
            continue
        for strategy in ("edges", "paths"):
            suite = generate_suite(
                graph, strategy=strategy, max_scenarios=50 if strategy == "paths" else None
            )  # type: ignore[arg-type]
            problems = suite_problems(graph, suite)
            if problems:
                wrong.append(f"{rel} ({strategy}): {problems[:2]}")
    assert not wrong, f"{len(wrong)} files: {wrong[:5]}"
