"""Replay ITF traces on the real implementation and judge conformance.

    traces = load(["traces/"], variants)          # BadInput names file and place
    with Replayer(LocalDriver(), options) as r:
        results = [r.replay(t) for t in traces]

Every trace is first read and re-executed in the model (`model_traces`), so
a malformed or stale trace is rejected before anything runs. Then each
trace gets a fresh directory and driver session, and `session.ReplaySession`
steps model and implementation together.

What is compared: the observable behaviour always (outcome, phases, lock
holder, lock file, the file's fingerprint); the design's own fence data
(`fence[c]`, `before[c]`, registry, counters) too when the implementation
runs the trace's own design (policy name = variant name), because then the
policy's variables mean the same as the model's.

A trace is *skipped* (and counted) if the driver cannot run it: a policy
it does not support, or a write section interrupted at a step boundary it
cannot pause at (in that section's write mode).

Besides conformance, each result lists the *implementation property
violations* seen on the way (`ImplViolation`): `released-safety`, `safety`
and `precision` judged on what the implementation did (`judge.py`, whatever
the model says), and `takeover-releases-lock`, a controller that fails
closed and keeps the session write lock. A divergence says which side, if
any, violated a property at its step.

An adapter that dies, hangs or breaks the protocol in the middle of a trace
ends that trace as diverged at the step it did not answer, its process group
is killed, and `Replayer.failure` tells the caller to stop.
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional

from sessionfence.conformance import model_traces
from sessionfence.conformance.adapter_client import AdapterError
from sessionfence.conformance.compare import Diff, fields_for
from sessionfence.conformance.external_plan import trace_seed
from sessionfence.conformance.external_writer import ExternalWriter
from sessionfence.conformance.itf import ItfError
from sessionfence.conformance.judge import (
    ImplViolation, decision_table, model_violations, object_table, safe_side,
)
from sessionfence.conformance.model_traces import StaleTrace, TraceFile
from sessionfence.conformance.session import (
    CrossedTick, Divergence, ReplaySession, SessionOptions, Unfaithful,
)

TICK_RETRIES = 3  # a stat-invisible rewrite that crossed a timestamp tick is retried
from sessionfence.impl import POLICIES
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import WRITE_PHASES, Mode
from sessionfence.model.machine import ModelDefinitionError, build
from sessionfence.model.variants import BUILTIN, Variant


class BadInput(ValueError):
    """A trace file that cannot be replayed: the message names file and place."""


@dataclass
class LoadedTrace:
    tf: TraceFile
    variant: Variant
    executor: Executor
    run: Trace  # the model's own execution of the trace

    @property
    def source(self) -> str:
        return self.tf.source

    @property
    def violation(self) -> str:
        """The property this trace violates ("" unless it is a counterexample)."""
        covers = str(self.tf.meta.get("covers", ""))
        if self.tf.meta.get("status") == "violation" and covers.startswith("violation "):
            return covers.split(" ", 1)[1]
        return ""


def trace_paths(args: Iterable[str]) -> list:
    """Files named, plus every *.itf.json under named directories (sorted)."""
    out = []
    for arg in args:
        if os.path.isdir(arg):
            found = sorted(glob.glob(os.path.join(arg, "**", "*.itf.json"), recursive=True))
            if not found:
                raise BadInput(f"{arg}: directory holds no *.itf.json trace files")
            out += found
        elif os.path.exists(arg):
            out.append(arg)
        else:
            raise BadInput(f"{arg}: no such file or directory")
    return out


class _Executors:
    def __init__(self) -> None:
        self.cache: dict = {}

    def get(self, variant: Variant, world, n: int) -> Executor:
        key = (variant.name, world, n)
        if key not in self.cache:
            self.cache[key] = Executor(build(variant, world), n)
        return self.cache[key]


def load(args: Iterable[str], variants: dict) -> list:
    """Read and model-execute every trace; BadInput on the first problem."""
    executors = _Executors()
    out = []
    for path in trace_paths(args):
        try:
            tf = model_traces.read(path)
        except ItfError as exc:
            raise BadInput(str(exc)) from None
        variant = variants.get(tf.variant)
        if variant is None:
            raise BadInput(f"{path}: #meta.variant {tf.variant!r} is not a known variant "
                           f"({', '.join(variants)}); pass --variant-file for your own")
        try:
            ex = executors.get(variant, tf.world, tf.controllers)
        except ModelDefinitionError as exc:
            raise BadInput(f"{path}: {exc}") from None
        try:
            run = model_traces.execute(ex, tf)
        except StaleTrace as exc:
            raise BadInput(f"{exc} (the trace does not fit the current model)") from None
        out.append(LoadedTrace(tf, variant, ex, run))
    return out


@dataclass(frozen=True)
class PauseNeed:
    """The implementation must stop after `point` in a `mode` write section."""

    point: str  # the step after which it stops: begin_write, read_before, append
    mode: str  # the open section's write mode
    step: int  # 1-based number of that step in the trace
    controller: str
    next: str  # the label of the step another actor takes there


def pause_needs(lt: LoadedTrace) -> list:
    """Step boundaries inside a write section at which this trace switches
    to another actor (a peer or the external writer), with the section's mode."""
    need = []
    run = lt.run
    for i, inst in enumerate(run.steps):
        if inst.ctrl is None or i + 1 >= len(run.steps):
            continue
        after = run.states[i + 1]
        if lt.executor.phase(after, inst.ctrl) in WRITE_PHASES \
                and run.steps[i + 1].ctrl != inst.ctrl:
            mode = Mode(lt.executor.decode_raw(after)["mode"][inst.ctrl - 1]).name
            need.append(PauseNeed(inst.step, mode, i + 1, f"c{inst.ctrl}",
                                  run.steps[i + 1].label()))
    return need


