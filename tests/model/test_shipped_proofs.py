"""The built-ins' learned proofs (model/proofs/, model/shipped_proofs.py):
each file proves its cell for any number of controllers when Z3 checks it
again, its clauses hold on runs of the concrete semantics, and a file that
proves nothing proves nothing."""

import json
import os
import random

import pytest

from sessionfence.model import (
    check, houdini, machine, proof_files, properties, shipped_proofs, variants,
)
from sessionfence.model.concrete import Executor
from sessionfence.model.world import World

FILES = sorted(f for f in os.listdir(shipped_proofs.DIR) if f.endswith(".json"))
HOLDS = {(v.name, w.fingerprint, p) for v, w, p in shipped_proofs.holds_cells()}


def _cell(name):
    variant, fp, prop = name[:-len(".json")].split(".")
    return variants.get(variant), World(fingerprint=fp), prop


def test_every_file_is_a_built_in_cell_declared_to_hold():
    assert FILES, "no shipped proofs"
    for name in FILES:
        variant, world, prop = _cell(name)
        assert (variant.name, world.fingerprint, prop) in HOLDS, name
        assert shipped_proofs.path(variant, world, prop) == os.path.join(shipped_proofs.DIR, name)


@pytest.mark.parametrize("name", FILES)
def test_each_file_proves_its_cell_for_any_number(name):
    variant, world, prop = _cell(name)
    m = machine.build(variant, world)
    invs = proof_files.load(m, os.path.join(shipped_proofs.DIR, name))
    proof = houdini.check_saved(m, invs, [properties.BY_NAME[prop]], "any")
    assert proof.proved == {prop: True}, proof.notes
    # and its clauses are facts of the concrete semantics: random runs of 4
    ex = Executor(m, 4)
    rng = random.Random(5)
    for _ in range(15):
        for _, s in ex.random_walk(rng, 30):
            for inv in invs:
                assert ex.holds(s, inv.formula), (inv.words, ex.decode(s))


def test_verify_any_uses_them_and_says_so():
    (r,) = check.verify_any(variants.get("reference"), world=World(), properties=("safety",),
                            witnesses=False, learn_budget_s=0)
    assert (r.status, r.controllers) == ("proved", "any")
    assert r.method.startswith("learned invariants"), r
    assert "model/proofs" in r.note or "proofs/" in r.note
    assert len(r.invariants) == int(r.method.split("(")[1].rstrip(")"))


def test_a_file_that_no_longer_proves_its_cell_is_not_a_proof(tmp_path, monkeypatch):
    # Keep half of the reference's safety clauses: Z3 must not prove it, and
    # verify falls back to the hand-written set, saying so in the method.
    name = "reference.digest.safety.json"
    with open(os.path.join(shipped_proofs.DIR, name), encoding="utf-8") as fh:
        doc = json.load(fh)
    doc["invariants"] = doc["invariants"][::2]
    (tmp_path / name).write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(shipped_proofs, "DIR", str(tmp_path))
    m = machine.build(variants.get("reference"), World())
    invs = proof_files.load(m, str(tmp_path / name))
    proof = houdini.check_saved(m, invs, [properties.BY_NAME["safety"]], "any")
    assert proof.proved == {"safety": False}
    (r,) = check.verify_any(variants.get("reference"), world=World(), properties=("safety",),
                            witnesses=False, learn_budget_s=0)
    assert r.status == "proved" and r.method.startswith("quantified invariants"), r


def test_other_worlds_have_no_shipped_proofs():
    ref = variants.get("reference")
    assert shipped_proofs.path(ref, World(fingerprint="digest"), "safety")
    assert shipped_proofs.path(ref, World(atomic_writes=True), "safety") is None
    assert shipped_proofs.path(ref, World(fingerprint="stat", timestamps="multigrain"),
                               "precision") is None
    import dataclasses
    copy = dataclasses.replace(ref, name="reference")
    assert shipped_proofs.path(copy, World(), "safety") is None  # not the built-in itself


@pytest.mark.parametrize("argv, says", [(["no-such-variant"], "unknown variant"),
                                        (["--budget", "0"], "--budget"),
                                        (["--budget", "soon"], "invalid float"),
                                        (["/no/such/fence.py"], "no such file")])
