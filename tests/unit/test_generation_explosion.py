"""Generator: models with astronomically many paths still get a complete edges suite, uncapped."""

from __future__ import annotations

import itertools

import pytest

from orchestra_app.generation import generate_suite, synthetic
from orchestra_app.generation.combos import pairwise, product, subsets

pytestmark = pytest.mark.unit


def _complete(suite: object) -> None:
    cov = suite.coverage  # type: ignore[attr-defined]
    assert cov.flows_covered == cov.flows_total == cov.flows_reachable, suite.uncovered_flows  # type: ignore[attr-defined]
    assert cov.decisions_covered == cov.decisions_total


def test_twenty_xor_diamonds() -> None:
    suite = generate_suite(synthetic.xor_diamonds(20))
    # A million paths, but the edges cover needs no cap to cover every flow and outcome.
    assert suite.path_count == 2**20 and not suite.capped
    _complete(suite)
    assert len(suite.scenarios) == 2


def test_twenty_xor_diamonds_paths_strategy_is_capped() -> None:
    suite = generate_suite(synthetic.xor_diamonds(20), strategy="paths", max_scenarios=50)
    assert suite.capped and len(suite.scenarios) == 50
    assert len({tuple(s.flows) for s in suite.scenarios}) == 50
    _complete(suite)  # a capped enumeration leads with the edges cover


def test_three_thousand_node_chain() -> None:
    suite = generate_suite(synthetic.chain(3000))
    assert len(suite.scenarios) == 1 and len(suite.scenarios[0].nodes) == 3002
    assert suite.path_count == 1 and not suite.capped
    _complete(suite)


def test_thousand_way_gateway() -> None:
    suite = generate_suite(synthetic.wide_gateway(1000))
    assert suite.path_count == 1000
    assert len(suite.scenarios) == 1000
    _complete(suite)
    capped = generate_suite(synthetic.wide_gateway(1000), max_scenarios=100)
    assert capped.capped and len(capped.scenarios) == 100


def test_tangled_loops() -> None:
    suite = generate_suite(synthetic.tangled_loops(30))
    assert not suite.capped and suite.path_count > len(suite.scenarios)
    _complete(suite)
    assert not any(s.truncated for s in suite.scenarios)
    paths = generate_suite(synthetic.tangled_loops(30), strategy="paths")
    assert paths.capped


def test_parallel_block_with_xors_in_every_branch() -> None:
    suite = generate_suite(synthetic.parallel_xors(20))
    assert suite.path_count == 2**20 and not suite.capped
    _complete(suite)
    for s in suite.scenarios:
        assert s.nodes.count("sync") == 1
    paths = generate_suite(synthetic.parallel_xors(20), strategy="paths")
    assert paths.capped and len(paths.scenarios) < 64
    _complete(paths)


def test_pairwise_rows_cover_every_pair() -> None:
    levels = [3, 2, 4, 2, 3]
    rows, capped = pairwise(levels, cap=1000)
    assert not capped
    for i, j in itertools.combinations(range(len(levels)), 2):
        for a in range(levels[i]):
            for b in range(levels[j]):
                assert any(r[i] == a and r[j] == b for r in rows)
    assert len(rows) < 3 * 2 * 4 * 2 * 3


def test_product_rows_start_with_each_choice_and_cap() -> None:
    rows, capped = product([2, 2, 2], cap=3)
    assert capped and rows[:2] == [(0, 0, 0), (1, 1, 1)]
    rows, capped = product([2, 3], cap=100)
    assert not capped and len(rows) == 6


def test_subsets_small_and_beyond_cap() -> None:
    rows, capped = subsets(3, cap=15)
    assert not capped and rows[:3] == [(0,), (1,), (2,)] and len(rows) == 7
    rows, capped = subsets(12, cap=15)
    assert capped and all(rows) and {(i,) for i in range(12)} <= set(rows)
