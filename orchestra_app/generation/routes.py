"""Gap closing: shortest token routes start -> uncovered flow -> an end, and why a flow stays uncovered."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from orchestra_app.generation.model import UncoveredReason
from orchestra_app.generation.structure import SUBPROCESS_TYPES, Prepared, SplitKind
from orchestra_app.generation.walker import Option, OptionList, Run

# A move is how a token gets from one node to the next:
#   ("flow", flow id) | ("boundary", event id) | ("enter", inner start) | ("exit", subprocess id)
#   | ("esp", event subprocess id, its start event)
Move = tuple[str, ...]
INF = 1 << 60
# After its goal a route keeps taking uncovered flows for at most this many flows, then heads for
# the nearest end: one scenario closes several gaps and still reads as one story.
EXTENSION_LIMIT = 12


class TokenGraph:
    """Where a token can go from each node: flows, boundary events, subprocess entry and exit, ESPs."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.visits = 0
        self._succ: dict[str, list[tuple[Move, str]]] = {}
        self._pred: dict[str, list[tuple[Move, str]]] | None = None
        self._ends: tuple[dict[str, int], dict[str, tuple[Move, str]]] | None = None
        self._calm: dict[str, int] | None = None

    def succ(self, nid: str) -> list[tuple[Move, str]]:
        moves = self._succ.get(nid)
        if moves is None:
            moves = self._succ[nid] = self._moves(nid)
        return moves

    @property
    def pred(self) -> dict[str, list[tuple[Move, str]]]:
        """Reverse moves, built on first use (a model without gaps or unreachable flows never needs them)."""
        if self._pred is None:
            pred: dict[str, list[tuple[Move, str]]] = {n: [] for n in self.prep.nodes}
            for nid in self.prep.nodes:
                for move, target in self.succ(nid):
                    pred[target].append((move, nid))
            self.visits += len(self.prep.nodes) + len(self.prep.edges)
            self._pred = pred
        return self._pred

    def _moves(self, nid: str) -> list[tuple[Move, str]]:
        prep = self.prep
        node = prep.nodes[nid]
        if node.triggered_by_event:
            return []  # an event subprocess is a container: tokens enter at its start events
        edges = prep.edges
        outs = prep.out[nid]
        moves: list[tuple[Move, str]] = [(("flow", e), edges[e].target) for e in outs]
        parent = node.parent_id
        if outs and parent is None and nid not in prep.boundaries and nid not in prep.children:
            return moves  # the common case: a top-level node with flows and nothing attached
        moves.extend((("boundary", b), b) for b in prep.boundaries.get(nid, ()))
        if node.type in SUBPROCESS_TYPES and nid in prep.children:
            inner = [c for c in prep.children[nid] if not prep.nodes[c].triggered_by_event]
            moves.extend((("enter", s), s) for s in prep.scope_starts(inner))
        for esp in prep.event_subs.get(nid, ()):
            moves.extend((("esp", esp, s), s) for s in prep.esp_starts(esp))
        if node.type == "startEvent" and parent in prep.nodes and prep.nodes[parent].triggered_by_event:
            # Event subprocesses nested in an event subprocess are offered once it has started.
            for esp in prep.event_subs.get(parent, ()):
                moves.extend((("esp", esp, s), s) for s in prep.esp_starts(esp))
        if not prep.out[nid] and parent in prep.nodes:
            # The end of an inner scope continues after its subprocess (an event subprocess ends the
            # scope that holds it; at the top level the process simply ends).
            scope = parent
            if prep.nodes[parent].triggered_by_event:
                scope = prep.nodes[parent].parent_id or ""
            if scope in prep.nodes and not prep.nodes[scope].triggered_by_event:
                moves.append((("exit", scope), scope))
        return moves

    def calm_distances(self) -> dict[str, int]:
        """Moves to the nearest end that is not a terminate end event (nodes that can reach one).

        A token that a route does not need heads there: a terminate would end the route's own
        tokens too, and the joins the route passes wait for the other tokens.
        """
        if self._calm is None:
            terminates = self.prep.terminates
            if not terminates:
                self._calm = self.end_distances()[0]
                return self._calm
            dist: dict[str, int] = {}
            queue: deque[str] = deque()
            pred = self.pred
            for nid in self.prep.nodes:
                if not self.succ(nid) and nid not in terminates:
                    dist[nid] = 0
                    queue.append(nid)
            while queue:
                nid = queue.popleft()
                self.visits += 1
                for _, source in pred[nid]:
                    if source not in dist:
                        dist[source] = dist[nid] + 1
                        queue.append(source)
            self._calm = dist
        return self._calm

    def end_distances(self) -> tuple[dict[str, int], dict[str, tuple[Move, str]]]:
        """Moves to the nearest end from every node that can reach one (reverse BFS, computed once)."""
        if self._ends is None:
            dist: dict[str, int] = {}
            hop: dict[str, tuple[Move, str]] = {}
            queue: deque[str] = deque()
            pred = self.pred
            for nid in self.prep.nodes:
                if not self.succ(nid):
                    dist[nid] = 0
                    queue.append(nid)
            while queue:
                nid = queue.popleft()
                self.visits += 1
                for move, source in pred[nid]:
                    if source not in dist:
                        dist[source] = dist[nid] + 1
                        hop[source] = (move, nid)
                        queue.append(source)
            self._ends = (dist, hop)
        return self._ends


