"""Random simulation: reproducible random walks that check the properties.

How a walk picks its next step. Every step has a default weight: 1, or
`FINAL_WEIGHT` for a step that always ends its controller (each transition
of it leads to a phase that no transition leaves: `dispose`), read off the
machine, not named.

1. each controller with an enabled step weighs the mean default weight of
   its enabled steps (1 for most; `FINAL_WEIGHT` for one that can only
   dispose, e.g. released while a peer holds the lock); the external
   writer, when it can write, weighs `EXTERNAL_SHARE` of the total;
2. an actor's weight goes to its enabled steps in proportion to their
   default weights (`begin_write` counts once, whatever its modes), and a
   step's weight evenly to its instances (its modes, or the external
   writer's kinds);
3. `--weights step=w,...` multiplies the weight of every instance of that
   step by w (0 leaves it out); the step is drawn by weight.

So each controller moves about as often as the others, whatever it is doing,
controllers live long enough to release, reacquire and write more than
once, and the external writer takes about one step in ten. Before, a walk
picked among all enabled instances alike: most of its steps were external
writes after every controller had finished, and few walks ever reacquired.

A walk runs to its depth bound, or until no controller has a step it may
take (the external writer alone is not simulated: once every controller is
done, its writes are steps nobody observes). Before each step it asks
`Executor.event` whether the step is an event of an `always` property, and
records the first step that violates each. A walk that violated one is then
cut after the last of these first violations: its file ends with an
offending step, is written with `status: violation` and `covers: violation
P` (P the property that step violates), and replays as a counterexample.
The walk does not stop at its first violation, because some violations are
only reachable through another: narrow-publication's shortest
released-safety run passes a safety violation two steps earlier.

Walk `i` of run seed `S` for variant `V` uses its own generator, seeded with
`walk_seed(S, i, V) = (S * 2**20 + i) XOR (crc32(V) * 2**20)`, which its
trace file records (`#meta.seed`), so one walk can be regenerated alone:
`walk(ex, seed, depth, weights)`. The variant's name is mixed in so that two
variants with the same enabled steps do not walk in lockstep for one seed.
"""

from __future__ import annotations

import math
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor
from sessionfence.model.properties import ALWAYS

MAX_WALKS = 1 << 20
EXTERNAL_SHARE = 0.1
FINAL_WEIGHT = 0.1

STOP_DEPTH = "depth"
STOP_QUIET = "no controller can move"
STOPS = (STOP_QUIET, STOP_DEPTH)


def variant_salt(variant: str) -> int:
    return zlib.crc32(variant.encode()) << 20


def walk_seed(seed: int, i: int, variant: str) -> int:
    if not 0 <= i < MAX_WALKS:
        raise ValueError(f"walk index must be below {MAX_WALKS}, got {i}")
    return (seed * MAX_WALKS + i) ^ variant_salt(variant)


def step_names(ex: Executor) -> list:
    """The machine's step names, in declaration order."""
    return list(dict.fromkeys(t.step for t in ex.machine.transitions))


def final_steps(ex: Executor) -> list:
    """Steps after which their controller can never move again."""
    sources = {t.source for t in ex.machine.transitions}
    by_step: dict = {}
    for t in ex.machine.transitions:
        by_step.setdefault(t.step, []).append(t)
    return [name for name, ts in by_step.items()
            if all(t.source is not None and t.target not in sources for t in ts)]


def default_weights(ex: Executor) -> dict:
    return {name: FINAL_WEIGHT for name in final_steps(ex)}


def parse_weights(text: str, steps) -> dict:
    """`external_write=0.5,reacquire=2` -> {step: weight}; ValueError says what is wrong."""
    out: dict = {}
    for part in text.split(","):
        name, eq, value = part.strip().partition("=")
        name = name.strip()
        if not eq or not name:
            raise ValueError(f"expected STEP=WEIGHT, got {part.strip()!r}")
        if name not in steps:
            raise ValueError(f"unknown step {name!r}; the steps are {', '.join(steps)}")
        try:
            w = float(value)
        except ValueError:
            raise ValueError(f"weight of {name} must be a number, got {value.strip()!r}") from None
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"weight of {name} must be a finite number >= 0, got {value.strip()}")
        out[name] = w
    return out