def pause_points_needed(lt: LoadedTrace) -> set:
    """The pause points this trace needs, whatever the mode."""
    return {n.point for n in pause_needs(lt)}


def pause_table(points) -> dict:
    """A driver's pause points as {mode: set}; a plain list holds for every mode."""
    if isinstance(points, dict):
        return {m.name: set(points.get(m.name, ())) for m in Mode if m is not Mode.none}
    return {m.name: set(points) for m in Mode if m is not Mode.none}


def missing_pauses(lt: LoadedTrace, points) -> list:
    """The PauseNeeds of `lt` that the driver's pause points do not cover."""
    table = pause_table(points)
    return [n for n in pause_needs(lt) if n.point not in table[n.mode]]


def skip_text(missing) -> tuple:
    """(reason for the summary, reason with the first place for the trace)."""
    order = {p: i for i, p in enumerate(("begin_write", "read_before", "append"))}
    pairs = sorted({(n.point, n.mode) for n in missing}, key=lambda x: (order.get(x[0], 9), x))
    group = "needs pause point(s) " + ", ".join(f"{p} in {m}" for p, m in pairs)
    first = missing[0]
    return group, (f"{group} (first after step {first.step}, {first.point} {first.controller} "
                   f"in a {first.mode} section, where {first.next} runs)")


def takeover_releases_lock(number: int, label: str, ctrl: int, view,
                           holder_before: str) -> Optional[ImplViolation]:
    """A controller that failed closed must not keep the session write lock.

    It is kept if the implementation names it as the holder, or if the lock
    file is still there although, before the step, nobody else held the lock
    (the model's holder then was this controller or nobody, and the replay
    agreed with the model up to here)."""
    if view.outcome != "takeover":
        return None
    c = f"c{ctrl}"
    held = c in view.holder.split("+")
    left = view.lock_file is True and holder_before in ("none", c)
    if not (held or left):
        return None
    evidence = " and ".join(x for x in (held and f"it reports {c} as the holder",
                                        left and "the lock file is still there") if x)
    return ImplViolation("takeover-releases-lock", number, c, None,
                         f"step {number} ({label}): {c} failed closed but kept the session "
                         f"write lock ({evidence})")


