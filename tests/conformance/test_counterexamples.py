"""Every historical counterexample, reproduced on real files; the reference fails closed.

For each historical variant, each property it violates and each fingerprint
mode (digest; stat with this machine's multigrain timestamps), `check.verify`
finds the shortest counterexample. Replayed with the matching policy, the
implementation follows the buggy model step for step and the violation
happens on real files (an external edit accepted, or a false takeover).
Replayed with the reference policy, the implementation leaves the buggy
path no later than the bad step: for a safety violation it fails closed
(takes over where the buggy model went on), for a precision violation it
does not take over where the buggy model did.
"""

from __future__ import annotations

import functools
import os
import re

import pytest

from conformance_support import HISTORICAL, cli
from sessionfence.conformance import model_traces
from sessionfence.conformance import replay as R
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.conformance.external_plan import unfaithful
from sessionfence.model import check, variants
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN
from sessionfence.model.world import World

WORLDS = {"digest": World(), "stat": World(fingerprint="stat", timestamps="multigrain")}
CASES = [(v, p) for v in HISTORICAL for p in ("released-safety", "safety", "precision")
         if variants.get(v).expected[p] == "violated"]
MODE_CASES = [(v, p, fp) for fp, w in WORLDS.items() for v, p in CASES
              if variants.get(v).expectation(p, w) == "violated"]


@functools.lru_cache(maxsize=None)
def _verify(variant: str, fingerprint: str, prop: str):
    (r,) = [r for r in check.verify(variants.get(variant), 2, world=WORLDS[fingerprint],
                                    properties=(prop,)) if r.property == prop]
    return r


@pytest.fixture(scope="module")
def ce_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("counterexamples")
    for variant, prop, fp in MODE_CASES:
        v = variants.get(variant)
        machine = build(v, WORLDS[fp])
        ex = Executor(machine, 2)
        # The shortest violation real files can follow (as `traces --cover`
        # picks it): the model's append after a delete lands on the path,
        # a real one on the orphaned inode (external_plan.unfaithful).
        found = {}
        check.search(machine, 2, [P.BY_NAME[prop]], 20, lambda msg: None,
                     lambda p, trace, k: found.setdefault(p.name, trace),
                     accept=lambda trace: not unfaithful(ex, trace))
        assert prop in found, f"{variant} {fp}: no {prop} counterexample within 20 steps"
        model_traces.write(ex, found[prop], str(d / f"{variant}-{prop}-{fp}.itf.json"),
                           covers=f"violation {prop}", status="violation")
    return str(d)


def _replay(path, **options):
    (lt,) = R.load([path], BUILTIN)
    with R.Replayer(LocalDriver(), R.ReplayOptions(**options)) as r:
        return lt, r.replay(lt)


@pytest.mark.parametrize("variant, prop, fingerprint", MODE_CASES)
def test_the_matching_policy_reproduces_the_violation_on_real_files(ce_dir, variant, prop,
                                                                  fingerprint):
    lt, res = _replay(os.path.join(ce_dir, f"{variant}-{prop}-{fingerprint}.itf.json"),
                      policy=variant)
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
        assert ("released" if prop == "released-safety" else "alive") in res.reproduced


@pytest.mark.parametrize("variant, prop", CASES)
def test_the_reference_policy_leaves_the_buggy_path_no_later_than_the_bad_step(
        ce_dir, variant, prop):
    lt, res = _replay(os.path.join(ce_dir, f"{variant}-{prop}-digest.itf.json"),
                      policy="reference")
    dv = res.divergence
    assert res.status == "diverged" and dv.step <= len(lt.run.steps)
    # only observable behaviour is compared across designs
    assert res.fields == ("outcome", "phase", "holder", "lock_file", "file")
    outcome = next(d for d in dv.diffs if d.field == "outcome")
    if prop == "precision":
        assert dv.step == len(lt.run.steps)  # exactly the false takeover
        assert (outcome.model, outcome.impl) == ("takeover", "ok")
        assert "goes on where the model" in dv.verdict
    else:
        assert (outcome.model, outcome.impl.split(" ")[0]) == ("ok", "takeover")
        assert "fails closed" in dv.verdict


def test_where_the_reference_fails_closed_on_each_counterexample(ce_dir):
    """Pin the step: the bad step itself, or (for released-safety) earlier,
    at the write section that launders the edit: its begin_write check (edit
    before the section), its read_before (edit before the read) or its
    finish_write validation (edit after the read). Which of these a shortest
    trace exercises is Z3's choice. (A peer that *starts* after the edit
    adopts it in every design, so when the laundering peer is a new one the
    reference only fails closed at the bad step itself: its epoch is gone.)"""
    where = {}
    for variant, prop in CASES:
        lt, res = _replay(os.path.join(ce_dir, f"{variant}-{prop}-digest.itf.json"),
                          policy="reference")
        where[(variant, prop)] = (res.divergence.step, len(lt.run.steps), res.divergence.label)
    for (variant, prop), (step, bad, label) in where.items():
        if prop == "released-safety":
            assert step == bad or label.split()[0].split("(")[0] in (
                "begin_write", "read_before", "finish_write"), \
                (variant, step, label)
            assert step <= bad, (variant, step, bad)
        else:
            assert step == bad, (variant, prop, step, bad)


