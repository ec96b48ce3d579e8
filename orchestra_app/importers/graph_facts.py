"""Derived facts of a controlFlowGraph: gateway roles, loops (back edges), parallel blocks; linear time."""

from __future__ import annotations

from collections import defaultdict

from orchestra_app.domain.graph import (
    ControlFlowGraph,
    GatewayInfo,
    GatewayRole,
    ImportWarning,
    LoopInfo,
    Node,
    ParallelBlock,
)

_EXIT = -1
MAX_LOOP_EXTENSION = "maxLoopIterations"


def _is_gateway(node: Node) -> bool:
    return node.type.endswith("Gateway")


def _role(incoming: int, outgoing: int) -> GatewayRole:
    if incoming > 1 and outgoing > 1:
        return GatewayRole.MIXED
    if outgoing > 1:
        return GatewayRole.SPLIT
    if incoming > 1:
        return GatewayRole.JOIN
    return GatewayRole.PASS


class _Graph:
    """Index-based adjacency over the sequence flows whose both ends are known nodes."""

    def __init__(self, graph: ControlFlowGraph) -> None:
        self.nodes = graph.nodes
        self.index = {node.id: i for i, node in enumerate(graph.nodes)}
        n = len(graph.nodes)
        self.flow_ids: list[str] = []  # "" for implicit attachment edges (activity -> boundary event)
        self.flow_src: list[int] = []
        self.flow_dst: list[int] = []
        self.out: list[list[int]] = [[] for _ in range(n)]
        self.inc: list[list[int]] = [[] for _ in range(n)]
        self.conditional: list[bool] = []
        for flow in graph.flows:
            if flow.kind != "sequence":
                continue
            s = self.index.get(flow.source)
            t = self.index.get(flow.target)
            if s is None or t is None:
                continue
            k = len(self.flow_ids)
            self.flow_ids.append(flow.id)
            self.flow_src.append(s)
            self.flow_dst.append(t)
            self.conditional.append(bool(flow.condition) and not flow.is_default)
            self.out[s].append(k)
            self.inc[t].append(k)
        self.real_out: list[list[int]] = [list(edges) for edges in self.out]
        self.real_inc: list[list[int]] = [list(edges) for edges in self.inc]
        # A boundary event continues its activity's token: loops through a boundary event (retry on
        # timeout/error) and branches that escape through one only show up with this edge.
        for t, node in enumerate(graph.nodes):
            s = self.index.get(node.attached_to) if node.attached_to else None
            if s is None:
                continue
            k = len(self.flow_ids)
            self.flow_ids.append("")
            self.flow_src.append(s)
            self.flow_dst.append(t)
            self.conditional.append(False)
            self.out[s].append(k)
            self.inc[t].append(k)

    def dfs(self) -> tuple[list[int], set[int]]:
        """Iterative DFS from start nodes, then from nodes without incoming flow, then from the rest.

        Returns the postorder and the set of back-edge flow indices.
        """
        n = len(self.nodes)
        color = [0] * n  # 0 new, 1 on the stack, 2 finished
        postorder: list[int] = []
        back: set[int] = set()
        starts = [i for i in range(n) if self.nodes[i].type == "startEvent" and not self.inc[i]]
        sources = [i for i in range(n) if not self.inc[i] and self.nodes[i].type != "startEvent"]
        for root in [*starts, *sources, *range(n)]:
            if color[root]:
                continue
            color[root] = 1
            stack: list[tuple[int, int]] = [(root, 0)]
            while stack:
                v, pos = stack[-1]
                edges = self.out[v]
                if pos < len(edges):
                    stack[-1] = (v, pos + 1)
                    k = edges[pos]
                    w = self.flow_dst[k]
                    if color[w] == 0:
                        color[w] = 1
                        stack.append((w, 0))
                    elif color[w] == 1 and self.flow_ids[k]:
                        back.add(k)
                else:
                    color[v] = 2
                    postorder.append(v)
                    stack.pop()
        return postorder, back


