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
cannot pause at.
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional

from sessionfence.conformance import model_traces
from sessionfence.conformance.compare import fields_for
from sessionfence.conformance.external_plan import trace_seed
from sessionfence.conformance.external_writer import ExternalWriter
from sessionfence.conformance.itf import ItfError
from sessionfence.conformance.model_traces import StaleTrace, TraceFile
from sessionfence.conformance.session import (
    CrossedTick, Divergence, ReplaySession, SessionOptions, Unfaithful,
)

TICK_RETRIES = 3  # a stat-invisible rewrite that crossed a timestamp tick is retried
from sessionfence.impl import POLICIES
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import WRITE_PHASES
from sessionfence.model.machine import ModelDefinitionError, build
from sessionfence.model.variants import Variant


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


def pause_points_needed(lt: LoadedTrace) -> set:
    """Step boundaries inside a write section at which this trace switches
    to another actor (a peer or the external writer)."""
    need = set()
    run = lt.run
    for i, inst in enumerate(run.steps):
        if inst.ctrl is None or i + 1 >= len(run.steps):
            continue
        if lt.executor.phase(run.states[i + 1], inst.ctrl) in WRITE_PHASES \
                and run.steps[i + 1].ctrl != inst.ctrl:
            need.add(inst.step)
    return need


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
    kinds: dict = field(default_factory=dict)
    reproduced: str = ""
    violation: str = ""
    fields: tuple = ()
    kept: str = ""
    seconds: float = 0.0


@dataclass
class ReplayOptions(SessionOptions):
    policy: object = None  # None: the trace's variant if it is a policy, else reference
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

    def policy_for(self, lt: LoadedTrace):
        if self.options.policy is not None:
            return self.options.policy
        return lt.variant.name if lt.variant.name in self.driver.policies else "reference"

    def replay(self, lt: LoadedTrace) -> TraceResult:
        t0 = time.perf_counter()
        opts = self.options
        policy = self.policy_for(lt)
        pname = policy_name(policy)
        result = TraceResult(lt.source, lt.variant.name, policy_label(policy), opts.fingerprint,
                             lt.executor.n, len(lt.run.steps), violation=lt.violation)
        if isinstance(policy, str) and policy not in self.driver.policies:
            result.status, result.skipped = "skipped", f"the driver does not support policy {policy}"
            return result
        missing = sorted(pause_points_needed(lt) - set(self.driver.pause_points))
        if missing:
            result.status = "skipped"
            result.skipped = f"needs pause point(s) {', '.join(missing)}"
            return result
        internal = opts.compare == "all" or (opts.compare == "auto" and pname == lt.variant.name)
        key = (lt.executor, internal)
        if key not in self._fields:  # variables_used() walks every expression: once
            self._fields[key] = fields_for(lt.executor, self.driver.exposes, internal)
        result.fields = self._fields[key]
        workdir = opts.workdir or self._own_workdir
        session_opts = SessionOptions(policy, opts.fingerprint, opts.seed, workdir, opts.keep)
        steps = lt.tf.steps
        seed = trace_seed(opts.seed, [s.label() for s in steps])
        for attempt in range(1, TICK_RETRIES + 1):
            session = ReplaySession(lt.executor, self.driver, self.writer, result.fields,
                                    session_opts, lt.variant.name, seed)
            divergence = None
            finished = False
            try:
                divergence = session.open()
                for i, step in enumerate(steps):
                    if divergence is not None:
                        break
                    divergence = session.apply(step, steps[i + 1:])
                finished = True
            except CrossedTick as exc:
                if attempt < TICK_RETRIES:
                    continue
                result.status, result.skipped = "skipped", f"{exc} ({attempt} attempts)"
            except Unfaithful as exc:
                result.status, result.skipped = "skipped", str(exc)
            finally:
                # Locks and fds are given back whatever happened; with --keep the
                # directory of a divergence or a harness failure stays for a look.
                session.close(diverged=divergence is not None or not finished)
            break
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


@dataclass
class Summary:
    traces: int = 0
    conforming: int = 0
    diverged: int = 0
    skipped: int = 0
    steps: int = 0
    seconds: float = 0.0
    skip_reasons: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.diverged == 0 and self.conforming > 0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def summarize(results, seconds: float) -> Summary:
    s = Summary(traces=len(results), seconds=seconds)
    for r in results:
        s.steps += r.executed
        if r.status == "conforms":
            s.conforming += 1
        elif r.status == "diverged":
            s.diverged += 1
        else:
            s.skipped += 1
            s.skip_reasons[r.skipped] = s.skip_reasons.get(r.skipped, 0) + 1
    return s
