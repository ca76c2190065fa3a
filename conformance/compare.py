"""Model expectation vs implementation observation, after every step.

Both sides are reduced to the same shape, `View`: the step's outcome, each
controller's phase, the lock holder, whether the lock file exists, and
values named like the model's state variables (`file`, `fence[c]`,
`reg_fp`, ...). Phases, holders, modes and counters compare by value.

Fingerprints cannot: the model's are integers (every write gives the next
one), the implementation's are stat tuples or digests. They are related by
a **bijection** built as the trace goes: the first time model id `f3` meets
real fingerprint R they are bound; afterwards `f3` must always meet R and R
must always meet `f3`. A mismatch in either direction is a divergence:

* model f3 meets R' != R  -- the implementation changed something the model
  says is unchanged (or recorded a different state);
* R meets model f5 != f3  -- the model says the state is new but the real
  file (or fence) is still R: a write the implementation did not see, or a
  fence it did not move.

The model's "no fingerprint" (NO_FP) corresponds to None, outside the
bijection. Real fingerprints are named `#0, #1, ...` by first appearance, so
a report reads the same whichever process produced them (in-process or an
adapter's opaque tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Optional

from sessionfence.model.concrete import Executor
from sessionfence.model.expr import NO_FP
from sessionfence.model.machine import Decision

# Variables holding fingerprints are those of sort `fp` (compared through
# the bijection); the rest of a design's data compares by value. `mine` (the
# file right after our own append) is not observable in the implementation
# before finish_write, so it is not compared; neither are the world's
# abstractions (inode, size, ...) nor the ghosts.
NOT_COMPARED = ("mine", "landed", "took", "holder", "phase")
# What every implementation must report, whatever its design.
OBSERVABLE = ("outcome", "phase", "holder", "lock_file", "file")


def comparable(ex: Executor) -> tuple:
    """The variables of the design (and `before`, `mode`) a replay may compare."""
    return tuple(v.name for v in ex.machine.vars
                 if (v.owner == "design" or v.name in ("before", "mode"))
                 and v.name not in NOT_COMPARED)


def fp_vars(ex: Executor) -> frozenset:
    return frozenset(v.name for v in ex.machine.vars if v.sort == "fp")


@dataclass
class View:
    """One side's account of a step and the state after it."""

    outcome: Optional[str]  # ok | takeover | error; None for external_write
    phase: dict  # "c1" -> phase name
    holder: str  # "c1" | "none" | "c1+c2" (an impossible state, shown as such)
    lock_file: Optional[bool]
    values: dict = field(default_factory=dict)  # var -> value, or {"c1": value} per controller
    detail: str = ""  # the implementation's reason (takeover diagnosis, error text)


def expected(ex: Executor, state: tuple, decision: Optional[Decision]) -> View:
    """The model's view after a step with `decision` (None: external_write)."""
    d = ex.decode(state)
    outcome = None
    if decision is not None:
        outcome = "takeover" if decision is Decision.takeover else "ok"
    return View(outcome, d["phase"], d["holder"], d["holder"] != "none",
                {v: d[v] for v in ("file",) + comparable(ex)})


def fields_for(ex: Executor, exposed, internal: bool) -> tuple:
    """The variables to compare: observable ones, plus the design's own data
    when `internal` (the implementation runs the trace's own design)."""
    out = list(OBSERVABLE)
    if internal:
        used = set(ex.machine.variables_used())
        out += [v for v in comparable(ex) if v in used and v in exposed]
    return tuple(out)


@dataclass
class Diff:
    field: str  # "outcome", "phase[c1]", "fence[c2]", ...
    model: str
    impl: str