class _Watch:
    """The driver as the session sees it, remembering the last step's answer
    (for the implementation properties) and whether a lock file was reported."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.last = None  # (op, ctrl, View) of the last step, None after observe
        self.lock_seen = False

    def __getattr__(self, name):
        return getattr(self.driver, name)

    def _saw(self, view):
        self.lock_seen = self.lock_seen or view.lock_file is not None
        return view

    def setup(self, *args):
        return self._saw(self.driver.setup(*args))

    def step(self, op, ctrl, mode=None):
        view = self._saw(self.driver.step(op, ctrl, mode))
        self.last = (op, ctrl, view)
        return view

    def observe(self):
        self.last = None
        return self._saw(self.driver.observe())

    def teardown(self):
        self.driver.teardown()


@dataclass
class TraceResult:
    source: str
    variant: str
    policy: str
    fingerprint: str
    controllers: int
    steps: int
    executed: int = 0
    status: str = "conforms"  # conforms | diverged | skipped
    divergence: Optional[Divergence] = None
    skipped: str = ""
    skip_group: str = ""  # the skip reason without the place, for the summary
    missing_pauses: list = field(default_factory=list)  # [PauseNeed]
    policy_source: str = "trace"  # option (--policy) | trace (its variant) | default
    violations: list = field(default_factory=list)  # [ImplViolation]
    derived: tuple = ()  # compared fields that are the adapter's bookkeeping
    lock_unobserved: bool = False  # holder derived and no lock_file ever reported
    adapter_failure: str = ""
    kinds: dict = field(default_factory=dict)
    reproduced: str = ""
    violation: str = ""
    fields: tuple = ()
    kept: str = ""
    seconds: float = 0.0


@dataclass
class ReplayOptions(SessionOptions):
    fingerprint: object = None  # None: each trace's own mode (the model's world)
    policy: object = None  # None: the trace's variant if the driver has it, else the driver's own
    compare: str = "auto"  # auto | observable | all


def policy_name(policy) -> str:
    """The design a policy implements (a Policy object's `name`)."""
    return policy if isinstance(policy, str) else getattr(policy, "name", type(policy).__name__)


def policy_label(policy) -> str:
    """For display: a policy object that is not the built-in class says so."""
    name = policy_name(policy)
    if isinstance(policy, str) or type(policy) is POLICIES.get(name):
        return name
    return f"{name} ({type(policy).__name__})"


class Replayer:
    """Replays traces on one driver with one external writer process."""

    def __init__(self, driver, options: ReplayOptions):
        self.driver = driver
        self.options = options
        self.writer = ExternalWriter()
        self._fields: dict = {}  # (executor, internal) -> compared fields
        self.failure = ""  # set when the adapter failed: replay no further traces
        self._own_workdir = None
        if options.workdir is None:
            self._own_workdir = tempfile.mkdtemp(prefix="sessionfence-replay-")

    def close(self) -> None:
        self.writer.close()
        close = getattr(self.driver, "close", None)
        if close is not None:
            close()
        if self._own_workdir is not None:
            try:
                os.rmdir(self._own_workdir)  # only if empty: kept traces stay
            except OSError:
                pass

    def __enter__(self) -> "Replayer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def policy_choice(self, lt: LoadedTrace) -> tuple:
        """(policy, source): --policy; else the trace's variant if the driver
        has that policy; else the driver's own, i.e. its first listed policy
        (a version 1 adapter keeps its rule: reference if it lists it)."""
        if self.options.policy is not None:
            return self.options.policy, "option"
        policies = tuple(self.driver.policies)
        if lt.variant.name in policies:
            return lt.variant.name, "trace"
        if getattr(self.driver, "protocol", 2) == 1 and "reference" in policies:
            return "reference", "default"
        return (policies[0] if policies else "reference"), "default"

    def policy_for(self, lt: LoadedTrace):
        return self.policy_choice(lt)[0]

    def replay(self, lt: LoadedTrace) -> TraceResult:
        t0 = time.perf_counter()
        opts = self.options
        policy, source = self.policy_choice(lt)
        pname = policy_name(policy)
        # The implementation's fingerprint mode: as asked, else the trace's own.
        fingerprint = opts.fingerprint or lt.tf.world.fingerprint
        result = TraceResult(lt.source, lt.variant.name, policy_label(policy), fingerprint,
                             lt.executor.n, len(lt.run.steps), violation=lt.violation,
                             policy_source=source)
        if isinstance(policy, str) and policy not in self.driver.policies:
            result.status, result.skipped = "skipped", f"the driver does not support policy {policy}"
            return result
        modes = getattr(self.driver, "fingerprint_modes", None)
        if modes is not None and fingerprint not in modes:
            result.status = "skipped"
            result.skipped = f"the implementation has no {fingerprint} fingerprint mode"
            return result
        missing = missing_pauses(lt, self.driver.pause_points)
        if missing:
            result.status, result.missing_pauses = "skipped", missing
            result.skip_group, result.skipped = skip_text(missing)
            return result
        internal = opts.compare == "all" or (opts.compare == "auto" and pname == lt.variant.name)
        key = (lt.executor, internal)
        if key not in self._fields:  # variables_used() walks every expression: once
            self._fields[key] = fields_for(lt.executor, self.driver.exposes, internal)
        result.fields = self._fields[key]
        derived = tuple(getattr(self.driver, "derived", ()))
        result.derived = tuple(f for f in result.fields if f in derived)
        workdir = opts.workdir or self._own_workdir
        session_opts = SessionOptions(policy, fingerprint, opts.seed, workdir, opts.keep)
        steps = lt.tf.steps
        decisions = (decision_table(pname, {**BUILTIN, lt.variant.name: lt.variant})
                      if isinstance(policy, str) else object_table(policy))
        seed = trace_seed(opts.seed, [s.label() for s in steps])
        for attempt in range(1, TICK_RETRIES + 1):
            watch = _Watch(self.driver)
            session = ReplaySession(lt.executor, watch, self.writer, result.fields,
                                    session_opts, lt.variant.name, seed, decisions)
            divergence = None
            finished = False
            failure: Optional[tuple] = None  # (step number, AdapterError)
            opened = retry = False
            result.violations.clear()
            try:
                divergence = session.open()
                opened = True
                for i, step in enumerate(steps):
                    if divergence is not None:
                        break
                    before, number = session.state, session.steps_done + 1
                    watch.last = None
                    try:
                        divergence = session.apply(step, steps[i + 1:])
                    finally:  # a property is reported even if the step then diverges
                        self._check_properties(result, lt, watch, number, before, session)
                    if divergence is not None and divergence.step == number:
                        self._safe_side(divergence, result, lt, before)
                finished = True
            except CrossedTick as exc:
                if attempt < TICK_RETRIES:
                    retry = True
                else:
                    result.status, result.skipped = "skipped", f"{exc} ({attempt} attempts)"
            except Unfaithful as exc:
                result.status, result.skipped = "skipped", str(exc)
            except AdapterError as exc:
                failure = (session.steps_done + 1 if opened else 0, exc)
            finally:
                # Locks and fds are given back whatever happened; with --keep the
                # directory of a divergence or a harness failure stays for a look.
                try:
                    session.close(diverged=divergence is not None or not finished)
                except AdapterError as exc:
                    failure = failure or (-1, exc)
            if not retry:
                break
        if failure is not None:
            divergence = self._adapter_failed(result, lt, session, divergence, *failure)
        elif divergence is not None and result.derived:
            _bookkeeping_verdict(divergence, result.derived)
        result.lock_unobserved = "holder" in result.derived and not watch.lock_seen
        result.executed = session.steps_done
        result.kinds = {k: v for k, v in session.kind_counts.items() if v}
        result.kept = session.kept
        if result.status == "skipped":
            result.seconds = time.perf_counter() - t0
            return result
        if divergence is not None:
            result.status, result.divergence = "diverged", divergence
        elif lt.violation and lt.run.steps:
            result.reproduced = session.reproduction(lt.violation, lt.run.steps[-1])
        result.seconds = time.perf_counter() - t0
        return result

    def _check_properties(self, result: TraceResult, lt: LoadedTrace, watch: _Watch,
                          number: int, before: tuple, session=None) -> None:
        judge = getattr(session, "judge", None)
        if judge is not None:
            result.violations += [v for v in judge.violations if v.step == number]
        if watch.last is None or watch.last[2].outcome != "takeover":
            return
        _, ctrl, view = watch.last
        holder = lt.executor.decode(before)["holder"]
        found = takeover_releases_lock(number, lt.tf.steps[number - 1].label(), ctrl, view,
                                       holder)
        if found is not None:
            result.violations.append(found)

    @staticmethod
    def _safe_side(dv: Divergence, result: TraceResult, lt: LoadedTrace, before: tuple) -> None:
        inst = lt.run.steps[dv.step - 1]
        dv.model_violates = model_violations(lt.executor, before, inst)
        dv.impl_violates = [v.property for v in result.violations
                            if v.step == dv.step and v.property in ("released-safety", "safety",
                                                                     "precision")]
        dv.safety = safe_side(lt.variant.name, dv.model_violates, dv.impl_violates)

    def _adapter_failed(self, result: TraceResult, lt: LoadedTrace, session, divergence,
                        number: int, exc: AdapterError) -> Divergence:
        """The adapter failed at step `number` (0: setup, -1: teardown); the
        trace is diverged there, and `self.failure` says why for the caller."""
        steps = lt.tf.steps
        if number == 0:
            label, model = "setup", "-"
        elif number < 0:
            number, label, model = session.steps_done, "teardown", "-"
        else:
            label = steps[number - 1].label()
            inst = lt.run.steps[number - 1]
            model = inst.transition.outcome if inst.ctrl is not None else "(observe)"
            model = {"accept": "ok"}.get(model, model)
        where = {"setup": "setup", "teardown": f"teardown (after step {number})"}.get(
            label, f"step {number} of {len(steps)} ({label})")
        self.failure = f"the adapter failed in {lt.source} at {where}: {exc}"
        result.adapter_failure = self.failure
        if divergence is not None:
            return divergence  # the trace had already diverged; keep that first
        transition, decision = "-", "-"
        if 0 < number <= len(lt.run.steps) and label != "teardown":
            t = lt.run.steps[number - 1].transition
            transition, decision = t.key, t.decision.value
        return Divergence(number, label, transition, decision,
                          [Diff("outcome", model, f"no answer ({exc.reason})")],
                          list(session.history),
                          "the adapter failed here; the run stops"
                          + (f" (adapter stderr: {exc.stderr})" if exc.stderr else ""))


def _bookkeeping_verdict(dv: Divergence, derived: tuple) -> None:
    if all(d.field.split("[", 1)[0] in derived for d in dv.diffs):
        dv.verdict = (f"only the adapter's bookkeeping differs ({', '.join(derived)} declared "
                      "derived); what was observed agrees with the model here: check the "
                      "adapter")


@dataclass
class Summary:
    traces: int = 0
    conforming: int = 0
    diverged: int = 0
    skipped: int = 0
    steps: int = 0
    seconds: float = 0.0
    skip_reasons: dict = field(default_factory=dict)
    violations: int = 0  # implementation property violations, all traces
    not_run: int = 0  # traces not replayed because the adapter failed before them

    @property
    def ok(self) -> bool:
        return (self.diverged == 0 and self.conforming > 0 and self.violations == 0
                and self.not_run == 0)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def summarize(results, seconds: float, not_run: int = 0) -> Summary:
    s = Summary(traces=len(results) + not_run, seconds=seconds, not_run=not_run)
    for r in results:
        s.steps += r.executed
        s.violations += len(r.violations)
        if r.status == "conforms":
            s.conforming += 1
        elif r.status == "diverged":
            s.diverged += 1
        else:
            s.skipped += 1
            reason = r.skip_group or r.skipped
            s.skip_reasons[reason] = s.skip_reasons.get(reason, 0) + 1
    return s
