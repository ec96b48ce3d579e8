"""Combination helpers for the generator: each-choice, pairwise and capped product rows, subsets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

# Pairs (factor level, factor level) a greedy pairwise array may track; beyond it: each-choice rows.
MAX_PAIRS = 20_000


def each_choice(levels: list[int]) -> list[tuple[int, ...]]:
    """Rows in which every level of every factor appears at least once (max(levels) rows)."""
    if not levels:
        return [()]
    return [tuple(min(r, n - 1) if n else 0 for n in levels) for r in range(max(levels))]


def pairwise(levels: list[int], *, cap: int) -> tuple[list[tuple[int, ...]], bool]:
    """A greedy pairwise covering array, seeded with each-choice rows; returns (rows, capped).

    Beyond ``MAX_PAIRS`` pairs (a 5,000-way parallel split has 12.5 million) the greedy array is
    quadratic in time and memory: the each-choice rows are returned instead, marked capped.
    """
    rows: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    # A factor with one level takes it in every row: its pairs are covered by any row.
    active = [i for i, n in enumerate(levels) if n > 1]
    pair_count = 0
    level_sum = 0
    for i in active:
        pair_count += levels[i] * level_sum
        level_sum += levels[i]
    if pair_count > MAX_PAIRS:
        return each_choice(levels)[:cap], True
    uncovered: set[tuple[int, int, int, int]] = {
        (i, a, j, b)
        for i, j in itertools.combinations(active, 2)
        for a in range(levels[i])
        for b in range(levels[j])
    }

    def add(new: tuple[int, ...]) -> None:
        if new in seen:
            return
        seen.add(new)
        rows.append(new)
        for i, j in itertools.combinations(active, 2):
            uncovered.discard((i, new[i], j, new[j]))

    for seed in each_choice(levels):
        if len(rows) >= cap:
            return rows, True
        add(seed)
    while uncovered:
        if len(rows) >= cap:
            return rows, True
        i0, a0, j0, b0 = min(uncovered)
        row: list[int] = [-1 if n > 1 else 0 for n in levels]
        row[i0], row[j0] = a0, b0
        for k in active:
            if row[k] >= 0:
                continue
            best, best_gain = 0, -1
            for level in range(levels[k]):
                gain = 0
                for m in active:
                    if m == k or row[m] < 0:
                        continue
                    key = (m, row[m], k, level) if m < k else (k, level, m, row[m])
                    if key in uncovered:
                        gain += 1
                if gain > best_gain:
                    best, best_gain = level, gain
            row[k] = best
        before = len(uncovered)
        add(tuple(row))
        if len(uncovered) == before:  # cannot happen with a fixed uncovered pair; guards a bug loop
            break
    return rows, False


def product(levels: list[int], *, cap: int) -> tuple[list[tuple[int, ...]], bool]:
    """Each-choice rows first (so a capped product still covers every level), then the full product."""
    rows: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    total = 1
    for n in levels:
        total *= max(n, 1)
    source: Iterator[tuple[int, ...]] = itertools.chain(
        each_choice(levels), itertools.product(*(range(max(n, 1)) for n in levels))
    )
    for row in source:
        if row in seen:
            continue
        if len(rows) >= cap:
            return rows, True
        seen.add(row)
        rows.append(row)
    return rows, total > len(rows)


def subsets(count: int, *, cap: int) -> tuple[list[tuple[int, ...]], bool]:
    """Non-empty subsets of range(count), smallest first; beyond ``cap``: singletons, all, pairwise rows."""
    if count <= 0:
        return [], False
    if count < 31 and (1 << count) - 1 <= cap:
        out = [c for size in range(1, count + 1) for c in itertools.combinations(range(count), size)]
        return out, False
    picked: list[tuple[int, ...]] = [(i,) for i in range(count)]
    picked.append(tuple(range(count)))
    seen = set(picked)
    # Pairwise rows only fill room left under the cap; with hundreds of flows there is none, and
    # computing them anyway is quadratic (a 5,000-way inclusive gateway took gigabytes).
    rows = pairwise([2] * count, cap=max(cap, 4))[0] if len(picked) < cap else []
    for row in rows:
        chosen = tuple(i for i, bit in enumerate(row) if bit)
        if chosen and chosen not in seen:
            seen.add(chosen)
            picked.append(chosen)
    # Singletons are kept even past the cap: they are what covers every flow.
    limit = max(cap, count + 1)
    return picked[:limit], True
