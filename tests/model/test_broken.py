"""Deliberately broken references: each one-rule change must be caught."""

import os

import pytest

from sessionfence.model import check, invariants, machine, properties, variants
from sessionfence.model import state as S
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import conj

REF = variants.get("reference")

BROKEN = {
    # release snapshots the file without the check: an external write while
    # held is adopted. (Dropping the check alone is safe: the reference
    # records nothing at release, and the next check catches the edit.)
    "unchecked-snapshot": (dict(points={"release": ["on_release"]},
                                on_release=lambda c: {"fence": S.file}), "safety"),
    # validation trusts size arithmetic only: an edit between read_before and
    # append is published as owned
    "size-only-validation": (dict(write_ok=lambda c: S.file == S.mine[c]), "safety"),
    # the registry ignores epochs: an external edit adopted as a new baseline by
    # a fresh controller is accepted by an old one
    "no-epoch-check": (
        dict(check=lambda c: (S.file == S.fence[c]) | conj(
            S.reg_gen >= S.k_gen[c], S.reg_fp == S.file)),
        "released-safety"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_reference_gives_a_replayed_counterexample(name):
    rules, prop = BROKEN[name]
    v = REF.derive(f"reference-{name}", **rules)
    # Only the property the break is about: the others' proofs are not
    # this test's subject (precision by Spacer costs half a minute).
    results = {r.property: r for r in check.verify(v, 2, properties=(prop,))}
    r = results[prop]
    assert r.status == "violated", (name, r.status, r.note)
    assert not r.ok  # it inherits the reference's "holds" expectation
    ex = Executor(machine.build(v), 2)
    s = ex.initial()
    for inst in r.trace.steps[:-1]:
        s = ex.fire(s, inst)
    assert r.trace.steps[-1] in ex.event(s, properties.BY_NAME[prop])
    # The same steps on the real reference end elsewhere: that step is not
    # the bad event there (or the run is impossible before it).
    ref = Executor(machine.build(REF), 2)
    s = ref.initial()
    try:
        for inst in r.trace.steps[:-1]:
            s = ref.step(s, inst.step, inst.ctrl, inst.mode, inst.kind)[1]
    except Exception:
        return
    assert not ref.event(s, properties.BY_NAME[prop])


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_reference_fails_its_invariant_proof(name):
    rules, prop = BROKEN[name]
    m = machine.build(REF.derive(f"reference-{name}", **rules))
    invs = invariants.for_machine(m, invariants.SETS["reference"])
    fixed = check.prove_invariants(m, 2, invs, properties.ALWAYS)
    assert not (fixed.proved and fixed.property_ok[prop])
    anyn = check.prove_invariants_any(m, invs, properties.ALWAYS)
    assert not (anyn.proved and anyn.property_ok[prop])


def test_derive_rejects_unknown_rules():
    with pytest.raises(TypeError, match="unknown rule"):
        REF.derive("x", chek=lambda c: S.file == S.fence[c])


def test_rules_may_not_touch_the_shared_machine():
    with pytest.raises(machine.ModelDefinitionError, match="may not assign 'holder'"):
        REF.derive("x", on_finish=lambda c: {"holder": S.file})


def test_a_harmless_change_is_proved_not_flagged():
    """Requiring a strictly newer generation looks stricter, but a controller
    that knows the registry's generation also knows its fingerprint, so the
    first disjunct accepts: the checker proves the change safe and precise."""
    v = REF.derive("reference-strictly-newer", check=lambda c: (S.file == S.fence[c]) | conj(
        S.reg_epoch == S.k_epoch[c], S.reg_gen > S.k_gen[c], S.reg_fp == S.file))
    results = {r.property: r for r in check.verify(v, 2)}
    assert all(r.ok for r in results.values()), {p: r.status for p, r in results.items()}
    # the reference's invariants no longer imply precision by themselves...
    m = machine.build(v)
    report = check.prove_invariants(m, 2, invariants.for_machine(m, invariants.SETS["reference"]),
                                    properties.ALWAYS)
    assert report.proved and not report.property_ok["precision"]
    # ...so precision is proved another way, with them as lemmas
    assert results["precision"].method != f"invariants ({len(invariants.REFERENCE)})"


@pytest.mark.parametrize("fingerprint", ["digest", "stat"])
def test_size_only_validation_keeps_precision_by_the_reference_invariants(fingerprint):
    """examples/size_only_validation.py loses safety (an exposed writer's
    append passes and is published) but not precision: that publication
    brings its epoch back in step. The reference's invariants that stay
    inductive for it prove precision in both modes, without Spacer."""
    from sessionfence.model import variant_file
    from sessionfence.model.world import World

    here = os.path.dirname(os.path.abspath(__file__))
    [v] = variant_file.load(os.path.join(here, "..", "..", "examples", "size_only_validation.py"))
    m = machine.build(v, World(fingerprint=fingerprint))
    candidates = invariants.for_machine(m, invariants.SETS["reference"])
    kept = check.inductive_subset(m, 2, candidates)
    assert "clean-in-step" in [i.name for i in kept]
    assert check._excluded(m, 2, kept, properties.BY_NAME["precision"])
    assert not check._excluded(m, 2, kept, properties.BY_NAME["safety"])
