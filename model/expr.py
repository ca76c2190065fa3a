"""A small expression language in which the fence machine is written once.

Guards, effects, fence rules, properties and invariants are all trees of the
nodes below. Three interpreters read the same trees: `concrete` compiles them
to Python for simulation, `smt` translates them to Z3 (for a fixed number of
controllers or for any number), and `pretty` prints them for diagrams and
reports. Nothing about the fence is stated anywhere else.

Sorts are deliberately few: `int`, `bool`, `ctrl` (a controller or `NOBODY`),
and two enumerations (`Phase`, `Mode`) that every back-end treats as small
integers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union


class Phase(enum.IntEnum):
    """Per-controller phase; the names are the brief's vocabulary."""

    idle = 0
    held = 1
    released = 2
    write_before = 3
    write_append = 4
    write_after = 5
    done = 6
    taken_over = 7


class Mode(enum.IntEnum):
    """Kind of locked write section (`begin_write`'s nondeterministic pick)."""

    none = 0
    publish = 1
    broad = 2
    cleanup = 3


class Kind(enum.IntEnum):
    """Kind of external edit (`external_write`'s pick); `label` is the name
    used everywhere outside Python (traces, CLI, docs, diagrams)."""

    append = 1  # a foreign line appended (another process, a cron, an editor)
    forged_append = 2  # a line that looks like the runtime's own, appended
    prefix_rewrite = 3  # earlier bytes rewritten in place, then a runtime-looking line
    same_size_rewrite = 4  # same size, mtime kept: stat cannot see it
    replace = 5  # a new file renamed over the path (new inode)
    truncate = 6  # emptied in place
    delete = 7  # unlinked

    @property
    def label(self) -> str:
        return self.name.replace("_", "-")

    @classmethod
    def parse(cls, text: str) -> "Kind":
        try:
            return cls[text.replace("-", "_")]
        except KeyError:
            raise ValueError(f"unknown external edit kind {text!r}; kinds: "
                             f"{', '.join(k.label for k in cls)}") from None


KINDS = tuple(Kind)
WRITE_MODES = (Mode.publish, Mode.broad, Mode.cleanup)
WRITE_PHASES = (Phase.write_before, Phase.write_append, Phase.write_after)
# A controller is "alive" while it can still make a fence decision.
ALIVE_PHASES = (Phase.held, Phase.released) + WRITE_PHASES

NO_FP = -1
"""The fingerprint of "nothing recorded yet"; real fingerprints are >= 0."""
MISSING = -2
"""The fingerprint (and content) of a path with no file: every deletion gives
the same one, so it is the one value a file can come back to (ABA)."""
EMPTY = -3
"""The content of an emptied file (truncate): byte-identical every time."""


class Expr:
    """Base node. Operators build trees; they never evaluate anything."""

    __slots__ = ()
    __hash__ = object.__hash__  # identity: `==` is overloaded to build nodes

    def __eq__(self, other):  # type: ignore[override]
        return Op("eq", (self, lift(other)))

    def __ne__(self, other):  # type: ignore[override]
        return Op("not", (Op("eq", (self, lift(other))),))

    def __lt__(self, other):
        return Op("lt", (self, lift(other)))

    def __le__(self, other):
        return Op("le", (self, lift(other)))

    def __gt__(self, other):
        return Op("lt", (lift(other), self))

    def __ge__(self, other):
        return Op("le", (lift(other), self))

    def __add__(self, other):
        return Op("add", (self, lift(other)))

    def __and__(self, other):
        return conj(self, other)

    def __or__(self, other):
        return disj(self, other)

    def __invert__(self):
        return Op("not", (self,))

    def __bool__(self):
        raise TypeError(
            "a model expression has no truth value while the model is being "
            "declared; combine expressions with &, |, ~ instead of and/or/not"
        )

    def isin(self, values: Iterable) -> "Expr":
        return disj(*(self == v for v in values))


@dataclass(frozen=True, eq=False)
class Lit(Expr):
    value: Union[int, bool, Phase, Mode, Kind, "Nobody"]


