"""A learned proof against the hand-written one: which hand-written facts
does it imply, and where?

A learned set and a hand-written set are two inductive invariants that
both exclude the cell's bad event. They need not be comparable: each
admits unreachable states the other rules out. So the cross-check asks,
for every fact of the hand-written set (the part of it that is inductive
for the machine, as the hand-written proof uses it), whether the learned
clauses imply it

* everywhere (`implied`);
* where the property's checks run (`at the checks`): for every
  controller, in every state in which one of the steps the property
  judges is enabled for it, with any outcome (reacquire while the lock is
  free, finish_write after an append, ...). That is where the
  hand-written proof uses most of its facts;
* at the checks of the controllers the property judges (`at the judged
  checks`): those its flag holds for, a clean controller for precision,
  an exposed one for safety and released-safety;
* or none of these (`not implied`), with a state that satisfies every learned
  clause and breaks the fact (at a check, when there is one).

Each question is a Z3 query over `n` controllers (3 by default); a query
Z3 cannot answer is reported `unknown`, never implied.

    python -m sessionfence.model.crosscheck VARIANT MODE PROPERTY [--json]
        [--variant-file FILE]

prints the table for a built-in cell with a shipped proof, or for a
variant file's cell with a proof in proofs/ beside the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import z3

from sessionfence.model import invariants as INV
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import Forall, Op, variables_of
from sessionfence.model.machine import Machine, Transition
from sessionfence.model.properties import Property
from sessionfence.model.smt import FixedN, SolverUnknown, Translator, check_sat

IMPLIED, AT_CHECKS, AT_JUDGED, NOT_IMPLIED, UNKNOWN = (
    "implied", "at the checks", "at the judged checks", "not implied", "unknown")
# From strongest to weakest: a fact is reported at the first level that implies it.
LEVELS = (IMPLIED, AT_CHECKS, AT_JUDGED, NOT_IMPLIED)


@dataclass(frozen=True)
class Row:
    fact: str
    words: str
    verdict: str
    # A state that satisfies the learned clauses and breaks the fact at the
    # last level it does not reach (off the checks for `at the checks`, at
    # the judged checks for `not implied`): values per variable, a list over
    # controllers 1..n for per-controller ones; and the controller it is
    # broken for.
    witness: Optional[dict] = field(default=None, compare=False)
    controller: Optional[int] = None
    # Implied there by the checked step's guard and the property's flag
    # alone, without any learned clause (the fact is about other states).
    by_guard: bool = False
    # Variables the fact reads and no learned clause does: the learned proof
    # cannot imply what the fact says about them, it does without them.
    unread: tuple = ()


def checked_steps(machine: Machine, prop: Property) -> list[Transition]:
    """Every transition of a step the property judges, from a phase where it
    judges it, whatever its outcome: where the property's checks run."""
    judged = {(t.step, t.source) for t in machine.transitions if prop.matches(t)}
    return [t for t in machine.transitions if (t.step, t.source) in judged]


def _parts(formula) -> tuple:
    return formula.args if isinstance(formula, Op) and formula.op == "and" else (formula,)


