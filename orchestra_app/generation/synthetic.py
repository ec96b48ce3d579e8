"""Synthetic controlFlowGraphs for tests and the benchmark: path explosions the generator must survive."""

from __future__ import annotations

from functools import partial

from orchestra_app.domain.graph import ControlFlowGraph, Flow, GraphProcess, Node


class GraphBuilder:
    """Small fluent builder: ``b.node("t1", "serviceTask", "Charge card"); b.flow("t1", "end")``."""

    def __init__(self, process_id: str = "P") -> None:
        self.process_id = process_id
        self.nodes: list[Node] = []
        self.flows: list[Flow] = []
        self.processes = [GraphProcess(id=process_id, is_executable=True)]

    def node(self, node_id: str, node_type: str, name: str | None = None, **fields: object) -> str:
        fields.setdefault("process_id", self.process_id)
        self.nodes.append(Node(id=node_id, type=node_type, name=name, **fields))  # type: ignore[arg-type]
        return node_id

    def flow(self, source: str, target: str, flow_id: str | None = None, **fields: object) -> str:
        fid = flow_id or f"f_{source}_{target}"
        self.flows.append(Flow(id=fid, source=source, target=target, **fields))  # type: ignore[arg-type]
        return fid

    def graph(self, **fields: object) -> ControlFlowGraph:
        return ControlFlowGraph(
            nodes=self.nodes,
            flows=self.flows,
            processes=self.processes,
            **fields,  # type: ignore[arg-type]
        )


def xor_diamonds(count: int = 20) -> ControlFlowGraph:
    b = GraphBuilder()
    prev = b.node("start", "startEvent")
    for i in range(count):
        split = b.node(f"x{i}", "exclusiveGateway", f"Check {i}?")
        b.flow(prev, split)
        join = b.node(f"m{i}", "exclusiveGateway")
        for side in ("a", "b"):
            task = b.node(f"t{i}{side}", "serviceTask", f"Task {i}{side}")
            b.flow(split, task, f"f{i}{side}", name="yes" if side == "a" else "no")
            b.flow(task, join)
        prev = join
    b.flow(prev, b.node("end", "endEvent"))
    return b.graph()


def chain(length: int = 3000) -> ControlFlowGraph:
    b = GraphBuilder()
    prev = b.node("start", "startEvent")
    for i in range(length):
        task = b.node(f"t{i}", "serviceTask", f"Step {i}")
        b.flow(prev, task)
        prev = task
    b.flow(prev, b.node("end", "endEvent"))
    return b.graph()


def wide_gateway(width: int = 1000) -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "exclusiveGateway", "Route?")
    b.node("join", "exclusiveGateway")
    b.node("end", "endEvent")
    b.flow("start", "split")
    for i in range(width):
        task = b.node(f"t{i}", "serviceTask", f"Route {i}")
        b.flow("split", task, f"r{i}", condition=f"route == {i}")
        b.flow(task, "join")
    b.flow("join", "end")
    return b.graph()


def tangled_loops(count: int = 30) -> ControlFlowGraph:
    """A chain of merge/task/split triples; each split loops back to a merge 1..3 steps earlier."""
    b = GraphBuilder()
    prev = b.node("start", "startEvent")
    for i in range(count):
        merge = b.node(f"m{i}", "exclusiveGateway")
        task = b.node(f"t{i}", "serviceTask", f"Work {i}")
        split = b.node(f"x{i}", "exclusiveGateway", f"Again {i}?")
        b.flow(prev, merge)
        b.flow(merge, task)
        b.flow(task, split)
        back_to = f"m{max(0, i - (i % 3))}"
        b.flow(split, back_to, f"back{i}", name="retry")
        prev = split
    b.flow(prev, b.node("end", "endEvent"), name="done")
    return b.graph()


