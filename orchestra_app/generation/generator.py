"""ProcessToScenarioGenerator: a controlFlowGraph becomes a SuitePlan (edges cover or capped paths)."""

from __future__ import annotations

import gc
import heapq
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import combos as combo_rows
from orchestra_app.generation.model import (
    Coverage,
    GeneratedScenario,
    GenerationStats,
    ParallelMode,
    ScenarioKind,
    Strategy,
    SuitePlan,
    UncoveredFlow,
    UncoveredReason,
)
from orchestra_app.generation.routes import (
    Move,
    Reach,
    RouteChooser,
    TokenGraph,
    plan_route,
    reach,
    toward_joins,
    unreached_reasons,
)
from orchestra_app.generation.steps import node_has_step
from orchestra_app.generation.structure import Prepared, SplitKind, prepare
from orchestra_app.generation.walker import (
    Key,
    Option,
    OptionList,
    Region,
    Run,
    Walker,
    clean_text,
    flow_label,
    loop_name,
)

DEFAULT_MAX_SCENARIOS = {"edges": 10_000, "paths": 200}
DEFAULT_PARALLEL_CAP = 64
DEFAULT_INCLUSIVE_CAP = 15
BRANCH_VARIANT_CAP = 16  # paths mode: distinct paths kept per parallel branch before combining
# Nested parallel blocks recurse (variants of variants, counts inside counts); deeper ones are walked
# flat / counted to the end so a model nested hundreds deep cannot exhaust the interpreter's stack.
MAX_COMBO_NESTING = 16
MAX_COUNT_NESTING = 64
# The structured walk (happy path, one steered walk per decision outcome, loop and exception) stops
# after this much work (node executions plus search visits); shortest routes close what is left. It
# only binds on big tangled models; every corpus file stays far below it.
STRUCTURED_WORK_BASE = 20_000
STRUCTURED_WORK_PER_ELEMENT = 4
_INF = 1 << 60

Seeds = list[tuple[str, int, Move | None]]

Register = Callable[[str, list[Option]], None]