def _loops(g: _Graph, back: set[int], graph: ControlFlowGraph) -> list[LoopInfo]:
    by_header: dict[int, list[int]] = defaultdict(list)
    for k in sorted(back):
        by_header[g.flow_dst[k]].append(k)
    process_limits = {p.id: p.max_loop_iterations for p in graph.processes}
    loops: list[LoopInfo] = []
    for header in sorted(by_header):
        flows = by_header[header]
        # Natural loop body: everything that reaches a back edge's source without passing the header.
        body = {header}
        work = [g.flow_src[k] for k in flows if g.flow_src[k] != header]
        body.update(work)
        while work:
            v = work.pop()
            for k in g.inc[v]:
                u = g.flow_src[k]
                if u not in body:
                    body.add(u)
                    work.append(u)
        header_node = g.nodes[header]
        limit = _loop_limit(header_node, [g.nodes[g.flow_src[k]] for k in flows])
        if limit is None:
            limit = process_limits.get(header_node.process_id)
        if limit is None:
            limit = graph.max_loop_iterations
        loops.append(
            LoopInfo(
                id=f"loop_{len(loops) + 1}",
                header=header_node.id,
                back_flows=[g.flow_ids[k] for k in flows],
                nodes=[g.nodes[i].id for i in sorted(body)],
                max_loop_iterations=limit,
            )
        )
    return loops


def _loop_limit(header: Node, sources: list[Node]) -> int | None:
    for node in (header, *sources):
        value = node.extensions.get(MAX_LOOP_EXTENSION)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _post_dominators(g: _Graph, postorder: list[int], back: set[int]) -> tuple[list[int], list[int]]:
    """Immediate post-dominators on the acyclic graph (back edges removed), plus topological ranks.

    DFS postorder is a reverse topological order of that DAG, so one pass in postorder suffices
    (Cooper, Harvey and Kennedy's intersect over a virtual exit).
    """
    n = len(g.nodes)
    rank = [0] * n
    for position, v in enumerate(reversed(postorder)):
        rank[v] = position
    exit_rank = n
    ipdom = [_EXIT] * n

    def rank_of(v: int) -> int:
        return exit_rank if v == _EXIT else rank[v]

    for v in postorder:
        current: int | None = None
        for k in g.out[v]:
            if k in back:
                continue
            w = g.flow_dst[k]
            if current is None:
                current = w
                continue
            a, b = current, w
            while a != b:
                if rank_of(a) < rank_of(b):
                    a = ipdom[a]
                else:
                    b = ipdom[b]
            current = a
        ipdom[v] = _EXIT if current is None else current
    return ipdom, rank


def _common_join(g: _Graph, split: int, branches: list[int], back: set[int], rank: list[int]) -> int | None:
    """Nearest node reached by every branch (a parallel gateway preferred) when post-dominance fails."""
    reach: set[int] = set()
    work = [g.flow_dst[k] for k in branches]
    reach.update(work)
    while work:
        v = work.pop()
        for k in g.out[v]:
            w = g.flow_dst[k]
            if k not in back and w not in reach and w != split:
                reach.add(w)
                work.append(w)
    masks: dict[int, int] = defaultdict(int)
    for bit, k in enumerate(branches):
        masks[g.flow_dst[k]] |= 1 << bit
    full = (1 << len(branches)) - 1
    best_any: int | None = None
    for v in sorted(reach, key=rank.__getitem__):
        mask = masks[v]
        if mask == full and len(g.inc[v]) > 1:
            if g.nodes[v].type == "parallelGateway":
                return v
            if best_any is None:
                best_any = v
        for k in g.out[v]:
            if k not in back:
                masks[g.flow_dst[k]] |= mask
    return best_any