class CrossCheck:
    """Queries over `n` controllers, with the learned clauses asserted."""

    def __init__(self, machine: Machine, learned: list, prop: Property, n: int = 3,
                 timeout_ms: int = 30_000):
        self.enc = FixedN(machine, n)
        self.tr = Translator(self.enc)
        self.s = self.enc.fresh_state("x")
        self.solver = self.enc.solver(timeout_ms)
        self.solver.add(self.enc.domain(self.s),
                        *[self.tr.expr(i.formula, self.s, {}) for i in learned])
        self.bare = self.enc.solver(timeout_ms)
        self.bare.add(self.enc.domain(self.s))
        checks = checked_steps(machine, prop)
        self.learned, self.prop, self.checks = learned, prop, checks
        self.read = set().union(*(variables_of(c.formula) for c in learned))
        self.ex = Executor(machine, n)
        flag = self.enc.flag(prop)
        self.where = {AT_CHECKS: {}, AT_JUDGED: {}}
        for c in self.enc.ctrls:
            here = z3.Or([self.tr.expr(t.guard, self.s, self.enc.env(c, m))
                          for t in checks for m in (t.modes or (None,))] or [self.enc.false()])
            self.where[AT_CHECKS][c] = here
            self.where[AT_JUDGED][c] = z3.And(here, self.tr.expr(flag, self.s, {"c": c}))

    def _holds(self, *premises_and_negated_goal, solver=None) -> Optional[bool]:
        """True: implied (unsat); False: a witness is in `self.model`; None: unknown."""
        solver = solver or self.solver
        try:
            got = check_sat(solver, *premises_and_negated_goal)
        except SolverUnknown:
            return None
        if got == z3.sat:
            self.model = self.enc.values(solver.model(), self.s)
        return got == z3.unsat

    def implies(self, formula) -> Optional[bool]:
        return self._holds(z3.Not(self.tr.expr(formula, self.s, {})))

    def row(self, fact) -> Row:
        row = self._row(fact)
        if row.witness is not None:
            self._confirm(row, fact)
        unread = tuple(sorted(variables_of(fact.formula) - self.read))
        return dataclasses.replace(row, unread=unread) if unread else row

    def admits(self, formula) -> Optional[dict]:
        """A state that satisfies the learned clauses and `formula` (values,
        checked with the concrete semantics), or None if there is none."""
        got = self._holds(self.tr.expr(formula, self.s, {}))
        if got is not False:
            if got is None:
                raise SolverUnknown("cannot tell whether the learned clauses admit it")
            return None
        st = self.ex.encode_raw(self.model)
        if not (self.ex.holds(st, formula) and all(self.ex.holds(st, c.formula)
                                                   for c in self.learned)):
            raise SolverUnknown("solver and evaluator disagree on a state the clauses admit")
        return self.model

    def _row(self, fact) -> Row:
        whole = self.implies(fact.formula)
        if whole is not False:
            return Row(fact.name, fact.words, IMPLIED if whole else UNKNOWN)
        off_checks = self.model
        level, witness, who, relative = 1, None, None, []
        for part in _parts(fact.formula):
            got = self.implies(part)
            if got is None:
                return Row(fact.name, fact.words, UNKNOWN)
            if got:
                continue
            if not isinstance(part, Forall):  # about no controller: no check to relativize to
                return Row(fact.name, fact.words, NOT_IMPLIED, self.model)
            relative.append(part)
            while level < len(LEVELS) - 1:
                broken = self._broken_at(part, LEVELS[level])
                if broken is None:
                    return Row(fact.name, fact.words, UNKNOWN)
                if not broken:
                    break
                witness, who = broken
                level += 1
        if level == 1:
            witness = off_checks
        bare = level < len(LEVELS) - 1 and all(
            self._broken_at(p, LEVELS[level], self.bare) == () for p in relative)
        return Row(fact.name, fact.words, LEVELS[level], witness, who, bare)

    def _confirm(self, row: Row, fact) -> None:
        """Evaluate a witness with the concrete semantics: it satisfies every
        learned clause, breaks the fact and, for a witness at a check, a
        step the property judges is enabled for its controller there."""
        st = self.ex.encode_raw(row.witness)
        ok = all(self.ex.holds(st, c.formula) for c in self.learned) \
            and not self.ex.holds(st, fact.formula)
        if ok and row.controller is not None:
            steps = [i for i in self.ex.enabled(st)
                     if i.ctrl == row.controller and i.transition in self.checks]
            flag = self.ex.event_flag(self.prop)
            ok = bool(steps) and (LEVELS.index(row.verdict) <= LEVELS.index(AT_JUDGED)
                                  or flag(st, row.controller))
        if not ok:
            raise SolverUnknown(f"the witness for {fact.name} does not hold in the concrete "
                                "semantics (solver and evaluator disagree)")

    def _broken_at(self, part: Forall, where: str, solver=None):
        """A witness (values, controller) of `part` broken `where`; () if
        it is implied there; None if Z3 cannot tell."""
        for c in self.enc.ctrls:
            body = z3.Not(self.tr.expr(part.body, self.s, {part.var.name: c}))
            got = self._holds(self.where[where][c], body, solver=solver)
            if got is None:
                return None
            if not got:
                return self.model, c
        return ()


