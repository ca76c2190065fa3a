"""Hypothesis state machines derived from the model: random programs of steps.

`conformance_machine(variant, n, ...)` builds a `RuleBasedStateMachine`
whose rules are the model's steps, generated from `machine.STEPS` (one rule
per step name, named after it). A rule's precondition asks the model's
executor whether any instance of the step is enabled now (`Executor.find`
for every controller and mode), so the guards are the model's, never
copied; the rule then draws one enabled instance (controller, mode) and
runs it on the model and on the implementation through the same
`session.ReplaySession` the trace replay uses, which compares after every
step. An `@invariant` re-observes the implementation between steps (nothing
may change while nobody acts).

On a divergence Hypothesis shrinks the program to a minimal one; the
failure message (and the notes Hypothesis prints for the final example)
list the shrunk steps in trace vocabulary, and with `save_dir` (or the
environment variable SESSIONFENCE_SAVE_FAILURES) the final failing program
is written as an ITF trace that `sessionfence replay` reproduces.

Settings profiles: `ci` (fast, derandomized: the same programs every run)
and `thorough` (long campaigns), chosen with SESSIONFENCE_PROFILE.

Hypothesis is a test dependency: import this module from tests or scripts.
"""

from __future__ import annotations

import atexit
import os
from typing import Optional

from hypothesis import HealthCheck, currently_in_test_context, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sessionfence.conformance import model_traces
from sessionfence.conformance.compare import expected, fields_for
from sessionfence.conformance.external_writer import ExternalWriter
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.conformance.model_traces import Step
from sessionfence.conformance.replay import policy_label, policy_name
from sessionfence.conformance.session import (
    ReplaySession,
    SessionOptions,
    diff_lines,
    format_divergence,
)
from sessionfence.model import variants as V
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor, NotEnabled
from sessionfence.model.expr import WRITE_MODES
from sessionfence.model.machine import STEPS, build
from sessionfence.model.world import World

PROFILE_ENV = "SESSIONFENCE_PROFILE"
SAVE_ENV = "SESSIONFENCE_SAVE_FAILURES"

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
settings.register_profile("ci", max_examples=100, stateful_step_count=25, derandomize=True,
                          **_COMMON)
settings.register_profile("thorough", max_examples=1500, stateful_step_count=60, **_COMMON)


def profile_name() -> str:
    name = os.environ.get(PROFILE_ENV, "ci")
    if name not in ("ci", "thorough"):
        raise ValueError(f"{PROFILE_ENV}={name!r}: the profiles are ci and thorough")
    return name


def profile() -> settings:
    """The settings profile selected by SESSIONFENCE_PROFILE (default ci)."""
    return settings.get_profile(profile_name())


_WRITER: list = []


def shared_writer() -> ExternalWriter:
    """One writer process for every machine of this process (closed at exit)."""
    if not _WRITER:
        _WRITER.append(ExternalWriter())
        atexit.register(_WRITER[0].close)
    return _WRITER[0]


class ConformanceFailure(AssertionError):
    """The implementation diverged from the model on a generated program."""


