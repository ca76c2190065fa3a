"""Cross-checks of the learned proofs with the hand-written ones
(model/crosscheck.py): which hand-written facts each learned set implies,
where, and why the others are not needed.

A learned set and a hand-written set are two inductive invariants that both
exclude the cell's bad event; each admits unreachable states the other
rules out. The cross-check places every hand-written fact at the strongest
of four levels: implied everywhere; where the property's checks run; at the
checks of the controllers the property judges; or not at all. Every query
is over 3 controllers, and every witness (a state the learned clauses admit
and the fact excludes) is evaluated again with the concrete semantics.

The differences, explained (the tests below check each claim):

* **The hand-written proof's central fact holds where it is used.** For
  precision that is clean-in-step: the learned clauses imply that a clean
  controller is in the registry's epoch with a live registry wherever it
  checks, but not while it is released and another controller holds the
  lock (no check of it can run then; the hand-written fact covers that time
  through a pending writer, a quantifier over a third controller the clause
  language does not have). For strict-refresh it is fence-is-seen: implied
  at the checks (held and released controllers), not inside a write
  section, where released-safety judges no check and whose end adopts what
  is on disk anyway. For the reference's released-safety the out-of-step
  chain (exposed-out-of-step, a stale fence, an invalid write) holds at the
  checks of the controllers exposed while released.
* **A learned proof reads only the ghost its property judges**:
  precision's reads `ext_alive`, the reference's released-safety
  `ext_released` (strict-fingerprint's and strict-refresh's read neither:
  they compare the content with `seen`). The hand-written facts stated with
  the other ghost (ghosts-start-clear; clean-in-step for released-safety)
  cannot follow from them. The reference's safety proof reads neither
  generation (`k_gen`, `reg_gen`): every hand-written fact over "in step"
  or "current" names the generation, and the learned proof shows an exposed
  controller's check fails without it (an exposed writer after its append
  may be in step by the registry; its append did not land as the file).
* **Freshness only as far as needed.** The hand-written sets bound every
  fingerprint and epoch by the newest one handed out (so a stale value is
  older than the file, hence not equal to it); the learned sets keep
  orders against the clock per phase, as far as their own inductiveness
  needs them. They admit states where, say, the registry's fingerprint is
  newer than the clock, or a clean writer after its append has a fence
  from the future: finish_write compares the file with `mine` and the
  registry with `before`, never the fence (and then sets the fence to the
  file), and what it compares is as the hand-written fact says.
"""

import json
import os

import pytest

from sessionfence.model import crosscheck as X
from sessionfence.model import invariants as INV
from sessionfence.model import machine, proof_files, properties, shipped_proofs, variants
from sessionfence.model import state as S
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import NOBODY, Phase, conj, forall, implies, variables_of
from sessionfence.model.invariants import _out_of_step, _pending
from sessionfence.model.world import World

