"""Drive the Python implementation step by step, in this process.

A driver is what the replay runner talks to: `setup` a session on a
transcript, perform one model step per call with the step-wise API, and
report a `compare.View` of the implementation after each. The subprocess
adapter (`adapter.py`) serves this same driver over JSON Lines, so the
in-process and the adapter replays run identical code on the
implementation side and differ only in transport.

Every model step is one library call, so the implementation is paused at
every step boundary, inside write sections included (the probe points
`begin_write`, `read_before`, `append`); the runner performs the external
writes in between.

The lock timeout is 0: in a conforming run the model's guard guarantees
the lock is free whenever a step takes it; if it is not, the step fails at
once with an "error" outcome instead of waiting (all controllers live in
this one thread).
"""

from __future__ import annotations

import os
from typing import Optional, Union

from sessionfence.conformance.compare import View
from sessionfence.impl._runtime_lines import runtime_line
from sessionfence.impl import (
    POLICIES,
    EventLog,
    PROBE_POINTS,
    Policy,
    Registry,
    SessionController,
    SessionFenceError,
    SessionTakeoverError,
    digest_fingerprint,
    stat_fingerprint,
)

PAUSE_POINTS = tuple(p for p in PROBE_POINTS if p != "finish_write")
"""Step boundaries inside a write section at which a driver can stop and let
other steps (peers, the external writer) run. After finish_write the section
is closed; every driver must stop there."""

EXPOSES = ("fence", "before", "reg_fp", "trusted", "reg_epoch", "reg_gen", "next_epoch",
           "k_epoch", "k_gen", "mode")
STEP_OPS = ("start", "release", "reacquire", "begin_write", "read_before", "append",
            "finish_write", "dispose")


class LocalDriver:
    """The reference implementation (`sessionfence.impl`) as a replay driver."""

    name = "sessionfence.impl (in-process)"
    pause_points = PAUSE_POINTS
    policies = tuple(POLICIES)
    exposes = EXPOSES

    def __init__(self, event_log: Optional[str] = None) -> None:
        # event_log: every controller of every session logs its steps there
        # (docs/event-log.md); replays then double as logs check-log can read.
        self.event_log = EventLog(event_log) if event_log else None
        self.ctrls: list = []
        self.path = ""
        self.directory = ""
        self._digest = False
        self._appends = 0

    def setup(self, directory: str, transcript: str, policy: Union[str, Policy],
              fingerprint: str, controllers: int) -> View:
        if isinstance(policy, str) and policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; the policies are {', '.join(POLICIES)}")
        self.teardown()
        self.directory, self.path = directory, transcript
        self._digest = fingerprint == "digest"
        registry = Registry()  # a private registry per trace: no state leaks between traces
        self.ctrls = [SessionController(transcript, policy=policy, fingerprint=fingerprint,
                                        registry=registry, timeout=0, name=f"c{i}",
                                        event_log=self.event_log)
                      for i in range(1, controllers + 1)]
        self._appends = 0
        return self.observe()

    def step(self, op: str, ctrl: int, mode: Optional[str] = None) -> View:
        if op not in STEP_OPS:
            raise ValueError(f"unknown step {op!r}; steps are {', '.join(STEP_OPS)}")
        if not 1 <= ctrl <= len(self.ctrls):
            raise ValueError(f"no controller c{ctrl} (this session has c1..c{len(self.ctrls)})")
        c = self.ctrls[ctrl - 1]
        outcome, detail = "ok", ""
        try:
            if op == "start":
                c.start()
            elif op == "release":
                c.release_for_prompt()
            elif op == "reacquire":
                c.reacquire_after_prompt()
            elif op == "begin_write":
                c.begin_write(mode or "publish")
            elif op == "dispose":
                c.dispose()
            else:
                section = c.section
                if section is None:
                    raise RuntimeError(f"{op}: c{ctrl} has no open write section "
                                       f"(phase {c.phase})")
                if op == "read_before":
                    section.read_before()
                elif op == "append":
                    self._appends += 1
                    # the runtime's own lines (the model's owned appends look like them)
                    section.append(runtime_line(f"c{ctrl}-{self._appends}"))
                else:
                    section.finish_write()
        except SessionTakeoverError as exc:
            outcome, detail = "takeover", f"{exc.check} check: {exc.reason}"
        except (SessionFenceError, OSError, RuntimeError, ValueError) as exc:
            text = str(exc).replace(self.directory, "<dir>") if self.directory else str(exc)
            outcome, detail = "error", f"{type(exc).__name__}: {text}"
        view = self.observe()
        view.outcome, view.detail = outcome, detail
        return view

    def observe(self) -> View:
        ctrls = self.ctrls
        if self._digest:
            file_fp = digest_fingerprint(self.path)[0]
        else:
            file_fp = stat_fingerprint(self.path)
        holders = [f"c{i}" for i, c in enumerate(ctrls, 1) if c.holds_lock]
        values: dict = {"file": file_fp, "fence": {}, "before": {}, "k_epoch": {},
                        "k_gen": {}, "mode": {}}
        for i, c in enumerate(ctrls, 1):
            k_epoch, k_gen, fence = c.known
            section = c.section
            name = f"c{i}"
            values["fence"][name] = fence
            values["k_epoch"][name] = k_epoch
            values["k_gen"][name] = k_gen
            values["before"][name] = section.before if section is not None else None
            values["mode"][name] = section.mode if section is not None else "none"
        if ctrls:
            reg = ctrls[0].registry_state()
            values.update(reg_epoch=reg.reg_epoch, reg_gen=reg.reg_gen, reg_fp=reg.reg_fp,
                          next_epoch=reg.next_epoch, trusted=reg.trusted)
        lock_file = os.path.lexists(ctrls[0].lock.path) if ctrls else None
        return View(None, {f"c{i}": c.phase for i, c in enumerate(ctrls, 1)},
                    "+".join(holders) or "none", lock_file, values)

    def teardown(self) -> None:
        """Give back every lock and fd (the runner removes the directory)."""
        for c in self.ctrls:
            c._event_log = None  # the harness's cleanup is no step of the trace
            try:
                if c.phase in ("idle", "held", "released"):
                    c.dispose()
                else:
                    c.__exit__(None, None, None)  # closes an open section's resources
            except SessionFenceError:
                pass
            while c.lock.held:
                c.lock.release()
        self.ctrls = []

    def close(self) -> None:
        self.teardown()
        if self.event_log is not None:
            self.event_log.close()
