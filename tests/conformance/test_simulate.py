"""`traces --random`: walks that check the properties, pick steps per actor, and are worth replaying."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from conformance_support import POLICIES, cli
from sessionfence.conformance import model_traces, simulate
from sessionfence.model import variants
from sessionfence.model.check import Trace
from sessionfence.model.expr import Kind
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.properties import ALWAYS, BY_NAME


def executor(name: str, n: int = 2) -> Executor:
    return Executor(build(variants.get(name)), n)


def first_events(ex: Executor, trace: Trace) -> dict:
    """Each property's first event in the trace, found independently of simulate."""
    out = {}
    for i, (inst, s) in enumerate(zip(trace.steps, trace.states)):
        for p in ALWAYS:
            if p.name not in out and inst in ex.event(s, p):
                out[p.name] = i
    return out


def test_walks_of_narrow_publication_mark_the_properties_they_violate():
    ex = executor("narrow-publication")
    walks = simulate.random_walks(ex, 200, 30, seed=0)
    t = simulate.tally(walks)
    # seed 0: 126 safety, 8 precision (released-safety: the next test)
    assert t.violations["safety"] >= 1 and t.violations["precision"] >= 1
    for w in walks:
        assert first_events(ex, w.trace) == w.violations
        if w.violations:
            # the trace is cut at its last new violation: it ends with an offending step
            last = len(w.trace.steps) - 1
            assert max(w.violations.values()) == last and w.trace.violating == last
            assert w.trace.steps[-1] in ex.event(w.trace.states[-2], BY_NAME[w.violation])
            assert w.simulated >= len(w.trace.steps)
        else:
            assert w.trace.violating is None and w.simulated == len(w.trace.steps)


def test_a_violation_reachable_only_through_another_is_found():
    # narrow-publication's released-safety runs pass a safety violation first
    # (a peer adopts the external write), so a walk that stopped at its first
    # violation could never show one.
    ex = executor("narrow-publication", 3)
    walks = simulate.random_walks(ex, 1000, 30, seed=1)
    found = [w for w in walks if "released-safety" in w.violations]
    assert found
    for w in found:
        assert w.violations["safety"] < w.violations["released-safety"]


@pytest.mark.parametrize("name", POLICIES)
def test_no_walk_violates_a_property_the_variant_holds(name):
    v = variants.get(name)
    t = simulate.tally(simulate.random_walks(executor(name), 200, 30, seed=0))
    for p in ALWAYS:
        if v.expected[p.name] == "holds":
            assert t.violations[p.name] == 0, p.name
    if name == "reference":
        assert t.violating == 0 and not t.violations


def test_reacquire_is_in_a_fair_share_of_the_walks():
    t = simulate.tally(simulate.random_walks(executor("narrow-publication"), 100, 30, seed=0))
    assert t.in_walks["reacquire"] > 20  # was 4 of 100 when walks picked among all instances
    assert t.in_walks["begin_write"] > 50


@pytest.mark.parametrize("name", POLICIES)
def test_a_walk_stops_when_no_controller_can_move(name):
    ex = executor(name, 3)
    for w in simulate.random_walks(ex, 100, 40, seed=3):
        walked = simulate.walk(ex, w.seed, 40, cut=False)
        assert walked.trace.steps[:len(w.trace.steps)] == w.trace.steps
        for inst, s in zip(walked.trace.steps, walked.trace.states):
            assert any(i.ctrl is not None for i in ex.enabled(s)), \
                f"{inst.label()} although no controller could move"
        can_move = any(i.ctrl is not None for i in ex.enabled(walked.trace.states[-1]))
        if walked.stop == simulate.STOP_QUIET:
            assert not can_move and len(walked.trace.steps) < 40
        else:
            assert walked.stop == simulate.STOP_DEPTH and len(walked.trace.steps) == 40


def test_same_seed_gives_different_walks_for_different_variants():
    labels = {}
    for name in POLICIES[:3]:
        walks = simulate.random_walks(executor(name), 100, 30, seed=0)
        labels[name] = [[i.label() for i in simulate.walk(executor(name), w.seed, 30,
                                                          cut=False).trace.steps]
                        for w in walks]
    same = sum(labels[POLICIES[0]][i] == labels[POLICIES[1]][i] == labels[POLICIES[2]][i]
               for i in range(100))
    assert same < 10  # was 100 of 100
    assert simulate.walk_seed(0, 5, "reference") != simulate.walk_seed(0, 5, "strict-fingerprint")


def test_weights_steer_the_walks():
    ex = executor("reference")
    no_ext = simulate.tally(simulate.random_walks(ex, 100, 30, seed=0, weights={"external_write": 0}))
    default = simulate.tally(simulate.random_walks(ex, 100, 30, seed=0))
    more = simulate.tally(simulate.random_walks(ex, 100, 30, seed=0, weights={"reacquire": 5}))
    assert default.taken["external_write"] > 0 and no_ext.taken["external_write"] == 0
    assert more.taken["reacquire"] > 1.5 * default.taken["reacquire"]
    # every step of a controller weighted out: nothing to simulate
    none = simulate.walk(ex, 1, 30, {"start": 0, "dispose": 0})
    assert none.trace.steps == [] and none.stop == simulate.STOP_QUIET


