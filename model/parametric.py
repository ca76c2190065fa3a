"""Proofs for any number of controllers.

Controllers are an uninterpreted sort (`smt.AnyN`): an invariant proof
there holds for every N. The invariants come, in this order, from the
learned sets shipped for the built-ins (shipped_proofs.py), from files an
earlier run saved (--invariants), from the variant's declared set
(invariants.py), or are learned now from counterexamples to induction
(learn.py). Every set is re-proved before it is used. A proof at a fixed
size is never reported as one for any size.
"""

from __future__ import annotations

import os
import time
from typing import Optional

import z3

from sessionfence.model import invariants as INV
from sessionfence.model import properties as P
from sessionfence.model.check import (
    DEFAULT_DEPTH, InvariantReport, Progress, Result, verify,
)
from sessionfence.model.machine import Machine, build
from sessionfence.model.smt import AnyN, FixedN, SolverUnknown, Translator, check_sat
from sessionfence.model.variants import Variant
from sessionfence.model.world import World

LEARN_BUDGET_S = 240.0  # per cell; learning is the last resort, after saved and declared sets




def prove_invariants_any(machine: Machine, invs, props, timeout_ms: int = 60_000) -> InvariantReport:
    """The invariant proof with controllers as an uninterpreted sort.

    Same obligations as `prove_invariants`, for every transition with a
    symbolic acting controller (and mode): it holds for any number of
    controllers. Quantifiers make Z3 incomplete here, so `unknown` is
    possible and is reported as such, never as a proof.
    """
    t0 = time.perf_counter()
    enc = AnyN(machine)
    tr = Translator(enc)
    s, s2 = enc.fresh_state("a"), enc.fresh_state("a'")
    now = [tr.expr(i.formula, s, {}) for i in invs]
    failures: list[str] = []
    count = 0

    def solver():
        return enc.solver(timeout_ms)

    init = solver()
    init.add(tr.init(s))
    for inv, f in zip(invs, now):
        count += 1
        if check_sat(init, z3.Not(f)) == z3.sat:
            failures.append(f"invariant {inv.name} does not hold initially")

    from sessionfence.model.houdini import _Ground

    ground = _Ground(enc, tr, timeout_ms, invs, s, s2)
    for t in machine.transitions:
        env, side = enc.step_params(t, "a")
        sol = solver()
        sol.add(enc.domain(s), *now, *side, enc.relation(tr, s, s2, t, env))
        count += 1
        # Non-vacuity: a state with 2 controllers where the invariants hold
        # and the transition fires is also a model here (Ctrl = {nobody, c1,
        # c2}). That question is decidable and fast; satisfiability under
        # quantifiers is slow and incomplete in Z3, so it is asked only when
        # 2 controllers are not enough.
        can_fire = _fires_under_invariants(machine, 2, invs, t)
        if not can_fire:
            try:
                can_fire = check_sat(sol) == z3.sat
            except SolverUnknown:
                can_fire = False
        if not can_fire:
            failures.append(f"vacuous: {t.key} cannot fire from any state satisfying the invariants")
            continue
        if ground.preserved(t, env, side):
            continue  # an unsat with fewer premises (houdini._Ground)
        after = [tr.expr(inv.formula, s2, {}) for inv in invs]
        try:
            if check_sat(sol, z3.Not(z3.And(after))) == z3.unsat:
                continue
            for inv, f in zip(invs, after):
                if check_sat(sol, z3.Not(f)) == z3.sat:
                    failures.append(f"invariant {inv.name} is not preserved by {t.key}")
        except SolverUnknown as exc:
            # Not a proof; the caller may still find an inductive subset.
            failures.append(f"Z3 answered unknown for {t.key}: {exc}")

    property_ok = {}
    for prop in props:
        sol = solver()
        sol.add(enc.domain(s), *now)
        events = []
        for t in machine.transitions:
            if t.source is None or not prop.matches(t):
                continue
            env, side = enc.step_params(t, f"p{len(events)}")
            events.append(z3.And(*side, tr.expr(t.guard, s, env),
                                 tr.expr(enc.flag(prop), s, env)))
        count += 1
        try:
            property_ok[prop.name] = check_sat(sol, z3.Or(events)) == z3.unsat
        except SolverUnknown:
            property_ok[prop.name] = False  # never a proof
    return InvariantReport(not failures, count, failures, time.perf_counter() - t0, property_ok)


