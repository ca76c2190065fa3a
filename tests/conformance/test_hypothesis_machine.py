"""Hypothesis state machines derived from the model, against the implementation."""

from __future__ import annotations

import re

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from conformance_support import POLICIES, thorough_only
from sessionfence.conformance import hypothesis_machine as H
from sessionfence.conformance import model_traces
from sessionfence.conformance import replay as R
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.impl import ReferencePolicy
from sessionfence.model.machine import STEPS
from sessionfence.model.variants import BUILTIN


@pytest.mark.parametrize("fingerprint", ["stat", "digest"])
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("policy", POLICIES)
def test_generated_programs_conform(policy, n, fingerprint):
    machine = H.conformance_machine(policy, n, fingerprint=fingerprint)
    run_state_machine_as_test(machine, settings=H.profile())


def test_rules_are_the_models_steps_and_guards_come_from_the_executor():
    machine = H.conformance_machine("reference", 2)
    for step in STEPS:  # one rule per step, named after it
        assert getattr(machine, step).__name__ == step
    state = machine()
    try:
        # initially only start, dispose and external_write are enabled (model guards)
        enabled = {s: [c.label() for c in state.choices(s)] for s in STEPS}
        assert {s for s, c in enabled.items() if c} == {"start", "dispose", "external_write"}
        assert enabled["start"] == ["start c1", "start c2"]
        state.take(state.choices("start")[1])
        assert [c.label() for c in state.choices("begin_write")] == [
            "begin_write(publish) c2", "begin_write(broad) c2", "begin_write(cleanup) c2"]
        assert state.choices("start") == []  # the lock is taken: start c1 is not enabled
    finally:
        state.teardown()


class NoReleaseCheck(ReferencePolicy):
    """The reference policy without its check at release (one rule changed)."""
    check_at_release = False


def test_a_wrong_policy_shrinks_to_a_minimal_program_saved_as_itf(tmp_path):
    machine = H.conformance_machine("reference", 2, policy=NoReleaseCheck(),
                                    save_dir=str(tmp_path))
    with pytest.raises(H.ConformanceFailure) as e:
        run_state_machine_as_test(machine, settings=H.profile())
    text = str(e.value)
    m = re.search(r"program \(3 steps\): start c1 · external_write\(([a-z-]+)\) X · release c1", text)
    assert m, text
    kind = m.group(1)
    assert "diverged at step 3 of 3: release c1" in text
    assert "- outcome: takeover" in text and "+ outcome: ok" in text
    (saved,) = list(tmp_path.iterdir())
    assert f"saved as {saved}" in text
    tf = model_traces.read(str(saved))
    assert [s.label() for s in tf.steps] == ["start c1", f"external_write({kind}) X", "release c1"]
    assert tf.meta["generator"] == "hypothesis"
    # the saved program reproduces the divergence through the trace replay
    (lt,) = R.load([str(saved)], BUILTIN)
    with R.Replayer(LocalDriver(), R.ReplayOptions(policy=NoReleaseCheck())) as r:
        res = r.replay(lt)
    assert res.status == "diverged" and res.divergence.step == 3
    assert res.kinds == {kind: 1}  # the edit the program made
    with R.Replayer(LocalDriver(), R.ReplayOptions()) as r:
        assert r.replay(lt).status == "conforms"


def test_the_profile_is_chosen_by_environment(monkeypatch):
    monkeypatch.delenv(H.PROFILE_ENV, raising=False)
    assert H.profile_name() == "ci" and H.profile().derandomize
    monkeypatch.setenv(H.PROFILE_ENV, "thorough")
    assert H.profile().max_examples > settings.get_profile("ci").max_examples
    monkeypatch.setenv(H.PROFILE_ENV, "forever")
    with pytest.raises(ValueError, match="the profiles are ci and thorough"):
        H.profile_name()


@pytest.mark.parametrize("atomic", [False, True])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fingerprint", ["stat", "digest"])
def test_long_campaign(policy, fingerprint, atomic):
    """The thorough profile (1,500 programs of up to 60 steps), N = 3: ~50 s each."""
    machine = H.conformance_machine(policy, 3, fingerprint=fingerprint, atomic_writes=atomic)
    run_state_machine_as_test(machine, settings=settings.get_profile("thorough"))


for _mark in thorough_only:
    test_long_campaign = _mark(test_long_campaign)