@dataclass
class Reach:
    """A forward BFS from a region's starts: how each reached node is first entered."""

    # node -> (previous node, the move from it, the start alternative the way begins with)
    parent: dict[str, tuple[str | None, Move | None, int]] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)


def reach(graph: TokenGraph, sources: Iterable[tuple[str, int, Move | None]]) -> Reach:
    """BFS from (node, start alternative, entry move) sources; the entry move is an ESP trigger or None."""
    found = Reach()
    queue: deque[str] = deque()
    for node, alt, move in sources:
        if node not in found.parent:
            found.parent[node] = (None, move, alt)
            found.depth[node] = 0
            queue.append(node)
    while queue:
        nid = queue.popleft()
        graph.visits += 1
        alt = found.parent[nid][2]
        for move, target in graph.succ(nid):
            if target not in found.parent:
                found.parent[target] = (nid, move, alt)
                found.depth[target] = found.depth[nid] + 1
                queue.append(target)
    return found


@dataclass
class RoutePlan:
    alt: int  # which start alternative the route begins with
    moves: list[Move]
    goal_index: int  # position of the goal flow in ``moves``
    ends: bool = True  # the route reaches an end (False: a loop bound or a dead end stops it)


def plan_route(graph: TokenGraph, found: Reach, goal: str, covered: set[Hashable]) -> RoutePlan | None:
    """start -> goal's source -> goal -> nearby uncovered flows -> nearest end.

    Head and tail are shortest; among equally short ways they take uncovered flows. After the goal
    the route detours to uncovered flows a few moves away (at most ``EXTENSION_LIMIT`` of them), so
    one scenario closes several gaps. When the shortest head spends a loop count the rest of the
    route needs (max_loop), a head without back flows is tried. None when the loop bounds rule the
    goal out.
    """
    prep = graph.prep
    alt, head = _shortest_head(graph, found, prep.edges[goal].source, covered)
    plan = _complete(graph, alt, head, goal, covered)
    if (plan is None or not plan.ends) and any(_is_back(prep, m) for m in head):
        plain = _head_without_back_flows(graph, found, prep.edges[goal].source)
        other = _complete(graph, *plain, goal, covered) if plain is not None else None
        if other is not None and (plan is None or other.ends):
            plan = other
    return plan


def _is_back(prep: Prepared, move: Move) -> bool:
    return move[0] == "flow" and (move[1] in prep.loop_of_back or move[1] in prep.free_back)


def _shortest_head(
    graph: TokenGraph, found: Reach, source: str, covered: set[Hashable]
) -> tuple[int, list[Move]]:
    """Back from ``source`` along the shortest-path DAG to a start, preferring uncovered flows."""
    prep = graph.prep
    head: list[Move] = []
    node = source
    while True:
        prev, move, alt = found.parent[node]
        if prev is None:
            if move is not None:
                head.append(move)  # an event subprocess of the process, triggered at the start
            break
        depth = found.depth[node] - 1
        if move is not None and not _fresh(prep, move, covered):
            for other, before in graph.pred[node]:
                if _fresh(prep, other, covered) and found.depth.get(before) == depth:
                    move, prev = other, before
                    break
        head.append(move)  # type: ignore[arg-type]  # only roots have no move
        node = prev
    head.reverse()
    return alt, head


def _fresh(prep: Prepared, move: Move, covered: set[Hashable]) -> bool:
    return move[0] == "flow" and move[1] not in covered and prep.edges[move[1]].real


