"""The invariants: proved by Z3, and true on random reachable concrete states."""

import random

import pytest
import z3

from sessionfence.model import check, invariants, machine, properties, variants
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import Phase
from sessionfence.model.smt import SolverUnknown
from sessionfence.model.world import World

REF = machine.build(variants.get("reference"))  # every kind of edit, digest
REF_INVS = tuple(invariants.for_machine(REF, invariants.SETS["reference"]))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_reference_invariants_are_inductive_and_imply_every_property(n):
    report = check.prove_invariants(REF, n, REF_INVS, properties.ALWAYS)
    assert report.proved, report.failures
    assert all(report.property_ok.values()), report.property_ok


def test_reference_invariants_for_any_number_of_controllers():
    report = check.prove_invariants_any(REF, REF_INVS, properties.ALWAYS)
    assert report.proved, report.failures
    assert all(report.property_ok.values()), report.property_ok


@pytest.mark.parametrize("n", [2, 3, 4])
def test_reference_invariants_hold_on_random_reachable_states(n):
    ex = Executor(REF, n)
    rng = random.Random(2026 + n)
    states = 0
    for _ in range(300):
        for _, s in ex.random_walk(rng, 60):
            states += 1
            for inv in REF_INVS:
                assert ex.holds(s, inv.formula), (inv.name, ex.decode(s))
    assert states > 5000


@pytest.mark.parametrize("name", list(variants.BUILTIN))
def test_inductive_shared_lemmas_hold_on_random_reachable_states(name):
    m = machine.build(variants.get(name))
    shared = invariants.for_machine(m)
    kept = check.inductive_subset(m, 2, shared)
    # A takeover that keeps the held prompt lock (upstream's designs) leaves
    # a taken-over controller holding it: `lock-owner` is not theirs.
    # (the machine then lets a taken-over controller dispose to give it back)
    keeps = any(t.step == "dispose" and t.source is Phase.taken_over for t in m.transitions)
    exempt = {"lock-owner"} if keeps else set()
    assert [i.name for i in kept] == [i.name for i in shared if i.name not in exempt]
    ex = Executor(m, 2)
    rng = random.Random(7)
    for _ in range(200):
        for _, s in ex.random_walk(rng, 40):
            for inv in kept:
                assert ex.holds(s, inv.formula), (name, inv.name)


@pytest.mark.parametrize("timestamps", ["coarse", "multigrain"])
def test_in_stat_mode_only_exposed_out_of_step_is_dropped(timestamps):
    """With stat fingerprints an exposed controller may still be in step (the
    edit it saw was invisible); every other invariant stays inductive, rules
    out precision's bad event, and holds on random reachable states."""
    m = machine.build(variants.get("reference"),
                      World(fingerprint="stat", timestamps=timestamps))
    candidates = invariants.for_machine(m, invariants.SETS["reference"])
    kept = check.inductive_subset(m, 2, candidates)
    assert [i.name for i in candidates if i not in kept] == ["exposed-out-of-step"]
    report = check.prove_invariants(m, 2, kept, properties.ALWAYS)
    assert report.proved, report.failures
    assert report.property_ok["precision"]
    assert not report.property_ok["safety"]  # stat mode's documented limit
    _hold_on_random_states(Executor(m, 2), kept, seed=11)


def _hold_on_random_states(ex, invs, seed: int) -> None:
    """Every state of 200 random walks of 50 steps satisfies every invariant."""
    rng = random.Random(seed)
    for _ in range(200):
        for _, s in ex.random_walk(rng, 50):
            for inv in invs:
                assert ex.holds(s, inv.formula), (inv.name, ex.decode(s))


def test_in_stat_mode_precision_holds_for_any_number_of_controllers():
    m = machine.build(variants.get("reference"), World(fingerprint="stat"))
    invs = [i for i in invariants.for_machine(m, invariants.SETS["reference"])
            if i.name != "exposed-out-of-step"]
    report = check.prove_invariants_any(m, invs, properties.ALWAYS)
    assert report.proved, report.failures
    assert report.property_ok["precision"]


@pytest.mark.parametrize("fingerprint", ["digest", "stat"])
def test_broad_invariants_prove_its_precision_and_hold_on_random_states(fingerprint):
    m = machine.build(variants.get("broad-publication"), World(fingerprint=fingerprint))
    invs = invariants.for_machine(m, invariants.SETS["broad-publication"])
    for n in (2, 3):
        report = check.prove_invariants(m, n, invs, properties.ALWAYS)
        assert report.proved, report.failures
        assert report.property_ok["precision"] and not report.property_ok["safety"]
    _hold_on_random_states(Executor(m, 3), invs, seed=5)