def verify_any(variant: Variant, *, depth: int = DEFAULT_DEPTH, world: Optional[World] = None,
               progress: Optional[Progress] = None, witness_controllers: int = 2,
               properties: Optional[tuple] = None, witnesses: bool = True,
               learn_budget_s: float = LEARN_BUDGET_S, saved: tuple = (),
               save_dir: Optional[str] = None) -> list:
    """Every property for any number of controllers.

    `proved` needs quantified invariants to pass over the uninterpreted
    controller sort: shipped learned ones, invariants saved earlier
    (`saved`: files, or directories `save_dir` was given before), the
    variant's declared set, or invariants learned now (`learn.learn`, for a
    cell proved at `witness_controllers` that none of those settles;
    `learn_budget_s=0` turns learning off). A counterexample
    (or witness) found with `witness_controllers` controllers settles the
    cell for the family, and says so. A proof for a fixed number of
    controllers is not a proof for any number: such cells are `unknown`.
    """
    progress = progress or (lambda msg: None)
    machine = build(variant, world)
    world = machine.world
    proved: dict[str, Result] = {}
    failure = ""
    wanted = [p for p in P.ALWAYS if properties is None or p.name in properties]
    # Proofs that need no search come first: the shipped learned sets, then
    # the files the user gave (--invariants), each re-proved now.
    for p in wanted:
        got = _shipped(machine, variant, p, progress) or _saved(machine, variant, p, saved,
                                                                progress)
        if got is not None:
            proved[p.name] = got
    # A cell declared violated gets its counterexample at a fixed size; asking
    # the quantified solver to exclude its event is slow (a `sat` it has to
    # build a model for) and could only end in "not excluded". Should the
    # declaration be wrong, the fixed size proves the cell and says so.
    targets = [p for p in wanted if p.name not in proved
               and variant.expectation(p.name, world) != "violated"]
    if variant.invariants and targets:
        progress("invariants over any number of controllers")
        invs = INV.for_machine(machine, INV.SETS[variant.invariants])
        t0 = time.perf_counter()
        try:
            report = prove_invariants_any(machine, invs, targets)
            if not report.proved:
                # The largest inductive subset may still settle some cells
                # (the others' invariants are what a limit breaks).
                from sessionfence.model.houdini import Houdini

                kept = Houdini(machine, "any").run(invs, time.perf_counter() + 120)
                for p in targets:
                    report.property_ok[p.name] = bool(kept) and \
                        _excluded_or_not(machine, kept, p)
                invs, report.proved = kept, bool(kept)
        except SolverUnknown as exc:
            report, failure = None, f"Z3 answered unknown: {exc}"
        if report is not None:
            failure = "; ".join(report.failures[:2])
            for p in targets:
                if report.proved and report.property_ok[p.name]:
                    proved[p.name] = Result(
                        variant.name, p.name, "always", "any", world, "proved",
                        variant.expectation(p.name, world),
                        f"quantified invariants ({len(invs)})", None,
                        time.perf_counter() - t0,
                        note=f"{report.obligations} obligations, controllers an uninterpreted sort")
    # A cell proved for any number needs nothing at a fixed size: the
    # counterexamples, witnesses and fixed-size proofs are for the others.
    fixed = verify(variant, witness_controllers, depth=depth, world=world, progress=progress,
                   properties=tuple(p.name for p in wanted if p.name not in proved),
                   witnesses=witnesses)
    for r in fixed:
        if r.kind == "always" and r.property not in proved and r.status == "proved":
            got = _learned(machine, variant, P.BY_NAME[r.property], save_dir,
                           learn_budget_s, progress)
            if isinstance(got, Result):
                proved[r.property] = got
            elif got:
                failure = got
    by_name = {r.property: r for r in fixed}
    out = []
    for r in [proved.get(p.name) or by_name[p.name] for p in wanted] + \
            [r for r in fixed if r.kind == "sometimes"]:
        if r.controllers == "any":
            out.append(r)
            continue
        r.controllers = "any"
        if r.status in ("violated", "reachable"):
            r.note = f"found with {witness_controllers} controllers"
        elif r.status == "proved":
            r.status, r.method = "unknown", "-"
            r.note = (failure or "no quantified invariants declared for this variant") + \
                f"; proved only for {witness_controllers} controllers"
        out.append(r)
    return out


def _excluded_or_not(machine: Machine, invs, prop) -> bool:
    from sessionfence.model.houdini import property_excluded

    try:
        return property_excluded(machine, "any", invs, prop)
    except SolverUnknown:
        return False  # not a proof of this cell; the others may still be