def hand_written(machine: Machine, set_name: str, deadline_s: float = 120.0) -> list:
    """The hand-written set as its proof uses it: the shared facts that fit
    the machine and the set's own, reduced to their inductive subset over
    any number of controllers."""
    from sessionfence.model.houdini import Houdini

    return Houdini(machine, "any").run(INV.for_machine(machine, INV.SETS[set_name]),
                                       time.perf_counter() + deadline_s)


def compare(machine: Machine, learned: list, hand: list, prop: Property, n: int = 3) -> list:
    cc = CrossCheck(machine, learned, prop, n)
    return [cc.row(f) for f in hand]


def hand_implies(machine: Machine, hand: list, learned: list, n: int = 3) -> list:
    """The other direction: the learned clauses the hand-written set implies."""
    enc = FixedN(machine, n)
    tr = Translator(enc)
    s = enc.fresh_state("h")
    solver = enc.solver(30_000)
    solver.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in hand])
    out = []
    for clause in learned:
        try:
            if check_sat(solver, z3.Not(tr.expr(clause.formula, s, {}))) == z3.unsat:
                out.append(clause)
        except SolverUnknown:
            pass
    return out


def witness_words(machine: Machine, values: dict, who: Optional[int]) -> str:
    """A witness in one line, controllers numbered from 1; `*` marks the
    one the fact breaks for."""
    from sessionfence.model.display import value_text
    from sessionfence.model.expr import Mode, Phase

    shared = [f"{v.name}={value_text(v, values[v.name])}" for v in machine.vars
              if not v.per_ctrl]
    per = []
    for k in range(len(values["phase"])):
        bits = [Phase(values["phase"][k]).name]
        for v in machine.vars:
            if not v.per_ctrl or v.name == "phase":
                continue
            x = values[v.name][k]
            bits.append(f"{v.name}={Mode(x).name if v.name == 'mode' else value_text(v, x)}")
        per.append(f"c{k + 1}{'*' if who == k + 1 else ''}: " + " ".join(bits))
    return "; ".join([" ".join(shared)] + per)


