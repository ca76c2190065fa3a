"""Random simulation: reproducible random walks of the concrete executor.

Walk `i` of run seed `S` uses its own generator seeded with
`walk_seed(S, i)`, which its trace file records (`#meta.seed`), so a single
file can be regenerated without the others: `Executor.random_walk(
random.Random(seed), depth)` gives the same steps again.

A walk picks uniformly among the enabled step instances (external writes
included) and stops early only if nothing is enabled.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor

MAX_WALKS = 1 << 20


def walk_seed(seed: int, i: int) -> int:
    if not 0 <= i < MAX_WALKS:
        raise ValueError(f"walk index must be below {MAX_WALKS}, got {i}")
    return seed * MAX_WALKS + i


@dataclass
class Walk:
    index: int
    seed: int
    trace: Trace


def walk(ex: Executor, seed: int, depth: int) -> Trace:
    run = ex.random_walk(random.Random(seed), depth)
    states = [ex.initial()] + [s for _, s in run]
    return Trace([inst for inst, _ in run], states)


def random_walks(ex: Executor, k: int, depth: int, seed: int,
                 progress: Optional[Callable[[str], None]] = None) -> list:
    if k > MAX_WALKS:
        raise ValueError(f"at most {MAX_WALKS} walks per run, got {k}")
    out = []
    for i in range(k):
        ws = walk_seed(seed, i)
        out.append(Walk(i, ws, walk(ex, ws, depth)))
        if progress is not None and i % 200 == 0:
            progress(f"random walk {i + 1}/{k}")
    return out


def steps_per_second(ex: Executor, depth: int, seconds: float = 1.0, seed: int = 0) -> float:
    """Simulation speed of this executor: model steps per second of walking."""
    steps, i = 0, 0
    t0 = time.perf_counter()
    while True:
        steps += len(walk(ex, walk_seed(seed, i), depth).steps)
        i += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return steps / elapsed
