"""Hunt for property violations directly on an implementation.

    with Hunter(LocalDriver(), HuntOptions(policy="broad-publication")) as h:
        found = h.hunt()

No variant is assumed: a schedule is grown step by step from what the
implementation reports (its phases and lock holder), with the model's steps
and the model's lock and phase discipline (`start` and `reacquire` only
when the lock is free, the write section's steps in order, the driver's
pause points respected), and the runner's external writer making the
model's kinds of edit between steps. Every schedule is judged by
`judge.Judge`, the same verdicts a replay gives, and `takeover-releases-lock`.

Schedules come in two phases:

* coverage-directed: an external edit whose *window* (its kind, the step
  just taken and the phase it left its controller in, the other
  controllers' phases) has not been tried yet is taken with high
  probability wherever it can be made;
* once coverage stops growing (`STALE` schedules in a row without a new
  window), random walks with swarm weights: each schedule draws which
  kinds of edit and which steps it favours, so rare combinations get
  room (swarm testing, Groce et al. 2012).

A violating schedule is shrunk by delta debugging (remove chunks of steps,
keep a candidate if every step can still be taken and the same property is
still violated), cut after the violating step, and written as an ITF trace
under the first variant whose model can take every step, so that
`sessionfence replay` reproduces it. Replace and delete are made only while
no controller holds the file open (a later append would go to the orphaned
inode, which no trace can say), rewrites only on a file with bytes.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from sessionfence.conformance.external_writer import KINDS, ExternalWriter
from sessionfence.conformance.judge import ImplViolation, Judge, decision_table, object_table
from sessionfence.conformance.model_traces import Step
from sessionfence.conformance.replay import pause_table, policy_name, takeover_releases_lock
from sessionfence.conformance.session import INITIAL_CONTENT
from sessionfence.model.expr import KINDS as MODEL_KINDS, Mode
from sessionfence.model.variants import BUILTIN

PROPERTIES = ("released-safety", "safety", "precision", "takeover-releases-lock")
MODES = ("publish", "broad", "cleanup")
OPEN = frozenset({"held", "released", "write_before", "write_append", "write_after"})
REWRITES = ("prefix-rewrite", "same-size-rewrite", "truncate", "delete")
KIND_OF = {k.label: k for k in MODEL_KINDS}
MODE_OF = {m.name: m for m in Mode}
STALE = 40  # schedules without a new window before the swarm phase
MAX_STEPS = 24  # steps per schedule
MAX_EDITS = 3  # external writes per schedule


@dataclass
class HuntOptions:
    policy: object = None  # None: the driver's own (its first listed policy)
    fingerprint: str = "digest"
    controllers: int = 2
    budget: float = 60.0  # seconds
    max_schedules: Optional[int] = None  # a deterministic bound (tests)
    seed: int = 0
    workdir: Optional[str] = None
    keep_going: bool = False  # hunt for every property until the budget is spent


@dataclass
class Found:
    property: str
    violation: ImplViolation
    schedule: list  # [Step], shrunk, ending with the violating step
    original: int  # steps before shrinking
    at_schedule: int  # the schedule number that found it
    seconds: float  # time to find it (before shrinking)
    trace: str = ""  # the ITF file written
    variant: str = ""  # the variant whose model takes the schedule
    note: str = ""


@dataclass
class HuntResult:
    policy: str
    fingerprint: str
    controllers: int
    schedules: int = 0
    steps: int = 0
    windows: int = 0
    seconds: float = 0.0
    phase: str = "coverage"
    found: list = field(default_factory=list)  # [Found]
    shrink_runs: int = 0


class Unrunnable(Exception):
    """A candidate schedule has a step the implementation's state does not allow."""