def test_cli_demo_narrow_publication(cover_dir):
    """The README demo: the cover trace of the released-safety violation."""
    path = os.path.join(cover_dir("narrow-publication", 2),
                        "narrow-publication-n2-violation-released-safety.itf.json")
    code, out, _ = cli(["replay", "--policy", "narrow-publication", path, "-q"])
    assert code == 4  # conforms, and the implementation violates released-safety
    assert re.search(r"VIOLATES  released-safety .*: the implementation violated released-safety "
                     r"at step 10 \(c\d accepted a file containing the external [a-z-]+ of step "
                     r"\d, made while c\d was released\)", out), out
    # Which shortest trace Z3 returns may vary (controller names, the position
    # and kind of the edit); its shape may not.
    assert re.search(r"reproduced released-safety on real files: step 10 \(\w+(\(\w+\))? c\d\): "
                     r"the implementation accepted the file although the external writer "
                     r"changed it at step \d \([a-z-]+\) while c\d was released", out), out
    code, out, _ = cli(["replay", "--policy", "reference", path, "-q"])
    assert code == 1
    assert re.search(r"diverged at step \d of 10: (read_before|finish_write) c\d", out), out
    assert "- outcome: ok" in out and "+ outcome: takeover (" in out
    assert "fails closed where the model of narrow-publication goes on" in out


REFERENCE_STAT = [p for p in ("released-safety", "safety")
                  if variants.get("reference").expectation(p, WORLDS["stat"]) == "violated"]


@pytest.mark.parametrize("prop", REFERENCE_STAT)
def test_the_reference_stat_mode_limits_reproduce_on_real_files(tmp_path, prop):
    """The documented stat-mode limit (a same-size rewrite inside a holder's
    own write window, this machine's multigrain timestamps): the model's
    counterexample reproduces with `--fingerprint stat` and fails closed
    with `--fingerprint digest`."""
    r = _verify("reference", "stat", prop)
    path = str(tmp_path / f"reference-{prop}-stat.itf.json")
    model_traces.write(Executor(build(variants.get("reference"), WORLDS["stat"]), 2), r.trace,
                       path, covers=f"violation {prop}", status="violation")
    assert "same-size-rewrite" in [i.kind.label for i in r.trace.steps if i.kind is not None]
    lt, res = _replay(path, policy="reference", fingerprint="stat")
    assert res.status == "conforms", res.divergence
    assert res.reproduced, res
    # In digest mode the implementation sees the rewrite the stat model
    # cannot: the trace ends there (its next check fails closed).
    lt, res = _replay(path, policy="reference", fingerprint="digest")
    assert res.status == "diverged"
    assert res.divergence.label.startswith("external_write(same-size-rewrite)")
    assert [d.field for d in res.divergence.diffs] == ["file"]


@pytest.mark.parametrize("variant, prop, fingerprint", MODE_CASES)
def test_the_matching_policy_is_judged_to_violate_the_property(ce_dir, variant, prop,
                                                               fingerprint):
    """The runner's own verdict on the implementation (conformance/judge.py),
    from real files and the implementation's outcomes, names the property at
    the counterexample's bad step, with the external write responsible."""
    lt, res = _replay(os.path.join(ce_dir, f"{variant}-{prop}-{fingerprint}.itf.json"),
                      policy=variant)
    bad = len(lt.run.steps)
    found = [v for v in res.violations if v.property == prop and v.step == bad]
    assert found, res.violations
    v = found[0]
    assert v.controller == f"c{lt.run.steps[-1].ctrl}"
    if prop == "precision":
        assert v.external_step is None
        assert "took over although no external write happened" in v.detail
    else:
        kinds = {i + 1: s.kind.label for i, s in enumerate(lt.run.steps) if s.kind is not None}
        assert v.external_step in kinds
        assert f"the external {kinds[v.external_step]} of step {v.external_step}" in v.detail
    assert R.summarize([res], 0.0).violations >= 1


@pytest.mark.parametrize("variant, prop", CASES)
def test_the_reference_policy_violates_no_property_and_is_the_safe_side(ce_dir, variant, prop):
    lt, res = _replay(os.path.join(ce_dir, f"{variant}-{prop}-digest.itf.json"),
                      policy="reference")
    assert res.violations == []
    dv = res.divergence
    assert dv.impl_violates == []
    if dv.step == len(lt.run.steps):  # the bad step itself: the model violates it there
        assert prop in dv.model_violates
        assert "the implementation does not (it is the safe side)" in dv.safety
    else:
        assert dv.safety


def test_replay_json_lists_the_judged_violations_and_exits_4(ce_dir):
    import json

    path = os.path.join(ce_dir, "broad-publication-released-safety-digest.itf.json")
    code, out, _ = cli(["replay", "--policy", "broad-publication", path, "-q", "--json"])
    assert code == 4
    doc = json.loads(out)
    (trace,) = doc["traces"]
    assert trace["status"] == "conforms" and doc["exit_status"] == 4
    props = {v["property"] for v in trace["implementation_violations"]}
    assert "released-safety" in props
    assert all(set(v) == {"property", "step", "controller", "external_step"}
               for v in trace["implementation_violations"])
    code, out, _ = cli(["replay", "--policy", "reference", path, "-q", "--json"])
    assert code == 1
    trace = json.loads(out)["traces"][0]
    assert trace["implementation_violations"] == []
    assert trace["divergence"]["implementation_violates"] == []