I, C, J, N = X.IMPLIED, X.AT_CHECKS, X.AT_JUDGED, X.NOT_IMPLIED
_REF_COMMON = {
    "lock-owner": C, "lock-users-hold-it": I, "lock-holder-in-use": C,
    "file-issued-or-missing": N, "no-future-before": C, "no-future-reg_fp": N,
    "epochs-issued": N, "known-files-exist": N, "out-of-step-read-stale": C,
}
EXPECTED = {
    ("reference", "digest", "precision"): {
        **_REF_COMMON, "ghosts-start-clear": N, "no-future-fence": N, "no-future-mine": N,
        "generations-only-grow": J, "clean-in-step": C, "live-writer-knows-file": I,
        "live-writer-read-file": C, "live-writer-extended-file": N,
        "out-of-step-fence-stale": J, "out-of-step-write-invalid": J,
        "exposed-out-of-step": J},
    ("reference", "stat", "precision"): {  # exposed-out-of-step is not inductive for stat
        **_REF_COMMON, "ghosts-start-clear": N, "no-future-fence": N, "no-future-mine": N,
        "generations-only-grow": I, "clean-in-step": C, "live-writer-knows-file": I,
        "live-writer-read-file": I, "live-writer-extended-file": N,
        "out-of-step-fence-stale": J, "out-of-step-write-invalid": J},
    ("reference", "digest", "safety"): {
        **_REF_COMMON, "ghosts-start-clear": J, "no-future-fence": N, "no-future-mine": C,
        "generations-only-grow": N, "clean-in-step": J, "live-writer-knows-file": J,
        "live-writer-read-file": C, "live-writer-extended-file": N,
        "out-of-step-fence-stale": N, "out-of-step-write-invalid": N,
        "exposed-out-of-step": N},
    ("reference", "digest", "released-safety"): {
        **_REF_COMMON, "ghosts-start-clear": N, "no-future-fence": J, "no-future-mine": N,
        "generations-only-grow": N, "clean-in-step": N, "live-writer-knows-file": I,
        "live-writer-read-file": C, "live-writer-extended-file": J,
        "out-of-step-fence-stale": J, "out-of-step-write-invalid": J,
        "exposed-out-of-step": J},
    ("strict-refresh", "digest", "released-safety"): {
        "lock-users-hold-it": N, "lock-holder-in-use": C, "ghosts-start-clear": N,
        "file-issued-or-missing": N, "no-future-fence": C, "no-future-before": N,
        "no-future-mine": N, "missing-in-both": N, "writer-moved-file": I,
        "fence-is-seen": C},
}

_cache: dict = {}


def _cell(variant: str, fp: str, prop: str):
    """(machine, learned, hand-written, CrossCheck, rows by fact), once per cell."""
    key = (variant, fp, prop)
    if key not in _cache:
        v = variants.get(variant)
        world = World(fingerprint=fp)
        m = machine.build(v, world)
        learned = proof_files.load(m, shipped_proofs.path(v, world, prop))
        hand = X.hand_written(m, v.invariants)
        cc = X.CrossCheck(m, learned, properties.BY_NAME[prop])
        _cache[key] = (m, learned, hand, cc, {f.name: cc.row(f) for f in hand})
    return _cache[key]


@pytest.mark.parametrize("cell", sorted(EXPECTED), ids="-".join)
def test_each_hand_written_fact_is_placed_and_each_witness_is_concrete(cell):
    m, learned, hand, cc, rows = _cell(*cell)
    assert {f: r.verdict for f, r in rows.items()} == EXPECTED[cell]
    ex = Executor(m, 3)
    for fact in hand:
        row = rows[fact.name]
        if row.verdict == I:
            assert row.witness is None
            continue
        # the witness satisfies every learned clause and breaks the fact
        st = ex.encode_raw(row.witness)
        assert all(ex.holds(st, c.formula) for c in learned), fact.name
        assert not ex.holds(st, fact.formula), fact.name


def _exists(body):
    return ~forall(lambda d: ~body(d))


def _clean(d):
    return conj(machine.alive(d), ~S.ext_alive[d])


@pytest.mark.parametrize("fp", ["digest", "stat"])
def test_precision_clean_in_step_fails_only_while_another_controller_holds_the_lock(fp):
    """A clean released controller out of step: the learned clauses admit
    one only while the lock is taken, when its reacquire cannot run."""
    m, learned, hand, cc, rows = _cell("reference", fp, "precision")
    out_of_step = lambda d: conj(_clean(d), S.phase[d] == Phase.released,  # noqa: E731
                                 _out_of_step(d))
    seen = cc.admits(_exists(out_of_step))
    assert seen is not None and seen["holder"] != 0
    assert cc.admits(conj(S.holder == NOBODY, _exists(out_of_step))) is None


def test_strict_refresh_fence_is_seen_fails_only_inside_a_write_section():
    m, learned, hand, cc, rows = _cell("strict-refresh", "digest", "released-safety")
    unseen = lambda d: conj(machine.alive(d), S.file == S.fence[d],  # noqa: E731
                            S.content != S.seen[d])
    assert cc.admits(_exists(lambda d: conj(unseen(d), machine.writing(d))))
    assert cc.admits(_exists(lambda d: conj(unseen(d), ~machine.writing(d)))) is None


