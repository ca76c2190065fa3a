"""`sessionfence hunt`: violations found directly on the implementation,
shrunk, written as ITF traces that `replay` reproduces; none in the reference.

The searches here are bounded by a number of schedules with a fixed seed
(deterministic), not by time; the time figures are in benchmarks/bench_hunt.py.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from conformance_support import HISTORICAL, cli
from sessionfence.conformance.hunt import Hunter, HuntOptions
from sessionfence.conformance.local_driver import LocalDriver


def _hunt(tmp_path, *argv):
    out = str(tmp_path / "found.itf.json")
    code, stdout, err = cli(["hunt", *argv, "--out", out, "--json", "-q"])
    return code, (json.loads(stdout) if stdout else None), err


@pytest.mark.parametrize("policy", HISTORICAL)
def test_hunt_finds_a_violation_of_each_violating_policy_and_replay_reproduces_it(
        tmp_path, policy):
    code, doc, err = _hunt(tmp_path, "--policy", policy, "--schedules", "200")
    assert code == 4, err
    (found,) = doc["found"]
    assert found["variant"] == policy and found["note"] is None
    assert found["step"] == len(found["schedule"]) <= found["shrunk_from"]
    assert any(s.startswith("external_write(") for s in found["schedule"])
    code, out, _ = cli(["replay", "--policy", policy, found["trace"], "--json", "-q"])
    assert code == 4
    (trace,) = json.loads(out)["traces"]
    assert trace["status"] == "conforms"
    assert {"property": found["property"], "step": found["step"],
            "controller": found["controller"], "external_step": found["external_step"]} \
        in trace["implementation_violations"]


@pytest.mark.parametrize("controllers", ["2", "3"])
def test_hunt_finds_nothing_in_the_reference_and_is_not_vacuous(tmp_path, controllers):
    code, doc, err = _hunt(tmp_path, "--policy", "reference", "--schedules", "150",
                           "--controllers", controllers, "--keep-going")
    assert code == 0, doc["found"] if doc else err
    assert doc["found"] == [] and doc["schedules"] == 150
    # every kind of edit was made somewhere, in many distinct windows
    assert doc["windows"] >= 7 * 10
    assert not os.path.exists(tmp_path / "found.itf.json")


def test_keep_going_finds_every_property_a_policy_violates(tmp_path):
    """strict-fingerprint: safety and precision (released-safety holds in digest mode)."""
    code, doc, _ = _hunt(tmp_path, "--policy", "strict-fingerprint", "--schedules", "400",
                         "--keep-going")
    assert code == 4
    assert {f["property"] for f in doc["found"]} == {"safety", "precision"}
    for f in doc["found"]:
        assert f["trace"].endswith(f"-{f['property']}.itf.json") and os.path.exists(f["trace"])


def test_the_shrunk_schedule_loses_its_violation_without_any_one_step(tmp_path):
    with Hunter(LocalDriver(), HuntOptions(policy="narrow-publication", max_schedules=50,
                                           seed=3)) as h:
        (found,) = h.hunt().found
        schedule = found.schedule
        assert h._violates(found.property, schedule) == schedule
        for i in range(len(schedule)):
            kept = h._violates(found.property, schedule[:i] + schedule[i + 1:])
            assert kept is None or len(kept) >= len(schedule), (i, kept)


def test_hunt_through_the_adapter(tmp_path):
    adapter = f"{sys.executable} -m sessionfence.conformance.adapter"
    code, doc, err = _hunt(tmp_path, "--adapter", adapter, "--policy", "broad-publication",
                           "--schedules", "50")
    assert code == 4, err
    assert doc["driver"].startswith("adapter ")
    assert doc["found"][0]["reproduce"].startswith("sessionfence replay --adapter ")


@pytest.mark.parametrize("argv, words", [
    ([], "say what to hunt: --policy P"),
    (["--policy", "nope"], "unknown policy 'nope'"),
    (["--policy", "reference", "--budget", "0"], "--budget 0: give a positive number"),
    (["--policy", "reference", "--schedules", "0"], "--schedules 0: give at least 1"),
])
def test_bad_input_is_one_line_and_status_2(argv, words):
    code, out, err = cli(["hunt", *argv])
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_keep_going_finds_narrow_publications_race_in_the_swarm_phase(tmp_path):
    """Bug (b): an edit inside a peer's write window, published from a trusted
    baseline, accepted by a released controller. A schedule goes on past a
    property already found (the peer's own adoption is a safety violation)."""
    code, doc, _ = _hunt(tmp_path, "--policy", "narrow-publication", "--schedules", "1500",
                         "--keep-going")
    assert code == 4
    found = {f["property"]: f for f in doc["found"]}
    assert set(found) == {"released-safety", "safety", "precision"}
    rs = found["released-safety"]
    assert doc["phase"] == "swarm" and rs["variant"] == "narrow-publication"
    code, out, _ = cli(["replay", "--policy", "narrow-publication", rs["trace"], "-q"])
    assert code == 4 and "violated released-safety" in out


def test_a_policy_object_is_hunted_with_its_own_check_points(tmp_path):
    """A policy object is judged by what it does: the reference without its
    release check records nothing at release (so it adopts nothing there)."""
    from sessionfence.impl import ReferencePolicy

    class NoReleaseCheck(ReferencePolicy):
        check_at_release = False

    with Hunter(LocalDriver(), HuntOptions(policy=NoReleaseCheck(), max_schedules=300,
                                           keep_going=True)) as h:
        assert h.table[("release", "held", "released")] == "none"
        res = h.hunt()
    # dropping the release check alone is safe (docs/model.md): the next check catches it
    assert {f.property for f in res.found} <= {"precision"}
