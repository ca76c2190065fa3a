"""The state variables of the fence machine, declared once.

Fingerprints are integers: every write (owned or external) gives the file the
next unused integer, which makes fingerprints injective over file histories
(the brief's assumption, discharged by the implementation's digest mode).
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionfence.model.expr import NO_FP, NOBODY_VALUE, Mode, PerCtrl, Phase, Var


@dataclass(frozen=True)
class StateVar:
    name: str
    sort: str  # "int", "bool", "ctrl", "phase", "mode"
    per_ctrl: bool
    init: object
    ghost: bool
    doc: str


STATE_VARS: tuple[StateVar, ...] = (
    # -- shared world ------------------------------------------------------
    StateVar("file", "int", False, 0, False, "fingerprint of the transcript"),
    StateVar("holder", "ctrl", False, NOBODY_VALUE, False, "who holds the session write lock"),
    # -- process-wide registry (used by the publication designs) ------------
    StateVar("reg_epoch", "int", False, 0, False, "registry epoch (0: no registry yet)"),
    StateVar("reg_gen", "int", False, 0, False, "generation of the latest owned state"),
    StateVar("reg_fp", "int", False, NO_FP, False, "fingerprint of the latest owned state"),
    StateVar("next_epoch", "int", False, 1, False, "the epoch a new baseline will get"),
    StateVar("trusted", "int", False, NO_FP, False, "narrow-publication's trusted fingerprint"),
    # -- per controller ------------------------------------------------------
    StateVar("phase", "phase", True, Phase.idle, False, "where the controller is"),
    StateVar("mode", "mode", True, Mode.none, False, "the current write section's mode"),
    StateVar("took", "bool", True, False, False, "the lock was taken for this write section"),
    StateVar("fence", "int", True, NO_FP, False, "the fingerprint this controller knows"),
    StateVar("k_epoch", "int", True, 0, False, "registry epoch this controller belongs to"),
    StateVar("k_gen", "int", True, 0, False, "registry generation this controller has seen"),
    StateVar("before", "int", True, NO_FP, False, "fingerprint read by read_before"),
    StateVar("mine", "int", True, NO_FP, False, "fingerprint our own append produced"),
    StateVar("landed", "bool", True, False, False, "our append landed on `before` (nothing in between)"),
    # -- ghosts: for properties only, invisible to every design --------------
    StateVar("ext_released", "bool", True, False, True, "an external write happened while released"),
    StateVar("ext_alive", "bool", True, False, True, "an external write happened while alive"),
)

BY_NAME = {v.name: v for v in STATE_VARS}
GLOBAL_VARS = tuple(v for v in STATE_VARS if not v.per_ctrl)
PER_CTRL_VARS = tuple(v for v in STATE_VARS if v.per_ctrl)

# Handles used when writing rules: `file`, `phase[c]`, ...
file = Var("file")
holder = Var("holder")
reg_epoch = Var("reg_epoch")
reg_gen = Var("reg_gen")
reg_fp = Var("reg_fp")
next_epoch = Var("next_epoch")
trusted = Var("trusted")
phase = PerCtrl("phase")
mode = PerCtrl("mode")
took = PerCtrl("took")
fence = PerCtrl("fence")
k_epoch = PerCtrl("k_epoch")
k_gen = PerCtrl("k_gen")
before = PerCtrl("before")
mine = PerCtrl("mine")
landed = PerCtrl("landed")
ext_released = PerCtrl("ext_released")
ext_alive = PerCtrl("ext_alive")