def test_each_learned_proof_reads_only_the_ghost_its_property_judges():
    """precision's flag is ext_alive, released-safety's ext_released (safety's
    ext_alive): no shipped learned set reads the other ghost."""
    judged = {"precision": "ext_alive", "safety": "ext_alive", "released-safety": "ext_released"}
    other = {"ext_alive": "ext_released", "ext_released": "ext_alive"}
    for v, world, prop in shipped_proofs.holds_cells():
        path = shipped_proofs.path(v, world, prop)
        if path is None:
            continue
        m = machine.build(v, world)
        read = set().union(*(variables_of(c.formula) for c in proof_files.load(m, path)))
        assert other[judged[prop]] not in read, (v.name, world.fingerprint, prop)
    rows = _cell("reference", "digest", "released-safety")[4]
    assert rows["clean-in-step"].unread == ("ext_alive",)
    assert _cell("reference", "digest", "precision")[4]["ghosts-start-clear"].unread \
        == ("ext_released",)


def test_reference_safety_does_without_generations():
    """Every hand-written fact over "in step" reads the generation; the
    learned safety proof reads none. An exposed writer may be in step by the
    registry (its epoch, the registry describing the file): its append did
    not land as the file, so its check fails all the same."""
    m, learned, hand, cc, rows = _cell("reference", "digest", "safety")
    for name in ("exposed-out-of-step", "out-of-step-fence-stale", "out-of-step-write-invalid"):
        assert rows[name].verdict == N and {"k_gen", "reg_gen"} <= set(rows[name].unread)
    exposed_writer = lambda d: conj(S.phase[d] == Phase.write_after, S.ext_alive[d],  # noqa: E731
                                    S.k_epoch[d] == S.reg_epoch, S.reg_fp == S.file)
    assert cc.admits(_exists(exposed_writer))
    assert cc.admits(_exists(lambda d: conj(exposed_writer(d), S.landed[d],
                                            S.file == S.mine[d]))) is None


def test_released_safety_keeps_the_out_of_step_chain_at_its_checks():
    rows = _cell("reference", "digest", "released-safety")[4]
    for name in ("exposed-out-of-step", "out-of-step-fence-stale", "out-of-step-write-invalid"):
        assert rows[name].verdict == J and not rows[name].by_guard, name


def test_freshness_is_kept_only_where_a_check_compares_it():
    for cell in sorted(EXPECTED):
        m, learned, hand, cc, rows = _cell(*cell)
        assert cc.admits(S.reg_fp > S.clock if m.has("reg_fp") else S.file > S.clock), cell
    # a clean writer after its append with a fence from the future: finish_write
    # never compares the fence, and sets it to the file
    m, learned, hand, cc, rows = _cell("reference", "digest", "precision")
    assert cc.admits(_exists(lambda d: conj(_clean(d), S.phase[d] == Phase.write_after,
                                            S.fence[d] > S.clock)))
    # ... while everything that check compares is as the hand-written fact says
    pending = forall(lambda d: implies(
        conj(_clean(d), S.phase[d] == Phase.write_after), _pending(d)))
    assert cc.implies(pending) is True


def test_the_levels_can_fail_and_can_all_hold():
    """With no learned clause nothing beyond the guards is implied; with the
    hand-written set in place of the learned one, everything is."""
    m, learned, hand, cc, rows = _cell("reference", "digest", "precision")
    prop = properties.BY_NAME["precision"]
    empty = {r.fact: r for r in X.compare(m, [], hand, prop)}
    assert empty["clean-in-step"].verdict == N
    assert all(r.verdict == N or r.by_guard for r in empty.values()), empty
    assert {r.verdict for r in X.compare(m, hand, hand, prop)} == {I}