def generate_suite(
    graph: ControlFlowGraph,
    *,
    strategy: Strategy = "edges",
    max_scenarios: int | None = None,
    max_loop: int | None = None,
    parallel: ParallelMode = "pairwise",
    inclusive_cap: int = DEFAULT_INCLUSIVE_CAP,
    parallel_cap: int = DEFAULT_PARALLEL_CAP,
) -> SuitePlan:
    """Generate a scenario suite; pure and deterministic (same graph and options, same suite)."""
    if strategy not in ("edges", "paths"):
        raise ValueError(f"unknown strategy {strategy!r} (use 'edges' or 'paths')")
    if parallel not in ("pairwise", "product"):
        raise ValueError(f"unknown parallel mode {parallel!r} (use 'pairwise' or 'product')")
    limit = max_scenarios if max_scenarios is not None else DEFAULT_MAX_SCENARIOS[strategy]
    try:
        with _collector_paused():
            return _Generator(
                graph, strategy, max(1, limit), max_loop, parallel, inclusive_cap, parallel_cap
            ).build()
    except RecursionError:
        # Subprocesses run recursively; the importers cap XML nesting far below this, so only a
        # hand-made graph gets here. It must still be an error a user can read, not a traceback.
        raise OrchestraError(
            "the model nests subprocesses too deeply to generate scenarios", kind=ErrorKind.TOO_LARGE
        ) from None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a suite is built.

    Generation allocates hundreds of thousands of small tuples, lists and dicts on top of a large
    live graph; each automatic full collection re-scans all of it, which tripled the time of big
    models. Nothing here needs the collector (reference counting frees the temporaries), and it is
    switched back on, as it was, when the suite is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Generator:
    def __init__(
        self,
        graph: ControlFlowGraph,
        strategy: Strategy,
        limit: int,
        max_loop: int | None,
        parallel: ParallelMode,
        inclusive_cap: int,
        parallel_cap: int,
    ) -> None:
        self.prep = prepare(graph, max_loop=max_loop)
        self.strategy = strategy
        self.limit = limit
        self.parallel = parallel
        self.parallel_cap = max(1, parallel_cap)
        self.capped = False
        self.limit_hit = False  # max_scenarios stopped a cover or an enumeration with work left
        self.walker = Walker(self.prep, combos=self if strategy == "paths" else None)
        self.walker.subset_cap = max(1, inclusive_cap)
        self.graph = TokenGraph(self.prep)
        self.stats = GenerationStats()
        self.structured_budget = STRUCTURED_WORK_BASE + STRUCTURED_WORK_PER_ELEMENT * (
            len(self.prep.nodes) + len(self.prep.edges)
        )
        self.failed: dict[str, UncoveredReason] = {}
        self.flow_order = {e: i for i, e in enumerate(self.prep.edges)}
        self._dist: dict[str, dict[str, int]] = {}
        self._dist_visits = 0
        self._combos: dict[tuple[str, Region], list[Option] | None] = {}
        self._expanding: set[str] = set()
        self._joins: dict[str, str | None] = {}
        self._meetings: dict[str, frozenset[str]] = {}

    # -- suite -----------------------------------------------------------------------------------

    def build(self) -> SuitePlan:
        prep = self.prep
        regions = self._regions()
        names = {p.id: p.participant_name or p.name for p in prep.graph.processes}
        runs: list[tuple[str, Run]] = []
        reached: set[str] = set()
        for pid, region, seeds in regions:
            found = reach(self.graph, seeds)
            reached.update(found.parent)
            scope = f"process:{pid}"
            if self.strategy == "edges":
                found_runs = self._cover(region, scope, found)
            else:
                found_runs = self._paths(region, scope, self.limit, found)
                found_runs = self._close_gaps(region, scope, found, found_runs)
            self.stats.scenarios_emitted += len(found_runs)
            runs.extend((pid, r) for r in self._drop_stepless(found_runs))
        scenarios = self._scenarios(runs, names if len(regions) > 1 else {})
        coverage, uncovered = self._coverage(scenarios, reached)
        path_count = self._path_count(regions)
        capped = self.capped or self.limit_hit or self.walker.capped or any(s.truncated for s in scenarios)
        stats = self.stats
        stats.walks = self.walker.walks
        stats.nodes_visited = self.walker.nodes_visited
        stats.graph_visits = prep.work + self.graph.visits + self._dist_visits + self.walker.search_visits
        return SuitePlan(
            strategy=self.strategy,
            scenarios=scenarios,
            coverage=coverage,
            capped=capped,
            path_count=path_count,
            uncovered_flows=uncovered,
            warnings=list(prep.warnings),
            stats=stats,
        )

    def _regions(self) -> list[tuple[str, Region, Seeds]]:
        """Per process (pool): the start alternatives, as walker region and as search seeds."""
        prep = self.prep
        process_ids = [p.id for p in prep.graph.processes if p.id in prep.top]
        process_ids += [p for p in prep.top if p not in process_ids]
        out: list[tuple[str, Region, Seeds]] = []
        for pid in process_ids:
            top = prep.top[pid]
            normal = [n for n in top if not prep.nodes[n].triggered_by_event]
            if normal:
                # Start events are alternatives; implicit starts (BPMN: activities and catch events no
                # flow enters) join each of them. Without start events every free node starts together.
                tokens = prep.scope_tokens(normal) or [(normal[0],)]
                region = Region(starts=tuple(tuple((n, None) for n in t) for t in tokens))
                seeds: Seeds = [(n, i, None) for i, t in enumerate(tokens) for n in t]
                seeds += [
                    (start, 0, ("esp", esp, start))
                    for esp in prep.event_subs.get(f"process:{pid}", ())
                    for start in prep.esp_starts(esp)
                ]
            else:
                # Only event subprocesses: each of their start events is a scenario of its own.
                starts = [s for esp in top for s in prep.esp_starts(esp)]
                if not starts:
                    continue
                region = Region(starts=tuple(((s, None),) for s in starts), esp_entry=True)
                seeds = [(s, i, None) for i, s in enumerate(starts)]
            out.append((pid, region, seeds))
        return out

    def _cover(self, region: Region, scope: str, found: Reach) -> list[Run]:
        """The structured walk, then shortest routes to the flows it left uncovered."""
        return self._close_gaps(region, scope, found, self._edges(region, scope))

    def _work(self) -> int:
        return self.walker.nodes_visited + self._dist_visits

    # -- gap closing: shortest routes start -> uncovered flow -> an end ---------------------------

    def _close_gaps(self, region: Region, scope: str, found: Reach, runs: list[Run]) -> list[Run]:
        prep = self.prep
        covered: set[Key] = set()
        for run in runs:
            covered |= run.keys
        if len(runs) >= self.limit:
            if any(e not in covered for n in found.parent for e in prep.out[n] if prep.edges[e].real):
                self.limit_hit = True
            return runs
        goals = sorted(
            {
                e
                for nid in found.parent
                for e in prep.out[nid]
                if prep.edges[e].real and e not in covered and e not in self.failed
            },
            key=lambda e: (found.depth[prep.edges[e].source], self.flow_order[e]),
        )
        if not goals:
            return runs
        dist, _ = self.graph.end_distances()
        for goal in goals:
            if goal in covered:
                continue
            if len(runs) >= self.limit:
                self.limit_hit = True
                break
            plan = plan_route(self.graph, found, goal, covered)
            if plan is None:
                self.failed[goal] = UncoveredReason.LOOP_LIMIT
                continue
            # Only a pending terminate makes a join short of tokens wait (else it is released anyway):
            # then the tokens the route does not steer head for the joins it passes.
            toward = toward_joins(self.graph, plan) if prep.terminates else None
            chooser = RouteChooser(prep, plan, dist, covered, self.graph.calm_distances(), toward)
            run = self.walker.run(region, chooser, scope, route=True)
            if goal not in run.keys:
                self.failed[goal] = UncoveredReason.NO_TOKEN_PATH
                continue
            fresh = {f for f in run.flows if f not in covered and f != goal and prep.edges[f].real}
            run.title = f"Covers {describe_flow(prep, goal)}" + (
                f" (+{len(fresh)} more flow{'s' if len(fresh) > 1 else ''})" if fresh else ""
            )
            covered |= run.keys
            runs.append(run)
            self.stats.gap_scenarios += 1
        return runs

    def _drop_stepless(self, runs: list[Run]) -> list[Run]:
        """A scenario that runs no task is kept only when it alone covers something, and says so."""
        prep = self.prep
        stepless = [not any(node_has_step(prep.nodes[n]) for n in run.nodes) for run in runs]
        if not any(stepless):
            return runs
        counts: Counter[Key] = Counter(k for run in runs for k in run.keys)
        dropped: set[int] = set()
        for i in reversed(range(len(runs))):
            run = runs[i]
            if not stepless[i]:
                continue
            unique = sorted((k for k in run.keys if counts[k] == 1), key=repr)
            if not unique:
                dropped.add(i)
                counts.subtract(run.keys)
                continue
            what = [describe_key(prep, k) for k in unique[:3]]
            more = f" and {len(unique) - 3} more" if len(unique) > 3 else ""
            run.note = (
                "No task runs on this path (only events and gateways); it is kept because no other "
                f"scenario takes {', '.join(what)}{more}."
            )
        self.stats.stepless_dropped += len(dropped)
        return [run for i, run in enumerate(runs) if i not in dropped]

    # -- edges: greedy cover over flows, decision outcomes, loop counts and exceptions -----------

    def _edges(self, region: Region, scope: str) -> list[Run]:
        universe: dict[Key, str] = {}
        order: list[Key] = []
        registered: set[int] = set()

        def register(point: str, options: list[Option]) -> None:
            if id(options) in registered:
                return
            registered.add(id(options))
            for option in options:
                keys = option.keys
                if option.kind == "loop":
                    # Back flows belong to the XOR that takes them; the loop point only owns its counts.
                    keys = frozenset(k for k in keys if isinstance(k, tuple))
                for key in sorted(keys, key=repr):
                    if key not in universe:
                        universe[key] = point
                        order.append(key)

        covered: set[Key] = set()
        first = _FirstChooser(register)
        happy = self.walker.run(region, first, scope)
        runs = [happy]
        covered |= happy.keys
        failed: set[Key] = set()
        pointer = 0
        while True:
            while pointer < len(order) and (order[pointer] in covered or order[pointer] in failed):
                pointer += 1
            if pointer >= len(order):
                break
            if len(runs) >= self.limit:
                self.limit_hit = True
                break
            if self._work() > self.structured_budget:
                break  # a huge tangled model: shortest routes close the remaining flow gaps
            goal = order[pointer]
            chooser = _EdgesChooser(register, covered, goal, self._distances(universe[goal]))
            run = self.walker.run(region, chooser, scope)
            if goal not in run.keys:
                failed.add(goal)
            new = run.keys - covered
            if new:
                covered |= new
                runs.append(run)
        return runs

    def _distances(self, point: str) -> dict[str, int]:
        """Edges from every node to ``point`` (reverse BFS over flows, boundaries and scope entries)."""
        cached = self._dist.get(point)
        if cached is not None:
            return cached
        prep = self.prep
        target = point
        for prefix in ("boundary:", "esp:"):
            if point.startswith(prefix):
                target = point[len(prefix) :]
        loop = next((r for r in prep.loops if r.id == target), None)
        if loop is not None:
            target = loop.header
        if target.startswith("process:") or target == "start" or target not in prep.nodes:
            self._dist[point] = {}
            return {}
        dist = {target: 0}
        queue = deque([target])
        while queue:
            nid = queue.popleft()
            d = dist[nid] + 1
            node = prep.nodes[nid]
            preds = [prep.edges[e].source for e in prep.inc[nid]]
            if node.type == "boundaryEvent" and node.attached_to:
                preds.append(node.attached_to)
            if node.parent_id and node.parent_id in prep.nodes and not prep.inc[nid]:
                preds.append(node.parent_id)
            if node.triggered_by_event:
                scope_nodes = (
                    prep.children.get(node.parent_id or "", [])
                    if node.parent_id
                    else prep.top.get(node.process_id, [])
                )
                preds.extend(n for n in scope_nodes if not prep.nodes[n].triggered_by_event)
            for pred in preds:
                if pred not in dist:
                    dist[pred] = d
                    queue.append(pred)
        self._dist_visits += len(dist)
        self._dist[point] = dist
        return dist

    # -- paths: depth-first enumeration of choice scripts, capped -------------------------------

    def _paths(self, region: Region, scope: str, cap: int, found: Reach | None = None) -> list[Run]:
        """Distinct paths: a path is what it covers (flows, decision outcomes, loop counts, events).

        Two walks that take the same flows and outcomes in another order (loop iterations swapped)
        are one path; the suite keeps the first.
        """
        runs: list[Run] = []
        seen: set[frozenset[Key]] = set()
        script: list[int] = []
        attempts = 0
        while True:
            attempts += 1
            chooser = _ScriptChooser(script)
            run = self.walker.run(region, chooser, scope)
            signature = frozenset(run.keys)
            if signature not in seen:
                seen.add(signature)
                runs.append(run)
            else:
                self.stats.duplicates_dropped += 1
            trace = chooser.trace
            while trace and trace[-1][0] + 1 >= trace[-1][1]:
                trace.pop()
            if not trace:
                return runs
            if len(runs) >= cap or attempts >= 4 * cap:
                self.capped = True
                return self._cover_first(region, scope, runs, cap, found)
            script = [idx for idx, _ in trace[:-1]] + [trace[-1][0] + 1]

    def _cover_first(
        self, region: Region, scope: str, runs: list[Run], cap: int, found: Reach | None
    ) -> list[Run]:
        """A capped enumeration only varies its last choices: lead with the edges cover instead."""
        merged: list[Run] = []
        seen: set[frozenset[Key]] = set()
        cover = self._cover(region, scope, found) if found is not None else self._edges(region, scope)
        for run in [*cover, *runs]:
            signature = frozenset(run.keys)
            if signature in seen:
                self.stats.duplicates_dropped += 1
            elif len(merged) < cap:
                seen.add(signature)
                merged.append(run)
        return merged

    def combos(self, split: str, region: Region) -> list[Option] | None:
        """Paths mode: an AND-split offers pairwise (or product) combinations of its branch variants."""
        cache_key = (split, region)
        if cache_key in self._combos:
            return self._combos[cache_key]
        if split in self._expanding or len(self._expanding) >= MAX_COMBO_NESTING:
            return None  # a branch that re-enters its own split, or nested too deep: walk it flat
        prep = self.prep
        join = self._join(split)
        # Every join where tokens of two branches meet waits for the merged walk: a branch walked on
        # its own must not fire it (a branch that never reaches the block's join, e.g. one ending in
        # a terminate end event, would otherwise leave the others to fire their join once each).
        forbidden = region.forbidden | self._meeting_joins(split)
        skip = region.skip_loops | {r.id for r in prep.loops_of_node.get(split, ())}
        self._expanding.add(split)
        try:
            variants: list[list[Run]] = []
            for edge_id in self.walker.branch_order(split):
                branch = Region(
                    starts=(((prep.edges[edge_id].target, edge_id),),),
                    forbidden=frozenset(forbidden),
                    skip_loops=frozenset(skip),
                    branch=True,
                )
                cap = min(self.limit, BRANCH_VARIANT_CAP)
                variants.append(self._paths(branch, prep.scope_key(prep.nodes[split]), cap))
        finally:
            self._expanding.discard(split)
        levels = [len(v) for v in variants]
        if self.parallel == "product":
            rows, capped = combo_rows.product(levels, cap=self.parallel_cap)
        else:
            rows, capped = combo_rows.pairwise(levels, cap=self.parallel_cap)
            total = 1
            for n in levels:
                total *= n
            capped = capped or total > len(rows)
        self.capped = self.capped or capped
        options = []
        for row in rows:
            picked = tuple(variants[b][i] for b, i in enumerate(row))
            keys = frozenset(k for run in picked for k in run.keys)
            options.append(Option("combo", keys, payload=picked, next=join))
        self._combos[cache_key] = options
        return options

    def _meeting_joins(self, split: str) -> frozenset[str]:
        """Joins that tokens of at least two branches of ``split`` reach, up to the block's own join."""
        cached = self._meetings.get(split)
        if cached is not None:
            return cached
        prep = self.prep
        outs = prep.out[split]
        full = (1 << len(outs)) - 1
        masks: dict[str, int] = {}
        heap: list[tuple[int, str]] = []
        for bit, edge_id in enumerate(outs):
            target = prep.edges[edge_id].target
            if target not in masks:
                masks[target] = 0
                heapq.heappush(heap, (prep.topo.get(target, 0), target))
            masks[target] |= 1 << bit
        meeting: set[str] = set()
        while heap:
            _, nid = heapq.heappop(heap)
            self._dist_visits += 1
            mask = masks[nid]
            if prep.is_parking(nid) and mask & (mask - 1):
                meeting.add(nid)
                if mask == full:
                    break  # the block's join: beyond it every token comes through it
            for e in prep.out[nid]:
                if e in prep.back:
                    continue
                target = prep.edges[e].target
                if target not in masks:
                    masks[target] = 0
                    heapq.heappush(heap, (prep.topo.get(target, 0), target))
                masks[target] |= mask
        cached = self._meetings[split] = frozenset(meeting)
        return cached

    def _join(self, split: str) -> str | None:
        """The topologically first join gateway every branch of ``split`` reaches (None: they never meet).

        Walks forward from the branches in topological order (flows without back edges only go
        forward) and stops at the first parking gateway all of them reach, so a chain of a thousand
        parallel blocks costs the size of each block, not of the whole model per split.
        """
        if split in self._joins:
            return self._joins[split]
        prep = self.prep
        outs = prep.out[split]
        full = (1 << len(outs)) - 1
        masks: dict[str, int] = {}
        heap: list[tuple[int, str]] = []
        for bit, edge_id in enumerate(outs):
            target = prep.edges[edge_id].target
            if target not in masks:
                masks[target] = 0
                heapq.heappush(heap, (prep.topo.get(target, 0), target))
            masks[target] |= 1 << bit
        join: str | None = None
        while heap:
            _, nid = heapq.heappop(heap)
            mask = masks[nid]
            if mask == full and prep.is_parking(nid):
                join = nid
                break
            for e in prep.out[nid]:
                if e in prep.back:
                    continue
                target = prep.edges[e].target
                if target not in masks:
                    masks[target] = 0
                    heapq.heappush(heap, (prep.topo.get(target, 0), target))
                masks[target] |= mask
        self._joins[split] = join
        return join

    # -- output ----------------------------------------------------------------------------------

    def _scenarios(
        self, runs: list[tuple[str, Run]], prefixes: dict[str, str | None]
    ) -> list[GeneratedScenario]:
        out: list[GeneratedScenario] = []
        used: dict[str, int] = {}
        for i, (pid, run) in enumerate(runs, start=1):
            if run.exception:
                kind = ScenarioKind.EXCEPTION
            elif run.looped:
                kind = ScenarioKind.LOOP
            elif not run.deviated:
                kind = ScenarioKind.HAPPY
            else:
                kind = ScenarioKind.BRANCH
            name = run.title or _name(run, kind)
            prefix = prefixes.get(pid)
            if prefixes:
                name = f"{prefix or pid}: {name}"
            count = used.get(name, 0) + 1
            used[name] = count
            if count > 1:
                name = f"{name} #{count}"
            out.append(
                GeneratedScenario(
                    key=f"S{i:03d}",
                    name=name,
                    kind=kind,
                    process_id=pid,
                    nodes=run.nodes,
                    flows=run.flows,
                    decisions=run.decisions,
                    truncated=run.truncated,
                    note=run.note,
                )
            )
        return out

    def _coverage(
        self, scenarios: list[GeneratedScenario], reached: set[str]
    ) -> tuple[Coverage, list[UncoveredFlow]]:
        prep = self.prep
        real = [e for e, edge in prep.edges.items() if edge.real]
        reachable = {e for e in real if prep.edges[e].source in reached}
        covered: set[str] = set()
        loop_outcomes: set[tuple[str, int]] = set()
        for scenario in scenarios:
            covered.update(scenario.flows)
            for key, decision in scenario.decisions.items():
                if decision.get("loop"):
                    rec = prep.loop_by_id[key]
                    loop_outcomes.add((key, min(decision["iterations"], rec.iterations)))
        decision_flows = [
            e
            for nid, kind in prep.split.items()
            if kind in (SplitKind.XOR, SplitKind.OR)
            for e in prep.out[nid]
        ]
        # Decision points no start can reach are not outcomes a test could ever take.
        decision_flows = [e for e in decision_flows if prep.edges[e].real and e in reachable]
        live_loops = [r for r in prep.loops if any(b in reachable for b in r.back_flows)]
        loop_total = sum(len({0, 1, r.iterations}) for r in live_loops)
        # Loop outcomes seen only as a lower count (e.g. 2 of 3) are not one of 0/1/N: count the exact ones.
        exact = {(k, n) for k, n in loop_outcomes if n in {0, 1, prep.loop_by_id[k].iterations}}
        coverage = Coverage(
            flows_total=len(real),
            flows_reachable=len(reachable),
            flows_covered=len(covered & set(real)),
            decisions_total=len(decision_flows) + loop_total,
            decisions_covered=len(covered & set(decision_flows)) + len(exact),
        )
        missing = [e for e in real if e not in covered]
        unreached = (
            unreached_reasons(prep, self.graph, reached) if any(e not in reachable for e in missing) else {}
        )
        uncovered: list[UncoveredFlow] = []
        for e in missing:
            source = prep.edges[e].source
            if source not in reached:
                reason, detail = unreached[source]
            elif e in self.failed:
                reason = self.failed[e]
                detail = _FAILED_DETAIL[reason]
            elif self.limit_hit:
                reason, detail = UncoveredReason.CAPPED, "max_scenarios was reached before a scenario took it"
            else:
                reason, detail = UncoveredReason.NO_TOKEN_PATH, _FAILED_DETAIL[UncoveredReason.NO_TOKEN_PATH]
            uncovered.append(UncoveredFlow(flow=e, reason=reason, detail=detail))
        return coverage, uncovered

    def _path_count(self, regions: list[tuple[str, Region, Seeds]]) -> int:
        counter = _PathCounter(self.prep, self._join)
        total = 0
        for _, region, _ in regions:
            for tokens in region.starts:
                together = 1
                for node, _ in tokens:
                    together *= max(1, counter.count(node, None))
                total += together
        # Each loop runs 0, 1 or N times: the scenario space multiplies by its distinct counts.
        for rec in self.prep.loops:
            total *= len({0, 1, rec.iterations})
        return total


