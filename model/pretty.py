"""Readable text for expressions and transitions, derived from the trees.

Two forms: `short` prints a named definition by its name (`check`), for
diagram labels; `full` expands it (`file = fence[c] ∨ (...)`), for legends,
reports and the diff of two variants.
"""

from __future__ import annotations

from sessionfence.model.expr import (
    EMPTY,
    MISSING,
    NO_FP,
    Kind,
    At,
    Expr,
    Forall,
    Lit,
    Mode,
    Named,
    Nobody,
    Op,
    Param,
    Phase,
    Var,
    walk,
)
from sessionfence.model.machine import Assign, AssignAll, Transition

_INFIX = {"eq": "=", "lt": "<", "le": "≤", "add": "+"}
# Binding strength: higher binds tighter.
_PREC = {"implies": 1, "or": 2, "and": 3, "not": 4, "eq": 5, "lt": 5, "le": 5, "add": 6}


def _lit(value) -> str:
    if isinstance(value, Nobody):
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Phase, Mode)):
        return value.name
    if isinstance(value, Kind):
        return value.label
    if value == NO_FP:
        return "⊥"
    if value == MISSING:
        return "missing"
    if value == EMPTY:
        return "empty"
    return str(value)


def text(e: Expr, *, short: bool = True) -> str:
    return _fmt(e, short, 0)


def _fmt(e: Expr, short: bool, outer: int) -> str:
    if isinstance(e, Lit):
        return _lit(e.value)
    if isinstance(e, Var):
        return e.name
    if isinstance(e, At):
        return f"{e.name}[{_fmt(e.index, short, 0)}]"
    if isinstance(e, Param):
        return e.name
    if isinstance(e, Named):
        return e.name if short else _fmt(e.body, short, outer)
    if isinstance(e, Forall):
        others = "".join(f" ≠ {p.name}" for p in e.distinct)
        body = f"∀{e.var.name}{others}. {_fmt(e.body, short, 0)}"
        return f"({body})" if outer else body
    if isinstance(e, Op):
        return _op(e, short, outer)
    raise TypeError(f"cannot print {e!r}")


def _op(e: Op, short: bool, outer: int) -> str:
    op, args = e.op, e.args
    if op == "not" and isinstance(args[0], Op) and args[0].op == "eq":
        a, b = args[0].args
        out = f"{_fmt(a, short, 6)} ≠ {_fmt(b, short, 6)}"
        return f"({out})" if outer > 5 else out
    if op == "ite":
        c, a, b = (_fmt(x, short, 0) for x in args)
        return f"(if {c} then {a} else {b})"
    members = _membership(e)
    if members is not None:
        subject, values = members
        out = f"{_fmt(subject, short, 6)} ∈ {{{', '.join(_lit(v) for v in values)}}}"
        return f"({out})" if outer > 5 else out
    prec = _PREC[op]
    if op == "not":
        out = "¬" + _fmt(args[0], short, prec + 1)
    elif op in ("and", "or"):
        sym = " ∧ " if op == "and" else " ∨ "
        # a conjunction inside a disjunction is parenthesised for the reader
        inner = prec + 1 if op == "and" else _PREC["not"]
        out = sym.join(_fmt(a, short, inner) for a in args)
    elif op == "implies":
        out = f"{_fmt(args[0], short, prec + 1)} ⇒ {_fmt(args[1], short, prec)}"
    elif op in _INFIX:
        if op == "eq" and isinstance(args[1], Lit) and args[1].value is True:
            return _fmt(args[0], short, outer)
        out = f"{_fmt(args[0], short, prec + 1)} {_INFIX[op]} {_fmt(args[1], short, prec + 1)}"
    else:
        raise TypeError(f"unknown operator {op}")
    return f"({out})" if prec < outer else out


def _membership(e: Op):
    """`x = v1 ∨ x = v2 ∨ ...` over literals, as (x, [v1, v2, ...])."""
    if e.op != "or" or len(e.args) < 2:
        return None
    subject, values = None, []
    for arm in e.args:
        if not (isinstance(arm, Op) and arm.op == "eq" and isinstance(arm.args[1], Lit)):
            return None
        if subject is None:
            subject = arm.args[0]
        elif text(arm.args[0]) != text(subject):
            return None
        values.append(arm.args[1].value)
    return subject, values


def assignment(a, *, short: bool = True) -> str:
    if isinstance(a, AssignAll):
        return f"∀{a.param.name}: {a.var}[{a.param.name}] := {text(a.body, short=short)}"
    target = f"{a.var}[c]" if a.per_ctrl else a.var
    value = text(a.value, short=short)
    if isinstance(a.value, Op) and a.value.op in ("eq", "lt", "le", "and", "or"):
        value = f"({value})"
    return f"{target} := {value}"


def effects(t: Transition, *, short: bool = True, with_phase: bool = False) -> list[str]:
    """The transition's assignments, phase change omitted unless asked.

    In the short form, assignments coming from one fence rule are shown as
    that rule's name (`on_accept`), once.
    """
    out: list[str] = []
    for a in t.assigns:
        if a.var == "phase" and not with_phase:
            continue
        rule = getattr(a, "rule", "")
        if short and rule:
            if rule not in out:
                out.append(rule)
            continue
        out.append(assignment(a, short=short))
    return out


def guard(t: Transition, *, short: bool = True) -> str:
    return text(t.condition, short=short)


def label(t: Transition, *, short: bool = True) -> str:
    """`step [guard] / effects` in one line, e.g. `reacquire [lock free ∧ check]`."""
    g = guard(t, short=short)
    if t.kind is not None:
        head = f"{t.step}({t.kind.label})"
    elif t.has_mode:
        head = f"{t.step}({'|'.join(m.name for m in t.modes)})" if len(t.modes) < 3 \
            else f"{t.step}(m)"
    else:
        head = t.step
    out = head if g == "true" else f"{head} [{g}]"
    eff = effects(t, short=short)
    if eff:
        out += " / " + ", ".join(eff)
    return out


def definitions(t: Transition) -> dict[str, str]:
    """Named definitions and fence rules the transition uses, fully expanded:
    for legends."""
    found: dict[str, str] = {}
    for a in t.assigns:
        rule = getattr(a, "rule", "")
        if rule:
            line = assignment(a, short=False)
            found[rule] = f"{found[rule]}; {line}" if rule in found else line
    roots = [t.condition] + [a.body if isinstance(a, AssignAll) else a.value for a in t.assigns]
    for root in reversed(roots):
        for node in walk(root):
            if isinstance(node, Named) and node.name not in found:
                found[node.name] = text(node.body, short=False)
    return found


__all__ = ["Assign", "assignment", "definitions", "effects", "guard", "label", "text"]