def test_relearn_usage_errors_exit_2_with_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        shipped_proofs.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_ground_consecution_agrees_with_the_quantified_check(monkeypatch):
    """Houdini over any N asks ground instances first (houdini._Ground): the
    same subset must survive as with the quantified queries alone, on the
    shipped strict-fingerprint set and on sets with a clause missing."""
    name = "strict-fingerprint.digest.released-safety.json"
    m = machine.build(variants.get("strict-fingerprint"), World())
    invs = proof_files.load(m, os.path.join(shipped_proofs.DIR, name))
    sets = [invs] + [invs[:i] + invs[i + 1:] for i in (0, len(invs) // 2, len(invs) - 1)]
    fast = [[i.name for i in houdini.Houdini(m, "any").run(s, 1e12)] for s in sets]
    monkeypatch.setattr(houdini._Ground, "preserved", lambda self, t, env, side: False)
    slow = [[i.name for i in houdini.Houdini(m, "any").run(s, 1e12)] for s in sets]
    assert fast == slow
    assert len(fast[0]) == len(invs)  # the shipped set is inductive


def test_the_table_shows_the_first_clauses_and_json_all_of_them(capsys):
    from sessionfence import cli
    from sessionfence.commands.verify import SHOWN_INVARIANTS

    argv = ["verify", "--variant", "reference", "--controllers", "any", "--property", "safety",
            "--fingerprint", "digest", "--learn-budget", "0", "-q"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert cli.main(argv + ["--json"]) == 0
    (cell,) = json.loads(capsys.readouterr().out)["results"]
    words = cell["invariants"]
    assert len(words) > SHOWN_INVARIANTS
    assert words[SHOWN_INVARIANTS - 1] in out
    assert f"... and {len(words) - SHOWN_INVARIANTS} more" in out


# -- the examples' proofs (examples/proofs/, learned by shipped_proofs FILE.py) ---------

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")
EX_PROOFS = os.path.join(EXAMPLES, "proofs")
EX_FILES = sorted(f for f in os.listdir(EX_PROOFS) if f.endswith(".json")) \
    if os.path.isdir(EX_PROOFS) else []


def _example_variants() -> dict:
    from sessionfence.model import variant_file

    out = {}
    for f in sorted(os.listdir(EXAMPLES)):
        if f.endswith(".py"):
            for v in variant_file.load(os.path.join(EXAMPLES, f)):
                out[v.name] = (v, os.path.join(EXAMPLES, f))
    return out


def test_every_example_proof_is_a_cell_declared_to_hold():
    assert EX_FILES, "no proofs for the examples"
    by_name = _example_variants()
    holds = {(v.name, w.fingerprint, p)
             for v, w, p in shipped_proofs.holds_cells([v for v, _ in by_name.values()])}
    for name in EX_FILES:
        assert tuple(name[:-len(".json")].split(".")) in holds, name


@pytest.mark.parametrize("name", EX_FILES)
def test_each_example_proof_proves_its_cell_for_any_number(name):
    variant_name, fp, prop = name[:-len(".json")].split(".")
    variant, _ = _example_variants()[variant_name]
    m = machine.build(variant, World(fingerprint=fp))
    invs = proof_files.load(m, os.path.join(EX_PROOFS, name))
    proof = houdini.check_saved(m, invs, [properties.BY_NAME[prop]], "any")
    assert proof.proved == {prop: True}, proof.notes


def test_verify_reads_the_example_proofs_from_the_directory(capsys):
    from sessionfence.cli import main

    name = EX_FILES[0]
    variant_name, fp, prop = name[:-len(".json")].split(".")
    _, path = _example_variants()[variant_name]
    code = main(["verify", "--variant-file", path, "--controllers", "any", "--fingerprint", fp,
                 "--property", prop, "--invariants", EX_PROOFS, "--learn-budget", "0",
                 "--json", "-q", "--jobs", "1"])
    results = json.loads(capsys.readouterr().out)["results"]
    (cell,) = [r for r in results if r["property"] == prop]
    assert code == 0 and cell["status"] == "proved", cell
    assert cell["method"].startswith("saved invariants"), cell


def _implies(variant: str, fp: str, prop: str, facts: list) -> dict:
    """For 3 controllers: does the shipped proof imply each hand-written
    fact (by name -> True/False)?"""
    import z3

    from sessionfence.model.smt import FixedN, Translator, check_sat

    m = machine.build(variants.get(variant), World(fingerprint=fp))
    invs = proof_files.load(m, os.path.join(shipped_proofs.DIR, f"{variant}.{fp}.{prop}.json"))
    enc = FixedN(m, 3)
    tr = Translator(enc)
    s = enc.fresh_state("x")
    solver = enc.solver(30_000)
    solver.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in invs])
    out = {}
    for fact in facts:
        got = check_sat(solver, z3.Not(tr.expr(fact.formula, s, {})))
        assert got in (z3.sat, z3.unsat), fact.name
        out[fact.name] = got == z3.unsat
    return out


def test_broad_publication_learned_precision_implies_the_hand_written_facts():
    """Cross-check with invariants.BROAD_OWN: the two facts its hand-written
    precision proof rests on (a clean holder knows the file; a clean
    released controller finds the file it knows or a newer publication)
    follow from the learned clauses, for 3 controllers."""
    from sessionfence.model import invariants

    got = _implies("broad-publication", "digest", "precision", invariants.BROAD_OWN)
    assert got["clean-holder-knows-file"] and got["clean-released-finds-file"], got
    # and not everything: the set is what precision needs, not the whole
    # hand-written list (generations-published is not implied)
    assert not got["generations-published"], got


# The upstream cells whose hand-written proof rests on a snapshot that
# still validates: the fields each design's check compares, and whether a
# file that is not the fence must have grown (benign advance) or only not
# shrunk (tail-digest compares the tail instead).
_VALIDATES = ("upstream-validate-on-assert", ("ino", "head", "plain"), True)
SNAPSHOT_CELLS = {
    ("validate-on-assert", "digest"): _VALIDATES,
    ("validate-on-assert", "stat"): _VALIDATES,
    ("benign-advance", "digest"): ("upstream-benign-advance", ("ino", "plain"), True),
    ("benign-advance", "stat"): ("upstream-benign-advance", ("ino", "plain"), True),
    ("file-owner", "digest"): ("upstream-benign-advance", ("ino", "plain"), True),
    ("file-owner", "stat"): ("upstream-benign-advance", ("ino", "plain"), True),
    ("tail-digest", "digest"): ("upstream-tail-digest", ("ino", "cut"), False),
    ("tail-digest", "stat"): ("upstream-tail-digest", ("ino", "cut"), False),
}


@pytest.mark.parametrize("variant,fp", sorted(SNAPSHOT_CELLS))
def test_learned_snapshot_precision_implies_the_hand_written_facts(variant, fp):
    """Cross-check with upstream_invariants: the fact the hand-written
    proof rests on is that a clean active controller's release snapshot
    still validates (the same inode, foreign-line version and so on, not
    longer than the file, and the file is its fence or has grown).

    The difference, explained: the learned clauses ask the snapshot to
    validate only where a check of the cell reads it. When the file is the
    controller's fence the check passes on the fingerprint alone, so they
    say nothing of the snapshot then; outside write sections, when the file
    is not its fence, they imply the hand-written fact. Inside a section
    the learned proof takes another route (its clauses there are about the
    section's own check), and the file being present while a clean
    controller lives is not needed at all. Nor are the hand-written set's
    bookkeeping facts about `active` (released-is-active, idle-inactive):
    some learned sets imply them, others reach the same end through
    `took` and the phases."""
    from sessionfence.model import invariants, upstream
    from sessionfence.model import state as S
    from sessionfence.model.expr import Var, conj, forall, implies
    from sessionfence.model.machine import alive, writing

    set_name, fields, grown = SNAPSHOT_CELLS[(variant, fp)]
    facts = list(invariants.SETS[set_name])
    snap = upstream.snap
    facts.append(invariants.Invariant(
        "clean-snapshot-validates-off-fence", "",
        forall(lambda d: implies(
            conj(alive(d), ~S.ext_alive[d], upstream.active[d], ~writing(d),
                 S.file != S.fence[d]),
            conj(S.size > snap.size[d] if grown else S.size >= snap.size[d],
                 *[Var(f) == getattr(snap, f)[d] for f in fields])))))
    got = _implies(variant, fp, "precision", facts)
    hand = facts[-2].name  # clean-snapshot-validates / -benign-advance / -tail-intact
    assert got["clean-snapshot-validates-off-fence"], got
    assert not got[hand], got