def test_broad_precision_for_any_number_of_controllers():
    m = machine.build(variants.get("broad-publication"))
    invs = invariants.for_machine(m, invariants.SETS["broad-publication"])
    report = check.prove_invariants_any(m, invs, properties.ALWAYS)
    assert report.proved, report.failures
    assert report.property_ok["precision"]


def test_a_false_candidate_is_dropped_by_houdini():
    from sessionfence.model import state as S
    from sessionfence.model.expr import forall

    wrong = invariants.Invariant("fences-equal-file", "every fence is the file",
                                 forall(lambda d: S.fence[d] == S.file))
    shared = invariants.for_machine(REF)
    kept = check.inductive_subset(REF, 2, shared + [wrong])
    assert wrong not in kept and len(kept) == len(shared)


def test_unknown_is_never_reported_as_proved(monkeypatch):
    """If Z3 cannot answer, the cell is unknown or bounded, never proved."""
    def refuse(solver, *assumptions):
        raise SolverUnknown("timeout (simulated)")

    monkeypatch.setattr(check, "check_sat", refuse)
    monkeypatch.setattr(check, "spacer", lambda *a, **k: (_ for _ in ()).throw(SolverUnknown("x")))
    results = check.verify(variants.get("reference"), 2, depth=3)
    for r in [r for r in results if r.kind == "always"]:
        assert r.status in ("unknown", "bounded"), (r.property, r.status)
        assert not r.ok
    for r in [r for r in results if r.kind == "sometimes"]:
        # A witness needs no solver: the breadth-first search on the executor
        # finds it (and it is replayed), or it stays open.
        assert (r.status, r.method) == ("reachable", "bfs") or r.status in ("unknown", "bounded")
        assert r.status != "reachable" or r.trace is not None


def test_check_sat_raises_on_unknown():
    x = z3.Int("x")
    solver = z3.Solver()
    solver.set("timeout", 1)
    # nonlinear integer arithmetic Z3 gives up on within a millisecond
    solver.add(x * x * x + 3 * x * x * x * x == 1234567891011 + x * x * x * x * x)
    try:
        result = check.check_sat(solver)
    except SolverUnknown:
        return
    assert result in (z3.sat, z3.unsat)  # answered in time: then it is an answer


# An invariant set that rules out a whole transition proves its consecution
# vacuously; both proofs must refuse that rather than call it proved.
_NO_APPEND = invariants.Invariant(
    "never-appending", "no controller is ever about to append",
    invariants.forall(lambda d: invariants.S.phase[d] != invariants.Phase.write_append))


def test_a_vacuous_consecution_is_a_failure_for_fixed_n():
    report = check.prove_invariants(REF, 2, REF_INVS + (_NO_APPEND,), properties.ALWAYS)
    assert not report.proved
    assert any(f.startswith("vacuous: append:write_append->write_after") for f in report.failures)


def test_a_vacuous_consecution_is_a_failure_for_any_n():
    report = check.prove_invariants_any(REF, REF_INVS + (_NO_APPEND,), properties.ALWAYS)
    assert not report.proved
    assert any(f.startswith("vacuous: append:write_append->write_after") for f in report.failures)


def test_strict_released_safety_by_its_invariants_for_any_n():
    """strict-fingerprint's released-safety (digest): its own set proves it for
    2 and 3 controllers and, quantified, for any number; in stat mode the
    cell is violated and the set must not claim it."""
    m = machine.build(variants.get("strict-fingerprint"))
    invs = check.inductive_subset(m, 2, invariants.for_machine(
        m, invariants.SETS["strict-fingerprint"]))
    assert {"exposed-fence-names-seen", "released-fence-names-seen"} <= {i.name for i in invs}
    for n in (2, 3):
        report = check.prove_invariants(m, n, invs, properties.ALWAYS)
        assert report.proved and report.property_ok["released-safety"], report.failures
    report = check.prove_invariants_any(m, invs, properties.ALWAYS)
    assert report.proved and report.property_ok["released-safety"], report.failures
    assert not report.property_ok["safety"] and not report.property_ok["precision"]
    _hold_on_random_states(Executor(m, 2), invs, seed=3)
    stat = machine.build(variants.get("strict-fingerprint"), World(fingerprint="stat"))
    kept = check.inductive_subset(stat, 2, invariants.for_machine(
        stat, invariants.SETS["strict-fingerprint"]))
    assert not check.prove_invariants(stat, 2, kept, properties.ALWAYS).property_ok[
        "released-safety"]
