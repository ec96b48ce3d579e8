"""Token walker: runs one scenario through a prepared graph, asking a chooser at every choice point."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestra_app.generation.structure import ACTIVITY_TYPES, SUBPROCESS_TYPES, LoopRec, Prepared, SplitKind

Key = Hashable


@dataclass(eq=False)
class Debt:
    """A token an interruption took away: the parallel joins it would have reached, until one pays.

    When an interrupting boundary event cancels an activity (or a subprocess can never complete),
    the token that would have gone on from it is gone. The tokens the interruption creates instead
    carry this debt; one of them reaching a listed join pays it there. A parallel join that a debt
    still lists and whose incoming flows did not all deliver a token never fires: the other branches'
    tokens wait at it for ever, as in BPMN, and the scenario cannot go on past it.
    """

    joins: set[str]


# A token: the node it enters, the flow it comes by (None at a scope start), the debts it carries.
Token = tuple[str, str | None, tuple[Debt, ...]]


@dataclass(eq=False)
class Option:
    """One outcome of a choice point; ``keys`` are the coverage keys it would add."""

    kind: str  # start | flow | subset | combo | loop | boundary | esp | normal
    keys: frozenset[Key]
    payload: Any = None
    next: str | None = None  # node the option leads to (goal steering)
    label: str | None = None


class OptionList(list[Option]):
    """A cached option list with a key -> first index map (a 1,000-way gateway is asked 1,000 times)."""

    _index: dict[Key, int] | None = None

    def index_of(self, key: Key) -> int | None:
        if self._index is None:
            self._index = {}
            for i, option in enumerate(self):
                for k in option.keys:
                    self._index.setdefault(k, i)
        return self._index.get(key)


@dataclass
class Run:
    """A walk in progress and, once finished, one scenario (or one branch variant in paths mode)."""

    nodes: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: set[Key] = field(default_factory=set)
    labels: list[str] = field(default_factory=list)
    rest: _Scope | None = None  # tokens the walk left parked (paths mode merges a branch's into the split's)
    active: dict[str, list[int]] = field(default_factory=dict)  # loop id -> [target, iterations]
    triggered: set[str] = field(default_factory=set)  # boundary events already fired
    back_taken: dict[str, int] = field(default_factory=dict)  # loop id -> back flows taken
    free_taken: dict[str, int] = field(default_factory=dict)  # untracked back flow -> traversals
    exception: bool = False
    looped: bool = False
    deviated: bool = False
    truncated: bool = False
    steps: int = 0
    title: str | None = None  # set by the generator for gap-closing scenarios ("Covers ...")
    note: str | None = None  # why a scenario without any step is kept


class Chooser(Protocol):
    def offer(self, point: str, options: list[Option]) -> None:
        """Every outcome of a point, before loop steering narrows it (cached lists: stable identity)."""

    def choose(self, run: Run, point: str, options: list[Option]) -> int: ...

    def wants(self, point: str) -> bool:
        """Route mode: the chooser has a planned move at ``point`` (an event subprocess to trigger now)."""
        ...

    def first_branch(self, split: str) -> str | None:
        """Route mode: the flow of an AND-split the route continues on (walked before its siblings)."""
        ...


class _NoChooser:
    def offer(self, point: str, options: list[Option]) -> None:
        return None

    def choose(self, run: Run, point: str, options: list[Option]) -> int:
        return 0

    def wants(self, point: str) -> bool:
        return False

    def first_branch(self, split: str) -> str | None:
        return None


@dataclass(frozen=True)
class Region:
    """Where a walk starts (alternatives of token sets) and which joins it must leave parked."""

    starts: tuple[tuple[tuple[str, str | None], ...], ...]
    forbidden: frozenset[str] = frozenset()
    skip_loops: frozenset[str] = frozenset()
    esp_entry: bool = False  # a process of event subprocesses only: each start is an ESP start event
    branch: bool = False  # one branch of an AND-split (paths mode): a terminate waits for the whole scope


class ComboSource(Protocol):
    """Paths mode expands AND-splits into combinations of branch variants; edges mode walks them flat."""

    def combos(self, split: str, region: Region) -> list[Option] | None: ...


@dataclass
class _Scope:
    """The tokens of one (sub)process instance while a walk runs in it."""

    key: str
    forbidden: frozenset[str]
    defer: bool = False  # a branch walk: a pending terminate is handed to the enclosing walk
    parked: dict[str, list[str]] = field(default_factory=dict)  # join -> flows its waiting tokens came by
    parked_debts: dict[str, list[Debt]] = field(default_factory=dict)  # debts the waiting tokens carry
    debts: list[Debt] = field(default_factory=list)  # made by interruptions in this scope
    terminates: list[Token] = field(default_factory=list)  # tokens waiting at terminate end events
    esp_done: bool = False
    stopped: bool = False

    def stuck(self) -> bool:
        """Tokens wait at joins that will never fire (the scope cannot complete)."""
        return not self.stopped and any(v for j, v in self.parked.items() if j not in self.forbidden)


class Walker:
    def __init__(
        self, prep: Prepared, *, budget: int | None = None, combos: ComboSource | None = None
    ) -> None:
        self.prep = prep
        self.budget = budget if budget is not None else 20 * len(prep.nodes) + 1000
        self.combo_source = combos
        self._xor: dict[str, list[Option]] = {}
        self._or: dict[str, list[Option]] = {}
        self._loop: dict[str, list[Option]] = {}
        self._boundary: dict[str, list[Option]] = {}
        self._esp: dict[str, list[Option]] = {}
        self._scope_activity: dict[str, bool] = {}
        self._starts: dict[Region, list[Option]] = {}
        self._controls: dict[str, bool] = {}
        self._back_out: dict[str, bool] = {}
        self._owed: dict[str, frozenset[str]] = {}
        self._order: dict[str, list[str]] = {}
        self._inc_sets: dict[str, frozenset[str]] = {}
        self._ends: dict[tuple[tuple[str, str | None], ...], list[Option]] = {}
        self.search_visits = 0  # nodes visited by the searches below (owed joins, branch order)
        self.subset_cap = 15
        self.capped = False
        self.walks = 0  # counters reported on the plan: walks run and nodes executed in total
        self.nodes_visited = 0
        self._chooser: Chooser = _NoChooser()
        self._region = Region(starts=())
        self._route = False

    # -- public -------------------------------------------------------------------------------

    def run(self, region: Region, chooser: Chooser, scope_key: str, *, route: bool = False) -> Run:
        """One scenario. Re-entrant: paths mode walks branch variants while an outer walk waits.

        ``route``: the chooser follows a planned route; loop steering is off (the route sets the
        iteration counts) and untracked back flows may be taken (still capped per flow).
        """
        saved = (self._chooser, self._region, self._route)
        self._chooser, self._region, self._route = chooser, region, route
        self.walks += 1
        try:
            run = self._run(region, scope_key)
            self.nodes_visited += run.steps
            return run
        finally:
            self._chooser, self._region, self._route = saved

    def _run(self, region: Region, scope_key: str) -> Run:
        run = Run()
        starts = region.starts[0]
        if len(region.starts) > 1:
            options = self._start_options(region)
            idx = self._choose(run, "start", options)
            starts = options[idx].payload
            if idx and not region.esp_entry:
                run.labels.append(options[idx].label or "")
        if region.esp_entry:
            # Only event subprocesses: the scenario is the event subprocess its start event triggers.
            start = starts[0][0]
            esp = self.prep.nodes[start].parent_id or start
            run.exception = True
            run.labels.insert(0, self._esp_label(esp, start))
            run.keys.add(("esp", esp, start))
            run.nodes.append(esp)
            run.steps += 1
            scope = _Scope(esp, frozenset())
            self._drain(run, [(start, None, ())], scope)
        else:
            scope = _Scope(scope_key, region.forbidden, defer=region.branch)
            self._drain(run, [(n, via, ()) for n, via in starts], scope)
        run.rest = scope
        for loop_id in list(run.active):
            self._finish_loop(run, loop_id)
        return run

    # -- choice helpers ------------------------------------------------------------------------

    def _choose(self, run: Run, point: str, options: list[Option], full: list[Option] | None = None) -> int:
        self._chooser.offer(point, full if full is not None else options)
        if len(options) == 1:
            return 0
        idx = self._chooser.choose(run, point, options)
        if idx:
            run.deviated = True
        return idx

    def _start_options(self, region: Region) -> list[Option]:
        cached = self._starts.get(region)
        if cached is not None:
            return cached
        out: list[Option] = []
        for tokens in region.starts:
            node = self.prep.nodes[tokens[0][0]]
            out.append(
                Option(
                    "start",
                    frozenset(e for n, _ in tokens for e in self.prep.out[n] if self.prep.edges[e].real),
                    payload=tokens,
                    next=node.id,
                    label=f"starts at {node.name or node.id}",
                )
            )
        self._starts[region] = out
        return out

    # -- the token loop ------------------------------------------------------------------------

    def _drain(self, run: Run, tokens: list[Token], scope: _Scope) -> None:
        """Move the scope's tokens one at a time until none can move (depth-first, branch after branch).

        When no token can move, the lowest waiting join that may fire fires (``_next_join``); when
        none may, a token that reached a terminate end event ends the scope (it waited so that every
        other token could first move as far as it can: see docs/scenario-generation.md). When several
        wait, which one ends the scope is a choice point (the interleaving decides it).
        """
        prep = self.prep
        terminates = prep.terminates
        stack = list(reversed(tokens))
        while True:
            while stack and not scope.stopped and not run.truncated:
                node, via, debts = stack.pop()
                if node in terminates:
                    scope.terminates.append((node, via, debts))
                    continue
                if via is not None and not self._traverse(run, via):
                    continue
                if via is not None and prep.is_parking(node):
                    scope.parked.setdefault(node, []).append(via)
                    if debts:
                        for debt in debts:
                            debt.joins.discard(node)
                        scope.parked_debts.setdefault(node, []).extend(debts)
                    continue
                self._execute(run, node, stack, scope, debts)
            if scope.stopped or run.truncated:
                return
            join = self._next_join(scope)
            if join is not None:
                del scope.parked[join]
                carried = tuple(dict.fromkeys(scope.parked_debts.pop(join, ())))
                self._execute(run, join, stack, scope, carried)
                continue
            if not scope.terminates or scope.defer:
                return
            options = self._terminate_options(scope)
            node, via, debts = scope.terminates[self._choose(run, f"terminate:{scope.key}", options)]
            scope.terminates.clear()  # the other terminating tokens never get to their end events
            if via is None or self._traverse(run, via):
                self._execute(run, node, stack, scope, debts)
            # Every other token of the scope ends here: waiting at joins or not yet moved.
            scope.stopped = True
            scope.parked.clear()
            scope.parked_debts.clear()
            return

    def _next_join(self, scope: _Scope) -> str | None:
        """The waiting join to fire now (lowest in topological order), or None.

        Inclusive and complex joins fire once no token can move (no further token can reach them). A
        parallel join fires when each incoming flow delivered a token; one short of tokens is
        released anyway (models that join an exclusive split with a parallel gateway), except when an
        interruption took a token it waits for (a debt lists it) or a terminate end event is pending.
        """
        prep = self.prep
        best: str | None = None
        best_rank: tuple[int, str] | None = None
        for join, vias in scope.parked.items():
            if not vias or join in scope.forbidden:
                continue
            if prep.nodes[join].type == "parallelGateway" and not self._complete(join, vias):
                if scope.terminates:
                    continue
                if scope.debts and any(join in debt.joins for debt in scope.debts):
                    continue
            rank = (prep.topo.get(join, 0), join)
            if best_rank is None or rank < best_rank:
                best, best_rank = join, rank
        return best

    def _terminate_options(self, scope: _Scope) -> list[Option]:
        """One option per waiting terminating token (cached by the tokens: stable identity)."""
        key = tuple((node, via) for node, via, _ in scope.terminates)
        cached = self._ends.get(key)
        if cached is None:
            edges = self.prep.edges
            cached = self._ends[key] = [
                Option(
                    "terminate",
                    frozenset({via} if via is not None and edges[via].real else ()),
                    payload=i,
                    next=node,
                )
                for i, (node, via) in enumerate(key)
            ]
        return cached

    def _complete(self, join: str, vias: list[str]) -> bool:
        wanted = self._inc_sets.get(join)
        if wanted is None:
            wanted = self._inc_sets[join] = frozenset(self.prep.inc[join])
        return len(vias) >= len(wanted) and wanted.issubset(vias)

    def _traverse(self, run: Run, edge_id: str) -> bool:
        """Record a traversal; False when the token dies (a loop with no exit has run its count)."""
        prep = self.prep
        edge = prep.edges[edge_id]
        if edge_id in prep.free_back:
            taken = run.free_taken.get(edge_id, 0)
            if taken >= prep.free_cap:
                return False
            run.free_taken[edge_id] = taken + 1
        back_of = prep.loop_of_back.get(edge_id)
        if back_of is not None:
            # Tokens forked inside a loop can leave it while a sibling still loops: a hard per-loop
            # cap (reset by each iteration of an enclosing loop) keeps every walk finite.
            if run.back_taken.get(back_of.id, 0) >= back_of.iterations:
                return False
            state = run.active.get(back_of.id)
            if state is not None and state[1] >= state[0]:
                return False
            run.back_taken[back_of.id] = run.back_taken.get(back_of.id, 0) + 1
        if edge.real:
            run.flows.append(edge_id)
            run.keys.add(edge_id)
        for rec in prep.loops_of_node.get(edge.source, ()):
            if rec.id in run.active and edge.target not in rec.nodes:
                self._finish_loop(run, rec.id)
        if back_of is not None and back_of.id in run.active:
            run.active[back_of.id][1] += 1
            run.looped = True
            # A new iteration of the outer loop starts nested loops afresh.
            for other in prep.inner_loops.get(back_of.id, ()):
                run.back_taken.pop(other.id, None)
                if other.id in run.active:
                    self._finish_loop(run, other.id)
        return True

    def _finish_loop(self, run: Run, loop_id: str) -> None:
        _, iterations = run.active.pop(loop_id)
        rec = self.prep.loop_by_id[loop_id]
        outcome = iterations if iterations < rec.iterations else rec.iterations
        run.keys.add(("loop", loop_id, outcome))
        entry = run.decisions.get(loop_id)
        if entry is None or entry["iterations"] < iterations:
            back = rec.back_flows[0]
            flow = self.prep.edges[back].flow
            run.decisions[loop_id] = {
                "loop": True,
                "header": rec.header,
                "iterations": iterations,
                "flow": back,
                "condition": flow.condition if flow else None,
            }
        if iterations:
            name = loop_name(self.prep, rec)
            label = f"{name} repeated once" if iterations == 1 else f"{name} repeated {iterations} times"
            run.labels.append(label)

    def _execute(
        self, run: Run, nid: str, stack: list[Token], scope: _Scope, debts: tuple[Debt, ...]
    ) -> None:
        prep = self.prep
        run.steps += 1
        if run.steps > self.budget:
            run.truncated = True
            return
        run.nodes.append(nid)
        node = prep.nodes[nid]
        loops = prep.loops_of_node.get(nid)
        if loops:
            for rec in reversed(loops):  # outermost first
                if rec.id not in run.active and rec.id not in self._region.skip_loops:
                    options = self._loop_options(rec)
                    idx = self._choose(run, rec.id, options)
                    run.active[rec.id] = [options[idx].payload, 0]
        if node.type in SUBPROCESS_TYPES and not node.triggered_by_event and nid in prep.children:
            inner = [c for c in prep.children[nid] if not prep.nodes[c].triggered_by_event]
            sub = _Scope(nid, frozenset())
            starts = prep.scope_starts(inner)
            if not starts and nid in prep.event_subs:
                self._offer_esp(run, sub)  # a subprocess of event subprocesses only
            self._drain(run, [(s, None, ()) for s in starts], sub)
            if run.truncated:
                return
            # Tokens left waiting at a join that never fires: the subprocess never completes.
            stuck = sub.stuck()
        else:
            stuck = False
        # The event arrives while the scope's first activity runs (or right after its start event).
        if (
            not scope.esp_done
            and scope.key in prep.event_subs
            and (
                node.type in ACTIVITY_TYPES
                or not self._has_activity(scope.key)
                or self._chooser.wants(f"esp:{scope.key}")
            )
            and self._offer_esp(run, scope)
        ):
            return
        if nid in prep.boundaries and not run.triggered.intersection(prep.boundaries[nid]):
            # An activity is interrupted at most once per scenario: cycles through boundary events end.
            options = self._boundary_options(nid)
            idx = self._choose(run, f"boundary:{nid}", options)
            if idx:
                boundary = options[idx].payload
                run.exception = True
                run.triggered.add(boundary)
                run.labels.insert(0, options[idx].label or boundary)
                run.keys.add(("boundary", boundary))
                if prep.nodes[boundary].cancel_activity is not False:
                    # The activity's token is gone; the boundary event's token owes its joins.
                    stack.append((boundary, None, (*debts, *self._debt(nid, scope))))
                    return
                if not stuck:
                    self._outgoing(run, nid, stack, scope, debts)
                stack.append((boundary, None, ()))
                return
        if stuck:
            self._debt(nid, scope)  # nothing goes on from a subprocess that never completes
            return
        self._outgoing(run, nid, stack, scope, debts)

    def _debt(self, nid: str, scope: _Scope) -> tuple[Debt, ...]:
        """The token that would have left ``nid`` is gone: record what it owed (nothing: no debt)."""
        owed = self._owed_joins(nid)
        if not owed:
            return ()
        debt = Debt(set(owed))
        scope.debts.append(debt)
        return (debt,)

    def _owed_joins(self, nid: str) -> frozenset[str]:
        """Parallel joins a token leaving ``nid`` normally would reach (forward flows, no back flows)."""
        cached = self._owed.get(nid)
        if cached is not None:
            return cached
        prep = self.prep
        seen = {nid}
        queue = deque([nid])
        owed: set[str] = set()
        while queue:
            current = queue.popleft()
            self.search_visits += 1
            for e in prep.out[current]:
                if e in prep.back:
                    continue
                target = prep.edges[e].target
                if target in seen:
                    continue
                seen.add(target)
                if prep.nodes[target].type == "parallelGateway" and prep.is_parking(target):
                    owed.add(target)
                queue.append(target)
        cached = self._owed[nid] = frozenset(owed)
        return cached

    def branch_order(self, split: str) -> list[str]:
        """The order a split's branches run in: document order, terminating branches last.

        A branch that can reach a terminate end event of the scope (before any join) runs after its
        siblings: the interleaving in which every other branch moves before the terminate ends them,
        which reads naturally ("stock confirmed, payment declined, order cancelled") and lets the
        siblings' steps really happen before the termination.
        """
        cached = self._order.get(split)
        if cached is not None:
            return cached
        prep = self.prep
        outs = prep.out[split]
        cached = outs
        if prep.terminates:
            late = [e for e in outs if self._reaches_terminate(prep.edges[e].target)]
            if late and len(late) < len(outs):
                cached = [e for e in outs if e not in late] + late
        self._order[split] = cached
        return cached

    def _reaches_terminate(self, start: str) -> bool:
        """A terminate end event of the same scope lies ahead of ``start`` before any join."""
        prep = self.prep
        seen = {start}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            self.search_visits += 1
            if current in prep.terminates:
                return True
            if prep.is_parking(current) and current != start:
                continue
            nexts = [prep.edges[e].target for e in prep.out[current] if e not in prep.back]
            nexts.extend(prep.boundaries.get(current, ()))
            for target in nexts:
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        return False

    def _offer_esp(self, run: Run, scope: _Scope) -> bool:
        """Offer the scope's event subprocesses once; True when an interrupting one ended the scope."""
        scope.esp_done = True
        options = self._esp_options(scope.key)
        idx = self._choose(run, f"esp:{scope.key}", options)
        if not idx:
            return False
        esp, start = options[idx].payload
        run.exception = True
        run.labels.insert(0, options[idx].label or esp)
        run.keys.add(("esp", esp, start))
        run.nodes.append(esp)
        self._drain(run, [(start, None, ())], _Scope(esp, frozenset()))
        if self.prep.nodes[start].cancel_activity is not False:
            scope.stopped = True
            return True
        return False

    def _outgoing(
        self, run: Run, nid: str, stack: list[Token], scope: _Scope, debts: tuple[Debt, ...]
    ) -> None:
        prep = self.prep
        kind = prep.split[nid]
        outs = prep.out[nid]
        if kind is SplitKind.END:
            return
        if kind is SplitKind.PASS:
            stack.append((prep.edges[outs[0]].target, outs[0], debts))
            return
        if kind is SplitKind.XOR:
            options = self._xor_options(nid)
            allowed = self._live(run, nid, self._loop_filter(run, nid, options))
            idx = self._choose(run, nid, allowed, options)
            chosen = allowed[idx]
            edge_id = chosen.payload
            if self._dies(run, edge_id):
                return  # the only way on is a spent back flow: the token stops here
            self._record(run, nid, [edge_id])
            if chosen.label and not self._controls_loop(nid):
                run.labels.append(chosen.label)  # a loop's own gateway is named by "X repeated N times"
            stack.append((prep.edges[edge_id].target, edge_id, debts))
            return
        if kind is SplitKind.OR:
            options = self._or_options(nid)
            allowed = self._live(run, nid, self._loop_filter(run, nid, options))
            idx = self._choose(run, nid, allowed, options)
            chosen_subset = allowed[idx]
            chosen_edges: list[str] = [e for e in chosen_subset.payload if not self._dies(run, e)]
            if not chosen_edges:
                return
            self._record(run, nid, chosen_edges)
            if idx and chosen_subset.label and not self._controls_loop(nid):
                run.labels.append(chosen_subset.label)
            order = self.branch_order(nid)
            if order is not outs:
                chosen_edges.sort(key=order.index)  # terminating branches last, as at AND-splits
            for edge_id in reversed(chosen_edges):
                stack.append((prep.edges[edge_id].target, edge_id, debts))
            return
        # AND split: paths mode may offer combinations of branch variants (routes walk it flat).
        if self.combo_source is not None and not self._route:
            combos = self.combo_source.combos(nid, self._region)
            if combos:
                idx = self._choose(run, nid, combos)
                for variant in combos[idx].payload:
                    _merge(run, variant, scope)
                join = combos[idx].next
                if debts and join is not None:
                    # The branches were walked on their own: their tokens at the join carry the debts on.
                    for debt in debts:
                        debt.joins.discard(join)
                    scope.parked_debts.setdefault(join, []).extend(debts)
                return
        order = self.branch_order(nid)
        first = self._chooser.first_branch(nid) if self._route else None
        if first in outs:
            # The route's branch runs first, before siblings spend a shared loop count.
            order = [first, *(e for e in order if e != first)]  # type: ignore[list-item]
        for edge_id in reversed(order):
            stack.append((prep.edges[edge_id].target, edge_id, debts))

    def _dies(self, run: Run, edge_id: str) -> bool:
        """Whether ``_traverse`` would stop a token on this flow now (a spent back flow)."""
        prep = self.prep
        if edge_id in prep.free_back:
            return run.free_taken.get(edge_id, 0) >= prep.free_cap
        rec = prep.loop_of_back.get(edge_id)
        if rec is None:
            return False
        if run.back_taken.get(rec.id, 0) >= rec.iterations:
            return True
        state = run.active.get(rec.id)
        return state is not None and state[1] >= state[0]

    def _live(self, run: Run, nid: str, options: list[Option]) -> list[Option]:
        """Options whose flows a token can still take (all of them when none is left)."""
        backs = self._back_out.get(nid)
        if backs is None:
            prep = self.prep
            backs = self._back_out[nid] = any(
                e in prep.loop_of_back or e in prep.free_back for e in prep.out[nid]
            )
        if not backs:
            return options

        def flows_of(option: Option) -> list[str]:
            return option.payload if isinstance(option.payload, list) else [option.payload]

        live = [o for o in options if not all(self._dies(run, e) for e in flows_of(o))]
        return live if live and len(live) < len(options) else options

    def _controls_loop(self, nid: str) -> bool:
        """A split inside a loop with one way out of it and one way around it (do-while or while)."""
        cached = self._controls.get(nid)
        if cached is None:
            prep = self.prep
            targets = [prep.edges[e].target for e in prep.out[nid]]
            cached = any(
                any(t not in rec.nodes for t in targets) and any(t in rec.nodes for t in targets)
                for rec in prep.loops_of_node.get(nid, ())
            )
            self._controls[nid] = cached
        return cached

    def _record(self, run: Run, nid: str, edge_ids: list[str]) -> None:
        first = self.prep.edges[edge_ids[0]].flow
        entry: dict[str, Any] = {"flow": edge_ids[0], "condition": _condition(first)}
        if len(edge_ids) > 1:
            entry["flows"] = list(edge_ids)
            entry["conditions"] = [_condition(self.prep.edges[e].flow) for e in edge_ids]
        previous = run.decisions.get(nid)
        if previous is not None:
            taken = previous.get("taken", [previous["flow"]])
            entry["taken"] = [*taken, *edge_ids]
        run.decisions[nid] = entry

    def _loop_filter(self, run: Run, nid: str, options: list[Option]) -> list[Option]:
        """Steer XOR and OR choices inside an active loop toward its back flow or its exit.

        An option's payload is one flow id (XOR) or a list of them (an OR subset). Without this an
        OR-split whose subset holds a spent back flow would end the walk there, mid-process.
        """
        prep = self.prep
        if self._route:
            return options

        def flows_of(option: Option) -> list[str]:
            return option.payload if isinstance(option.payload, list) else [option.payload]

        if prep.free_back and any(e in prep.free_back for e in prep.out[nid]):
            # Untracked back flows (spaghetti beyond the loop budget) are left to gap-closing routes.
            kept = [o for o in options if not prep.free_back.intersection(flows_of(o))]
            if kept and len(kept) < len(options):
                options = kept
        for rec in prep.loops_of_node.get(nid, ()):
            state = run.active.get(rec.id)
            if state is None:
                continue
            target, iterations = state
            backs = set(rec.back_flows)

            if iterations < target:
                allowed = [
                    o
                    for o in options
                    if any(e in backs or prep.edges[e].target in rec.can_back for e in flows_of(o))
                ]
            else:
                allowed = [
                    o
                    for o in options
                    if not backs.intersection(flows_of(o))
                    and any(
                        prep.edges[e].target not in rec.nodes or prep.edges[e].target in rec.can_exit
                        for e in flows_of(o)
                    )
                ]
                if not allowed:
                    allowed = [o for o in options if not backs.intersection(flows_of(o))]
            return allowed or options
        return options

    # -- option lists (cached: the chooser relies on their identity) --------------------------

    def _xor_options(self, nid: str) -> list[Option]:
        cached = self._xor.get(nid)
        if cached is None:
            cached = OptionList(
                Option(
                    "flow",
                    frozenset({e}),
                    payload=e,
                    next=self.prep.edges[e].target,
                    label=flow_label(self.prep, nid, e),
                )
                for e in self.prep.out[nid]
            )
            self._xor[nid] = cached
        return cached

    def _or_options(self, nid: str) -> list[Option]:
        cached = self._or.get(nid)
        if cached is not None:
            return cached
        from orchestra_app.generation.combos import subsets

        prep = self.prep
        node = prep.nodes[nid]
        outs = prep.out[nid]
        default = [e for e in outs if prep.is_default(nid, e)]
        if node.type.endswith("Gateway"):
            mandatory: list[str] = []
            optional = [e for e in outs if e not in default]
        else:
            optional = [e for e in outs if prep.edges[e].flow and prep.edges[e].flow.condition]  # type: ignore[union-attr]
            mandatory = [e for e in outs if e not in optional and e not in default]
        rows, capped = subsets(len(optional), cap=self.subset_cap)
        self.capped = self.capped or capped
        cached = []
        for row in rows:
            chosen = mandatory + [optional[i] for i in row]
            chosen.sort(key=outs.index)
            label = " and ".join(flow_label(prep, nid, optional[i]) or optional[i] for i in row)
            cached.append(
                Option(
                    "subset",
                    frozenset(chosen),
                    payload=chosen,
                    next=prep.edges[chosen[0]].target,
                    label=label,
                )
            )
        if default or (mandatory and optional):
            chosen = sorted(mandatory + default, key=outs.index)
            label = (flow_label(prep, nid, default[0]) if default else None) or "no optional branch"
            cached.append(
                Option(
                    "subset",
                    frozenset(chosen),
                    payload=chosen,
                    next=prep.edges[chosen[0]].target,
                    label=label,
                )
            )
        self._or[nid] = cached
        return cached

    def _loop_options(self, rec: LoopRec) -> list[Option]:
        cached = self._loop.get(rec.id)
        if cached is None:
            counts = sorted({0, 1, rec.iterations})
            cached = [
                Option(
                    "loop",
                    frozenset({("loop", rec.id, n)} | (set(rec.back_flows) if n else set())),
                    payload=n,
                    next=None,
                )
                for n in counts
            ]
            self._loop[rec.id] = cached
        return cached

    def _boundary_options(self, nid: str) -> list[Option]:
        cached = self._boundary.get(nid)
        if cached is None:
            prep = self.prep
            activity = prep.nodes[nid].name or nid
            cached = [Option("normal", frozenset(prep.out[nid]), payload=None, next=None)]
            for b in prep.boundaries[nid]:
                bnode = prep.nodes[b]
                what = bnode.name or (f"{bnode.event_definition} event" if bnode.event_definition else b)
                cached.append(
                    Option(
                        "boundary",
                        frozenset({("boundary", b), *prep.out[b]}),
                        payload=b,
                        next=b,
                        label=f"{activity} interrupted by {what}"
                        if bnode.cancel_activity is not False
                        else f"{what} during {activity}",
                    )
                )
            self._boundary[nid] = cached
        return cached

    def _has_activity(self, scope_key: str) -> bool:
        cached = self._scope_activity.get(scope_key)
        if cached is None:
            prep = self.prep
            if scope_key.startswith("process:"):
                members = prep.top.get(scope_key[len("process:") :], [])
            else:
                members = prep.children.get(scope_key, [])
            cached = any(
                prep.nodes[n].type in ACTIVITY_TYPES and not prep.nodes[n].triggered_by_event for n in members
            )
            self._scope_activity[scope_key] = cached
        return cached

    def _esp_options(self, scope_key: str) -> list[Option]:
        """'normal', then one option per start event of every event subprocess of the scope."""
        cached = self._esp.get(scope_key)
        if cached is None:
            prep = self.prep
            cached = [Option("normal", frozenset(), payload=None)]
            for esp in prep.event_subs[scope_key]:
                for start in prep.esp_starts(esp):
                    keys = frozenset({("esp", esp, start), *prep.out[start]})
                    label = self._esp_label(esp, start)
                    cached.append(Option("esp", keys, payload=(esp, start), next=start, label=label))
            self._esp[scope_key] = cached
        return cached

    def _esp_label(self, esp: str, start: str) -> str:
        """'Cancellation triggered by Cancel received' (unnamed: 'Triggered by message event')."""
        prep = self.prep
        name = prep.nodes[esp].name
        snode = prep.nodes[start]
        trigger = snode.name or (f"{snode.event_definition} event" if snode.event_definition else None)
        if not name:
            return f"Triggered by {trigger}" if trigger else f"{esp} triggered"
        return f"{name} triggered" + (f" by {trigger}" if trigger and trigger != name else "")


