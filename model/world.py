"""The world: the file, the kinds of external edits, the fingerprint modes.

The file is abstracted just enough for every design's rule to be decided:

  file     its fingerprint in the checked mode (`stat` or `digest`)
  content  its bytes as an id: equal ids are byte-identical files
  ino      inode identity;  size  length in lines
  head     version of the bytes already there (rewrites in place change it)
  cut      version changed by emptying (truncate, delete)
  plain    version changed by appending a line that does not look like the
           runtime's own

New states get fresh values from one counter. Two values recur on purpose:
`MISSING` (every deleted file is the same absent file, in fingerprint and
content) and `EMPTY` (every emptied file has the same bytes, though its
stat fingerprint is fresh: ctime moves).

Modelling choices (docs/model.md repeats them):

* Rewrites happen at the start of the file, and the transcript is long
  enough that a rewritten head and the tail window of a tail digest never
  overlap: a prefix or same-size rewrite changes `head`, not the tail.
* The runtime's own appends look like the runtime's own lines (`plain`
  does not move); a forged line looks the same, a plain foreign one does not.
* A replacement keeps the size; an append or a replacement on a missing
  path creates the file.
* Stat fingerprints see every edit but the same-size rewrite with mtime
  kept. With `timestamps="coarse"` (kernels before 6.13, ext2, vfat, NFS,
  FUSE ...) it is invisible anywhere; with `"multigrain"` (Linux 6.13+ ext4,
  xfs, btrfs, tmpfs) only while some controller is between `read_before` and
  `finish_write`, where its own write moves ctime and its own stat comes
  next. Digest fingerprints see every edit.
* The model's owned append lands on the path's current file. A controller
  whose file descriptor still names a replaced or deleted inode would write
  to that orphan instead; the conformance harness does not create that
  situation (it says so when a trace would need it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from sessionfence.model import state as S
from sessionfence.model.expr import (
    EMPTY, FALSE, KINDS, MISSING, TRUE, Expr, Kind, Param, Phase, conj, disj, forall, ite, lift,
    named, variables_of,
)

FINGERPRINTS = ("digest", "stat")
TIMESTAMPS = ("coarse", "multigrain")
ABA_READINGS = ("content", "history")
# Where a same-size rewrite stays invisible with multigrain timestamps: after
# the holder's `read_before` stat and before its own write, which moves ctime
# again. The append step includes the holder's look right after its write
# (`mine`); from then on every change moves ctime where the holder will see it.
WINDOW_PHASES = (Phase.write_append,)

# What each kind of edit does to the file (None: the variable keeps its value).
# "F" is a fresh value; the fingerprint is decided separately (`_fingerprint`).
_EFFECTS = {
    Kind.append: dict(content="F", size="+1", plain="F"),
    Kind.forged_append: dict(content="F", size="+1"),
    Kind.prefix_rewrite: dict(content="F", size="+1", head="F"),
    Kind.same_size_rewrite: dict(content="F", head="F"),
    Kind.replace: dict(content="F", ino="F", head="F", cut="F"),
    Kind.truncate: dict(content=EMPTY, size=0, head="F", cut="F"),
    Kind.delete: dict(content=MISSING, size=0, ino="F", head="F", cut="F"),
}
# Kinds that edit bytes already there: no file, nothing to edit.
_NEEDS_FILE = (Kind.prefix_rewrite, Kind.same_size_rewrite, Kind.truncate, Kind.delete)
_NEEDS_BYTES = (Kind.prefix_rewrite, Kind.same_size_rewrite)
CONTENT_VARS = ("content", "ino", "size", "head", "cut", "plain")


@dataclass(frozen=True)
class World:
    """Everything about the environment a verdict depends on."""

    kinds: tuple = KINDS  # the external edits that can happen
    fingerprint: str = "digest"
    timestamps: str = "coarse"  # stat mode only
    atomic_writes: bool = False  # no external edit inside a write section
    aba: str = "content"  # how the properties read an edit that was undone

    def __post_init__(self):
        kinds = tuple(sorted(set(Kind(k) for k in self.kinds)))
        if not kinds:
            raise ValueError("the world needs at least one kind of external edit")
        object.__setattr__(self, "kinds", kinds)
        for value, allowed, what in ((self.fingerprint, FINGERPRINTS, "fingerprint"),
                                     (self.timestamps, TIMESTAMPS, "timestamps"),
                                     (self.aba, ABA_READINGS, "aba")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")

    def but(self, **changes) -> "World":
        return replace(self, **changes)

    @property
    def deletes(self) -> bool:
        return Kind.delete in self.kinds

    @property
    def recurs(self) -> bool:
        """Can the content come back to bytes seen before (ABA)?"""
        return Kind.delete in self.kinds or Kind.truncate in self.kinds

    @property
    def stat_blind(self) -> bool:
        """Can an edit leave the fingerprint unchanged?"""
        return self.fingerprint == "stat" and Kind.same_size_rewrite in self.kinds

    def describe(self) -> str:
        out = f"{self.fingerprint} fingerprints"
        if self.fingerprint == "stat":
            out += f" ({self.timestamps} timestamps)"
        if self.kinds != KINDS:
            out += ", external edits: " + ", ".join(k.label for k in self.kinds)
        if self.atomic_writes:
            out += ", atomic write sections"
        if self.aba != "content":
            out += f", {self.aba} reading of undone edits"
        return out


def parse_kinds(text: str) -> tuple:
    """`append,delete` -> (Kind.append, Kind.delete); ValueError names the bad one."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise ValueError("name at least one kind of external edit")
    return tuple(Kind.parse(n) for n in names)