def parallel_xors(branches: int = 20) -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("fork", "parallelGateway")
    b.node("sync", "parallelGateway")
    b.node("end", "endEvent")
    b.flow("start", "fork")
    for i in range(branches):
        split = b.node(f"x{i}", "exclusiveGateway", f"Branch {i} ok?")
        merge = b.node(f"m{i}", "exclusiveGateway")
        b.flow("fork", split)
        for side in ("a", "b"):
            task = b.node(f"t{i}{side}", "serviceTask", f"Task {i}{side}")
            b.flow(split, task, f"f{i}{side}", name="yes" if side == "a" else "no")
            b.flow(task, merge)
        b.flow(merge, "sync")
    b.flow("sync", "end")
    return b.graph()


def dense_cycles(
    decisions: int = 60, *, back: int | None = None, skip: int | None = None, seed: int = 1
) -> ControlFlowGraph:
    """'Spaghetti': a chain of task + XOR pairs with seeded random back edges and forward skips.

    Every gateway decides: it continues along the chain and takes one extra flow, a back edge to an
    earlier task, a skip to a later one, or (when those quotas are used up) a side task that rejoins
    the chain. The back edges tie most of the model into one large strongly connected component.
    """
    import random

    rng = random.Random(seed)
    back = decisions * 25 // 60 if back is None else back
    skip = decisions * 25 // 60 if skip is None else skip
    extras = ["back"] * min(back, decisions) + ["skip"] * min(skip, max(0, decisions - back))
    extras += ["side"] * (decisions - len(extras))
    rng.shuffle(extras)
    for i in range(max(0, decisions - 2), decisions):
        # The last two gateways cannot skip forward: swap their skip with an earlier non-skip.
        if extras[i] == "skip":
            j = next((j for j in range(decisions - 2) if extras[j] != "skip"), None)
            if j is not None:
                extras[i], extras[j] = extras[j], extras[i]
    b = GraphBuilder()
    b.node("start", "startEvent", "Start")
    b.node("end", "endEvent", "End")
    for i in range(decisions):
        b.node(f"t{i}", "serviceTask", f"Step {i}")
        b.node(f"x{i}", "exclusiveGateway", f"Check {i}?")
    b.flow("start", "t0")
    for i in range(decisions):
        b.flow(f"t{i}", f"x{i}")
        nxt = f"t{i + 1}" if i + 1 < decisions else "end"
        b.flow(f"x{i}", nxt, f"ok{i}", name="ok")
        kind = extras[i]
        if kind == "back" or (kind == "skip" and i + 2 >= decisions):  # (only when nothing could swap)
            b.flow(f"x{i}", f"t{rng.randint(0, i)}", f"back{i}", name="retry")
        elif kind == "skip":
            b.flow(f"x{i}", f"t{rng.randint(i + 2, decisions - 1)}", f"skip{i}", name="skip")
        else:
            b.node(f"s{i}", "serviceTask", f"Fix {i}")
            b.flow(f"x{i}", f"s{i}", f"side{i}", name="fix")
            b.flow(f"s{i}", nxt)
    return b.graph()


