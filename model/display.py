"""Counterexamples and witnesses as step tables, for people.

`trace_rows` turns a concrete `Trace` into rows of short strings (one per
state, the initial state first); the CLI prints them as text and the report
as HTML. Only the registry fields a variant actually uses are shown.
"""

from __future__ import annotations

from typing import Optional

from sessionfence.model.concrete import Executor
from sessionfence.model.expr import EMPTY, MISSING, NO_FP
from sessionfence.model.machine import Decision

COLUMNS = ("#", "step", "ctrl", "mode", "decision", "file", "world", "lock", "phases", "fences",
           "data", "registry", "ghosts")

_PHASE_SHORT = {
    "idle": "idle", "held": "held", "released": "rel", "write_before": "w:before",
    "write_append": "w:append", "write_after": "w:after", "done": "done",
    "taken_over": "TAKEN",
}
_SHORT = {"reg_epoch": "e", "reg_gen": "g", "reg_fp": "fp"}
_HIDDEN_PER_CTRL = ("fence", "k_epoch", "k_gen")  # fence has its own column; the rest is noise


def fp(value) -> str:
    if value == NO_FP:
        return "⊥"
    if value == MISSING:
        return "missing"
    return f"f{value}"


def value_text(var, value) -> str:
    if var.sort == "fp":
        return fp(value)
    if var.sort == "bool":
        return "T" if value else "F"
    if value == EMPTY:
        return "empty"
    return str(value)


def state_cells(ex: Executor, s: tuple, used: Optional[set] = None) -> dict:
    d = ex.decode(s)
    m = ex.machine
    ctrls = list(d["phase"])
    used = used if used is not None else set(d)
    design = [v for v in m.vars if v.owner == "design" and v.name in used]
    registry = [f"{_SHORT.get(v.name, v.name)}={value_text(v, d[v.name])}"
                for v in design if not v.per_ctrl]
    data = []
    for c in ctrls:
        items = [f"{v.name}={value_text(v, d[v.name][c])}" for v in design
                 if v.per_ctrl and v.name not in _HIDDEN_PER_CTRL]
        if items:
            data.append(f"{c}:" + ",".join(items))
    world = [f"{v.name}={value_text(v, d[v.name])}" for v in m.vars
             if v.owner == "world" and v.name not in ("file", "clock") and v.name in used]
    ghosts = []
    for var, short in (("ext_released", "rel"), ("ext_alive", "alive")):
        hit = [c for c in ctrls if d[var][c]]
        if hit:
            ghosts.append(f"{short}:{','.join(hit)}")
    return {
        "file": fp(d["file"]),
        "world": " ".join(world),
        "lock": d["holder"],
        "phases": " ".join(f"{c}={_PHASE_SHORT[d['phase'][c]]}" for c in ctrls),
        "fences": " ".join(f"{c}={fp(d['fence'][c])}" for c in ctrls) if "fence" in d else "",
        "data": " ".join(data),
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
            "mode": inst.mode.name if inst.mode is not None else
                    (inst.kind.label if inst.kind is not None else ""),
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
