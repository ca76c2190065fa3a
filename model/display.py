"""Counterexamples and witnesses as step tables, for people.

`trace_rows` turns a concrete `Trace` into rows of short strings (one per
state, the initial state first); the CLI prints them as text and the report
as HTML. Only the registry fields a variant actually uses are shown.
"""

from __future__ import annotations

from typing import Optional

from sessionfence.model.concrete import Executor
from sessionfence.model.expr import NO_FP
from sessionfence.model.machine import Decision

COLUMNS = ("#", "step", "ctrl", "mode", "decision", "file", "lock", "phases", "fences",
           "registry", "ghosts")

_PHASE_SHORT = {
    "idle": "idle", "held": "held", "released": "rel", "write_before": "w:before",
    "write_append": "w:append", "write_after": "w:after", "done": "done",
    "taken_over": "TAKEN",
}
_REGISTRY = (("reg_epoch", "e"), ("reg_gen", "g"), ("reg_fp", "fp"), ("trusted", "trusted"))


def fp(value) -> str:
    return "⊥" if value == NO_FP else f"f{value}"


def state_cells(ex: Executor, s: tuple, used: Optional[set] = None) -> dict:
    d = ex.decode(s)
    ctrls = list(d["phase"])
    used = used if used is not None else set(d)
    registry = []
    for var, short in _REGISTRY:
        if var in used:
            value = d[var]
            shown = fp(value) if var in ("reg_fp", "trusted") else str(value)
            registry.append(f"{short}={shown}")
    ghosts = []
    for var, short in (("ext_released", "rel"), ("ext_alive", "alive")):
        hit = [c for c in ctrls if d[var][c]]
        if hit:
            ghosts.append(f"{short}:{','.join(hit)}")
    return {
        "file": fp(d["file"]),
        "lock": d["holder"],
        "phases": " ".join(f"{c}={_PHASE_SHORT[d['phase'][c]]}" for c in ctrls),
        "fences": " ".join(f"{c}={fp(d['fence'][c])}" for c in ctrls),
        "registry": " ".join(registry) or "-",
        "ghosts": " ".join(ghosts) or "-",
    }


def trace_rows(ex: Executor, trace, violation: str = "") -> list[dict]:
    """One row per state: the initial state, then the state after each step."""
    used = set(ex.machine.variables_used())
    rows = [{"#": "0", "step": "(initial)", "ctrl": "", "mode": "", "decision": "",
             **state_cells(ex, trace.states[0], used), "mark": ""}]
    for i, inst in enumerate(trace.steps):
        t = inst.transition
        mark = ""
        if trace.violating == i and violation:
            mark = f"◀ {violation}"
        rows.append({
            "#": str(i + 1),
            "step": inst.step,
            "ctrl": f"c{inst.ctrl}" if inst.ctrl else "X",
            "mode": inst.mode.name if inst.mode is not None else "",
            "decision": "" if t.decision is Decision.none else t.decision.value,
            **state_cells(ex, trace.states[i + 1], used),
            "mark": mark,
        })
    return rows


def text_table(rows: list[dict], columns=COLUMNS) -> str:
    cols = [c for c in columns if any(r.get(c) for r in rows)]
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        line = "  ".join(r.get(c, "").ljust(widths[c]) for c in cols).rstrip()
        if r.get("mark"):
            line += "  " + r["mark"]
        lines.append(line)
    return "\n".join(lines)
