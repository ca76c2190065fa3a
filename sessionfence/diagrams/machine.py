"""The per-controller fence machine: phases as nodes, transitions as edges.

Every edge is one `Transition` of `machine.build(variant)`, labelled with
`pretty.label` (the short form: named conditions and fence rules by name);
the legend spells every name out with `pretty.definitions`. Takeover edges
(fail closed) are dashed and red; the external writer is a node of its own
with its one step as a loop.
"""

from __future__ import annotations

from sessionfence.diagrams import dot
from sessionfence.model import pretty
from sessionfence.model.expr import Phase
from sessionfence.model.machine import Decision, Machine, Transition

EXTERNAL_NODE = "external writer X"
LABEL_WIDTH = 44
LEGEND_WIDTH = 96
FINAL_PHASES = (Phase.done, Phase.taken_over)


def phase_nodes(machine: Machine) -> list[Phase]:
    used = {p for t in machine.transitions for p in (t.source, t.target) if p is not None}
    return [p for p in Phase if p in used]


def edge_label(t: Transition, width: int = LABEL_WIDTH) -> str:
    text = dot.wrap(pretty.label(t), width)
    if t.decision is not Decision.none:
        text += f"\n⟨{t.decision.value}⟩"
    return text


def edge_style(t: Transition) -> dict:
    """Visual class of a transition; takeover edges stand apart."""
    if t.decision is Decision.takeover:
        return {"class": "transition takeover", "color": dot.TAKEOVER, "fontcolor": dot.TAKEOVER,
                "style": "dashed", "penwidth": "1.6"}
    if t.source is None:
        return {"class": "transition external", "color": dot.EXTERNAL,
                "fontcolor": dot.EXTERNAL, "style": "dotted"}
    return {"class": "transition", "color": "black", "style": "solid"}


def add_phase_nodes(g: dot.Graph, phases, gid: str, external: bool) -> None:
    g.node("start", shape="point", width="0.12", label="", id=f"{gid}:start",
           **{"class": "initial"})
    for p in phases:
        attrs = {"shape": "box", "style": "rounded", "id": f"{gid}:phase:{p.name}",
                 "class": "phase"}
        if p in FINAL_PHASES:
            attrs["peripheries"] = "2"
        if p is Phase.taken_over:
            attrs.update(color=dot.TAKEOVER, fontcolor=dot.TAKEOVER)
        g.node(p.name, label=p.name, **attrs)
    g.edge("start", Phase.idle.name, id=f"{gid}:initial", **{"class": "initial"})
    if external:
        g.node(EXTERNAL_NODE, shape="box", style="dashed", color=dot.EXTERNAL,
               fontcolor=dot.EXTERNAL, id=f"{gid}:actor:X", **{"class": "actor"})


def endpoints(t: Transition) -> tuple[str, str]:
    if t.source is None:
        return EXTERNAL_NODE, EXTERNAL_NODE
    return t.source.name, t.target.name


def all_definitions(machine: Machine) -> dict[str, str]:
    """Every named condition and fence rule the machine's labels use, in full."""
    defs: dict[str, str] = {}
    for t in machine.transitions:
        for name, text in pretty.definitions(t).items():
            defs.setdefault(name, text)
    return defs


def legend_text(machine: Machine, title: str = "Definitions") -> str:
    defs = all_definitions(machine)
    lines = [title]
    for name in sorted(defs):
        lines.append(dot.wrap(f"{name}: {defs[name]}", LEGEND_WIDTH))
    return "\n".join(lines)


def add_legend(g: dot.Graph, text: str, gid: str) -> None:
    sink = g.subgraph("legend", rank="sink")
    sink.node("legend", label=dot.Left(text), shape="note", fontsize="10", color=dot.MUTED,
              id=f"{gid}:legend", **{"class": "legend"})


KEY = "dashed red = takeover (fails closed), ⟨…⟩ = the step's decision"


def machine_graph(machine: Machine, *, titled: bool = True) -> dot.Graph:
    """`titled=False` leaves the title (name, summary, key) to the page around it."""
    v = machine.variant
    gid = dot.graph_id("machine", v.name)
    atomic = ", write sections atomic w.r.t. X" if machine.atomic_writes else ""
    title = dot.wrap(f"{v.name}: {v.summary}", 100) + (
        f"\nthe per-controller fence machine{atomic}; {KEY}")
    g = dot.base_graph(f"machine {v.name}", dot.Left(title) if titled else "", id=gid,
                       rankdir="TB", nodesep="0.5", ranksep="0.55")
    add_phase_nodes(g, phase_nodes(machine), gid,
                    external=any(t.source is None for t in machine.transitions))
    for t in machine.transitions:
        tail, head = endpoints(t)
        g.edge(tail, head, label=edge_label(t), tooltip=pretty.label(t, short=False),
               id=f"{gid}:{t.key}", **edge_style(t))
    add_legend(g, legend_text(machine), gid)
    return g