def main(argv=None) -> int:
    import argparse

    from sessionfence.model.properties import BY_NAME

    parser = argparse.ArgumentParser(
        prog="python -m sessionfence.model.crosscheck",
        description="Which facts of a cell's hand-written proof does its saved learned proof "
                    "imply: everywhere, where the property's checks run, or not?")
    parser.add_argument("variant", help="a built-in variant, or one in --variant-file")
    parser.add_argument("mode", choices=("digest", "stat"))
    parser.add_argument("property", choices=sorted(p for p in BY_NAME
                                                   if BY_NAME[p].kind == "always"))
    parser.add_argument("--variant-file", metavar="FILE",
                        help="a maintainer's variant file; its proofs are read from proofs/ "
                             "beside it (as shipped_proofs FILE.py writes them)")
    parser.add_argument("--controllers", type=int, default=3, metavar="N",
                        help="controllers of the queries (default 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.controllers <= 6:
        parser.exit(2, "crosscheck: --controllers must be between 1 and 6\n")
    try:
        variant, path = _cell(args)
    except ValueError as exc:
        parser.exit(2, f"crosscheck: {exc}\n")
    from sessionfence.model import machine as M
    from sessionfence.model.world import World

    from sessionfence.model.proof_files import InvariantFileError

    try:
        return _report(M.build(variant, World(fingerprint=args.mode)), path,
                       variant.invariants, args)
    except InvariantFileError as exc:
        parser.exit(2, f"crosscheck: {exc}\n")
    except SolverUnknown as exc:
        print(f"crosscheck: Z3 could not decide a query ({exc}); nothing to report",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `| head`: stop quietly, and keep the exit flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: one line, as the CLI says it
        print(f"crosscheck: internal error: {type(exc).__name__}: {exc} (please report)",
              file=sys.stderr)
        return 3


def _cell(args):
    """(variant, saved proof) of the cell asked for, or ValueError saying why not."""
    from sessionfence.model import proof_files, shipped_proofs, variant_file, variants
    from sessionfence.model.world import World

    if args.variant_file:
        try:
            found = {v.name: v for v in variant_file.load(args.variant_file)}
        except variant_file.VariantFileError as exc:
            raise ValueError(str(exc)) from None
        if args.variant not in found:
            raise ValueError(f"{args.variant_file} declares no variant {args.variant!r}; it "
                             f"declares {', '.join(found)}")
        variant = found[args.variant]
        where = os.path.join(os.path.dirname(os.path.abspath(args.variant_file)), "proofs")
        path = proof_files.cell_file(where, variant.name, args.mode, args.property)
        path = path if os.path.exists(path) else None
    else:
        try:
            variant = variants.get(args.variant)
        except variants.UnknownVariant as exc:
            raise ValueError(exc.args[0]) from None
        path = shipped_proofs.path(variant, World(fingerprint=args.mode), args.property)
    cell = f"{args.variant} {args.mode} {args.property}"
    if path is None:
        raise ValueError(f"{cell} has no saved learned proof (learn one with python -m "
                         "sessionfence.model.shipped_proofs VARIANT or FILE.py)")
    if variant.invariants not in INV.SETS:
        raise ValueError(f"{cell}: the variant declares no hand-written set to compare with")
    return variant, path


def _report(m: Machine, path: str, set_name: str, args) -> int:
    from sessionfence.model import proof_files
    from sessionfence.model.houdini import check_saved
    from sessionfence.model.properties import BY_NAME

    learned = proof_files.load(m, path)
    # Nothing in a file is trusted: a set that does not prove the cell (a
    # changed design, another cell's file) has nothing to be compared for.
    proof = check_saved(m, learned, [BY_NAME[args.property]], "any")
    if not proof.proved.get(args.property):
        why = "; ".join(proof.notes) or "the property is not excluded"
        print(f"crosscheck: {path} does not prove {m.variant.name} {args.mode} {args.property} "
              f"({why}); learn it again with python -m sessionfence.model.shipped_proofs",
              file=sys.stderr)
        return 1
    hand = hand_written(m, set_name)
    rows = compare(m, learned, hand, BY_NAME[args.property], args.controllers)
    back = hand_implies(m, hand, learned, args.controllers)
    if args.json:
        print(json.dumps({"cell": [args.variant, args.mode, args.property],
                          "controllers": args.controllers, "learned": len(learned),
                          "hand_written_implies": len(back),
                          "facts": [{"fact": r.fact, "verdict": r.verdict,
                                     "by_guard": r.by_guard, "unread": list(r.unread),
                                     "controller": r.controller, "witness": r.witness}
                                    for r in rows]}, indent=1))
        return 0
    print(f"{args.variant} {args.mode} {args.property}: {len(learned)} learned clauses "
          f"({path}) against {len(hand)} hand-written facts, {args.controllers} controllers")
    for r in rows:
        note = " (by the check's guard alone)" if r.by_guard else ""
        if r.unread:
            note += f" (reads {', '.join(r.unread)}: no learned clause does)"
        print(f"  {r.verdict:<20} {r.fact}{note}")
        if r.witness is not None and r.verdict != IMPLIED:
            print(f"{'':16}witness: {witness_words(m, r.witness, r.controller)}")
    print(f"the hand-written set implies {len(back)} of the {len(learned)} learned clauses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
