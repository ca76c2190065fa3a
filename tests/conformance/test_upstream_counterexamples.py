"""Upstream's designs: every counterexample reproduced on real files; the reference fails closed.

The counterexamples (one per upstream variant, violated property and
fingerprint mode) are the files in `zoo/`, written by `zoo_traces.generate`
(the shortest faithful violation, as test_counterexamples.py finds them).
Loading a trace re-executes it on the current model, so a file that no
longer is a run of its variant fails loudly; the thorough profile also
regenerates them and checks the model still finds violations no longer than
the committed ones. Replayed with the matching policy, the implementation
follows the model step for step and the violation happens on real files.
Replayed with the reference policy (digest mode), the implementation leaves
the buggy path no later than the bad step.
"""

from __future__ import annotations

import os

import pytest

import zoo_traces as Z
from conformance_support import cli, thorough_only
from sessionfence.conformance import replay as R
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.model.variants import BUILTIN

ZOO_DIR = os.path.join(os.path.dirname(__file__), "zoo")
CASES = Z.cases()
DIGEST = [(v, p) for v, p, fp in CASES if fp == "digest"]


def _path(variant, prop, fingerprint):
    return os.path.join(ZOO_DIR, Z.file_name(variant, prop, fingerprint))


def _replay(path, **options):
    (lt,) = R.load([path], BUILTIN)
    with R.Replayer(LocalDriver(), R.ReplayOptions(**options)) as r:
        return lt, r.replay(lt)


def test_every_declared_violation_has_a_counterexample_file():
    names = {f for f in os.listdir(ZOO_DIR) if f.endswith(".itf.json")}
    assert names == {Z.file_name(*case) for case in CASES}


@pytest.mark.parametrize("variant, prop, fingerprint", CASES)
def test_the_matching_policy_reproduces_the_violation_on_real_files(variant, prop, fingerprint):
    lt, res = _replay(_path(variant, prop, fingerprint), policy=variant)
    assert lt.variant.name == variant
    assert res.fingerprint == fingerprint
    assert res.status == "conforms", res.divergence
    last = lt.run.steps[-1]
    assert res.reproduced.startswith(f"step {len(lt.run.steps)} ({last.label()})")
    if prop == "precision":
        assert "took over although no external write happened" in res.reproduced
    else:
        verb = "accepted" if last.transition.decision.value == "accept" else "adopted"
        assert f"the implementation {verb} the file although the external writer changed it" \
            in res.reproduced


@pytest.mark.parametrize("variant, prop", DIGEST)
def test_the_reference_policy_leaves_the_buggy_path_no_later_than_the_bad_step(variant, prop):
    lt, res = _replay(_path(variant, prop, "digest"), policy="reference")
    dv = res.divergence
    assert res.status == "diverged" and dv.step <= len(lt.run.steps)
    outcome = next(d for d in dv.diffs if d.field == "outcome")
    if prop == "precision":
        assert dv.step == len(lt.run.steps)
        assert (outcome.model, outcome.impl) == ("takeover", "ok")
    else:
        assert outcome.impl.split(" ")[0] == "takeover"
        assert "fails closed" in dv.verdict


def test_cli_replay_reproduces_benign_advance_accepting_a_prefix_rewrite():
    """The bug the byte-identical prefix check of §1.5 fixed, on real files."""
    path = _path("benign-advance", "released-safety", "digest")
    code, out, _ = cli(["replay", "--policy", "benign-advance", path, "-q"])
    assert code == 4, out  # the implementation violates a property (issue 11's judge)
    assert "reproduced released-safety on real files" in out
    assert "the implementation violated released-safety at step 4" in out
    assert "prefix-rewrite" in out
    code, out, _ = cli(["replay", "--policy", "reference", path, "-q"])
    assert code == 1 and "fails closed" in out


@thorough_only[0]
@thorough_only[1]
def test_the_committed_counterexamples_are_still_the_shortest(tmp_path):
    written = Z.generate(str(tmp_path))
    for path in written:
        (new,) = R.load([path], BUILTIN)
        (old,) = R.load([os.path.join(ZOO_DIR, os.path.basename(path))], BUILTIN)
        assert len(new.run.steps) <= len(old.run.steps), path



def test_classify_names_the_designs_an_implementation_follows(monkeypatch):
    """`classify` on two upstream designs (the full built-in set is the
    thorough profile's): each policy conforms to its own design only."""
    from sessionfence.commands import classify

    two = {name: BUILTIN[name] for name in ("validate-on-assert", "benign-advance")}
    monkeypatch.setattr(classify, "BUILTIN", two)
    code, out, _ = cli(["classify", "--policy", "benign-advance", "-q"])
    assert code == 0, out
    assert "policy benign-advance conforms to: benign-advance (" in out
    assert "validate-on-assert" in out and "differs: " in out
    code, out, _ = cli(["classify", "--policy", "reference", "-q"])
    assert code == 1 and "conforms to no built-in variant" in out


@pytest.mark.parametrize("argv, needle", [
    (["classify"], "--policy P or --adapter COMMAND"),
    (["classify", "--policy", "reference", "--adapter", "x"], "--policy P or --adapter COMMAND"),
    (["classify", "--policy", "nope"], "unknown policy 'nope'"),
    (["classify", "--policy", "reference", "--variant", "nope"], "unknown variant 'nope'"),
])
def test_classify_bad_input_is_one_line_and_exit_2(argv, needle):
    code, out, err = cli(argv)
    assert code == 2 and err.count("\n") == 1 and needle in err, err


@thorough_only[0]
@thorough_only[1]
def test_classify_each_upstream_policy_conforms_to_its_own_design_and_not_the_reference():
    # (a design whose schedules are a subset of another's -- file-owner's of
    # benign-advance's -- may be matched as well: classify says so)
    for name in ("benign-advance", "validate-on-assert", "publication-gated-own-fence"):
        code, out, _ = cli(["classify", "--policy", name, "-q"])
        line = next(x for x in out.splitlines() if " conforms to" in x)
        matched = line.split("conforms to: ")[1].rsplit(" (", 1)[0].split(", ")
        assert code == 0 and name in matched and "reference" not in matched, out