def test_dispose_is_the_final_step_read_off_the_machine():
    assert simulate.final_steps(executor("reference")) == ["dispose"]
    assert simulate.step_names(executor("reference"))[-1] == "external_write"


@pytest.mark.parametrize("text, message", [
    ("bogus=1", "unknown step 'bogus'; the steps are start, release"),
    ("reacquire", "expected STEP=WEIGHT"),
    ("reacquire=x", "weight of reacquire must be a number"),
    ("reacquire=-1", "must be a finite number >= 0"),
    ("reacquire=nan", "must be a finite number >= 0"),
])
def test_parse_weights_rejects_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        simulate.parse_weights(text, simulate.step_names(executor("reference")))
    assert simulate.parse_weights("external_write=0.5, reacquire=2",
                                  simulate.step_names(executor("reference"))) == \
        {"external_write": 0.5, "reacquire": 2.0}


def test_tally_counts_external_kinds_where_instances_have_them():
    def inst(step, ctrl, kind=None):
        return SimpleNamespace(step=step, ctrl=ctrl, mode=None, kind=kind)

    steps = [inst("start", 1), inst("external_write", None, Kind.replace),
             inst("external_write", None, Kind.append), inst("external_write", None, Kind.append)]
    w = simulate.Walk(0, 0, Trace(steps, [()] * 5), simulate.STOP_DEPTH, 4)
    t = simulate.tally([w])
    assert t.taken == {"start": 1, "external_write": 3} and t.in_walks["external_write"] == 1
    assert t.kinds == {("external_write", "replace"): 1, ("external_write", "append"): 2}


def test_traces_random_writes_violating_walks_as_counterexamples(tmp_path):
    out = str(tmp_path)
    code, stdout, err = cli(["traces", "--variant", "narrow-publication", "--random", "60",
                             "--seed", "2", "--out", out, "--json", "-q"])
    assert code == 0, err
    rnd = json.loads(stdout)["random"]
    by_prop = {v["property"]: v for v in rnd["violations"]}
    assert by_prop["safety"]["walks"] >= 1 and rnd["violating_walks"] >= 1
    assert [f["step"] for f in rnd["frequencies"]] == \
        simulate.step_names(executor("narrow-publication"))
    assert sum(f["taken"] for f in rnd["frequencies"]) == rnd["steps"]
    assert rnd["unexpected"] == []
    path = by_prop["safety"]["first"]
    tf = model_traces.read(path)
    assert tf.meta["status"] == "violation" and tf.meta["covers"].startswith("violation ")
    assert tf.meta["violations"]["safety"] >= 1 and tf.meta["generator"] == "random"
    # one walk regenerates alone from what its file records
    ex = executor("narrow-publication")
    again = simulate.walk(ex, tf.meta["seed"], tf.meta["depth"], tf.meta.get("weights"))
    assert [i.label() for i in again.trace.steps] == [s.label() for s in tf.steps]
    # and replays as a counterexample: the violation happens on real files
    code, stdout, err = cli(["replay", path, "--json", "-q"])
    assert code == 4, stdout + err  # it conforms, and the implementation violates the property
    (result,) = json.loads(stdout)["traces"]
    assert result["violation"] == tf.meta["covers"].split(" ", 1)[1]
    assert result["reproduced"]
    assert result["violation"] in {v["property"] for v in result["implementation_violations"]}


def test_traces_random_prints_frequencies_and_violations(tmp_path):
    code, stdout, _ = cli(["traces", "--variant", "reference", "--random", "50", "--weights",
                           "external_write=0.5,reacquire=2", "--out", str(tmp_path), "-q"])
    assert code == 0
    assert "seed 0, weights external_write=0.5,reacquire=2:" in stdout
    assert "    safety               0 walks  (declared to hold)" in stdout
    assert "reacquire" in stdout and "steps taken in the traces" in stdout
    meta = model_traces.read(os.path.join(str(tmp_path), "reference-n2-random-0-0000.itf.json")).meta
    assert meta["weights"] == {"external_write": 0.5, "reacquire": 2.0}


def test_traces_random_exits_1_when_a_walk_violates_a_property_declared_to_hold(tmp_path):
    code, stdout, err = cli(["traces", "--variant-file", "examples/size_only_validation.py",
                             "--random", "200", "--out", str(tmp_path), "-q"])
    assert code == 1
    assert "MISMATCH reference-size-only-validation safety:" in err
    assert "(declared to hold: MISMATCH)" in stdout


@pytest.mark.parametrize("argv, message", [
    (["--weights", "bogus=1"], "--weights: unknown step 'bogus'"),
    (["--weights", "reacquire=-2"], "--weights: weight of reacquire must be a finite number"),
    (["--weights", "reacquire"], "--weights: expected STEP=WEIGHT"),
])
def test_bad_weights_are_one_usage_line(tmp_path, argv, message):
    code, stdout, err = cli(["traces", "--variant", "reference", "--random", "3",
                             "--out", str(tmp_path)] + argv)
    assert code == 2 and stdout == ""
    assert message in err and err.count("\n") == 1


def test_weights_without_random_is_a_usage_error(tmp_path):
    code, _, err = cli(["traces", "--variant", "reference", "--cover", "--weights",
                        "reacquire=2", "--out", str(tmp_path)])
    assert code == 2 and "--weights steers random walks: add --random K" in err
