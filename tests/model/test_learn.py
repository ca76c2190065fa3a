"""Invariants learned from counterexamples to induction (model/learn.py):
proofs for any number of controllers that nobody wrote by hand."""

import itertools
import json
import random

import pytest
import z3

from sessionfence.model import (
    check, houdini, infer, invariants, learn, machine, proof_files, properties, variants,
)
from sessionfence.model.concrete import Executor
from sessionfence.model.smt import FixedN, SolverUnknown, Translator, check_sat

STRICT = machine.build(variants.get("strict-fingerprint"))  # digest, every kind of edit
RELEASED = properties.BY_NAME["released-safety"]


@pytest.fixture(scope="module")
def strict_learned():
    return learn.learn(STRICT, [RELEASED], scope="any", budget_s=300)


def test_strict_released_safety_is_learned_for_any_number(strict_learned):
    assert strict_learned.proved == {"released-safety": True}, strict_learned.notes
    # The proof stands on its own: the invariant checker, which knows nothing
    # of learning, proves the set inductive over the controller sort and the
    # bad event excluded (each a Z3 unsat).
    report = check.prove_invariants_any(STRICT, strict_learned.invariants, [RELEASED])
    assert report.proved, report.failures
    assert report.property_ok["released-safety"]


def test_learned_clauses_hold_on_random_runs_of_four_controllers(strict_learned):
    ex = Executor(STRICT, 4)
    rng = random.Random(11)
    for _ in range(100):
        for _, s in ex.random_walk(rng, 40):
            for inv in strict_learned.invariants:
                assert ex.holds(s, inv.formula), (inv.words, ex.decode(s))


def test_learned_clauses_read_in_the_machine_s_words(strict_learned):
    for inv in strict_learned.invariants:
        assert inv.words.startswith(("when d is ", "always ")), inv.words
    words = " ".join(i.words for i in strict_learned.invariants)
    assert "fence[d]" in words and "seen[d]" in words


def test_learned_set_implies_the_hand_written_fence_names_seen(strict_learned):
    """Cross-check with the hand-written set (invariants.STRICT_OWN): the two
    facts that carry its proof, "a fence that is the file names the bytes
    accepted", follow from the learned clauses. The others are not needed for
    released-safety (docs/model.md, "Learned invariants")."""
    enc = FixedN(STRICT, 3)
    tr = Translator(enc)
    s = enc.fresh_state("x")
    solver = enc.solver(30_000)
    solver.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in strict_learned.invariants])
    by_name = {i.name: i for i in invariants.STRICT_OWN}
    for name in ("exposed-fence-names-seen", "released-fence-names-seen"):
        assert check_sat(solver, z3.Not(tr.expr(by_name[name].formula, s, {}))) == z3.unsat, name


def test_saved_invariants_are_rechecked_without_learning(tmp_path, strict_learned):
    path = str(tmp_path / "strict.json")
    proof_files.save(STRICT, infer.Proof(strict_learned.invariants, "any", strict_learned.proved, 0.0),
               path)
    loaded = proof_files.load(STRICT, path)
    assert [i.words for i in loaded] == [i.words for i in strict_learned.invariants]
    proof = houdini.check_saved(STRICT, loaded, [RELEASED], "any")
    assert proof.proved == {"released-safety": True}


def test_a_saved_set_with_a_clause_removed_is_not_a_proof(tmp_path, strict_learned):
    """The clauses about `seen` are what the proof rests on (a fence names
    the content its controller vouched for): without them the rest is no
    longer inductive or no longer excludes the bad event. (A single clause
    may be redundant: unsat cores are small, not minimal.)"""
    path = str(tmp_path / "strict.json")
    proof_files.save(STRICT, infer.Proof(strict_learned.invariants, "any", strict_learned.proved, 0.0),
               path)
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    kept = [inv for inv in data["invariants"] if "seen[d]" not in inv["words"]]
    assert 0 < len(kept) < len(data["invariants"])
    data["invariants"] = kept
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    proof = houdini.check_saved(STRICT, proof_files.load(STRICT, path), [RELEASED], "any")
    assert proof.proved == {"released-safety": False}


def test_a_violated_cell_is_never_learned_proved():
    # strict-fingerprint violates safety (a takeover adopts an external edit):
    # learning can only fail to exclude the bad event, or run out of time.
    try:
        got = learn.learn(STRICT, [properties.BY_NAME["safety"]], scope="any", budget_s=20)
    except SolverUnknown:
        return
    assert got.proved == {"safety": False}


def test_hitting_sets_are_minimal_and_complete():
    diffs = [0b0011, 0b0110, 0b1100]
    assert sorted(learn._hitting_sets(diffs, 1)) == []
    assert sorted(learn._hitting_sets(diffs, 2)) == [(0, 2), (1, 2), (1, 3)]
    # every set of three contains one of the pairs above: none is minimal
    assert sorted(learn._hitting_sets(diffs, 3)) == []
    assert list(learn._hitting_sets([], 0)) == [()]


