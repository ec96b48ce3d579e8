"""ProcessToScenarioGenerator: a controlFlowGraph becomes a SuitePlan (edges cover or capped paths)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import combos as combo_rows
from orchestra_app.generation.model import (
    Coverage,
    GeneratedScenario,
    ParallelMode,
    ScenarioKind,
    Strategy,
    SuitePlan,
)
from orchestra_app.generation.structure import Prepared, SplitKind, prepare
from orchestra_app.generation.walker import Key, Option, OptionList, Region, Run, Walker

DEFAULT_MAX_SCENARIOS = {"edges": 10_000, "paths": 200}
DEFAULT_PARALLEL_CAP = 64
DEFAULT_INCLUSIVE_CAP = 15
BRANCH_VARIANT_CAP = 16  # paths mode: distinct paths kept per parallel branch before combining
# Nested parallel blocks recurse (variants of variants, counts inside counts); deeper ones are walked
# flat / counted to the end so a model nested hundreds deep cannot exhaust the interpreter's stack.
MAX_COMBO_NESTING = 16
MAX_COUNT_NESTING = 64
_INF = 1 << 60

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
        return _Generator(
            graph, strategy, max(1, limit), max_loop, parallel, inclusive_cap, parallel_cap
        ).build()
    except RecursionError:
        # Subprocesses run recursively; the importers cap XML nesting far below this, so only a
        # hand-made graph gets here. It must still be an error a user can read, not a traceback.
        raise OrchestraError(
            "the model nests subprocesses too deeply to generate scenarios", kind=ErrorKind.TOO_LARGE
        ) from None


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
        self.walker = Walker(self.prep, combos=self if strategy == "paths" else None)
        self.walker.subset_cap = max(1, inclusive_cap)
        self._dist: dict[str, dict[str, int]] = {}
        self._combos: dict[tuple[str, Region], list[Option] | None] = {}
        self._expanding: set[str] = set()
        self._joins: dict[str, str | None] = {}

    # -- suite -----------------------------------------------------------------------------------

    def build(self) -> SuitePlan:
        prep = self.prep
        process_ids = [p.id for p in prep.graph.processes if p.id in prep.top]
        process_ids += [p for p in prep.top if p not in process_ids]
        process_ids = [
            p for p in process_ids if any(not prep.nodes[n].triggered_by_event for n in prep.top[p])
        ]
        names = {p.id: p.participant_name or p.name for p in prep.graph.processes}
        runs: list[tuple[str, Run]] = []
        for pid in process_ids:
            top = [n for n in prep.top[pid] if not prep.nodes[n].triggered_by_event]
            starts = prep.scope_starts(top) or top[:1]
            if any(prep.nodes[n].type == "startEvent" for n in starts):
                region = Region(starts=tuple(((s, None),) for s in starts))  # start events are alternatives
            else:
                # BPMN: without a start event every node no flow enters starts together.
                region = Region(starts=(tuple((s, None) for s in starts),))
            found = (
                self._edges(region, f"process:{pid}")
                if self.strategy == "edges"
                else self._paths(region, f"process:{pid}", self.limit)
            )
            runs.extend((pid, r) for r in found)
        scenarios = self._scenarios(runs, names if len(process_ids) > 1 else {})
        coverage, uncovered = self._coverage(scenarios, process_ids)
        path_count = self._path_count(process_ids)
        capped = self.capped or self.walker.capped or path_count > len(scenarios)
        return SuitePlan(
            strategy=self.strategy,
            scenarios=scenarios,
            coverage=coverage,
            capped=capped,
            path_count=path_count,
            uncovered_flows=uncovered,
            warnings=list(prep.warnings),
        )

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
                self.capped = True
                break
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
        self._dist[point] = dist
        return dist

    # -- paths: depth-first enumeration of choice scripts, capped -------------------------------

    def _paths(self, region: Region, scope: str, cap: int) -> list[Run]:
        runs: list[Run] = []
        seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        script: list[int] = []
        attempts = 0
        while True:
            attempts += 1
            chooser = _ScriptChooser(script)
            run = self.walker.run(region, chooser, scope)
            signature = (tuple(run.nodes), tuple(run.flows))
            if signature not in seen:
                seen.add(signature)
                runs.append(run)
            trace = chooser.trace
            while trace and trace[-1][0] + 1 >= trace[-1][1]:
                trace.pop()
            if not trace:
                return runs
            if len(runs) >= cap or attempts >= 4 * cap:
                self.capped = True
                return self._cover_first(region, scope, runs, cap)
            script = [idx for idx, _ in trace[:-1]] + [trace[-1][0] + 1]

    def _cover_first(self, region: Region, scope: str, runs: list[Run], cap: int) -> list[Run]:
        """A capped enumeration only varies its last choices: lead with the edges cover instead."""
        merged: list[Run] = []
        seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        for run in [*self._edges(region, scope), *runs]:
            signature = (tuple(run.nodes), tuple(run.flows))
            if signature not in seen and len(merged) < cap:
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
        forbidden = region.forbidden | ({join} if join else set())
        skip = region.skip_loops | {r.id for r in prep.loops_of_node.get(split, ())}
        self._expanding.add(split)
        try:
            variants: list[list[Run]] = []
            for edge_id in prep.out[split]:
                branch = Region(
                    starts=(((prep.edges[edge_id].target, edge_id),),),
                    forbidden=frozenset(forbidden),
                    skip_loops=frozenset(skip),
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
            name = _name(run, kind)
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
                )
            )
        return out

    def _coverage(
        self, scenarios: list[GeneratedScenario], process_ids: list[str]
    ) -> tuple[Coverage, list[str]]:
        prep = self.prep
        real = [e for e, edge in prep.edges.items() if edge.real]
        reachable = _reachable_flows(prep, process_ids)
        covered: set[str] = set()
        loop_outcomes: set[tuple[str, int]] = set()
        for scenario in scenarios:
            covered.update(scenario.flows)
            for key, decision in scenario.decisions.items():
                if decision.get("loop"):
                    rec = next(r for r in prep.loops if r.id == key)
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
        exact = {
            (k, n)
            for k, n in loop_outcomes
            if n in {0, 1, next(r.iterations for r in prep.loops if r.id == k)}
        }
        coverage = Coverage(
            flows_total=len(real),
            flows_reachable=len(reachable),
            flows_covered=len(covered & set(real)),
            decisions_total=len(decision_flows) + loop_total,
            decisions_covered=len(covered & set(decision_flows)) + len(exact),
        )
        uncovered = [e for e in real if e not in covered]
        return coverage, uncovered

    def _path_count(self, process_ids: list[str]) -> int:
        counter = _PathCounter(self.prep, self._join)
        total = 0
        for pid in process_ids:
            top = [n for n in self.prep.top[pid] if not self.prep.nodes[n].triggered_by_event]
            starts = self.prep.scope_starts(top) or top[:1]
            if any(self.prep.nodes[n].type == "startEvent" for n in starts):
                total += sum(counter.count(start, None) for start in starts)
            else:
                together = 1
                for start in starts:
                    together *= max(1, counter.count(start, None))
                total += together
        # Each loop runs 0, 1 or N times: the scenario space multiplies by its distinct counts.
        for rec in self.prep.loops:
            total *= len({0, 1, rec.iterations})
        return total


class _FirstChooser:
    """The happy path: the first option everywhere (records the universe of outcomes on the way)."""

    def __init__(self, register: Register) -> None:
        self.register = register

    def offer(self, point: str, options: list[Option]) -> None:
        self.register(point, options)

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


def _reachable_flows(prep: Prepared, process_ids: list[str]) -> set[str]:
    nodes: list[str] = []
    for pid in process_ids:
        top = [n for n in prep.top[pid] if not prep.nodes[n].triggered_by_event]
        nodes.extend(prep.scope_starts(top) or top[:1])
    seen = set(nodes)
    flows: set[str] = set()
    queue = deque(nodes)
    while queue:
        nid = queue.popleft()
        nexts: list[str] = []
        for e in prep.out[nid]:
            if prep.edges[e].real:
                flows.add(e)
            nexts.append(prep.edges[e].target)
        nexts.extend(prep.boundaries.get(nid, ()))
        if nid in prep.children:
            inner = prep.children[nid]
            nexts.extend(prep.scope_starts([c for c in inner if not prep.nodes[c].triggered_by_event]))
            for esp in inner:
                if prep.nodes[esp].triggered_by_event:
                    nexts.append(esp)
            if prep.nodes[nid].triggered_by_event:
                nexts.extend(prep.scope_starts(inner))
        scope = prep.scope_key(prep.nodes[nid])
        nexts.extend(prep.event_subs.get(scope, ()))
        for target in nexts:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return flows


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
