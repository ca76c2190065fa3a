"""The reachable global states of a small instance, as a graph.

Built by `model.explore` (N controllers, bounded external writes and write
sections, numbers renamed, controllers up to symmetry, finished controllers'
data forgotten). A red node is a state in which some `always` property's bad
event is enabled; it is a leaf, since the picture's job is to show how the
violation becomes possible (so a violation that only ever follows another
one is drawn only when the picture watches that property alone). The
initial state has a double border.
"""

from __future__ import annotations

from typing import Optional

from sessionfence.diagrams import dot
from sessionfence.model.display import state_cells
from sessionfence.model.explore import DEFAULT_LIMIT, Bounds, StateGraph, explore
from sessionfence.model.machine import Decision, Machine


def node_label(graph: StateGraph, i: int, used: set) -> str:
    cells = state_cells(graph.executor, graph.states[i], used)
    lines = [cells["phases"], f"file {cells['file']}  lock {cells['lock']}",
             f"fence {cells['fences']}"]
    extra = " ".join(x for x in (cells["registry"], cells["ghosts"]) if x != "-")
    if extra:
        lines.append(extra)
    if i in graph.bad:
        lines.append("✗ " + ", ".join(graph.bad[i]))
    return "\n".join(lines)


def edge_text(inst) -> str:
    mode = f"({inst.mode.name})" if inst.mode is not None else ""
    who = f"c{inst.ctrl}" if inst.ctrl else "X"
    return f"{inst.step}{mode} {who}"


def describe(graph: StateGraph) -> str:
    sym = "; up to swapping controllers" if graph.symmetry and graph.executor.n > 1 else ""
    n = graph.executor.n
    return (f"{len(graph)} reachable states for {n} controller{'s' if n != 1 else ''} "
            f"({graph.bounds.describe()}{sym})")


def states_graph(graph: StateGraph) -> dot.Graph:
    ex = graph.executor
    v = ex.machine.variant
    gid = dot.graph_id("states", v.name)
    watched = ("" if len(graph.properties) == 3
               else f" ({', '.join(graph.properties)} only)")
    title = (f"{v.name}: {describe(graph)}; {len(graph.bad)} red: a property's bad event"
             f"{watched} is enabled there (not explored further)")
    g = dot.base_graph(f"states {v.name}", dot.Left(dot.wrap(title, 110)), id=gid, rankdir="TB",
                       nodesep="0.25", ranksep="0.35")
    g.default("node", shape="box", style="rounded", fontsize="8", margin="0.05,0.03")
    g.default("edge", fontsize="7", arrowsize="0.6")
    used = set(ex.machine.variables_used())
    for i in range(len(graph)):
        attrs: dict = {"id": f"{gid}:s{i}", "class": "state"}
        if i in graph.bad:
            attrs.update({"style": "rounded,filled", "fillcolor": dot.BAD_FILL,
                          "color": dot.TAKEOVER, "class": "state bad"})
        if i == 0:
            attrs.update({"peripheries": "2", "penwidth": "1.5",
                          "class": attrs["class"] + " initial"})
        g.node(f"s{i}", label=node_label(graph, i, used), **attrs)
    for k, (i, inst, j) in enumerate(graph.edges):
        attrs = {"id": f"{gid}:e{k}", "class": "step"}
        if inst.ctrl is None:
            attrs.update(color=dot.EXTERNAL, fontcolor=dot.EXTERNAL, style="dotted")
        elif inst.transition.decision is Decision.takeover:
            attrs.update(color=dot.TAKEOVER, fontcolor=dot.TAKEOVER, style="dashed")
        g.edge(f"s{i}", f"s{j}", label=edge_text(inst), **attrs)
    return g


def build_states(machine: Machine, n: int = 2, bounds: Bounds = Bounds(), *,
                 limit: Optional[int] = DEFAULT_LIMIT,
                 properties: Optional[tuple] = None) -> tuple[StateGraph, dot.Graph]:
    """Explore and draw; raises `model.explore.TooManyStates` past `limit`."""
    graph = explore(machine, n, bounds, limit=limit, properties=properties)
    return graph, states_graph(graph)