@dataclass
class Walk:
    index: int
    seed: int
    trace: Trace  # cut after the last first violation, if any
    stop: str  # STOP_DEPTH | STOP_QUIET: how the walk ended before any cut
    simulated: int  # steps walked (more than the trace keeps if it was cut)
    violations: dict = field(default_factory=dict)  # property -> index of its first event

    @property
    def violation(self) -> str:
        """The property the trace's last step violates (the one its file names), or ""."""
        return self.trace_violates[0] if self.violations else ""

    @property
    def trace_violates(self) -> tuple:
        """Every property the last step violates for the first time, in ALWAYS order."""
        last = len(self.trace.steps) - 1
        return tuple(p for p, i in self.violations.items() if i == last)


class Walker:
    """Draws walks of one executor. Keeps what does not change between
    walks: the default weights, which properties each transition can
    violate, and the events of recently seen states (walks from one initial
    state share most of their states, and `Executor.event` recomputes the
    enabled steps on every call)."""

    EVENT_CACHE = 50_000  # states; the cache is emptied when it is full

    def __init__(self, ex: Executor, weights: Optional[Mapping[str, float]] = None,
                 properties=ALWAYS):
        self.ex = ex
        self.defaults = default_weights(ex)
        self.weights = dict(weights or {})
        self.properties = tuple(properties)
        self._props: dict = {}  # transition key -> properties it can be an event of
        self._events: dict = {}  # (state, property name) -> its event instances
        self._shape_cache: dict = {}  # an actor's step names -> _shares

    def violates(self, s: tuple, inst) -> list:
        """The properties whose event `inst` is in state `s`."""
        t = inst.transition
        props = self._props.get(id(t))  # the executor keeps its transitions alive
        if props is None:
            props = self._props[id(t)] = [p for p in self.properties if p.matches(t)]
        out = []
        for p in props:
            key = (s, p.name)
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.EVENT_CACHE:
                    self._events.clear()
                events = self._events[key] = self.ex.event(s, p)
            if inst in events:
                out.append(p.name)
        return out

    def pick(self, rng: random.Random, enabled: list):
        """One of the `enabled` instances, drawn as the module doc says, or None."""
        actors: dict = {}
        for inst in enabled:
            same = actors.get(inst.ctrl)
            if same is None:
                actors[inst.ctrl] = [inst]
            else:
                same.append(inst)
        external = actors.pop(None, None)
        cands: list = []
        masses: list = []
        actors_weight = 0.0
        for insts in actors.values():
            weight, shares = self._shares(insts)
            actors_weight += weight
            cands += insts
            masses += [weight * x for x in shares]
        if not any(masses):
            return None  # no controller can move (or every step it could take is weighted out)
        if external:
            _, shares = self._shares(external)
            scale = EXTERNAL_SHARE / (1.0 - EXTERNAL_SHARE) * actors_weight
            cands += external
            masses += [scale * x for x in shares]
        r = rng.random() * sum(masses)
        for inst, m in zip(cands, masses):
            r -= m
            if r < 0:
                return inst
        return next(i for i, m in zip(reversed(cands), reversed(masses)) if m > 0)

    def _shares(self, insts: list) -> tuple:
        """An actor's weight (the mean default weight of its enabled steps)
        and each instance's share of it: steps in proportion to their
        default weights, a step's instances evenly, then times the user's
        weights. Cached by the actor's list of step names."""
        names = tuple(i.step for i in insts)
        got = self._shape_cache.get(names)
        if got is None:
            count: dict = {}
            for name in names:
                count[name] = count.get(name, 0) + 1
            base = {name: self.defaults.get(name, 1.0) for name in count}
            total = sum(base.values())
            got = (total / len(base),
                   [base[n] / total / count[n] * self.weights.get(n, 1.0) for n in names])
            self._shape_cache[names] = got
        return got

    def walk(self, seed: int, depth: int, cut: bool = True) -> Walk:
        ex = self.ex
        rng = random.Random(seed)
        s = ex.initial()
        steps, states = [], [s]
        stop = STOP_DEPTH
        first: dict = {}
        for _ in range(depth):
            inst = self.pick(rng, ex.enabled(s))
            if inst is None:
                stop = STOP_QUIET
                break
            for name in self.violates(s, inst):
                first.setdefault(name, len(steps))
            s = ex.fire(s, inst)
            steps.append(inst)
            states.append(s)
        simulated = len(steps)
        violations = {p.name: first[p.name] for p in self.properties if p.name in first}
        violating = None
        if violations:
            violating = max(violations.values())
            if cut:
                del steps[violating + 1:], states[violating + 2:]
        return Walk(-1, seed, Trace(steps, states, violating=violating), stop, simulated,
                    violations)