def _complete(
    graph: TokenGraph, alt: int, head: list[Move], goal: str, covered: set[Hashable]
) -> RoutePlan | None:
    """Head + goal + detours to nearby gaps + the nearest end, within the loop bounds."""
    prep = graph.prep
    moves = [*head, ("flow", goal)]
    tally = _LoopTally(prep)
    if not all(tally.take(move) for move in moves):
        return None
    goal_index = len(moves) - 1
    dist, _ = graph.end_distances()
    taken = {m[1] for m in moves if m[0] == "flow"}
    current = prep.edges[goal].target
    for _ in range(EXTENSION_LIMIT):
        detour = _nearest_gap(graph, current, covered, taken, dist, tally)
        if detour is None:
            break
        for move, target in detour:
            tally.take(move)
            moves.append(move)
            taken.add(move[1])
            current = target
    # Tail: down the shortest-to-end DAG, preferring uncovered flows.
    while dist.get(current, 0) > 0:
        want = dist[current] - 1
        step: tuple[Move, str] | None = None
        for move, target in graph.succ(current):
            if dist.get(target) != want or not tally.can_take(move):
                continue
            fresh = _fresh(prep, move, covered) and move[1] not in taken
            if step is None or (fresh and not _fresh(prep, step[0], covered)):
                step = (move, target)
        if step is None:
            break  # the loop bound ends the walk here: the token stops, the goal is already taken
        tally.take(step[0])
        moves.append(step[0])
        taken.add(step[0][1])
        current = step[1]
    graph.visits += len(moves)
    return RoutePlan(alt, moves, goal_index, ends=dist.get(current) == 0)


def _head_without_back_flows(graph: TokenGraph, found: Reach, target: str) -> tuple[int, list[Move]] | None:
    """A way from the region's starts to ``target`` that takes no back flow (BFS), or None."""
    prep = graph.prep
    back: dict[str, tuple[str | None, Move | None, int]] = {}
    queue: deque[str] = deque()
    for nid, (prev, move, alt) in found.parent.items():
        if prev is None:
            back[nid] = (None, move, alt)
            queue.append(nid)
    while queue and target not in back:
        nid = queue.popleft()
        graph.visits += 1
        for move, nxt in graph.succ(nid):
            if move[0] == "flow" and (move[1] in prep.loop_of_back or move[1] in prep.free_back):
                continue
            if nxt not in back:
                back[nxt] = (nid, move, back[nid][2])
                queue.append(nxt)
    if target not in back:
        return None
    head: list[Move] = []
    node: str | None = target
    alt = 0
    while node is not None:
        prev, move, alt = back[node]
        if move is not None:
            head.append(move)
        node = prev
    head.reverse()
    return alt, head


DETOUR_RADIUS = 3


def _nearest_gap(
    graph: TokenGraph,
    start: str,
    covered: set[Hashable],
    taken: set[str],
    dist: dict[str, int],
    tally: _LoopTally,
) -> list[tuple[Move, str]] | None:
    """Moves from ``start`` through an uncovered flow a few moves away (BFS), or None."""
    prep = graph.prep
    back: dict[str, tuple[str, Move] | None] = {start: None}
    frontier = [start]
    for _ in range(DETOUR_RADIUS + 1):
        following: list[str] = []
        for nid in frontier:
            graph.visits += 1
            for move, target in graph.succ(nid):
                flow = move[1]
                if (
                    move[0] == "flow"
                    and flow not in covered
                    and flow not in taken
                    and prep.edges[flow].real
                    and target in dist
                    and tally.can_take(move)
                ):
                    path = [(move, target)]
                    at = nid
                    while back[at] is not None:
                        prev, prev_move = back[at]  # type: ignore[misc]
                        path.append((prev_move, at))
                        at = prev
                    path.reverse()
                    if all(tally.can_take(m) for m, _ in path):
                        return path
                if target not in back and move[0] in ("flow", "exit", "enter"):
                    back[target] = (nid, move)
                    following.append(target)
        frontier = following
    return None


