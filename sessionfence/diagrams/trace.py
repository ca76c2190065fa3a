"""One run as a sequence diagram: lanes for each controller, the external
writer X, the lock and the file; one arrow per step.

A step's arrow goes from the actor to what it touches: the lock lane when
the step changes the lock holder, the file lane when it reads or writes the
file or checks its fence against it, otherwise back to the actor. Lane
boxes under an arrow show what the step changed (phase and fence, holder,
fingerprint). The violating step is thick and red and names the property.
"""

from __future__ import annotations

from typing import Optional

from sessionfence.diagrams import dot
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor
from sessionfence.model.display import fp, state_cells
from sessionfence.model.machine import Decision

FILE_STEPS = frozenset({"read_before", "append", "external_write", "finish_write"})
LOCK, FILE, X = "lock", "file", "X"


def first_violation(ex: Executor, trace, properties=None) -> tuple[Optional[int], list[str]]:
    """(index of the first step that is a bad event of one of `properties`
    (names; default every `always` property), the properties it violates);
    (None, []) for a clean run."""
    watched = [p for p in P.ALWAYS if properties is None or p.name in properties]
    for i, inst in enumerate(trace.steps):
        hit = [p.name for p in watched if inst in ex.event(trace.states[i], p)]
        if hit:
            return i, hit
    return None, []


def lanes(ex: Executor) -> list[str]:
    return [f"c{c}" for c in range(1, ex.n + 1)] + [LOCK, FILE, X]


def target_lane(ex: Executor, inst, before: tuple, after: tuple) -> str:
    actor = f"c{inst.ctrl}" if inst.ctrl else X
    if ex.get(before, "holder") != ex.get(after, "holder"):
        return LOCK
    checks = inst.transition.decision in (Decision.accept, Decision.takeover)
    if inst.step in FILE_STEPS or checks or ex.get(before, "file") != ex.get(after, "file"):
        return FILE
    return actor


def _cells(ex: Executor, s: tuple) -> dict:
    """What each lane shows of a state."""
    d = ex.decode(s)
    out = {LOCK: f"holder {d['holder']}", FILE: fp(d["file"]), X: ""}
    for c in range(1, ex.n + 1):
        name = f"c{c}"
        exposed = "  ext!" if d["ext_alive"][name] else ""  # an external write hit it
        out[name] = f"{d['phase'][name]}\nfence {fp(d['fence'][name])}{exposed}"
    return out


def step_text(inst, i: int) -> str:
    mode = f"({inst.mode.name})" if inst.mode is not None else ""
    decision = inst.transition.decision
    tail = "" if decision is Decision.none else f" ⟨{decision.value}⟩"
    return f"{i + 1}. {inst.step}{mode}{tail}"


def trace_graph(ex: Executor, trace, title: str, *, violating: Optional[int] = None,
                properties=None, name: str = "") -> dot.Graph:
    """The run `trace` (a `check.Trace`) of `ex`'s machine.

    The highlighted step is `violating`, else `trace.violating` (a checker's
    counterexample knows it), else the first bad event of `properties`
    (default: any `always` property); its label names every property the
    step violates.
    """
    if violating is None:
        violating = trace.violating
    if violating is None:
        violating, _ = first_violation(ex, trace, properties)
    violated: tuple = ()
    if violating is not None:
        violated = tuple(p.name for p in P.ALWAYS
                         if trace.steps[violating] in ex.event(trace.states[violating], p))
    gid = dot.graph_id("trace", ex.machine.variant.name, *([name] if name else []))
    # Straight arrows: with curved ones, an arrow that skips lanes arcs up
    # through its own label (dot reserves the label's place above the row).
    g = dot.base_graph(f"trace {ex.machine.variant.name} {name}".strip(),
                       dot.Left(dot.wrap(title, 110)) if title else "", id=gid, rankdir="TB",
                       nodesep="0.35", ranksep="0.22", newrank="true", splines="line")
    names = lanes(ex)
    rows = len(trace.states)
    # Row r of a lane is node "<lane>@<r>"; rank=same rows and heavy vertical
    # edges keep the lanes as columns, arrows are flat edges within a row.
    head = g.subgraph("heads", rank="same")
    for lane in names:
        head.node(f"{lane}@head", label=_lane_title(lane), shape="box", style="filled,bold",
                  fillcolor="#eeeeee", id=f"{gid}:lane:{lane}", **{"class": "lane"})
    for a, b in zip(names, names[1:]):
        head.edge(f"{a}@head", f"{b}@head", style="invis")
    previous = _cells(ex, trace.states[0])
    for r in range(rows):
        row = g.subgraph(f"row{r}", rank="same")
        cells = _cells(ex, trace.states[r])
        for lane in names:
            shown = cells[lane] if (r == 0 or cells[lane] != previous[lane]) else ""
            attrs = {"shape": "box", "style": "rounded", "fontsize": "9",
                     "label": shown} if shown else {"shape": "point", "width": "0.05",
                                                    "label": ""}
            if lane.startswith("c") and "taken_over" in shown:
                attrs.update(color=dot.TAKEOVER, fontcolor=dot.TAKEOVER)
            row.node(f"{lane}@{r}", id=f"{gid}:cell:{lane}:{r}", **attrs)
        previous = cells
    for lane in names:
        chain = [f"{lane}@head"] + [f"{lane}@{r}" for r in range(rows)]
        for a, b in zip(chain, chain[1:]):
            g.edge(a, b, arrowhead="none", style="dashed", color="#bbbbbb", weight="100")
    for i, inst in enumerate(trace.steps):
        actor = f"c{inst.ctrl}" if inst.ctrl else X
        target = target_lane(ex, inst, trace.states[i], trace.states[i + 1])
        label = step_text(inst, i)
        attrs = {"constraint": "false", "id": f"{gid}:step:{i + 1}", "class": "step"}
        if inst.ctrl is None:
            attrs.update(color=dot.EXTERNAL, fontcolor=dot.EXTERNAL)
        if inst.transition.decision is Decision.takeover:
            attrs.update(color=dot.TAKEOVER, fontcolor=dot.TAKEOVER, style="dashed")
        if i == violating:
            label += "\n✗ violates " + ", ".join(violated)
            attrs.update({"class": "step violating", "color": dot.TAKEOVER,
                          "fontcolor": dot.TAKEOVER, "penwidth": "3", "style": "bold"})
        g.edge(f"{actor}@{i + 1}", f"{target}@{i + 1}", label=label,
               tooltip=f"{i + 1}. {inst.transition.key}", **attrs)
    return g


def _lane_title(lane: str) -> str:
    if lane == X:
        return "X (external writer)"
    if lane == LOCK:
        return "session lock"
    if lane == FILE:
        return "session.jsonl"
    return lane


def trace_title(ex: Executor, what: str) -> str:
    used = set(ex.machine.variables_used())
    cells = state_cells(ex, ex.initial(), used)
    return f"{ex.machine.variant.name}: {what} ({ex.n} controllers; initially file {cells['file']})"