_FAILED_DETAIL = {
    UncoveredReason.LOOP_LIMIT: "reaching it needs a loop to run more often than max_loop allows",
    UncoveredReason.NO_TOKEN_PATH: (
        "the flow graph connects it to a start, but no token walk took it (report this model: the "
        "generator should cover it)"
    ),
}


def describe_flow(prep: Prepared, flow_id: str) -> str:
    """'Payment ok? -> no', 'Charge card -> Send receipt' (names where the model has them, else ids)."""
    edge = prep.edges[flow_id]
    source, target = prep.nodes[edge.source], prep.nodes[edge.target]
    flow = edge.flow
    target_name = clean_text(target.name) if target.name else target.id
    if source.extensions.get("guards"):
        label = flow_label(prep, source.id, flow_id)  # a sequence-diagram fragment: its guard
        return f"{label} -> {target_name}" if label else target_name
    left = clean_text(source.name) if source.name else source.id
    if flow is not None and flow.name:
        right = clean_text(flow.name)
    elif flow is not None and flow.condition:
        right = clean_text(flow.condition)[:80]
    elif prep.is_default(source.id, flow_id):
        right = f"otherwise ({target_name})"
    else:
        right = target_name
    return f"{left} -> {right}"


def describe_key(prep: Prepared, key: Key) -> str:
    """A coverage key in words, for notes: a flow, a loop count, a boundary event, an event subprocess."""
    if isinstance(key, str):
        return describe_flow(prep, key) if key in prep.edges else key
    if isinstance(key, tuple) and key and key[0] == "loop":
        rec = prep.loop_by_id.get(str(key[1]))
        name = loop_name(prep, rec) if rec is not None else str(key[1])
        count = int(key[2])
        if count == 0:
            return f"{name} skipped (0 iterations)"
        return f"{name} repeated " + ("once" if count == 1 else f"{count} times")
    if isinstance(key, tuple) and len(key) >= 2 and key[0] in ("boundary", "esp"):
        node = prep.nodes.get(str(key[1]))
        what = "boundary event" if key[0] == "boundary" else "event subprocess"
        return f"{what} {node.name if node is not None and node.name else key[1]}"
    return repr(key)