class Bijection:
    """Model fingerprint ids <-> real fingerprints (opaque hashable tokens).

    One exception to one-to-one: where the model says a same-size rewrite
    left the stat fingerprint as it was (`merge_next`), the harness's own
    stat may still see it; the model's id then stands for one more real
    fingerprint (both stay bound to it), which no controller saw in between.
    """

    def __init__(self) -> None:
        self.m2r: dict = {}
        self.r2m: dict = {}
        self.names: dict = {}  # real token -> "#k"
        self.first: dict = {}  # model id -> (step, field) where it was bound
        self.mergeable: set = set()  # model ids that may meet one more real fingerprint

    def merge_next(self, model: int) -> None:
        self.mergeable.add(model)

    def name(self, real: Hashable) -> str:
        if real is None:
            return "none"
        if real not in self.names:
            self.names[real] = f"#{len(self.names)}"
        return self.names[real]

    def check(self, fld: str, model: int, real: Any, step: int) -> Optional[Diff]:
        if model == NO_FP or real is None:
            if model == NO_FP and real is None:
                return None
            return Diff(fld, _fp(model), "none" if real is None else f"real {self.name(real)}")
        bound, back = self.m2r.get(model, _UNBOUND), self.r2m.get(real, _UNBOUND)
        if bound is _UNBOUND and back is _UNBOUND:
            self.m2r[model], self.r2m[real] = real, model
            self.first[model] = (step, fld)
            self.name(real)
            return None
        if bound is not _UNBOUND and (bound == real or back == model):
            return None
        if bound is not _UNBOUND and back is _UNBOUND and model in self.mergeable:
            self.mergeable.discard(model)
            self.m2r[model], self.r2m[real] = real, model
            self.name(real)
            return None
        if bound is not _UNBOUND:
            where = self.first[model]
            model_text = f"{_fp(model)} = real {self.name(bound)} (bound at step {where[0]}, {where[1]})"
        else:
            model_text = f"{_fp(model)} (a state the model has not shown before)"
        if back is not _UNBOUND:
            impl_text = f"real {self.name(real)} = model {_fp(back)}"
        else:
            impl_text = f"real {self.name(real)} (new)"
        return Diff(fld, model_text, impl_text)


_UNBOUND = object()


def _fp(value: int) -> str:
    return "⊥" if value == NO_FP else f"f{value}"


class Comparator:
    """Compares the two views of each step over a fixed set of fields;
    `fps`: the fields holding fingerprints."""

    def __init__(self, fields, fps=frozenset({"file", "before"})) -> None:
        self.fields = tuple(fields)
        self.fps = frozenset(fps) | {"file"}
        self.bijection = Bijection()

    def compare(self, step: int, model: View, impl: View) -> list:
        diffs: list[Diff] = []
        for fld in self.fields:
            if fld == "outcome":
                if model.outcome is not None and model.outcome != impl.outcome:
                    extra = f" ({impl.detail})" if impl.detail else ""
                    diffs.append(Diff("outcome", model.outcome, f"{impl.outcome}{extra}"))
            elif fld == "phase":
                for c, p in model.phase.items():
                    if impl.phase.get(c) != p:
                        diffs.append(Diff(f"phase[{c}]", p, str(impl.phase.get(c))))
            elif fld == "holder":
                if model.holder != impl.holder:
                    diffs.append(Diff("holder", model.holder, impl.holder))
            elif fld == "lock_file":
                if impl.lock_file is not None and model.lock_file != impl.lock_file:
                    diffs.append(Diff("lock file", _exists(model.lock_file), _exists(impl.lock_file)))
            else:
                diffs += self._value(step, fld, model.values.get(fld), impl.values.get(fld))
        return diffs

    def _value(self, step: int, fld: str, model, impl) -> list:
        if isinstance(model, dict):
            out = []
            impl = impl if isinstance(impl, dict) else {}
            for c in model:
                out += self._value(step, f"{fld}[{c}]", model[c], impl.get(c))
            return out
        base = fld.split("[", 1)[0]
        if base in self.fps:
            d = self.bijection.check(fld, model, impl, step)
            return [d] if d else []
        if base == "mode":
            impl = impl or "none"
        if model != impl:
            return [Diff(fld, str(model), str(impl))]
        return []


def _exists(flag: bool) -> str:
    return "present" if flag else "absent"

