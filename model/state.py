"""State variables: who owns them, their sorts and initial values.

A machine's state is the union of four groups, each owned by someone else:

* **machine** -- the lock and phase discipline shared by every design
  (`holder`, `phase`, `mode`, `took`) and what the machine observes for a
  write section (`before`, `mine`, `landed`);
* **world** -- the file as the external writer changes it (`file` is its
  fingerprint in the checked mode; `ino`, `size`, `head`, ... are read by the
  content-aware designs; see `world.py`);
* **design** -- what a fence design keeps (`fence`, a registry, a trusted
  map, an owner ...): declared by each variant, written only by its rules;
* **ghost** -- what the properties need to know (`ext_released`,
  `ext_alive`), invisible to every design.

Handles (`file`, `phase[c]`, `fence[c]`) are how rules are written. A
design variable is declared with `shared(...)` or `per_ctrl(...)`, which
returns such a handle carrying its declaration; the brief's designs share
the ones declared at the end of this module, and a maintainer's variant may
declare more.

Fingerprints (sort `fp`) are integers: fresh values for new file states,
`NO_FP` for "nothing recorded", `MISSING` for a path with no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from sessionfence.model.expr import NO_FP, NOBODY_VALUE, Mode, Param, PerCtrl, Phase, Var, ite

SORTS = ("int", "bool", "ctrl", "phase", "mode", "fp")
OWNERS = ("machine", "world", "design", "ghost")


@dataclass(frozen=True)
class StateVar:
    name: str
    sort: str  # one of SORTS
    per_ctrl: bool
    init: object
    owner: str  # one of OWNERS
    doc: str

    @property
    def ghost(self) -> bool:
        return self.owner == "ghost"


def _default_init(sort: str):
    return NO_FP if sort == "fp" else (False if sort == "bool" else 0)


def _check_decl(name: str, sort: str, init) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a state variable name must be an identifier, got {name!r}")
    if name in RESERVED:
        raise ValueError(f"state variable {name!r} belongs to the {RESERVED[name].owner}; "
                         f"choose another name for the design's variable")
    if sort not in ("int", "bool", "fp"):
        raise ValueError(f"design variable {name!r}: sort must be 'int', 'bool' or 'fp' "
                         f"(a fingerprint), got {sort!r}")
    if sort == "bool" and not isinstance(init, bool):
        raise ValueError(f"design variable {name!r}: a bool needs True or False as initial "
                         f"value, got {init!r}")
    if sort != "bool" and (isinstance(init, bool) or not isinstance(init, int)):
        raise ValueError(f"design variable {name!r}: an {sort} needs an integer initial "
                         f"value, got {init!r}")


def shared(name: str, sort: str = "int", init: Union[int, bool, None] = None,
           doc: str = "") -> Var:
    """Declare a global design variable (one value for the whole process).

    Returns its handle, used in rules as is: `reg_gen + 1`."""
    init = _default_init(sort) if init is None else init
    _check_decl(name, sort, init)
    return Var(name, StateVar(name, sort, False, init, "design", doc))


def per_ctrl(name: str, sort: str = "int", init: Union[int, bool, None] = None,
             doc: str = "") -> PerCtrl:
    """Declare a per-controller design variable; its handle is used as `name[c]`."""
    init = _default_init(sort) if init is None else init
    _check_decl(name, sort, init)
    return PerCtrl(name, StateVar(name, sort, True, init, "design", doc))


def declaration(handle) -> StateVar:
    """The StateVar behind a handle from `shared` / `per_ctrl` (or a StateVar)."""
    if isinstance(handle, StateVar):
        return handle
    decl = getattr(handle, "decl", None)
    if isinstance(handle, (Var, PerCtrl)) and isinstance(decl, StateVar):
        return decl
    raise TypeError(f"a variant's state lists variables declared with shared(...) or "
                    f"per_ctrl(...); got {handle!r}")


# -- the machine's own variables -------------------------------------------------

MACHINE_VARS: tuple[StateVar, ...] = (
    StateVar("holder", "ctrl", False, NOBODY_VALUE, "machine", "who holds the session write lock"),
    StateVar("phase", "phase", True, Phase.idle, "machine", "where the controller is"),
    StateVar("mode", "mode", True, Mode.none, "machine", "the current write section's mode"),
    StateVar("took", "bool", True, False, "machine", "the lock was taken for this write section"),
    StateVar("before", "fp", True, NO_FP, "machine", "fingerprint read by read_before"),
    StateVar("mine", "fp", True, NO_FP, "machine", "fingerprint our own append produced"),
    StateVar("landed", "bool", True, False, "machine",
             "our append landed on `before` (nothing in between, as far as the fingerprint sees)"),
)

# -- the world: the file (see world.py for what each kind of edit does) ---------

WORLD_VARS: tuple[StateVar, ...] = (
    StateVar("clock", "int", False, 0, "world", "source of fresh values (versions, inodes)"),
    StateVar("file", "fp", False, 0, "world", "fingerprint of the transcript in the checked mode"),
    StateVar("content", "int", False, 0, "world",
             "the bytes, as an id: equal ids are byte-identical files (EMPTY, MISSING recur)"),
    StateVar("ino", "int", False, 0, "world", "inode identity of the path's file"),
    StateVar("size", "int", False, 1, "world", "length in lines"),
    StateVar("head", "int", False, 0, "world",
             "version of the bytes already there: changes when they are rewritten"),
    StateVar("cut", "int", False, 0, "world", "version changed by emptying (truncate, delete)"),
    StateVar("plain", "int", False, 0, "world",
             "version changed by a line that does not look like the runtime's own"),
)

# -- ghosts: for the properties only --------------------------------------------

GHOST_VARS: tuple[StateVar, ...] = (
    StateVar("ext_released", "bool", True, False, "ghost",
             "an external write happened while the controller was released"),
    StateVar("ext_alive", "bool", True, False, "ghost",
             "an external write happened while the controller was alive"),
    StateVar("seen", "int", True, 0, "ghost",
             "the content this controller last accepted or adopted (for the ABA reading)"),
)

RESERVED = {v.name: v for v in MACHINE_VARS + WORLD_VARS + GHOST_VARS}

# -- handles for rules ---------------------------------------------------------------

holder = Var("holder")
phase = PerCtrl("phase")
mode = PerCtrl("mode")
took = PerCtrl("took")
before = PerCtrl("before")
mine = PerCtrl("mine")
landed = PerCtrl("landed")
clock = Var("clock")
file = Var("file")
content = Var("content")
ino = Var("ino")
size = Var("size")
head = Var("head")
cut = Var("cut")
plain = Var("plain")
ext_released = PerCtrl("ext_released")
ext_alive = PerCtrl("ext_alive")
seen = PerCtrl("seen")

# -- design variables of the brief's designs (a variant declares which it uses) ---

fence = per_ctrl("fence", "fp", doc="the fingerprint this controller knows")
k_epoch = per_ctrl("k_epoch", "int", 0, "registry epoch this controller belongs to")
k_gen = per_ctrl("k_gen", "int", 0, "registry generation this controller has seen")
reg_epoch = shared("reg_epoch", "int", 0, "registry epoch (0: no registry yet)")
reg_gen = shared("reg_gen", "int", 0, "generation of the latest owned state")
reg_fp = shared("reg_fp", "fp", doc="fingerprint of the latest owned state")
next_epoch = shared("next_epoch", "int", 1, "the epoch a new baseline will get")
trusted = shared("trusted", "fp", doc="narrow-publication's trusted fingerprint")


# -- content snapshots (upstream's content-aware fences) ------------------------


_C = Param("c", "ctrl")  # the acting controller, as machine.C


class Snapshot:
    """Per-controller copies of the world's content variables, taken at some
    point (upstream's release-time text snapshot, a tail digest's old size).

    `snapshot("snap")` declares `snap_ino`, `snap_size`, `snap_head`,
    `snap_cut`, `snap_plain`; `take()` is the updates that copy the file's
    current values; the predicates in `world.py` (`same_inode`, `grew`,
    `prefix_intact`, `appended_runtime_like`, ...) compare the file with it.
    """

    FIELDS = ("ino", "size", "head", "cut", "plain")

    def __init__(self, prefix: str, doc: str = ""):
        self.prefix = prefix
        # -1: no snapshot yet; the world's values are >= 0, so nothing
        # compares equal to a snapshot that was never taken.
        self.handles = {f: per_ctrl(f"{prefix}_{f}", "int", -1,
                                    f"{doc or prefix}: the file's `{f}` then")
                        for f in self.FIELDS}

    def __getattr__(self, field: str):
        handles = self.__dict__.get("handles", {})
        if field in handles:
            return handles[field]
        raise AttributeError(field)

    @property
    def vars(self) -> tuple:
        return tuple(self.handles.values())

    def take(self, when=None) -> dict:
        """`{snap_x: x}` for every field (only `when` holds, if given)."""
        out = {}
        for f, h in self.handles.items():
            now = Var(f)
            out[h.name] = now if when is None else ite(when, now, h[_C])
        return out


def snapshot(prefix: str, doc: str = "") -> Snapshot:
    """Declare a content snapshot (see `Snapshot`)."""
    return Snapshot(prefix, doc)