@dataclass
class Layout:
    """Which world and ghost variables a machine needs, and where fresh values come from."""

    world: World
    variables: tuple = ()  # world variables, in declaration order
    ghosts: tuple = ()
    clock: bool = False  # fresh values from `clock` (else `file` is its own counter)
    notes: list = field(default_factory=list)

    @classmethod
    def plan(cls, world: World, reads: Iterable[str]) -> "Layout":
        reads = set(reads)
        content_reading = world.aba == "content" and world.recurs
        need = {"file"} | (reads & set(CONTENT_VARS))
        if content_reading:
            need.add("content")
        # A file can be empty (emptied, or created by `start` after a
        # deletion); an in-place rewrite needs bytes to rewrite.
        if world.recurs and set(world.kinds) & set(_NEEDS_BYTES):
            need.add("size")
        # `file` counts its own states unless it can stay put (stat-blind) or
        # come back (MISSING): then a separate counter hands out fresh values.
        clock = world.deletes or world.stat_blind
        if clock:
            need.add("clock")
        variables = tuple(v for v in S.WORLD_VARS if v.name in need)
        ghosts = ("ext_released", "ext_alive")
        if content_reading:
            ghosts += ("seen",)
        return cls(world, variables, tuple(g for g in S.GHOST_VARS if g.name in ghosts), clock)

    def has(self, name: str) -> bool:
        return any(v.name == name for v in self.variables)

    def has_ghost(self, name: str) -> bool:
        return any(g.name == name for g in self.ghosts)

    # -- fresh values and the effects they feed --------------------------------------
    def fresh(self) -> Expr:
        return S.clock + 1 if self.clock else S.file + 1

    def tick(self) -> dict:
        return {"clock": S.clock + 1} if self.clock else {}

    def missing(self) -> Expr:
        return S.file == MISSING if self.world.deletes else FALSE

    def _apply(self, spec: dict, fresh: Expr, created: Expr) -> dict:
        out = {}
        for name, how in spec.items():
            if not self.has(name):
                continue
            var = getattr(S, name)
            if how == "F":
                out[name] = fresh
            elif how == "+1":
                out[name] = ite(created, 1, var + 1) if created is not FALSE else var + 1
            else:
                out[name] = lift(how)
        if created is not FALSE:  # an edit on a missing path creates the file
            for name in ("ino", "head"):
                if self.has(name) and name not in out:
                    out[name] = ite(created, fresh, getattr(S, name))
        return out

    def external(self, kind: Kind) -> tuple[Expr, dict]:
        """(guard, updates) of an external edit of `kind` (ghosts excluded)."""
        fresh = self.fresh()
        missing = self.missing()
        guard = ~missing if kind in _NEEDS_FILE and self.world.deletes else TRUE
        if kind in _NEEDS_BYTES and self.has("size"):
            guard = conj(guard, S.size > 0)
        created = missing if kind in (Kind.append, Kind.forged_append, Kind.replace) else FALSE
        updates = {**self.tick(), **self._apply(_EFFECTS[kind], fresh, created)}
        updates["file"] = self._fingerprint(kind, fresh)
        return guard, updates

    def _fingerprint(self, kind: Kind, fresh: Expr) -> Expr:
        if kind is Kind.delete:
            return lift(MISSING)
        if kind is not Kind.same_size_rewrite or self.world.fingerprint == "digest":
            return fresh
        if self.world.timestamps == "coarse":
            return S.file  # same size, mtime kept: stat sees nothing
        window = named("in a write window",
                       ~forall(lambda d: ~S.phase[d].isin(WINDOW_PHASES)))
        return ite(window, S.file, fresh)

    def owned_append(self, c: Param) -> dict:
        """The file after controller c's own append (one runtime line)."""
        fresh = self.fresh()
        out = {**self.tick(), "file": fresh}
        if self.has("content"):
            out["content"] = fresh
        if self.has("size"):
            out["size"] = S.size + 1
        return out

    def create_if_missing(self) -> dict:
        """`start` opens the transcript with O_CREAT: an empty file if none."""
        if not self.world.deletes:
            return {}
        missing = self.missing()
        fresh = self.fresh()
        out = {"file": ite(missing, fresh, S.file)}
        if self.clock:
            out["clock"] = ite(missing, S.clock + 1, S.clock)
        made = {"content": EMPTY, "size": 0, "ino": fresh, "head": fresh, "cut": fresh}
        for name, value in made.items():
            if self.has(name):
                out[name] = ite(missing, value, getattr(S, name))
        return out

    def ghost_updates(self, d: Param, alive: Expr) -> dict:
        """Per controller d, what an external edit tells the properties."""
        released = S.phase[d] == Phase.released
        return {
            "ext_released": S.ext_released[d] | released,
            "ext_alive": S.ext_alive[d] | alive,
        }

    def exposed(self, ghost: str, c) -> Expr:
        """The property flag for ghost `ext_released`/`ext_alive` at c: set, and
        (content reading, where content can recur) the file is not
        byte-identical to the one c last accepted or adopted (`seen`)."""
        flag = getattr(S, ghost)[c]
        if self.has_ghost("seen"):
            return conj(flag, S.content != S.seen[c])
        return flag


