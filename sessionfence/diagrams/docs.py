"""The committed pictures of the brief's four designs (docs/diagrams).

Upstream's later designs (model/upstream.py) are built in too, but their
pictures are made on demand (`sessionfence diagram ...`), not committed.

`generate()` builds every DOT text in memory from the model alone: no
solver is involved (the counterexample pictures use the first shortest run
in breadth-first order, `model.explore.shortest_violation`), so the text is
the same on every machine and a stale file always means the model changed.
`regenerate(dir)` writes them (DOT and SVG); `stale(dir)` lists what differs.
"""

from __future__ import annotations

import os

from sessionfence.diagrams import dot, render
from sessionfence.diagrams.diff import diff_graph
from sessionfence.diagrams.machine import machine_graph
from sessionfence.diagrams.states import build_states
from sessionfence.diagrams.trace import trace_graph
from sessionfence.model import properties as P
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor
from sessionfence.model.explore import Bounds, shortest_violation
from sessionfence.model.machine import build
from sessionfence.model.variants import BRIEF as BUILTIN  # the designs pictured in docs

DOCS_DIR = os.path.join("docs", "diagrams")
CONTROLLERS = 2
BOUNDS = Bounds()  # the `states` defaults: what docs/diagrams.md describes
REFERENCE = "reference"


def counterexample(variant, prop: P.Property, n: int = CONTROLLERS):
    """(executor, trace) of the first shortest run to `prop`'s bad event, or None."""
    machine = build(variant)
    found = shortest_violation(machine, n, prop)
    if found is None:
        return None
    steps, states = found
    return Executor(machine, n), Trace(steps, states, violating=len(steps) - 1)


def generate() -> dict[str, dot.Graph]:
    """file stem -> graph, in a fixed order."""
    out: dict[str, dot.Graph] = {}
    reference = build(BUILTIN[REFERENCE])
    for name, variant in BUILTIN.items():
        machine = build(variant)
        out[f"{name}-machine"] = machine_graph(machine)
        out[f"{name}-states"] = build_states(machine, CONTROLLERS, BOUNDS, limit=None)[1]
        if name != REFERENCE:
            out[f"{name}-diff-{REFERENCE}"] = diff_graph(reference, machine)
        for prop in P.ALWAYS:
            if variant.expected[prop.name] != "violated":
                continue
            found = counterexample(variant, prop)
            if found is None:  # the declared verdict is wrong: say so in the picture set
                raise AssertionError(f"{name}: no run violates {prop.name}, "
                                     "but the variant declares it violated")
            ex, trace = found
            title = (f"{name}: the shortest run to a {prop.name} violation "
                     f"({CONTROLLERS} controllers; first in breadth-first order)")
            out[f"{name}-trace-{prop.name}"] = trace_graph(ex, trace, title, name=prop.name)
    return out


def regenerate(directory: str = DOCS_DIR, formats=("dot", "svg"), progress=None) -> list[str]:
    """Write every picture; remove pictures of ours that are no longer made."""
    graphs = generate()
    if any(f != "dot" for f in formats):
        render.require_dot(next(f for f in formats if f != "dot"))
    os.makedirs(directory, exist_ok=True)
    written = []
    for stem, graph in graphs.items():
        text = graph.source()
        for fmt in formats:
            path = os.path.join(directory, f"{stem}.{fmt}")
            render.write(text, fmt, path)
            written.append(path)
            if progress:
                progress(f"wrote {path}")
    wanted = {os.path.basename(p) for p in written}
    for entry in sorted(os.listdir(directory)):
        if _ours(entry, formats) and entry not in wanted:
            os.remove(os.path.join(directory, entry))
    return written


def _ours(entry: str, formats) -> bool:
    """A file this module writes (so a picture of a removed rule or property
    does not linger); anything else in the directory is left alone."""
    stem, _, ext = entry.rpartition(".")
    kinds = ("-machine", "-states", f"-diff-{REFERENCE}", "-trace-")
    return ext in formats and any(stem.startswith(f"{name}{kind}")
                                  for name in BUILTIN for kind in kinds)


def stale(directory: str = DOCS_DIR) -> list[str]:
    """What differs between the committed DOT files and the model: [] if current."""
    graphs = generate()
    problems = []
    present = {e[:-4] for e in os.listdir(directory) if e.endswith(".dot")} \
        if os.path.isdir(directory) else set()
    for stem, graph in graphs.items():
        path = os.path.join(directory, f"{stem}.dot")
        if stem not in present:
            problems.append(f"{path}: missing")
            continue
        with open(path, encoding="utf-8") as f:
            if f.read() != graph.source():
                problems.append(f"{path}: differs from the model")
        if not os.path.exists(os.path.join(directory, f"{stem}.svg")):
            problems.append(f"{os.path.join(directory, stem)}.svg: missing")
    for stem in sorted(present - set(graphs)):
        problems.append(f"{os.path.join(directory, stem)}.dot: no longer generated")
    return problems