def test_refuted_guesses_send_learning_to_the_next_stage(monkeypatch):
    # Guesses fitted to a hundred states are refuted by the first
    # counterexample; learning must start again from the next stage's
    # samples (and wider clauses), not give up or keep the refuted guesses.
    monkeypatch.setattr(learn, "STAGES", (learn.Stage({2: 300, 3: 100}, 2, 0), learn.STAGES[0]))
    said: list = []
    got = learn.learn(STRICT, [RELEASED], scope="any", budget_s=300, progress=said.append)
    assert any("refuted by counterexamples; sampling more states" in m for m in said), said
    assert any("up to 30,000" in m for m in said), said
    assert got.proved == {"released-safety": True}, got.notes
    assert houdini.check_saved(STRICT, got.invariants, [RELEASED], "any").proved == \
        {"released-safety": True}


def test_hitting_sets_match_brute_force_on_random_masks():
    rng = random.Random(11)
    for _ in range(200):
        width = rng.randint(2, 9)
        diffs = sorted({rng.randint(1, (1 << width) - 1) for _ in range(rng.randint(1, 6))})
        for size in range(4):
            def hits(s):
                return all(any(x >> i & 1 for i in s) for x in diffs)
            brute = {s for s in itertools.combinations(range(width), size)
                     if hits(s) and not any(hits(s[:k] + s[k + 1:]) for k in range(size))}
            got = list(learn._hitting_sets(diffs, size))
            assert len(got) == len(set(got)), "each set once"
            assert set(got) == brute, (diffs, size)


def test_a_wide_hitting_set_search_stops_at_the_deadline():
    # 40 masks of 60 bits, sets of 4: millions of branches without the
    # deadline (learning once spent ten minutes here past its budget).
    rng = random.Random(2)
    diffs = [rng.getrandbits(60) | 1 << rng.randrange(60) for _ in range(40)]
    with pytest.raises(SolverUnknown):
        list(learn._hitting_sets(diffs, 4, deadline=0.0))


def test_a_capped_hitting_set_search_yields_a_prefix_of_the_full_one():
    # The cap counts nodes, not seconds: the same prefix on any machine.
    rng = random.Random(5)
    diffs = [rng.getrandbits(30) | 1 << rng.randrange(30) for _ in range(25)]
    full = list(learn._hitting_sets(diffs, 3))
    capped = list(learn._hitting_sets(diffs, 3, max_nodes=200))
    assert capped == full[:len(capped)]
    assert len(capped) < len(full)
    assert list(learn._hitting_sets(diffs, 3, max_nodes=10 ** 9)) == full


BENIGN = machine.build(variants.get("benign-advance"))


def test_numbers_are_compared_within_their_role():
    # One counter hands out inodes and fingerprints, so samples rename them
    # together; but no rule compares an inode with a fingerprint, and a
    # learned "ino < reg_fp" would be an accident of the counter's order.
    from sessionfence.model.explore import roles, value_classes

    classes = [set(vc.variables) for vc in value_classes(BENIGN)]
    assert any({"ino", "fence", "plain"} <= c for c in classes)
    groups = [set(g) for g in roles(BENIGN)]
    role_of = {v: i for i, g in enumerate(groups) for v in g}
    assert role_of["ino"] == role_of["snap_ino"]
    assert role_of["plain"] == role_of["snap_plain"]
    assert role_of["fence"] == role_of["file"] == role_of["reg_fp"]
    assert len({role_of["ino"], role_of["plain"], role_of["fence"]}) == 3
    assert "clock" not in role_of
    atoms = {a.text() for a in infer._Vocabulary(BENIGN).atoms(("d",))}
    assert "ino = snap_ino[d]" in atoms and "fence[d] = file" in atoms
    assert "fence[d] < clock" in atoms and "ino < clock" in atoms
    assert not any("ino" in a and "fence" in a for a in atoms), atoms


def _strict_learner():
    samples = {n: infer.sample(STRICT, n, 2000, 60.0) for n in (2, 3)}
    return learn.Learner(STRICT, samples, [RELEASED])


def test_a_state_taken_as_reachable_joins_the_samples():
    # ICE's implication rule: once a state is taken as reachable, no later
    # guess may exclude it.
    from sessionfence.model.cti import FixedCheck

    learner = _strict_learner()
    check = FixedCheck(STRICT, 3, [RELEASED], 30_000)
    values, who = check.bad_state([], RELEASED.name)
    points = learner.state_points(3, values)
    assert any(learner.differences(pair, bits) is not None for pair, bits, _ in points)
    learner.add_points(3, values)
    assert all(learner.differences(pair, bits) is None for pair, bits, _ in points)


def test_the_controller_enabling_the_bad_event_is_named():
    from sessionfence.model.cti import FixedCheck

    check = FixedCheck(STRICT, 3, [RELEASED], 30_000)
    values, who = check.bad_state([], RELEASED.name)
    assert who and who <= {1, 2, 3}
    # Each named controller's own instance of the event holds in the state;
    # the others' do not.
    for c in (1, 2, 3):
        solver = z3.Solver(ctx=check.enc.ctx)
        solver.add(check.events_of[RELEASED.name][c])
        for name, value in values.items():
            xs = check.s[name] if isinstance(value, list) else [check.s[name]]
            for x, v in zip(xs, value if isinstance(value, list) else [value]):
                solver.add(x == v)
        assert (solver.check() == z3.sat) == (c in who), c