def walk(ex: Executor, seed: int, depth: int,
         weights: Optional[Mapping[str, float]] = None, properties=ALWAYS,
         cut: bool = True) -> Walk:
    """One walk of up to `depth` steps from the initial state (`index` is
    set by `random_walks`; a walk regenerated alone keeps -1). `weights`
    are the user's; they multiply what `default_weights` gives. `cut=False`
    keeps the steps after the last new violation."""
    return Walker(ex, weights, properties).walk(seed, depth, cut)


def random_walks(ex: Executor, k: int, depth: int, seed: int,
                 progress: Optional[Callable[[str], None]] = None,
                 weights: Optional[Mapping[str, float]] = None) -> list:
    if k > MAX_WALKS:
        raise ValueError(f"at most {MAX_WALKS} walks per run, got {k}")
    variant = ex.machine.variant.name
    walker = Walker(ex, weights)
    out = []
    for i in range(k):
        w = walker.walk(walk_seed(seed, i, variant), depth)
        w.index = i
        out.append(w)
        if progress is not None and i % 200 == 0:
            progress(f"random walk {i + 1}/{k}")
    return out


@dataclass
class Tally:
    """What a set of walks did: steps taken (as kept in the traces), ends, violations."""

    walks: int = 0
    steps: int = 0  # kept in the traces
    simulated: int = 0  # walked, including steps cut after a violation
    taken: Counter = field(default_factory=Counter)  # step name -> times taken
    in_walks: Counter = field(default_factory=Counter)  # step name -> walks taking it
    kinds: Counter = field(default_factory=Counter)  # (step, kind) -> times taken
    stops: Counter = field(default_factory=Counter)
    violating: int = 0  # walks that violate at least one property
    violations: Counter = field(default_factory=Counter)  # property -> walks violating it


def tally(walks: list) -> Tally:
    t = Tally(walks=len(walks))
    for w in walks:
        names = [inst.step for inst in w.trace.steps]
        t.steps += len(names)
        t.simulated += w.simulated
        t.taken.update(names)
        t.in_walks.update(set(names))
        for inst in w.trace.steps:
            kind = getattr(inst, "kind", None)
            if kind is not None:  # the external writer's kind of edit, where the model has one
                t.kinds[inst.step, getattr(kind, "label", str(kind))] += 1
        t.stops[w.stop] += 1
        t.violating += bool(w.violations)
        t.violations.update(w.violations.keys())
    return t


def steps_per_second(ex: Executor, depth: int, seconds: float = 1.0, seed: int = 0) -> float:
    """Simulation speed of this executor: model steps per second of walking
    (choice, property checks and all, as `traces --random` walks)."""
    steps, i = 0, 0
    variant = ex.machine.variant.name
    walker = Walker(ex)
    t0 = time.perf_counter()
    while True:
        steps += walker.walk(walk_seed(seed, i % MAX_WALKS, variant), depth).simulated
        i += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return steps / elapsed
