"""`traces --cover` and `traces --random`: targets, shortest traces, unreachability, seeds."""

from __future__ import annotations

import glob
import json
import os

import pytest

from conformance_support import POLICIES
from sessionfence.cli import main
from sessionfence.conformance import cover as C
from sessionfence.conformance import model_traces, simulate
from sessionfence.model import properties as P
from sessionfence.model import variants
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import Decision, build
from sessionfence.model.world import World


def test_targets_are_every_transition_plus_declared_violations_and_witnesses():
    v = variants.get("narrow-publication")
    m = build(v)
    names = [t.name for t in C.targets(m, v)]
    assert names[:len(m.transitions)] == [f"transition {t.key}" for t in m.transitions]
    assert "violation released-safety" in names and "violation precision" in names
    assert "witness peer-write-accepted" in names
    # strict-fingerprint declares peer-write-accepted unreachable by design
    strict = variants.get("strict-fingerprint")
    assert "witness peer-write-accepted" not in [t.name for t in C.targets(build(strict), strict)]


@pytest.mark.parametrize("variant", POLICIES)
def test_cover_reaches_every_target_with_a_shortest_replayed_trace(variant):
    v = variants.get(variant)
    result = C.cover(v, 2)  # its time (budget 30 s) is in benchmarks/bench_conformance.py
    assert result.unreached == []
    ex = Executor(build(v), 2)
    for c in result.covered:
        # the trace is a real run of the model ending in its target
        s = ex.initial()
        for inst in c.trace.steps:
            assert ex.find(s, inst.step, inst.ctrl, inst.mode, inst.kind) == inst
            s = ex.fire(s, inst)
        last = c.trace.steps[-1]
        if c.target.kind == "transition":
            assert c.target.name == f"transition {last.transition.key}"
        else:
            assert last.transition in [i.transition for i in ex.event(c.trace.states[-2], c.target.prop)]
        if c.target.kind == "transition":
            # shortest, so the target cannot already fire earlier in the trace
            assert c.target.name not in [f"transition {i.transition.key}"
                                         for i in c.trace.steps[:-1]]
    by_name = {c.target.name: c for c in result.covered}
    assert by_name["transition start:idle->held"].depth == 1
    assert by_name["transition reacquire:released->taken_over"].depth == 4
    if variant == "reference":
        assert by_name["transition finish_write:write_after->taken_over"].depth == 6
    else:
        assert by_name["violation safety"].depth == 3


def test_takeover_branches_are_their_own_targets():
    v = variants.get("reference")
    result = C.cover(v, 2)
    keys = {c.trace.steps[-1].transition.key: c.trace.steps[-1].transition.decision
            for c in result.covered if c.target.kind == "transition"}
    assert keys["reacquire:released->taken_over"] is Decision.takeover
    assert keys["reacquire:released->held"] is Decision.accept


def test_unreachable_targets_are_proved_unreachable_with_atomic_writes():
    result = C.cover(variants.get("reference"), 2, world=World(atomic_writes=True))
    unreached = {u.target.name: u for u in result.unreached}
    assert set(unreached) == {"transition read_before:write_before->taken_over",
                              "transition finish_write:write_after->taken_over"}
    assert all(u.proved and u.reason.startswith("proved unreachable") for u in unreached.values())


def test_an_unreachable_target_without_proof_says_so():
    # depth 2 cannot reach a 3-step target; with no proof the reason is the bound
    v = variants.get("strict-fingerprint")
    result = C.cover(v, 2, depth=2, proof_timeout_s=2)
    reasons = {u.target.name: u for u in result.unreached}
    u = reasons["transition reacquire:released->held"]
    assert not u.proved and u.reason.startswith("no witness within 2 steps")
    assert "Spacer finds it reachable: raise --depth" in u.reason


def test_random_walks_are_reproducible_from_the_seed_in_each_file(tmp_path):
    ex = Executor(build(variants.get("broad-publication")), 3)
    a = simulate.random_walks(ex, 5, 30, seed=11)
    b = simulate.random_walks(ex, 5, 30, seed=11)
    c = simulate.random_walks(ex, 5, 30, seed=12)
    labels = lambda ws: [[i.label() for i in w.trace.steps] for w in ws]  # noqa: E731
    assert labels(a) == labels(b) and labels(a) != labels(c)
    # one walk regenerated on its own from its recorded seed
    w = a[3]
    again = simulate.walk(ex, w.seed, 30)
    assert [i.label() for i in again.trace.steps] == [i.label() for i in w.trace.steps]
    assert w.seed == simulate.walk_seed(11, 3, "broad-publication")


def test_simulation_speed_is_measured_in_steps_walked():
    # the figure is in docs/performance.md (benchmarks/bench_conformance.py)
    ex = Executor(build(variants.get("reference")), 3)
    assert simulate.steps_per_second(ex, 40, seconds=0.05) > 0


def test_traces_command_writes_one_itf_file_per_trace(tmp_path, capsys):
    out = str(tmp_path / "t")
    code = main(["traces", "--variant", "strict-fingerprint", "--cover", "--random", "3",
                 "--depth", "12", "--seed", "4", "--out", out, "--json", "-q"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    files = sorted(glob.glob(os.path.join(out, "*.itf.json")))
    assert sorted(summary["files"]) == files
    assert len(files) == summary["cover"]["targets"] + 3
    covers = set()
    for f in files:
        tf = model_traces.read(f)
        covers.add(tf.meta["covers"])
        assert tf.variant == "strict-fingerprint" and tf.controllers == 2
    assert "violation precision" in covers and "random walk 2 of seed 4" in covers
    walk = model_traces.read(os.path.join(out, "strict-fingerprint-n2-random-4-0002.itf.json"))
    assert walk.meta["seed"] == simulate.walk_seed(4, 2, "strict-fingerprint")
    assert len(walk.steps) <= 12
    assert summary["random"]["steps_per_second"] > 0


def test_traces_command_human_summary_lists_targets_and_unreached(tmp_path, capsys):
    code = main(["traces", "--variant", "reference", "--atomic-writes", "--cover",
                 "--out", str(tmp_path), "-q"])
    text = capsys.readouterr().out
    assert code == 0
    # 26 transitions (7 of them the external writer's kinds) + 4 witnesses
    assert "cover: 28 of 30 targets reached" in text
    assert "finish_write:write_after->taken_over: proved unreachable" in text


@pytest.mark.parametrize("argv, message", [
    (["traces", "--variant", "reference", "--out", "X"], "say which traces"),
    (["traces", "--variant", "nope", "--cover", "--out", "X"], "unknown variant 'nope'"),
    (["traces", "--variant", "reference", "--random", "0", "--out", "X"], "walks must be from 1"),
])
def test_traces_command_usage_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_fires_events_match_exactly_one_transition():
    m = build(variants.get("reference"))
    for t in m.transitions:
        if t.source is not None:
            assert [u.key for u in m.transitions if P.fires(t.key).matches(u)] == [t.key]
