"""Shortest events by explicit-state breadth-first search on the executor.

For a small number of controllers the reachable states near the initial
one are few, and the compiled executor walks them faster than a solver
unrolls the transition relation: a shallow violation (or witness) is found
here in milliseconds. The search is bounded (classes of states); finding nothing
proves nothing, and the caller goes on with BMC and the provers.

States are deduplicated up to controller symmetry and renaming of numbers
(`explore.Reducer`), but the search keeps, for each class, the concrete
state it first reached and the step that led there, so the path it returns
is a run of the concrete semantics. Level by level, so it is a shortest one.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Optional

from sessionfence.model.concrete import Executor
from sessionfence.model.explore import Reducer
from sessionfence.model.machine import Machine

# Bounded by classes of states, so that a command finds the same counterexample
# on a busy machine as on an idle one; the time bound only guards against a
# pathological model. A class costs one canonical form over all controller
# permutations, so beyond 3 controllers the bound shrinks with N! to keep the
# search's cost near that of N = 3 (measured with all seven kinds of edit,
# narrow-publication, a loaded machine: 40,000 classes at N = 3 in 17 s,
# 10,000 at N = 4 in 16 s, 2,000 at N = 5 in 17 s; 40,000 at N = 5 would
# take about 6 minutes).
MAX_STATES = 40_000
MAX_SECONDS = 120.0


def default_bound(n: int) -> int:
    return MAX_STATES if n <= 3 else MAX_STATES * 6 // math.factorial(n)


def shortest_events(machine: Machine, n: int, props, *, max_states: Optional[int] = None,
                    seconds: float = MAX_SECONDS) -> dict:
    """{property name: step picks [(transition, ctrl, mode), ...]} of a
    shortest run ending in the property's event, for the events found
    before the bounds; a pick list ends with the event itself."""
    if max_states is None:
        max_states = default_bound(n)
    ex = Executor(machine, n)
    canon = Reducer(ex, forget=False)
    start = ex.initial()
    parent: dict = {canon(start): None}  # class -> (parent's class, instance) or None
    queue = deque([(start, canon(start))])
    pending = list(props)
    found: dict = {}
    deadline = time.perf_counter() + seconds
    while queue and pending and len(parent) < max_states and time.perf_counter() < deadline:
        s, key = queue.popleft()
        for prop in list(pending):
            events = ex.event(s, prop)
            if events:
                found[prop.name] = _path(parent, key) + [_pick(events[0])]
                pending.remove(prop)
        for inst, t in ex.successors(s):
            k = canon(t)
            if k not in parent:
                parent[k] = (key, inst)
                queue.append((t, k))
    return found


def _pick(inst) -> tuple:
    return (inst.transition, inst.ctrl, inst.mode)


def _path(parent: dict, key) -> list:
    steps = []
    while parent[key] is not None:
        key, inst = parent[key]
        steps.append(_pick(inst))
    return steps[::-1]


__all__ = ["MAX_SECONDS", "MAX_STATES", "default_bound", "shortest_events"]
