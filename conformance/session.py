"""One trace, step by step, on the model and on the implementation at once.

`ReplaySession` owns a fresh directory with a transcript, a driver session
(one implementation controller per model controller, same policy), and the
model state. `apply(step)` fires the step in the model, performs it on the
implementation (or, for `external_write`, has the external writer process
edit the file and asks the driver to observe), and compares the two views
(`compare.Comparator`). The first disagreement is returned as a
`Divergence`; later steps would be meaningless, so callers stop there.

Both the trace replay (`replay.py`) and the Hypothesis state machine
(`hypothesis_machine.py`) drive the implementation through this class, so
"conforms" means the same thing in both.

The transcript starts with one line (the model's initial file `f0` is a
transcript that already exists; a same-size rewrite needs bytes to rewrite).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Optional

from sessionfence.conformance.compare import Comparator, Diff, View, expected, fp_vars
from sessionfence.conformance.external_plan import WINDOW, FileTracker, coarse_timestamps
from sessionfence.conformance.external_writer import KINDS, ExternalWriter
from sessionfence.conformance.judge import Judge
from sessionfence.conformance.model_traces import Step
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import ALIVE_PHASES, Phase
from sessionfence.model.machine import Decision

INITIAL_CONTENT = b'{"role":"system","text":"transcript created before the trace"}\n'
_ALIVE = frozenset(p.name for p in ALIVE_PHASES)


class HarnessError(RuntimeError):
    """The harness itself failed (writer process, a step it must not take)."""


class Unfaithful(Exception):
    """A step cannot be made on real files as the model says (the reason
    names the physics); the trace is skipped, never changed."""


class CrossedTick(Unfaithful):
    """A same-size rewrite meant to be invisible to stat landed in a new
    timestamp tick: this attempt says nothing; the trace may be retried."""


@dataclass
class Divergence:
    step: int  # 1-based; 0 is the initial state
    label: str  # "finish_write c2"
    transition: str  # the model's transition key
    decision: str  # the model's decision: accept, adopt, takeover, none
    diffs: list  # [compare.Diff]
    history: list  # readable lines for the steps before, all of which agreed
    verdict: str  # one line: what kind of disagreement this is
    # Which side violated a property at this step (judge.safe_side); set by
    # the replay runner, which knows the model's state before the step.
    model_violates: list = field(default_factory=list)
    impl_violates: list = field(default_factory=list)
    safety: str = ""


@dataclass
class SessionOptions:
    policy: object = "reference"  # a policy name, or a Policy instance (in-process only)
    fingerprint: str = "stat"
    seed: int = 0
    workdir: Optional[str] = None  # parent of the per-trace directories
    keep: bool = False  # keep the directory of a diverging trace


class ReplaySession:
    def __init__(self, ex: Executor, driver, writer: ExternalWriter, fields,
                 options: SessionOptions, variant_name: str, seed=None,
                 decisions: Optional[dict] = None):
        self.ex, self.driver, self.writer = ex, driver, writer
        self.options = options
        self.variant_name = variant_name
        self.comparator = Comparator(fields, fp_vars(ex))
        self.tracker = FileTracker(options.fingerprint)
        self.state = ex.initial()
        self.steps_done = 0
        self.history: list[str] = []
        self.kinds_done: dict = {}  # step number -> kind label
        self.kind_counts = {k: 0 for k in KINDS}
        self.directory = ""
        self.path = ""
        self.kept = ""
        self._phases: dict = {}  # the implementation's phases after the last step
        # The ghosts of the model, recomputed from what the *implementation*
        # reported: which external write hit each controller while it was
        # released / alive. They turn a conforming replay of a counterexample
        # into a concrete statement about real files.
        self.real_released: dict = {}
        self.real_alive: dict = {}
        # The implementation's own property verdicts (judge.py), whatever the
        # model says; `decisions` is the policy's design table (None: generic).
        self._decisions = decisions
        self.judge: Optional[Judge] = None

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> Optional[Divergence]:
        self.directory = tempfile.mkdtemp(prefix="replay-", dir=self.options.workdir)
        self.path = os.path.join(self.directory, "session.jsonl")
        if self.options.fingerprint == "stat" and self.ex.machine.world.stat_blind:
            self.tracker.coarse = coarse_timestamps(self.directory)
        with open(self.path, "wb") as fh:
            fh.write(INITIAL_CONTENT)
        self.judge = Judge(self.path, self.ex.n, self._decisions, self.ex.machine.world.aba)
        view = self.driver.setup(self.directory, self.path, self.options.policy,
                                 self.options.fingerprint, self.ex.n)
        self._phases = dict(view.phase)
        diffs = self.comparator.compare(0, expected(self.ex, self.state, None), view)
        if diffs:
            return Divergence(0, "(initial state)", "-", "none", diffs, [],
                              "the implementation's initial state differs from the model's")
        return None

    def close(self, diverged: bool = False) -> None:
        try:
            self.driver.teardown()
        finally:
            if self.directory:
                if diverged and self.options.keep:
                    self.kept = self.directory
                else:
                    shutil.rmtree(self.directory, ignore_errors=True)

    # -- steps ---------------------------------------------------------------------
    def recorded_kinds(self) -> dict:
        """{step number: kind} of the external writes so far."""
        return dict(self.kinds_done)

    def phases(self) -> list:
        return [self.ex.phase(self.state, c) for c in range(1, self.ex.n + 1)]

    def blocked(self, step: Step) -> str:
        """Why the harness cannot take `step` faithfully now ("" if it can)."""
        if step.step == "external_write":
            return self.refusal(step, None)
        return self.tracker.blocks(step.step, step.ctrl)

    def refusal(self, step: Step, future) -> str:
        """Why the external edit `step` cannot be made faithfully now ("" if it can)."""
        try:
            _, after = self.ex.step(self.state, step.step, None, None, step.kind)
        except Exception:
            return ""  # the model refuses it; apply() says so
        invisible = self.ex.get(after, "file") == self.ex.get(self.state, "file")
        return self.tracker.refusal(step.kind, self.phases(), future, invisible)

    def apply(self, step: Step, future=None) -> Optional[Divergence]:
        """Fire `step` in the model and on the implementation; compare.

        `future`: the steps after this one (trace replay), which lets the
        physics check see whether an edit stays faithful; None without
        lookahead. Raises model NotEnabled if the model cannot take the step,
        Unfaithful if the real files cannot follow it.
        """
        number = self.steps_done + 1
        inst, after = self.ex.step(self.state, step.step, step.ctrl, step.mode, step.kind)
        before_phases = self.phases()
        if step.step == "external_write":
            kind = step.kind.label
            why = self.refusal(step, future)
            if why:
                raise Unfaithful(f"step {number} ({step.label()}): {why}")
            invisible = self.ex.get(after, "file") == self.ex.get(self.state, "file")
            try:
                reply = self.writer.write(self.path, kind)
            except Exception as exc:
                raise HarnessError(f"step {number}: the external writer failed: {exc}") from exc
            if invisible and self.options.fingerprint == "stat":
                if reply.get("stat_changed") and self.tracker.coarse and \
                        not any(p in WINDOW for p in before_phases):
                    raise CrossedTick(f"step {number} ({step.label()}): the rewrite landed in a "
                                      "new timestamp tick")
                # Stat cannot see it where it matters (the model says so); the
                # harness's own observation may, so the model's fingerprint
                # may meet one more real one from here on.
                self.comparator.bijection.merge_next(self.ex.get(after, "file"))
            self.kinds_done[number] = kind
            self.kind_counts[kind] += 1
            self.tracker.wrote(step.kind, before_phases)
            self._external_hit(number, kind)
            view = self.driver.observe()
            model = expected(self.ex, after, None)
            line = f"{number:>4}  {step.label():<24}"
        else:
            why = self.blocked(step)
            if why:
                raise Unfaithful(f"step {number} ({step.label()}): {why}")
            mode = step.mode.name if step.mode is not None else None
            self.judge.before(step.step, step.ctrl)
            view = self.driver.step(step.step, step.ctrl, mode)
            c = f"c{step.ctrl}"
            self.judge.step(number, step.step, step.ctrl, self._phases.get(c, ""),
                            view.outcome, view.phase.get(c, ""))
            model = expected(self.ex, after, inst.transition.decision)
            self.tracker.stepped(step.step, step.ctrl, self.ex.phase(after, step.ctrl))
            line = f"{number:>4}  {step.label():<24} {model.outcome}"
        diffs = self.comparator.compare(number, model, view)
        self._phases = dict(view.phase)
        self.state = after
        self.steps_done = number
        if diffs:
            return Divergence(number, step.label(), inst.transition.key,
                              inst.transition.decision.value, diffs, list(self.history),
                              _verdict(model, view, self.variant_name))
        self.history.append(line)
        return None

    def _external_hit(self, number: int, kind: str) -> None:
        self.judge.external(number, kind, self._phases)
        for c, phase in self._phases.items():
            if phase == "released":
                self.real_released.setdefault(c, (number, kind))
            if phase in _ALIVE:
                self.real_alive.setdefault(c, (number, kind))

    # -- evidence --------------------------------------------------------------------
    def reproduction(self, prop_name: str, inst) -> str:
        """After a conforming replay whose last step is `prop_name`'s event:
        what happened on real files, in one sentence ("" if the real ghosts
        do not show the violation)."""
        c = f"c{inst.ctrl}"
        n = self.steps_done
        decision = inst.transition.decision
        what = f"step {n} ({inst.label()})"
        if prop_name == "precision" and decision is Decision.takeover:
            if c not in self.real_alive:
                return (f"{what}: the implementation took over although no external write "
                        f"happened while {c} was alive: a false takeover on real files")
            return ""
        hits = self.real_released if prop_name == "released-safety" else self.real_alive
        prop = P.BY_NAME.get(prop_name)
        if prop is None or decision not in prop.decisions or c not in hits:
            return ""
        at, kind = hits[c]
        verb = "accepted" if decision is Decision.accept else "adopted"
        while_ = "released" if prop_name == "released-safety" else "alive"
        return (f"{what}: the implementation {verb} the file although the external writer "
                f"changed it at step {at} ({kind}) while {c} was {while_}")


def _verdict(model: View, impl: View, variant: str) -> str:
    if impl.outcome == "error":
        return "the implementation raised an error where the model takes a step"
    if model.outcome == "ok" and impl.outcome == "takeover":
        return f"the implementation fails closed where the model of {variant} goes on"
    if model.outcome == "takeover" and impl.outcome == "ok":
        return f"the implementation goes on where the model of {variant} takes over"
    if model.outcome is None:
        return "after the external write the implementation's state differs from the model's"
    return "same outcome, but the state after the step differs"


def diff_lines(diffs) -> list:
    """`- field: model` / `+ field: implementation` pairs."""
    out = []
    for d in diffs:
        out.append(f"- {d.field}: {d.model}")
        out.append(f"+ {d.field}: {d.impl}")
    return out


def format_divergence(dv: Divergence, total_steps: Optional[int] = None,
                      indent: str = "  ") -> str:
    """A divergence as text: where, the steps that agreed, and the diff."""
    of = f" of {total_steps}" if total_steps else ""
    lines = [f"diverged at step {dv.step}{of}: {dv.label}   "
             f"(model: {dv.transition}, decision {dv.decision})"]
    if dv.history:
        lines.append("steps before, all in agreement:")
        lines += [f"  {h}" for h in dv.history]
    lines.append("--- model   +++ implementation")
    lines += diff_lines(dv.diffs)
    lines.append(dv.verdict)
    if dv.safety:
        lines.append(dv.safety)
    return "\n".join(indent + line for line in lines)


__all__ = ["Diff", "Divergence", "HarnessError", "ReplaySession", "SessionOptions", "diff_lines"]