def _merge(run: Run, variant: Run, scope: _Scope) -> None:
    """Append a branch variant (walked on its own) to a walk; its waiting tokens join the scope's."""
    run.nodes.extend(variant.nodes)
    run.flows.extend(variant.flows)
    run.keys |= variant.keys
    for key, value in variant.decisions.items():
        run.decisions.setdefault(key, value)
    run.labels.extend(variant.labels)
    run.exception = run.exception or variant.exception
    run.looped = run.looped or variant.looped
    run.deviated = run.deviated or variant.deviated
    run.truncated = run.truncated or variant.truncated
    run.steps += variant.steps
    rest = variant.rest
    if rest is None:
        return
    # A variant is merged into many walks: each gets its own copies of the variant's debts.
    copies: dict[int, Debt] = {}

    def copy(debt: Debt) -> Debt:
        mine = copies.get(id(debt))
        if mine is None:
            mine = copies[id(debt)] = Debt(set(debt.joins))
        return mine

    scope.debts.extend(copy(d) for d in rest.debts)
    for join, vias in rest.parked.items():
        if vias:
            scope.parked.setdefault(join, []).extend(vias)
    for join, owed in rest.parked_debts.items():
        scope.parked_debts.setdefault(join, []).extend(copy(d) for d in owed)
    for node, via, owed_by in rest.terminates:
        scope.terminates.append((node, via, tuple(copy(d) for d in owed_by)))