class _Run:
    """One schedule on a fresh directory: the driver, the writer, the judge."""

    def __init__(self, hunter: "Hunter"):
        h = hunter
        self.h = h
        self.directory = tempfile.mkdtemp(prefix="hunt-", dir=h.workdir)
        self.path = os.path.join(self.directory, "session.jsonl")
        with open(self.path, "wb") as fh:
            fh.write(INITIAL_CONTENT)
        self.view = h.driver.setup(self.directory, self.path, h.policy, h.options.fingerprint,
                                   h.options.controllers)
        self.judge = Judge(self.path, h.options.controllers, h.table)
        self.steps: list = []
        self.violations: list = []
        self.last: dict = {}  # controller -> (step label, mode) of its last step
        self.modes: dict = {}  # controller -> open section's mode
        self.stuck: Optional[int] = None  # a controller that cannot pause here
        self.edits = 0

    def close(self) -> None:
        try:
            self.h.driver.teardown()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- what can happen next ------------------------------------------------------
    def file_bytes(self) -> Optional[int]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return len(os.read(fd, 1))
        finally:
            os.close(fd)

    def controller_steps(self) -> list:
        v = self.view
        free = v.holder == "none"
        out = []
        for i in range(1, self.h.options.controllers + 1):
            if self.stuck is not None and i != self.stuck:
                continue
            ph = v.phase.get(f"c{i}")
            if ph == "idle":
                out += [Step("start", i)] if free else []
                out.append(Step("dispose", i))
            elif ph == "held":
                out += [Step("release", i), Step("dispose", i)]
                out += [Step("begin_write", i, MODE_OF[m]) for m in MODES]
            elif ph == "released":
                if free:
                    out.append(Step("reacquire", i))
                    out += [Step("begin_write", i, MODE_OF[m]) for m in MODES]
                out.append(Step("dispose", i))
            elif ph == "write_before":
                out.append(Step("read_before", i))
            elif ph == "write_append":
                out.append(Step("append", i))
            elif ph == "write_after":
                out.append(Step("finish_write", i))
        return out

    def edits_allowed(self) -> list:
        if self.stuck is not None:
            return []
        size = self.file_bytes()
        open_now = any(p in OPEN for p in self.view.phase.values())
        kinds = []
        for k in KINDS:
            if k in ("replace", "delete") and open_now:
                continue  # a held fd would write to the orphaned inode
            if size is None and k not in ("append", "forged-append", "replace"):
                continue
            if size == 0 and k in ("prefix-rewrite", "same-size-rewrite"):
                continue
            kinds.append(k)
        return kinds

    def window(self, kind: str) -> tuple:
        last = self.steps[-1] if self.steps else None
        if last is None or last.ctrl is None:
            where = ("(start)" if last is None else "external_write", "-")
        else:
            where = (last.label().rsplit(" ", 1)[0], self.view.phase.get(f"c{last.ctrl}"))
        others = tuple(sorted(p for c, p in self.view.phase.items()
                              if last is None or c != f"c{last.ctrl}"))
        return (kind, where, others)

    # -- taking a step -----------------------------------------------------------
    def take(self, step: Step) -> None:
        number = len(self.steps) + 1
        self.steps.append(step)
        if step.step == "external_write":
            kind = step.kind.label
            self.judge.external(number, kind, dict(self.view.phase))
            self.h.writer.write(self.path, kind)
            self.edits += 1
            self.view = self.h.driver.observe()
            return
        c = f"c{step.ctrl}"
        source, holder_before = self.view.phase.get(c, ""), self.view.holder
        mode = step.mode.name if step.mode is not None else None
        self.judge.before(step.step, step.ctrl)
        view = self.h.driver.step(step.step, step.ctrl, mode)
        self.view = view
        new = self.judge.step(number, step.step, step.ctrl, source, view.outcome,
                              view.phase.get(c, ""))
        lock = takeover_releases_lock(number, step.label(), step.ctrl, view, holder_before)
        self.violations += new + ([lock] if lock is not None else [])
        if step.step == "begin_write":
            self.modes[step.ctrl] = mode
        self.stuck = None
        if view.phase.get(c) in ("write_before", "write_append", "write_after") \
                and step.step in ("begin_write", "read_before", "append"):
            table = self.h.pauses.get(self.modes.get(step.ctrl, "publish"), set())
            if step.step not in table:
                self.stuck = step.ctrl

    def runnable(self, step: Step) -> bool:
        if step.step == "external_write":
            return step.kind.label in self.edits_allowed()
        return step in self.controller_steps()