class Nobody:
    """The lock holder when nobody holds the lock."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "none"


NOBODY_VALUE = Nobody()


@dataclass(frozen=True, eq=False)
class Var(Expr):
    """A global state variable (`decl`: its declaration, for a design's own)."""

    name: str
    decl: object = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class At(Expr):
    """A per-controller state variable read at one controller."""

    name: str
    index: Expr


@dataclass(frozen=True, eq=False)
class Param(Expr):
    """A step parameter (`c`, `m`) or a variable bound by `forall`."""

    name: str
    sort: str  # "ctrl" or "mode"


@dataclass(frozen=True, eq=False)
class Op(Expr):
    """and, or, not, implies, eq, lt, le, add, ite."""

    op: str
    args: tuple


@dataclass(frozen=True, eq=False)
class Forall(Expr):
    """For every controller `var` (other than those in `distinct`)."""

    var: Param
    distinct: tuple
    body: Expr


@dataclass(frozen=True, eq=False)
class Named(Expr):
    """A definition with a name, printed by name in short labels."""

    name: str
    body: Expr


TRUE = Lit(True)
FALSE = Lit(False)
NOBODY = Lit(NOBODY_VALUE)


def lift(value) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, (bool, int, Phase, Mode, Kind, Nobody)):
        return Lit(value)
    raise TypeError(f"cannot use {value!r} ({type(value).__name__}) in a model expression")


def _flatten(op: str, unit: bool, parts) -> Expr:
    """`op` ("and"/"or") of `parts`, with nested `op`s inlined and its unit
    (True for and, False for or) dropped, so labels stay short."""
    items = []
    for part in map(lift, parts):
        if isinstance(part, Lit) and part.value is unit:
            continue
        if isinstance(part, Op) and part.op == op:
            items.extend(part.args)
        else:
            items.append(part)
    if not items:
        return TRUE if unit else FALSE
    return items[0] if len(items) == 1 else Op(op, tuple(items))


def conj(*parts) -> Expr:
    return _flatten("and", True, parts)


def disj(*parts) -> Expr:
    return _flatten("or", False, parts)


def implies(a, b) -> Expr:
    return Op("implies", (lift(a), lift(b)))


def ite(cond, then, other) -> Expr:
    return Op("ite", (lift(cond), lift(then), lift(other)))


_BOUND_NAMES = ("d", "e", "f", "g")


def forall(body: Callable[..., Expr], *, distinct: Iterable[Expr] = (), arity: int = 1) -> Expr:
    """`forall(lambda d: ...)`; with arity 2, `lambda d, e: ...` over d != e.

    Quantifies over controllers only (never over NOBODY). Bound variables of
    an arity-2 quantifier are pairwise distinct.
    """
    names = [n for n in _BOUND_NAMES][:arity]
    params = [Param(n, "ctrl") for n in names]
    inner = body(*params)
    outer_distinct = tuple(distinct)
    for i in reversed(range(arity)):
        inner = Forall(params[i], outer_distinct + tuple(params[:i]), inner)
    return inner


def named(name: str, body) -> Named:
    return Named(name, lift(body))


class PerCtrl:
    """Indexable handle for a per-controller variable: `phase[c]` (`decl`:
    its declaration, for a design's own)."""

    def __init__(self, name: str, decl: object = None):
        self.name = name
        self.decl = decl

    def __getitem__(self, index: Expr) -> At:
        return At(self.name, lift(index))

    def __repr__(self) -> str:
        return f"PerCtrl({self.name!r})"


def walk(expr: Expr):
    """Every node of the tree, parents first."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Op):
            stack.extend(node.args)
        elif isinstance(node, At):
            stack.append(node.index)
        elif isinstance(node, Forall):
            stack.append(node.body)
        elif isinstance(node, Named):
            stack.append(node.body)


def variables_of(expr: Expr) -> set[str]:
    return {n.name for n in walk(expr) if isinstance(n, (Var, At))}


def subst(expr: Expr, done: dict, acting: Param) -> Expr:
    """`expr` read in the state after the updates `done` ({var: value}).

    This is how the rules of one step compose in order: a later rule sees
    what an earlier one assigned. A per-controller variable in `done` was
    assigned at the `acting` controller, so a read of it at another index
    `d` becomes `if d = c then value else var[d]`.
    """
    if not done:
        return expr
    if isinstance(expr, Var):
        return done.get(expr.name, expr)
    if isinstance(expr, At):
        index = subst(expr.index, done, acting)
        if expr.name not in done:
            return expr if index is expr.index else At(expr.name, index)
        if isinstance(index, Param) and index.name == acting.name:
            return done[expr.name]
        return ite(index == acting, done[expr.name], At(expr.name, index))
    if isinstance(expr, Op):
        args = tuple(subst(a, done, acting) for a in expr.args)
        return expr if all(a is b for a, b in zip(args, expr.args)) else Op(expr.op, args)
    if isinstance(expr, Forall):
        body = subst(expr.body, done, acting)
        return expr if body is expr.body else Forall(expr.var, expr.distinct, body)
    if isinstance(expr, Named):
        body = subst(expr.body, done, acting)
        return expr if body is expr.body else Named(expr.name, body)
    return expr