class _LoopTally:
    """Back flows a route takes, against each loop's N and the cap of untracked back flows."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.loops: dict[str, int] = {}
        self.free: dict[str, int] = {}

    def can_take(self, move: Move) -> bool:
        if move[0] != "flow":
            return True
        flow = move[1]
        rec = self.prep.loop_of_back.get(flow)
        if rec is not None:
            return self.loops.get(rec.id, 0) < rec.iterations
        if flow in self.prep.free_back:
            return self.free.get(flow, 0) < self.prep.free_cap
        return True

    def take(self, move: Move) -> bool:
        if not self.can_take(move):
            return False
        if move[0] == "flow":
            flow = move[1]
            rec = self.prep.loop_of_back.get(flow)
            if rec is not None:
                self.loops[rec.id] = self.loops.get(rec.id, 0) + 1
            elif flow in self.prep.free_back:
                self.free[flow] = self.free.get(flow, 0) + 1
        return True


class RouteChooser:
    """Follows a planned route at every choice point it passes; elsewhere heads for the nearest end."""

    def __init__(
        self,
        prep: Prepared,
        plan: RoutePlan,
        dist: dict[str, int],
        covered: set[Hashable],
        calm: dict[str, int] | None = None,
        toward: dict[str, int] | None = None,
    ) -> None:
        self.prep = prep
        self.alt = plan.alt
        self.dist = dist
        self.calm = calm if calm is not None else dist
        self.toward = toward or {}  # moves to the parallel joins the route passes (their other tokens)
        self.covered = covered
        self.queues: dict[str, deque[Hashable]] = {}
        # Moves the route makes after its goal: another token passing the same point earlier must
        # not take them (an interruption would cancel a token the goal may still need, a branch
        # toward a terminate end event would end the scope before the goal).
        self.late: dict[str, deque[Hashable]] = {}
        self.goal = plan.moves[plan.goal_index][1]
        self.reached = False  # the goal was seen taken at a choice point (late moves may run)
        self.branches: dict[str, deque[str]] = {}
        self.loops_needed: dict[str, int] = {}
        for index, move in enumerate(plan.moves):
            kind = move[0]
            events = self.late if index > plan.goal_index else self.queues
            if kind == "flow":
                flow = move[1]
                source = prep.edges[flow].source
                if prep.split[source] in (SplitKind.XOR, SplitKind.OR):
                    events.setdefault(source, deque()).append(flow)
                elif prep.split[source] is SplitKind.AND:
                    self.branches.setdefault(source, deque()).append(flow)
                rec = prep.loop_of_back.get(flow)
                if rec is not None:
                    self.loops_needed[rec.id] = self.loops_needed.get(rec.id, 0) + 1
                end = prep.nodes[prep.edges[flow].target]
                if end.id in prep.terminates:
                    # Several tokens may wait at terminate end events: the route's one ends the scope.
                    events.setdefault(f"terminate:{prep.scope_key(end)}", deque()).append(flow)
            elif kind == "boundary":
                attached = prep.nodes[move[1]].attached_to or ""
                events.setdefault(f"boundary:{attached}", deque()).append(("boundary", move[1]))
            elif kind == "esp":
                scope = prep.scope_key(prep.nodes[move[1]])
                events.setdefault(f"esp:{scope}", deque()).append(("esp", move[1], move[2]))

    def offer(self, point: str, options: list[Option]) -> None:
        return None

    def wants(self, point: str) -> bool:
        return bool(self.queues.get(point)) or (self.reached and bool(self.late.get(point)))

    def first_branch(self, split: str) -> str | None:
        queue = self.branches.get(split)
        return queue.popleft() if queue else None

    def choose(self, run: Run, point: str, options: list[Option]) -> int:
        if point == "start":
            return min(self.alt, len(options) - 1)
        self.reached = self.reached or self.goal in run.keys
        queue = self.queues.get(point)
        if not queue and self.reached:
            queue = self.late.get(point)
        if queue:
            found = _index_of(options, queue[0])
            if found is not None:
                queue.popleft()
                return found
        kind = options[0].kind
        if kind == "loop":
            # The route's own back flows need room; any other token must not go round at all.
            counts = [o.payload for o in options]
            wanted = max(counts) if self.loops_needed.get(point) else min(counts)
            return counts.index(wanted)
        if kind == "normal":
            return 0  # no boundary event or event subprocess unless the route takes it
        best, best_rank = 0, (INF, INF, INF, True, 0)
        for i, option in enumerate(options):
            fresh = any(k not in self.covered and k not in run.keys for k in option.keys)
            nxt = option.next
            rank = (
                # A token the route does not steer helps the joins the route passes, then ends, away
                # from terminate end events (a join short of a token does not fire before one).
                self.toward.get(nxt, INF) if nxt else INF,
                self.calm.get(nxt, INF) if nxt else INF,
                self.dist.get(nxt, INF) if nxt else INF,
                not fresh,
                i,
            )
            if rank < best_rank:
                best, best_rank = i, rank
        return best


def toward_joins(graph: TokenGraph, plan: RoutePlan) -> dict[str, int]:
    """Flows from each node to the nearest parallel join the route passes (reverse BFS; {} if none)."""
    prep = graph.prep
    joins = [
        prep.edges[m[1]].target
        for m in plan.moves
        if m[0] == "flow"
        and prep.nodes[prep.edges[m[1]].target].type == "parallelGateway"
        and prep.is_parking(prep.edges[m[1]].target)
    ]
    dist: dict[str, int] = {}
    queue: deque[str] = deque()
    for join in joins:
        if join not in dist:
            dist[join] = 0
            queue.append(join)
    pred = graph.pred if joins else {}
    while queue:
        nid = queue.popleft()
        graph.visits += 1
        for move, source in pred[nid]:
            # Sequence flows only: a token reaches a join of its own scope (leaving a subprocess
            # or taking an interruption would not bring it there).
            if move[0] == "flow" and source not in dist:
                dist[source] = dist[nid] + 1
                queue.append(source)
    return dist


def _index_of(options: list[Option], key: Hashable) -> int | None:
    if isinstance(options, OptionList):
        return options.index_of(key)
    for i, option in enumerate(options):
        if key in option.keys:
            return i
    return None


def unreached_reasons(
    prep: Prepared, graph: TokenGraph, reached: set[str]
) -> dict[str, tuple[UncoveredReason, str]]:
    """Reason and detail for every node no token reaches, from the roots its ancestry starts at."""
    roots: dict[UncoveredReason, list[str]] = {}
    for nid in prep.nodes:
        if nid in reached or prep.nodes[nid].triggered_by_event:
            continue
        # A subprocess's own inner ends lead back to it ("exit"): that is no way in.
        if any(move[0] != "exit" for move, _ in graph.pred[nid]):
            continue
        roots.setdefault(_root_reason(prep, nid), []).append(nid)
    out: dict[str, tuple[UncoveredReason, str]] = {}
    priority = [
        UncoveredReason.UNMATCHED_LINK,
        UncoveredReason.DETACHED_BOUNDARY,
        UncoveredReason.COMPENSATION_ONLY,
        UncoveredReason.NO_PATH_FROM_START,
    ]
    for reason in priority:
        for root in roots.get(reason, ()):
            detail = _root_detail(prep, root, reason)
            queue = deque([root])
            while queue:
                nid = queue.popleft()
                if nid in out or nid in reached:
                    continue
                graph.visits += 1
                out[nid] = (reason, detail)
                queue.extend(t for _, t in graph.succ(nid))
    for nid in prep.nodes:
        if nid not in reached and nid not in out and not prep.nodes[nid].triggered_by_event:
            out[nid] = (
                UncoveredReason.NO_PATH_FROM_START,
                f"{_name(prep, nid)} lies on a cycle that no start, boundary or event subprocess enters",
            )
    return out


def _root_reason(prep: Prepared, nid: str) -> UncoveredReason:
    node = prep.nodes[nid]
    if node.type == "intermediateCatchEvent" and (
        node.event_definition == "link" or "link" in node.event_definitions
    ):
        return UncoveredReason.UNMATCHED_LINK
    if (
        node.extensions.get("isForCompensation") is True
        or node.event_definition == "compensate"
        or "compensate" in node.event_definitions
    ):
        return UncoveredReason.COMPENSATION_ONLY  # also a compensation boundary event's own flows
    if node.type == "boundaryEvent":
        return UncoveredReason.DETACHED_BOUNDARY
    return UncoveredReason.NO_PATH_FROM_START


def _root_detail(prep: Prepared, root: str, reason: UncoveredReason) -> str:
    node = prep.nodes[root]
    name = _name(prep, root)
    if reason is UncoveredReason.UNMATCHED_LINK:
        link = node.link_name or node.name or ""
        return (
            f"the way here starts at link catch event {name}, and no link throw in its process is "
            f"named {link!r}"
        )
    if reason is UncoveredReason.DETACHED_BOUNDARY:
        return (
            f"the way here starts at boundary event {name}, attached to {node.attached_to!r}, "
            "which is not an activity of the model"
        )
    if reason is UncoveredReason.COMPENSATION_ONLY:
        what = "compensation boundary event" if node.type == "boundaryEvent" else "compensation handler"
        return (
            f"the way here starts at {what} {name}, which runs only when compensation is "
            "thrown, not as part of a scenario"
        )
    return (
        f"the way here starts at {node.type} {name}: no flow enters it, and BPMN starts only start events, "
        "activities and catch events with their process"
    )


def _name(prep: Prepared, nid: str) -> str:
    node = prep.nodes[nid]
    return f"{node.name!r} ({nid})" if node.name else nid