def _shipped(machine: Machine, variant: Variant, prop, progress) -> Optional[Result]:
    """The cell proved by its shipped learned invariants, re-checked now."""
    from sessionfence.model import houdini, proof_files, shipped_proofs

    path = shipped_proofs.path(variant, machine.world, prop.name)
    if path is None:
        return None
    t0 = time.perf_counter()
    progress(f"{prop.name}: re-checking its learned invariants")
    try:
        invs = proof_files.load(machine, path)
        proof = houdini.check_saved(machine, invs, [prop], "any")
    except (proof_files.InvariantFileError, SolverUnknown):
        return None  # the declared set or learning may still prove it
    if not proof.proved.get(prop.name):
        return None
    rel = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
    return Result(variant.name, prop.name, "always", "any", machine.world, "proved",
                  variant.expectation(prop.name, machine.world),
                  f"learned invariants ({len(invs)})", None, time.perf_counter() - t0,
                  note=f"learned by python -m sessionfence.model.shipped_proofs, re-proved now "
                  f"from {rel}; controllers an uninterpreted sort",
                  invariants=tuple(i.words for i in invs))


def _saved(machine: Machine, variant: Variant, prop, saved: tuple,
           progress) -> Optional[Result]:
    """The cell proved by invariants an earlier run saved (`saved`: files, or
    directories --save-invariants wrote), re-checked now."""
    from sessionfence.model import houdini, proof_files

    world = machine.world
    for path in saved:
        if os.path.isdir(path):  # a directory --save-invariants wrote: this cell's file
            path = proof_files.cell_file(path, variant.name, world.fingerprint, prop.name)
            if not os.path.exists(path):
                continue
        t0 = time.perf_counter()
        try:
            invs = proof_files.load(machine, path)
        except proof_files.InvariantFileError:
            continue  # the CLI reads each file before any check, and says what is wrong
        progress(f"{prop.name}: re-checking the invariants saved in {path}")
        try:
            proof = houdini.check_saved(machine, invs, [prop], "any")
        except SolverUnknown:
            continue
        if proof.proved.get(prop.name):
            return Result(variant.name, prop.name, "always", "any", world, "proved",
                          variant.expectation(prop.name, world),
                          f"saved invariants ({len(invs)})", None, time.perf_counter() - t0,
                          note=f"re-checked from {path}; controllers an uninterpreted sort",
                          invariants=tuple(i.words for i in invs))
    return None


def _learned(machine: Machine, variant: Variant, prop, save_dir: Optional[str],
             budget_s: float, progress):
    """A quantified proof of `prop` by invariants learned now: a Result, or
    why there is none (a string), or "" when learning is off."""
    from sessionfence.model import learn, proof_files
    from sessionfence.model.infer import Proof

    world = machine.world
    t0 = time.perf_counter()
    if budget_s <= 0:
        return ""
    progress(f"{prop.name}: learning invariants for any number of controllers")
    try:
        got = learn.learn(machine, [prop], scope="any", budget_s=budget_s,
                          progress=lambda m: progress(f"{prop.name}: {m}"))
    except SolverUnknown as exc:
        return f"learning gave no proof ({exc})"
    if not got.proved.get(prop.name):
        return "learning gave no proof (" + ("; ".join(got.notes) or "property not excluded") + ")"
    where = ""
    if save_dir is not None:
        path = proof_files.cell_file(save_dir, variant.name, world.fingerprint, prop.name)
        proof_files.save(machine, Proof(got.invariants, "any", got.proved, got.seconds), path)
        where = f"; saved to {path}"
    return Result(variant.name, prop.name, "always", "any", world, "proved",
                  variant.expectation(prop.name, world),
                  f"learned invariants ({len(got.invariants)})", None, time.perf_counter() - t0,
                  note=f"learned from {got.rounds} counterexamples to induction in "
                  f"{got.seconds:.1f} s; controllers an uninterpreted sort" + where,
                  invariants=tuple(i.words for i in got.invariants))


def _fires_under_invariants(machine: Machine, n: int, invs, t) -> bool:
    enc = FixedN(machine, n)
    tr = Translator(enc)
    s = enc.fresh_state("w")
    solver = enc.solver()
    solver.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in invs])
    options = [tr.expr(t.guard, s, enc.env(c, m)) for t2, c, m in enc.instances(machine)
               if t2.key == t.key]
    return check_sat(solver, z3.Or(options)) == z3.sat
