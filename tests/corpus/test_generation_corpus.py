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


REVIEWED = Path(__file__).resolve().parents[1] / "fixtures" / "generation" / "corpus_unreachable.tsv"
# Reasons for flows a token can reach: none of them may appear on the corpus.
_WALK_FAILURES = {"CAPPED", "LOOP_LIMIT", "NO_TOKEN_PATH"}


def _reviewed() -> dict[str, tuple[frozenset[str], int]]:
    lines = [line for line in REVIEWED.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    rows = csv.DictReader(lines, delimiter="\t")
    return {row["path"]: (frozenset(row["reasons"].split(",")), int(row["unreachable"])) for row in rows}


def test_every_reachable_flow_is_covered_and_every_unreachable_one_is_reviewed(corpus_dir: Path) -> None:
    """The issue-8 promise on the whole corpus, BPMN and sequence.

    Every file with sequence flows: flows_covered == flows_reachable, no cap. flows_reachable ==
    flows_total except for the reviewed files of corpus_unreachable.tsv, whose reason codes and
    unreachable counts must match exactly (a file that improves must leave the list).
    """
    reviewed = _reviewed()
    assert len(reviewed) <= 40, "the reviewed list is meant to stay small"
    problems: list[str] = []
    crashed: list[str] = []
    truncated: list[str] = []
    unstable: list[str] = []
    listed_seen: set[str] = set()
    totals = {"files": 0, "flows": 0, "reachable": 0, "covered": 0}
    for kind in ("bpmn", "sequence"):
        directory = corpus_dir / kind
        for rel in _manifest(directory):
            key = f"{kind}/{rel}"
            try:
                graph = import_process((directory / rel).read_bytes(), filename=rel)
            except OrchestraError:
                continue  # import success rates are the importer tests' business
            try:
                suite = generate_suite(graph)
                again = generate_suite(graph)
                for scenario in suite.scenarios:
                    scenario_steps(graph, scenario)
            except Exception as exc:  # the summary below names every file
                crashed.append(f"{key}: {type(exc).__name__}: {exc}")
                continue
            if suite.model_dump_json() != again.model_dump_json():
                unstable.append(key)
            if any(s.truncated for s in suite.scenarios):
                truncated.append(key)
            cov = suite.coverage
            if cov.flows_total == 0:
                continue
            totals["files"] += 1
            totals["flows"] += cov.flows_total
            totals["reachable"] += cov.flows_reachable
            totals["covered"] += cov.flows_covered
            codes = {u.reason.value for u in suite.uncovered_flows}
            if cov.flows_covered != cov.flows_reachable or codes & _WALK_FAILURES or suite.capped:
                problems.append(
                    f"{key}: covered {cov.flows_covered}/{cov.flows_reachable} reachable, "
                    f"capped={suite.capped}, {[(u.flow, u.reason.value) for u in suite.uncovered_flows][:3]}"
                )
            unreachable = cov.flows_total - cov.flows_reachable
            if key in reviewed:
                listed_seen.add(key)
                if reviewed[key] != (frozenset(codes), unreachable):
                    problems.append(f"{key}: reviewed {reviewed[key]}, now {sorted(codes)} x {unreachable}")
            elif unreachable:
                problems.append(f"{key}: {unreachable} unreachable {sorted(codes)}, not in {REVIEWED.name}")
    stale = sorted(set(reviewed) - listed_seen)
    summary = (
        f"{totals}; crashed {len(crashed)}: {crashed[:5]}; truncated {truncated[:5]}; "
        f"nondeterministic {unstable[:5]}; stale reviewed entries {stale[:5]}; "
        f"problems {len(problems)}: {problems[:8]}"
    )
    assert totals["files"] > 1400, summary
    assert not crashed and not truncated and not unstable and not stale and not problems, summary


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