def token_games(seed: int = 1, *, max_depth: int = 3) -> ControlFlowGraph:
    """Seeded random block-structured model that exercises token semantics.

    Sequences of tasks, parallel / inclusive / exclusive blocks (some branches leaving the block for
    a plain or a terminate end event), loops, subprocesses with event subprocesses (interrupting or
    not, some ending in a terminate) and boundary events on tasks and subprocesses (interrupting or
    not; their paths end, terminate, or merge back), and implicit parallel splits. Used by the tests
    that check a scenario never runs a step a token could not reach and every reachable flow is
    still covered.
    """
    import random

    rng = random.Random(seed)
    b = GraphBuilder()
    count = [0]

    def new(prefix: str, node_type: str, parent: str | None, **fields: object) -> str:
        count[0] += 1
        node_id = f"{prefix}{count[0]}"
        name = node_id if node_type.endswith("Task") else None
        return b.node(node_id, node_type, name, parent_id=parent, **fields)

    def end(parent: str | None, terminate: bool) -> str:
        if terminate:
            return new("T", "endEvent", parent, event_definition="terminate", event_definitions=["terminate"])
        return new("e", "endEvent", parent)

    def task(after: str, parent: str | None, condition: str | None = None) -> str:
        t = new("t", "serviceTask", parent)
        b.flow(after, t, condition=condition)
        return t

    def sequence(cur: str, depth: int, parent: str | None) -> str:
        for _ in range(rng.randint(1, 3)):
            r = rng.random() if depth <= max_depth else 0.0
            if r < 0.35:
                cur = task(cur, parent)
                if rng.random() < 0.4:
                    interrupting = rng.random() < 0.8
                    bd = new("b", "boundaryEvent", parent, attached_to=cur, cancel_activity=interrupting)
                    x = rng.random()
                    if x < 0.6:
                        b.flow(task(bd, parent), end(parent, terminate=x >= 0.35))
                    else:
                        merge = new("m", "exclusiveGateway", parent)
                        b.flow(cur, merge)
                        b.flow(bd, merge)
                        cur = merge
            elif r < 0.75:
                kind = (
                    "parallelGateway"
                    if r < 0.55
                    else rng.choice(["exclusiveGateway", "inclusiveGateway", "parallelGateway"])
                )
                condition = "${go}" if kind == "inclusiveGateway" else None
                split, join = new("s", kind, parent), new("j", kind, parent)
                b.flow(cur, split)
                joined = 0
                for k in range(rng.randint(2, 3)):
                    first = task(split, parent, condition)
                    if k and rng.random() < 0.2:
                        b.flow(first, end(parent, terminate=rng.random() < 0.7))  # leaves the block
                        continue
                    b.flow(sequence(first, depth + 1, parent), join)
                    joined += 1
                if not joined:
                    b.flow(task(split, parent, condition), join)
                cur = join
            elif r < 0.85:
                header = new("lh", "exclusiveGateway", parent)
                b.flow(cur, header)
                body = sequence(task(header, parent), depth + 1, parent)
                decide = new("ld", "exclusiveGateway", parent)
                b.flow(body, decide)
                b.flow(decide, header, name="again")
                cur = decide
            elif r < 0.92:
                sub = new("sp", "subProcess", parent)
                b.flow(cur, sub)
                inner = sequence(new("ss", "startEvent", sub), depth + 1, sub)
                b.flow(inner, new("se", "endEvent", sub))
                if rng.random() < 0.5:
                    esp = new("esp", "subProcess", sub, triggered_by_event=True)
                    start = new("es", "startEvent", esp, cancel_activity=rng.random() < 0.5)
                    b.flow(task(start, esp), end(esp, terminate=rng.random() < 0.5))
                cur = sub
                if rng.random() < 0.5:
                    interrupting = rng.random() < 0.7
                    bd = new("b", "boundaryEvent", parent, attached_to=sub, cancel_activity=interrupting)
                    handler = task(bd, parent)
                    x = rng.random()
                    if x < 0.7:
                        b.flow(handler, end(parent, terminate=x < 0.4))
                    else:
                        merge = new("m", "exclusiveGateway", parent)
                        b.flow(sub, merge)
                        b.flow(handler, merge)
                        cur = merge
            else:
                fork = task(cur, parent)  # two unconditioned flows: an implicit parallel split
                b.flow(task(fork, parent), end(parent, terminate=rng.random() < 0.5))
                cur = task(fork, parent)
        return cur

    b.node("start", "startEvent")
    b.flow(sequence("start", 0, None), b.node("end", "endEvent"))
    return b.graph()


SYNTHETIC_CASES = {
    "20 XOR diamonds": xor_diamonds,
    "3,000-node chain": chain,
    "1,000-way gateway": wide_gateway,
    "30 tangled loops": tangled_loops,
    "20-branch AND with XORs": parallel_xors,
}
# The dense-cycle family (issue 8): 100% of flows, under 1 s, at each size; 1,000 decisions is a
# 2,170-node model.
DENSE_CYCLE_CASES = {f"dense cycles, {n:,} decisions": partial(dense_cycles, n) for n in (60, 200, 1000)}