class _FirstChooser:
    """The happy path: the first option everywhere (records the universe of outcomes on the way)."""

    def __init__(self, register: Register) -> None:
        self.register = register

    def offer(self, point: str, options: list[Option]) -> None:
        self.register(point, options)

    def wants(self, point: str) -> bool:
        return False

    def first_branch(self, split: str) -> str | None:
        return None

    def choose(self, run: Run, point: str, options: list[Option]) -> int:
        return 0


class _EdgesChooser:
    """Steers toward one uncovered goal, then greedily takes uncovered flows."""

    def __init__(self, register: Register, covered: set[Key], goal: Key, dist: dict[str, int]) -> None:
        self.register = register
        self.covered = covered
        self.goal = goal
        self.dist = dist

    def offer(self, point: str, options: list[Option]) -> None:
        self.register(point, options)

    def wants(self, point: str) -> bool:
        return False

    def first_branch(self, split: str) -> str | None:
        return None

    def choose(self, run: Run, point: str, options: list[Option]) -> int:
        if self.goal not in run.keys:
            if isinstance(options, OptionList):
                found = options.index_of(self.goal)
                if found is not None:
                    return found
            else:
                for i, option in enumerate(options):
                    if self.goal in option.keys:
                        return i
            if self.dist:
                best, best_rank = -1, (_INF, 0, 0)
                for i, option in enumerate(options):
                    d = self.dist.get(option.next, _INF) if option.next else _INF
                    if d < _INF:
                        rank = (d, -self._fresh(run, option), i)
                        if rank < best_rank:
                            best, best_rank = i, rank
                if best >= 0:
                    return best
        if options[0].kind in ("loop", "normal"):
            return 0  # loops and exceptions get scenarios of their own: names stay readable
        best, best_score = 0, -1
        for i, option in enumerate(options):
            score = self._fresh(run, option)
            if score > best_score:
                best, best_score = i, score
                if score == len(option.keys):
                    break
        return best

    def _fresh(self, run: Run, option: Option) -> int:
        return sum(1 for k in option.keys if k not in self.covered and k not in run.keys)