def _condition(flow: Any) -> str | None:
    return flow.condition if flow is not None else None


def clean_text(text: str) -> str:
    text = " ".join(text.split())
    for wrapper in ("${", "#{"):
        if text.startswith(wrapper) and text.endswith("}"):
            text = text[2:-1].strip()
    return text


def flow_label(prep: Prepared, nid: str, edge_id: str) -> str | None:
    """'Order approved?: yes' from gateway and flow names, else the condition, else the target's name."""
    edge = prep.edges[edge_id]
    flow = edge.flow
    gateway = prep.nodes[nid].name
    if prep.nodes[nid].extensions.get("guards"):
        gateway = None  # a sequence-diagram fragment: its name only lists the guards again
    if flow is not None and flow.name:
        what = clean_text(flow.name)
        return f"{clean_text(gateway).rstrip('?')}: {what}" if gateway else what
    if flow is not None and flow.condition:
        return clean_text(flow.condition)[:80]
    if prep.is_default(nid, edge_id) and gateway:
        return f"{clean_text(gateway).rstrip('?')}: otherwise"
    target = prep.nodes[edge.target]
    return f"to {clean_text(target.name)}" if target.name else None


def loop_name(prep: Prepared, rec: LoopRec) -> str:
    header = prep.nodes[rec.header]
    if header.name:
        return clean_text(header.name)
    named = sorted((n for n in rec.nodes if prep.nodes[n].name), key=lambda n: prep.topo.get(n, 0))
    for nid in named:
        if prep.nodes[nid].type in ACTIVITY_TYPES:
            return clean_text(prep.nodes[nid].name or nid)
    return clean_text(prep.nodes[named[0]].name or rec.id) if named else f"loop at {rec.header}"