def _parallel_blocks(g: _Graph, postorder: list[int], back: set[int]) -> list[ParallelBlock]:
    splits: list[tuple[int, list[int]]] = []
    for v, node in enumerate(g.nodes):
        out = g.real_out[v]
        if len(out) < 2:
            continue
        if node.type == "parallelGateway":
            splits.append((v, out))
        elif not _is_gateway(node) and not any(g.conditional[k] for k in out):
            splits.append((v, out))  # an activity with several unconditional flows is an implicit AND-split
    if not splits:
        return []
    ipdom, rank = _post_dominators(g, postorder, back)
    blocks: list[ParallelBlock] = []
    for v, out in splits:
        join: int | None = ipdom[v]
        if join == _EXIT:
            join = _common_join(g, v, [k for k in out if k not in back], back, rank)
        blocks.append(
            ParallelBlock(
                split=g.nodes[v].id,
                join=None if join is None else g.nodes[join].id,
                branches=[[g.flow_ids[k]] for k in out],
            )
        )
    return blocks


def derive_facts(graph: ControlFlowGraph, *, max_loop_iterations: int | None = None) -> ControlFlowGraph:
    """Fill ``gateways``, ``loops`` and ``parallelBlocks`` (replacing earlier values); returns ``graph``.

    ``max_loop_iterations`` sets the graph default; a process's or a loop header's own
    ``maxLoopIterations`` is more specific and wins.
    """
    if max_loop_iterations is not None:
        if max_loop_iterations < 0:
            raise ValueError("max_loop_iterations must be >= 0")
        graph.max_loop_iterations = max_loop_iterations
    g = _Graph(graph)
    gateways: dict[str, GatewayInfo] = {}
    for v, node in enumerate(g.nodes):
        if _is_gateway(node):
            gateways[node.id] = GatewayInfo(
                role=_role(len(g.real_inc[v]), len(g.real_out[v])),
                incoming=[g.flow_ids[k] for k in g.real_inc[v]],
                outgoing=[g.flow_ids[k] for k in g.real_out[v]],
            )
    postorder, back = g.dfs()
    graph.gateways = gateways
    graph.loops = _loops(g, back, graph)
    graph.parallel_blocks = _parallel_blocks(g, postorder, back)
    _warn_trapped_cycles(g, graph)
    return graph


TRAPPED_CYCLE = "TRAPPED_CYCLE"


def _warn_trapped_cycles(g: _Graph, graph: ControlFlowGraph) -> None:
    """Warn about cycles a token can enter but never leave: no flow (nor boundary event) leads out of
    the cycle and it holds no end event, so a scenario through it could never finish."""
    known = {(w.code, w.element_id) for w in graph.warnings}
    for component in _strongly_connected(g):
        if len(component) == 1:
            v = component[0]
            if not any(g.flow_dst[k] == v for k in g.out[v]):
                continue  # a single node without a self-loop is not a cycle
        members = set(component)
        if any(g.flow_dst[k] not in members for v in component for k in g.out[v]):
            continue
        if any(g.nodes[v].type == "endEvent" for v in component):
            continue
        ordered = sorted(component, key=lambda v: (g.nodes[v].line or 0, v))
        first = g.nodes[ordered[0]]
        if (TRAPPED_CYCLE, first.id) in known:
            continue
        names = ", ".join(g.nodes[v].name or g.nodes[v].id for v in ordered[:12])
        more = f" and {len(ordered) - 12} more" if len(ordered) > 12 else ""
        graph.warnings.append(
            ImportWarning(
                code=TRAPPED_CYCLE,
                message=f"tokens cannot leave the cycle {names}{more}: no flow leads out of it and it has "
                "no end event, so no scenario through it can finish",
                element_id=first.id,
                line=first.line,
            )
        )


def _strongly_connected(g: _Graph) -> list[list[int]]:
    """Tarjan's strongly connected components, iterative (graphs may be tens of thousands of nodes)."""
    n = len(g.nodes)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, pos = work[-1]
            edges = g.out[v]
            if pos < len(edges):
                work[-1] = (v, pos + 1)
                w = g.flow_dst[edges[pos]]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                component: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                components.append(component)
    return components
