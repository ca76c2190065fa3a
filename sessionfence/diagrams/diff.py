"""Two variants' machines in one picture: what a fence change altered.

Transitions are matched by key (`reacquire:released->held`). A transition
*differs* when its guard or its effects, printed in full form (every named
condition and fence rule expanded), are not the same text in both machines,
or when only one machine has it. Differing edges are drawn thick and orange
and carry both versions, each with the full text of the named conditions and
rules that differ (`write ok: file = mine[c]`); the legend lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sessionfence.diagrams import dot
from sessionfence.diagrams.machine import (
    EXTERNAL_NODE,
    LABEL_WIDTH,
    LEGEND_WIDTH,
    add_legend,
    add_phase_nodes,
    all_definitions,
    edge_label,
    edge_style,
    endpoints,
    phase_nodes,
)
from sessionfence.model import pretty
from sessionfence.model.expr import Phase
from sessionfence.model.machine import Machine, Transition


@dataclass(frozen=True)
class Change:
    key: str
    old: Optional[Transition]  # None: only in the new machine
    new: Optional[Transition]  # None: only in the old machine

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "same" if same(self.old, self.new) else "changed"


def same(a: Transition, b: Transition) -> bool:
    return (pretty.guard(a, short=False) == pretty.guard(b, short=False)
            and pretty.effects(a, short=False) == pretty.effects(b, short=False))


def compare(old: Machine, new: Machine) -> list[Change]:
    """Every transition key of either machine, old machine's order first."""
    a = {t.key: t for t in old.transitions}
    b = {t.key: t for t in new.transitions}
    keys = list(a) + [k for k in b if k not in a]
    return [Change(k, a.get(k), b.get(k)) for k in keys]


def differing_definitions(old: Machine, new: Machine) -> list[tuple[str, str, str]]:
    """(name, old full text, new full text) for names whose meaning differs."""
    da, db = all_definitions(old), all_definitions(new)
    out = []
    for name in sorted(set(da) | set(db)):
        if da.get(name) != db.get(name):
            out.append((name, da.get(name, "(not used)"), db.get(name, "(not used)")))
    return out


def _names_differing(a: Transition, b: Transition) -> list[str]:
    da, db = pretty.definitions(a), pretty.definitions(b)
    return sorted(n for n in set(da) | set(db) if da.get(n) != db.get(n))


def _changed_label(c: Change, old_name: str, new_name: str) -> str:
    if c.kind == "added":
        return f"only in {new_name}:\n{edge_label(c.new)}"
    if c.kind == "removed":
        return f"only in {old_name}:\n{edge_label(c.old)}"
    names = _names_differing(c.old, c.new)
    return "\n".join(_side(name, t, names) for name, t in ((old_name, c.old), (new_name, c.new)))


def _side(variant: str, t: Transition, names: list) -> str:
    """One version of a changed transition: its label, then the full text of
    each named condition or rule that differs (the short label alone would
    read the same on both sides, e.g. `write ok`)."""
    defs = pretty.definitions(t)
    lines = [f"{variant}:", edge_label(t)]
    lines += [dot.wrap(f"{n}: {defs.get(n, '(not used)')}", LABEL_WIDTH) for n in names]
    return "\n".join(lines)


KEY = "thick orange: guard or effect differs, compared in full form"


def diff_graph(old: Machine, new: Machine, *, titled: bool = True) -> dot.Graph:
    """`titled=False` leaves the title (the count and the key) to the page around it."""
    gid = dot.graph_id("diff", old.variant.name, new.variant.name)
    changes = compare(old, new)
    n_diff = sum(c.kind != "same" for c in changes)
    title = (f"{new.variant.name} against {old.variant.name}: {n_diff} of {len(changes)} "
             f"transitions differ ({KEY})")
    g = dot.base_graph(f"diff {old.variant.name} {new.variant.name}",
                       dot.Left(dot.wrap(title, 110)) if titled else "",
                       id=gid, rankdir="TB", nodesep="0.5", ranksep="0.6")
    phases = set(phase_nodes(old)) | set(phase_nodes(new))
    external = any(t.source is None for t in old.transitions + new.transitions)
    add_phase_nodes(g, [p for p in Phase if p in phases], gid, external)
    for c in changes:
        t = c.new or c.old
        tail, head = endpoints(t)
        style = edge_style(t)
        if c.kind == "same":
            g.edge(tail, head, label=edge_label(t), tooltip=pretty.label(t, short=False),
                   id=f"{gid}:{c.key}", **style)
            continue
        style.update({"class": f"{style['class']} differs {c.kind}", "color": dot.CHANGED,
                      "fontcolor": dot.CHANGED, "penwidth": "3"})
        tips = [f"{name}: {pretty.label(x, short=False)}"
                for name, x in ((old.variant.name, c.old), (new.variant.name, c.new)) if x]
        g.edge(tail, head, label=_changed_label(c, old.variant.name, new.variant.name),
               tooltip=" | ".join(tips), id=f"{gid}:{c.key}", **style)
    lines = ["Definitions that differ"]
    for name, a, b in differing_definitions(old, new):
        lines.append(dot.wrap(f"{name} in {old.variant.name}: {a}", LEGEND_WIDTH))
        lines.append(dot.wrap(f"{name} in {new.variant.name}: {b}", LEGEND_WIDTH))
    if len(lines) == 1:
        lines.append("(none)")
    add_legend(g, "\n".join(lines), gid)
    return g


__all__ = ["Change", "EXTERNAL_NODE", "compare", "diff_graph", "differing_definitions", "same"]
