"""The language of learned clauses: literals, their vocabulary, clauses.

A clause is quantified over one controller d (or two, d ≠ e): "when d is in
phase p (and e in phase q), one of a few literals holds". Literals are the
machine's own vocabulary: a controller's control values (flags, mode,
whether it holds the lock), the global flags, and comparisons `x = y`,
`x < y` between numbers of one role (`explore.roles`: fingerprints with
fingerprints, inodes with inodes, generations with generations ...) and the
literals the machine uses (missing, ⊥, 0 ...). `learn.py` searches this
language; `proof_files.py` saves clauses by their specs and rebuilds them
with `from_spec`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sessionfence.model import infer as INF
from sessionfence.model.concrete import Layout
from sessionfence.model.expr import NOBODY, At, Expr, Forall, Mode, Phase, Var, disj
from sessionfence.model.machine import Machine

D, E = INF.D, INF.E


@dataclass(frozen=True)
class Literal:
    """One atomic fact about d (and e) and the globals, true or false at a point."""

    spec: tuple  # its identity, JSON-able: what `literal` builds it from
    expr: Expr
    words: str

    @property
    def phase_of(self) -> str:
        """"d" / "e" for the phase literals, which premises use."""
        return self.spec[1] if self.spec[0] == "phase" else ""


def _who(who: str):
    return D if who == "d" else E


def literal(spec) -> Literal:
    """The literal a spec names (vocabulary and saved files alike)."""
    kind = spec[0]
    if kind == "phase":
        _, who, value = spec
        x = Phase(int(value))
        return Literal(("phase", who, int(x)), At("phase", _who(who)) == x, f"{who} is {x.name}")
    if kind == "mode":
        _, who, value = spec
        x = Mode(int(value))
        return Literal(("mode", who, int(x)), At("mode", _who(who)) == x,
                       f"{who} in a {x.name} section")
    if kind == "flag":
        _, name, who = spec
        return Literal(("flag", str(name), who), At(str(name), _who(who)) == True,  # noqa: E712
                       f"{name}[{who}]")
    if kind == "holds":
        return Literal(("holds", spec[1]), Var("holder") == _who(spec[1]),
                       f"{spec[1]} holds the lock")
    if kind == "free":
        return Literal(("free",), Var("holder") == NOBODY, "the lock is free")
    if kind == "gflag":
        return Literal(("gflag", str(spec[1])), Var(str(spec[1])) == True,  # noqa: E712
                       str(spec[1]))
    if kind == "atom":
        _, op, a, b = spec
        atom = INF.Atom(str(op), INF._term(a), INF._term(b))
        if atom.op not in ("eq", "lt"):
            raise ValueError(f"unknown comparison {op!r}")
        return Literal(("atom", atom.op, list(a), list(b)), atom.expr(), atom.text())
    raise ValueError(f"unknown literal kind {kind!r}")


def _num(term: INF.Term, layout: Layout) -> str:
    if not term.var:
        return repr(term.value)
    if term.who == "g":
        return f"s[{layout.index[term.var]}]"
    return f"s[{layout.index[term.var] - 1} + {term.who}]"


def _code(spec, layout: Layout) -> str:
    """The literal as Python over a state tuple `s` and controllers `d`, `e`."""
    kind, at = spec[0], layout.index
    if kind in ("phase", "mode"):
        return f"s[{at[kind] - 1} + {spec[1]}] == {int(spec[2])}"
    if kind == "flag":
        return f"s[{at[spec[1]] - 1} + {spec[2]}]"
    if kind == "holds":
        return f"s[{at['holder']}] == {spec[1]}"
    if kind == "free":
        return f"s[{at['holder']}] == 0"
    if kind == "gflag":
        return f"s[{at[spec[1]]}]"
    a, b = INF._term(spec[2]), INF._term(spec[3])
    return f"{_num(a, layout)} {'==' if spec[1] == 'eq' else '<'} {_num(b, layout)}"


class Vocabulary:
    """The literals of the one-controller and the two-controller clauses."""

    def __init__(self, machine: Machine, pair: bool, keep: set):
        self.machine = machine
        self.pair = pair
        base = INF._Vocabulary(machine)
        # Only what can affect the properties at hand: the samples hold the
        # rest at its initial value, and a guess about it would be wrong.
        control = [v for v in base.control if v.name in keep]
        flags = [v for v in base.global_flags if v.name in keep]
        base.classes = [(tuple(x for x in names if x in keep), lits)
                        for names, lits in base.classes]
        whos = ("d", "e") if pair else ("d",)
        specs: list = []
        for who in whos:
            for v in control:
                if v.sort == "phase":
                    specs += [("phase", who, int(x)) for x in Phase]
                elif v.sort == "mode":
                    specs += [("mode", who, int(x)) for x in Mode if int(x)]
                else:
                    specs.append(("flag", v.name, who))
            specs.append(("holds", who))
        specs.append(("free",))
        specs += [("gflag", v.name) for v in flags]
        specs += [("atom",) + tuple(a.spec()) for a in base.atoms(whos)]
        self.literals = [literal(x) for x in specs]

    def compile(self, layout: Layout):
        """bits(s, d, e) -> int: bit i set when literal i holds."""
        lines = ["def bits(s, d, e):", "    m = 0"]
        for i, lit in enumerate(self.literals):
            lines.append(f"    if {_code(lit.spec, layout)}: m |= {1 << i}")
        lines.append("    return m")
        scope: dict = {}
        exec(compile("\n".join(lines), "<learn points>", "exec"), scope)
        return scope["bits"]

    @functools.cached_property
    def phase_masks(self) -> tuple:
        """Masks of the phase literals of d and of e (asked once per sample
        point: computed once)."""
        md = me = 0
        for i, lit in enumerate(self.literals):
            if lit.phase_of == "d":
                md |= 1 << i
            elif lit.phase_of == "e":
                me |= 1 << i
        return md, me


@dataclass(frozen=True)
class Clause:
    """∀d (∀e ≠ d): a disjunction of literals, each (index, wanted value)."""

    pair: bool
    lits: tuple  # ((i, True/False), ...), sorted

    def holds_at(self, bits: int) -> bool:
        return any(((bits >> i) & 1) == want for i, want in self.lits)


def clause_invariant(name: str, pair: bool, parts: list) -> INF.Invariant:
    """∀d (∀e ≠ d): the disjunction of `parts` ((Literal, wanted value), ...)."""
    body = disj(*[lit.expr if want else ~lit.expr for lit, want in parts])
    formula = Forall(D, (), Forall(E, (D,), body)) if pair else Forall(D, (), body)
    premise = [lit.words for lit, want in parts if not want and lit.phase_of]
    rest = [("" if want else "not ") + lit.words for lit, want in parts
            if want or not lit.phase_of]
    words = (("when " + " and ".join(premise) + ": ") if premise else "always ") + \
        (" or ".join(rest) if rest else "never")
    spec = ("clause", pair, [[list(lit.spec), want] for lit, want in parts])
    return INF.Invariant(name, words, formula, spec)


def from_spec(name: str, spec) -> INF.Invariant:
    """A saved clause (`proof_files.save` wrote its spec)."""
    _, pair, parts = spec
    return clause_invariant(name, bool(pair), [(literal(x), bool(want)) for x, want in parts])


__all__ = ["Clause", "Literal", "Vocabulary", "clause_invariant", "from_spec", "literal"]