def conformance_machine(variant: str = "reference", n: int = 2, *, policy=None,
                        fingerprint: str = "stat", world: Optional[World] = None,
                        seed: int = 0, save_dir: Optional[str] = None,
                        workdir: Optional[str] = None):
    """A RuleBasedStateMachine class: model `variant` with `n` controllers in
    `world` (default: the implementation's fingerprint mode, multigrain
    timestamps, every kind of edit) against the implementation with `policy`
    (default: the variant's own)."""
    var = V.get(variant)
    world = world or World(fingerprint=fingerprint, timestamps="multigrain")
    ex = Executor(build(var, world), n)
    policy = policy if policy is not None else variant
    internal = policy_name(policy) == var.name
    fields = fields_for(ex, LocalDriver.exposes, internal)
    options = SessionOptions(policy, fingerprint, seed, workdir, False)
    save_dir = save_dir or os.environ.get(SAVE_ENV) or None
    label = f"{var.name} model, policy {policy_label(policy)}, {fingerprint}, N={n}"

    class ConformanceMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.session = ReplaySession(ex, LocalDriver(), shared_writer(), fields, options,
                                         var.name)
            self.steps: list = []
            self.insts: list = []
            self.states = [ex.initial()]
            divergence = self.session.open()
            if divergence is not None:
                self.fail(divergence)

        def teardown(self) -> None:
            self.session.close()

        def choices(self, step: str) -> list:
            """Enabled instances of `step`, as the model says, that the harness
            can replay faithfully (external_plan.FileTracker.blocks)."""
            s = self.session.state
            out = []
            ctrls = [None] if step == "external_write" else range(1, n + 1)
            modes = WRITE_MODES if step == "begin_write" else (None,)
            kinds = ex.machine.world.kinds if step == "external_write" else (None,)
            for c in ctrls:
                for m in modes:
                    for k in kinds:
                        try:
                            ex.find(s, step, c, m, k)
                        except NotEnabled:
                            continue
                        candidate = Step(step, c, m, k)
                        if not self.session.blocked(candidate):
                            out.append(candidate)
            return out

        def take(self, step: Step) -> None:
            inst = ex.find(self.session.state, step.step, step.ctrl, step.mode, step.kind)
            number = len(self.steps) + 1
            self.steps.append(step)
            self.insts.append(inst)
            if currently_in_test_context():  # printed for the final failing example
                note(f"step {number}: {step.label()}")
            divergence = self.session.apply(step, None)
            self.states.append(self.session.state)
            if divergence is not None:
                self.fail(divergence)

        @invariant()
        def agrees_between_steps(self) -> None:
            # Nothing may change while nobody acts: observe again and compare
            # with the model's current state (no outcome to compare).
            view = self.session.driver.observe()
            model = expected(ex, self.session.state, None)
            diffs = self.session.comparator.compare(len(self.steps), model, view)
            if diffs:
                raise ConformanceFailure(
                    f"{label}: the implementation changed between steps, after "
                    f"{self.program()}\n" + "\n".join(diff_lines(diffs)))

        def program(self) -> str:
            return " · ".join(s.label() for s in self.steps) or "(no steps)"

        def fail(self, divergence) -> None:
            path = self.save() if save_dir else ""
            text = (f"{label}: the implementation diverges from the model\n"
                    f"program ({len(self.steps)} steps): {self.program()}\n"
                    + format_divergence(divergence, len(self.steps)))
            if path and isinstance(policy, str):
                text += (f"\nsaved as {path} (replay: sessionfence replay --policy {policy} "
                         f"--fingerprint {fingerprint} {path})")
            elif path:
                text += (f"\nsaved as {path} (policy {policy_label(policy)} is not built in: "
                         "replay it with conformance.replay.Replayer and that policy object)")
            raise ConformanceFailure(text)

        def save(self) -> str:
            if not _is_final():
                return ""  # only the shrunk program Hypothesis reports at the end
            os.makedirs(save_dir, exist_ok=True)
            path = os.path.join(save_dir, f"{var.name}-n{n}-hypothesis-"
                                f"{policy_name(policy)}-{fingerprint}.itf.json")
            trace = Trace(list(self.insts), list(self.states))
            model_traces.write(ex, trace, path, covers="hypothesis conformance failure",
                               status="divergence",
                               extra_meta={"generator": "hypothesis",
                                           "policy": policy_label(policy),
                                           "implementation_fingerprint": fingerprint})
            return path

    for step in STEPS:
        setattr(ConformanceMachine, step, _rule_for(step))
    ConformanceMachine.__name__ = ConformanceMachine.__qualname__ = (
        f"Conformance_{var.name.replace('-', '_')}_n{n}")
    ConformanceMachine.TestCase.settings = profile()
    return ConformanceMachine


def _rule_for(step: str):
    @precondition(lambda self: bool(self.choices(step)))
    @rule(data=st.data())
    def take_step(self, data) -> None:
        # Draw the label, not the Step: Hypothesis prints draws in its
        # reproduction, and the label is the trace vocabulary.
        by_label = {c.label(): c for c in self.choices(step)}
        picked = data.draw(st.sampled_from(list(by_label)), label=step)
        self.take(by_label[picked])

    take_step.__name__ = take_step.__qualname__ = step
    return take_step


def _is_final() -> bool:
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a Hypothesis run (a direct call): treat as final
        return True