def test_the_command_prints_the_table_and_json(capsys):
    assert X.main(["strict-refresh", "digest", "released-safety"]) == 0
    out = capsys.readouterr().out
    assert "at the checks        fence-is-seen" in out and "witness:" in out
    assert X.main(["reference", "digest", "safety", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["fact"]: f["verdict"] for f in doc["facts"]} == EXPECTED[
        ("reference", "digest", "safety")]


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")


def test_a_variant_file_cell_is_compared_with_the_set_it_declares(capsys):
    """A maintainer's change, with the proof shipped_proofs FILE.py learned
    for it, against the reference's hand-written set it inherits."""
    argv = ["reference-release-snapshot", "digest", "safety", "--json",
            "--variant-file", os.path.join(EXAMPLES, "release_snapshot.py")]
    assert X.main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    verdicts = {f["fact"]: f["verdict"] for f in doc["facts"]}
    assert set(verdicts) == set(EXPECTED[("reference", "digest", "safety")])
    assert X.UNKNOWN not in verdicts.values() and verdicts["lock-users-hold-it"] == I


def test_a_file_that_is_no_proof_of_the_cell_is_refused(tmp_path, capsys):
    """Nothing in a file is trusted: a garbled file is a usage error (2),
    and another cell's clauses, which do not prove this one, are not
    compared at all (1)."""
    import shutil

    shutil.copy(os.path.join(EXAMPLES, "release_snapshot.py"), tmp_path)
    (tmp_path / "proofs").mkdir()
    target = tmp_path / "proofs" / "reference-release-snapshot.digest.safety.json"
    argv = ["reference-release-snapshot", "digest", "safety",
            "--variant-file", str(tmp_path / "release_snapshot.py")]
    target.write_text("garbage", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        X.main(argv)
    assert exc.value.code == 2 and "cannot read invariants" in capsys.readouterr().err
    shutil.copy(os.path.join(shipped_proofs.DIR, "strict-refresh.digest.released-safety.json"),
                target)
    assert X.main(argv) == 1
    out, err = capsys.readouterr()
    assert "does not prove reference-release-snapshot digest safety" in err and not out


@pytest.mark.parametrize("argv, says", [
    (["no-such-variant", "digest", "safety"], "unknown variant"),
    (["strict-fingerprint", "stat", "safety"], "no saved learned proof"),
    (["nope", "digest", "safety", "--variant-file", os.path.join(EXAMPLES, "release_snapshot.py")],
     "declares no variant 'nope'"),
    (["x", "digest", "safety", "--variant-file", "/no/such/fence.py"], "no such file"),
    (["reference", "digest", "safety", "--controllers", "9"], "--controllers"),
    (["reference", "md5", "safety"], "invalid choice")])
def test_usage_errors_exit_2_with_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        X.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


OTHER_CELLS = sorted((v.name, w.fingerprint, p) for v, w, p in shipped_proofs.holds_cells()
                     if shipped_proofs.path(v, w, p) and v.invariants in INV.SETS
                     and (v.name, w.fingerprint, p) not in EXPECTED)


_SNAPSHOT = {"validate-on-assert": "clean-snapshot-validates", "tail-digest": "clean-tail-intact",
             "benign-advance": "clean-benign-advance", "file-owner": "clean-benign-advance"}
CENTRAL = {  # the facts the hand-written proofs rest on, and their levels
    "broad-publication": {"clean-holder-knows-file": I, "clean-released-finds-file": I},
    "strict-fingerprint": {"exposed-fence-names-seen": I, "released-fence-names-seen": I},
}


@pytest.mark.parametrize("cell", OTHER_CELLS, ids="-".join)
def test_the_other_cells_place_their_central_facts(cell):
    """The cells cross-checked in test_shipped_proofs.py: no fact is
    `unknown`, and the facts their hand-written proofs rest on are implied
    (broad-publication, strict-fingerprint) or, for a snapshot, implied
    where the checks run. The exception is validate-on-assert in digest
    mode, whose learned set never reads `active`: its snapshot fact is
    implied only off the fence (test_shipped_proofs.py has why)."""
    variant, fp, prop = cell
    rows = _cell(*cell)[4]
    assert X.UNKNOWN not in {r.verdict for r in rows.values()}, rows
    central = CENTRAL.get(variant) or {_SNAPSHOT[variant]: C}
    if (variant, fp) == ("validate-on-assert", "digest"):
        central = {_SNAPSHOT[variant]: N}
        assert rows[_SNAPSHOT[variant]].unread == ("active",)
    assert {f: rows[f].verdict for f in central} == central