class Hunter:
    def __init__(self, driver, options: HuntOptions,
                 progress: Callable[[str], None] = lambda message: None):
        self.driver = driver
        self.options = options
        self.progress = progress
        self.writer = ExternalWriter()
        policies = tuple(getattr(driver, "policies", ()))
        self.policy = options.policy if options.policy is not None else \
            (policies[0] if policies else "reference")
        self.pname = policy_name(self.policy)
        self.table = (decision_table(self.pname, BUILTIN) if isinstance(self.policy, str)
                      else object_table(self.policy))
        self.pauses = pause_table(driver.pause_points)
        self._own = tempfile.mkdtemp(prefix="sessionfence-hunt-") if options.workdir is None \
            else None
        self.workdir = options.workdir or self._own
        self.rng = random.Random(options.seed)
        self.windows: set = set()

    def close(self) -> None:
        self.writer.close()
        close = getattr(self.driver, "close", None)
        if close is not None:
            close()
        if self._own is not None:
            shutil.rmtree(self._own, ignore_errors=True)

    def __enter__(self) -> "Hunter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one schedule ---------------------------------------------------------------
    def _choose(self, run: _Run, swarm: Optional[dict]) -> Optional[Step]:
        rng = self.rng
        ctrl = run.controller_steps()
        kinds = run.edits_allowed() if run.edits < MAX_EDITS else []
        if swarm is not None:
            kinds = [k for k in kinds if k in swarm["kinds"]]
            if kinds and (not ctrl or rng.random() < swarm["edit"]):
                return Step("external_write", None, kind=KIND_OF[rng.choice(kinds)])
            if not ctrl:
                return None
            weights = [swarm["ops"].get(s.step, 1.0) for s in ctrl]
            return rng.choices(ctrl, weights)[0]
        fresh = [k for k in kinds if run.window(k) not in self.windows]
        if fresh and (not ctrl or rng.random() < 0.6):
            return Step("external_write", None, kind=KIND_OF[rng.choice(fresh)])
        if not ctrl:
            return None
        weights = [0.15 if s.step == "dispose" else 1.0 for s in ctrl]
        return rng.choices(ctrl, weights)[0]

    def _swarm(self) -> dict:
        rng = self.rng
        kinds = [k for k in KINDS if rng.random() < 0.5] or [rng.choice(KINDS)]
        ops = {op: rng.choice((0.2, 1.0, 3.0)) for op in
               ("start", "release", "reacquire", "begin_write", "read_before", "append",
                "finish_write")}
        ops["dispose"] = rng.choice((0.05, 0.2))
        return {"kinds": set(kinds), "edit": rng.choice((0.05, 0.15, 0.3)), "ops": ops}

    def _schedule(self, swarm: Optional[dict], found=()) -> tuple:
        """Grow one schedule until it violates a property not in `found`
        (one already found does not end it: a laundered edit is accepted
        only after the laundering write section adopted it)."""
        run = _Run(self)
        try:
            while len(run.steps) < MAX_STEPS and \
                    not any(v.property not in found for v in run.violations):
                step = self._choose(run, swarm)
                if step is None:
                    break
                if step.step == "external_write":
                    self.windows.add(run.window(step.kind.label))
                run.take(step)
            return list(run.steps), list(run.violations)
        finally:
            run.close()

    def replay(self, schedule: list, lenient: bool = False) -> tuple:
        """Run `schedule` again: (steps taken, violations). A step the
        implementation's state does not allow raises Unrunnable, or with
        `lenient` is left out (the shrinker's candidates)."""
        run = _Run(self)
        try:
            for step in schedule:
                if not run.runnable(step):
                    if lenient:
                        continue
                    raise Unrunnable(step.label())
                run.take(step)
            return list(run.steps), list(run.violations)
        finally:
            run.close()

    # -- the hunt ---------------------------------------------------------------------
    def hunt(self) -> HuntResult:
        o = self.options
        res = HuntResult(self.pname, o.fingerprint, o.controllers)
        t0 = time.perf_counter()
        stale = 0
        found: dict = {}
        while True:
            elapsed = time.perf_counter() - t0
            if elapsed >= o.budget or (o.max_schedules is not None
                                       and res.schedules >= o.max_schedules):
                break
            before = len(self.windows)
            swarm = self._swarm() if res.phase == "swarm" else None
            schedule, violations = self._schedule(swarm, found)
            res.schedules += 1
            res.steps += len(schedule)
            stale = stale + 1 if len(self.windows) == before else 0
            if res.phase == "coverage" and stale >= STALE:
                res.phase = "swarm"
            self.progress(f"hunt {self.pname}: {res.schedules} schedules, "
                          f"{len(self.windows)} windows, {elapsed:.0f}s ({res.phase})")
            for v in violations:
                if v.property in found:
                    continue
                found[v.property] = Found(v.property, v, schedule, len(schedule),
                                          res.schedules, time.perf_counter() - t0)
            if found and (not o.keep_going or set(found) == set(PROPERTIES)):
                break
        res.windows = len(self.windows)
        res.seconds = time.perf_counter() - t0
        for f in found.values():
            f.schedule, runs = self.shrink(f.property, f.schedule)
            res.shrink_runs += runs
            f.violation = next(v for v in self.replay(f.schedule)[1] if v.property == f.property)
        res.found = sorted(found.values(), key=lambda f: PROPERTIES.index(f.property))
        return res

    def _violates(self, prop: str, schedule: list) -> Optional[list]:
        """The steps `schedule` can take, up to the one violating `prop`
        (None if it does not violate it)."""
        taken, found = self.replay(schedule, lenient=True)
        at = next((v.step for v in found if v.property == prop), None)
        return None if at is None else taken[:at]

    def shrink(self, prop: str, schedule: list) -> tuple:
        """Delta debugging (ddmin, complement removal) to a schedule in which
        no single step can be removed. A candidate drops the steps that
        removal made impossible (a peer's section whose start went), so
        steps that only make sense together go together."""
        runs = 1
        current = self._violates(prop, schedule)
        if current is None:  # not reproducible: keep it as found
            return schedule, runs
        n = 2
        while len(current) >= 2:
            size = max(1, len(current) // n)
            reduced = False
            for start in range(0, len(current), size):
                candidate = current[:start] + current[start + size:]
                runs += 1
                kept = self._violates(prop, candidate)
                if kept is not None and len(kept) < len(current):
                    current, reduced = kept, True
                    n = max(n - 1, 2)
                    break
            if not reduced:
                if size == 1:
                    break
                n = min(len(current), n * 2)
        return current, runs


def model_world(fingerprint: str):
    from sessionfence.model.world import World

    return World() if fingerprint == "digest" else World(fingerprint="stat",
                                                         timestamps="multigrain")


def save(found: Found, path: str, fingerprint: str, controllers: int, prefer: str,
         variants: Optional[dict] = None) -> None:
    """Write `found.schedule` as an ITF trace under the first variant (the
    policy's own first) whose model can take every step; sets
    `found.variant` and `found.note`. A schedule no model can take is
    written as plain JSON steps instead (`found.note` says so)."""
    import json

    from sessionfence.conformance import model_traces
    from sessionfence.conformance.judge import model_violations
    from sessionfence.model.check import Trace
    from sessionfence.model.concrete import Executor, NotEnabled
    from sessionfence.model.machine import build

    known = dict(variants or BUILTIN)
    order = ([prefer] if prefer in known else []) + [v for v in known if v != prefer]
    world = model_world(fingerprint)
    for name in order:
        ex = Executor(build(known[name], world), controllers)
        s = ex.initial()
        insts, states = [], [s]
        try:
            for st in found.schedule:
                inst, s = ex.step(s, st.step, st.ctrl, st.mode, st.kind)
                insts.append(inst)
                states.append(s)
        except NotEnabled:
            continue
        prop = found.property
        if insts and prop in model_violations(ex, states[-2], insts[-1]):
            covers, status = f"violation {prop}", "violation"
        else:
            covers, status = f"hunt {prop}", "ok"
        model_traces.write(ex, Trace(insts, states, len(insts) - 1), path, covers=covers,
                           status=status,
                           description=f"sessionfence hunt: {found.violation.detail}",
                           extra_meta={"hunt": {"policy": prefer, "property": prop,
                                                "step": found.violation.step}})
        found.trace, found.variant = path, name
        if status != "violation":
            found.note = (f"the model of {name} takes these steps without violating {prop}: "
                          f"the implementation leaves that model's path (replay shows where)")
        return
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"hunt": {"policy": prefer, "property": found.property,
                            "step": found.violation.step, "detail": found.violation.detail},
                   "steps": [st.label() for st in found.schedule]}, fh, indent=1)
    found.trace = path
    found.note = ("no variant's model can take these steps, so they are written as a list of "
                  "step labels, not an ITF trace")


__all__ = ["Found", "HuntOptions", "HuntResult", "Hunter", "PROPERTIES"]