class _ScriptChooser:
    """Replays a prefix of choices, then takes the first option; records (choice, option count)."""

    def __init__(self, script: list[int]) -> None:
        self.script = script
        self.trace: list[tuple[int, int]] = []

    def offer(self, point: str, options: list[Option]) -> None:
        return None

    def wants(self, point: str) -> bool:
        return False

    def first_branch(self, split: str) -> str | None:
        return None

    def choose(self, run: Run, point: str, options: list[Option]) -> int:
        pos = len(self.trace)
        idx = self.script[pos] if pos < len(self.script) else 0
        idx = min(idx, len(options) - 1)
        self.trace.append((idx, len(options)))
        return idx


class _PathCounter:
    """Counts start-to-end paths on the graph without back edges; AND/OR blocks multiply their branches.

    One table per stop node (a block's join, or None for the end), filled backwards in topological
    order only as far down as a caller needs: a block's table covers the block, not the whole model.
    """

    def __init__(self, prep: Prepared, join_of: Callable[[str], str | None]) -> None:
        self.prep = prep
        self.join_of = join_of
        self.by_topo = sorted(prep.topo, key=prep.topo.__getitem__)
        self.memo: dict[str | None, tuple[dict[str, int], int]] = {}  # stop -> (table, lowest rank filled)
        self.building: set[str | None] = set()

    def count(self, node: str, stop: str | None) -> int:
        if stop in self.building:
            return 1  # an enclosing block's table asked while it is being built: the value is unused
        low = self.prep.topo.get(node, 0)
        entry = self.memo.get(stop)
        if entry is None:
            table: dict[str, int] = {}
            high = self.prep.topo[stop] if stop is not None else len(self.by_topo) - 1
        else:
            table, filled = entry
            if low >= filled:
                return table.get(node, 0)
            high = filled - 1
        self.building.add(stop)
        try:
            self._fill(table, stop, high, low)
        finally:
            self.building.discard(stop)
        self.memo[stop] = (table, min(low, high + 1))
        return table.get(node, 0)

    def _fill(self, table: dict[str, int], stop: str | None, high: int, low: int) -> None:
        prep = self.prep
        for rank in range(high, low - 1, -1):
            nid = self.by_topo[rank]
            if nid == stop:
                table[nid] = 1
                continue
            weight = 1
            if nid in prep.children and not prep.nodes[nid].triggered_by_event:
                inner = [c for c in prep.children[nid] if not prep.nodes[c].triggered_by_event]
                for start in prep.scope_starts(inner):
                    weight *= max(1, table.get(start, 1))
            outs = [e for e in prep.out[nid] if e not in prep.back]
            kind = prep.split[nid]
            if kind in (SplitKind.AND, SplitKind.OR) and len(outs) > 1:
                join = self.join_of(nid) if len(self.building) < MAX_COUNT_NESTING else None
                branch = [
                    table.get(prep.edges[e].target, 0)
                    if join is None
                    else self.count(prep.edges[e].target, join)
                    for e in outs
                ]
                after = 1 if join is None else table.get(join, 0)
                if kind is SplitKind.AND:
                    combos = 1
                    for c in branch:
                        combos *= max(c, 1)
                else:
                    combos = 1
                    for c in branch:
                        combos *= c + 1
                    combos -= 1
                total = combos * after
            elif outs:
                total = sum(table.get(prep.edges[e].target, 0) for e in outs)
            else:
                total = 1
            total += sum(table.get(b, 0) for b in prep.boundaries.get(nid, ()))
            table[nid] = weight * max(total, 1 if not outs else total)


def _name(run: Run, kind: ScenarioKind) -> str:
    labels: list[str] = []
    for label in run.labels:
        if label and label not in labels:
            labels.append(label)
    if not labels:
        return "Happy path" if kind is ScenarioKind.HAPPY else "Main flow"
    shown = labels[:5]
    name = ", ".join(shown)
    if len(labels) > len(shown):
        name += f" (+{len(labels) - len(shown)} more)"
    if len(name) > 200:
        name = name[:197] + "..."
    return name[0].upper() + name[1:]