# -- what content-aware fences ask of the file (upstream-designs.md §1.2-1.6) --------
# Each compares the file now with a `state.Snapshot` taken earlier by controller c.
# The world's abstraction makes them exact: `head` moves iff bytes already there
# were rewritten (or the file emptied, replaced, deleted), `cut` iff it was
# emptied or replaced, `plain` iff a line not in the runtime's shape was appended.


def same_inode(snap, c) -> Expr:
    return named("same inode", S.ino == snap.ino[c])


def grew(snap, c) -> Expr:
    return named("size grew", S.size > snap.size[c])


def not_shrunk(snap, c) -> Expr:
    return named("size did not shrink", S.size >= snap.size[c])


def prefix_intact(snap, c) -> Expr:
    """The bytes [0, old size) are byte-identical to the snapshot's."""
    return named("prefix byte-identical", S.head == snap.head[c])


def tail_intact(snap, c) -> Expr:
    """The last bytes before the old size are unchanged: the file was not
    emptied or replaced since (rewrites never reach the tail window)."""
    return named("old tail unchanged", S.cut == snap.cut[c])


def appended_runtime_like(snap, c) -> Expr:
    """Every line appended since the snapshot looks like the runtime's own
    (a forged line does; a plain foreign one does not)."""
    return named("appended lines runtime-like", S.plain == snap.plain[c])


def world_reads(exprs) -> set:
    """World variables read by some expression of `exprs`."""
    out: set = set()
    for e in exprs:
        out |= variables_of(e) & set(CONTENT_VARS)
    return out


__all__ = ["ABA_READINGS", "FINGERPRINTS", "Kind", "KINDS", "Layout", "TIMESTAMPS", "World",
           "appended_runtime_like", "disj", "grew", "not_shrunk", "parse_kinds", "prefix_intact",
           "same_inode", "tail_intact", "world_reads"]
