"""Verify (variant, world) jobs, in parallel processes when there are several.

`verify --all` checks up to 22 independent (variant, fingerprint mode)
jobs; each is one `check.verify` call, single-threaded in Z3. With
`jobs > 1` they run in a pool of fresh processes (`spawn`: a forked copy of a
process that holds Z3 contexts or test-runner threads is not safe), each
rebuilding its variant from its source (a built-in's name, or the variant
file's path) since a variant's rules are Python functions that do not
pickle. A result comes back without its trace, as the list of step picks;
the parent replays the picks on its own executor, so every counterexample
shown has been run through the concrete semantics in this process too.

Ctrl-C: the workers ignore SIGINT (the terminal sends it to the whole
process group); the parent stops them and lets `KeyboardInterrupt` reach
the CLI (exit 130, no table, no report).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Optional

import multiprocessing

from sessionfence.model import check
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor
from sessionfence.model.design import Variant
from sessionfence.model.expr import Mode
from sessionfence.model.machine import build
from sessionfence.model.world import World

WITNESS_CONTROLLERS = 2  # check.verify_any's default


@dataclass(frozen=True)
class Job:
    variant: Variant
    world: World
    source: Optional[str] = None  # the variant file the variant comes from; None: built-in

    @property
    def label(self) -> str:
        return f"{self.variant.name}, {self.world.fingerprint}"


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_one(job: Job, n, depth: int, properties, progress) -> list:
    if n == "any":
        return check.verify_any(job.variant, depth=depth, world=job.world, progress=progress,
                                properties=properties)
    return check.verify(job.variant, n, depth=depth, world=job.world, progress=progress,
                        properties=properties)


def run(jobs: list, n, depth: int, properties, *, workers: int,
        progress: Callable[[str], None], on_done: Callable[[Job, list], None]) -> list:
    """Results per job, in the order of `jobs`; `on_done(job, results)` as
    each job finishes (in completion order)."""
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            got = run_one(job, n, depth, properties,
                          lambda message, job=job: progress(f"[{job.label}, N={n}] {message}"))
            on_done(job, got)
            out.append(got)
        return out
    return _in_pool(jobs, n, depth, properties, workers, progress, on_done)


def _in_pool(jobs, n, depth, properties, workers, progress, on_done) -> list:
    done: dict = {}
    started = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                               initializer=_quiet_sigint)
    try:
        futures = {pool.submit(_worker, _spec(job), n, depth, properties): i
                   for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for f in finished:
                i = futures[f]
                done[i] = _rebuild(jobs[i], n, f.result())
                on_done(jobs[i], done[i])
            running = [jobs[futures[f]].label for f in pending if f.running()]
            if running:
                progress(f"{time.monotonic() - started:.0f} s, running: {'; '.join(running)}")
    except BaseException:
        # Interrupted or a worker failed: stop the others now, not after
        # their cells finish.
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [done[i] for i in range(len(jobs))]


def _quiet_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _spec(job: Job) -> tuple:
    return (job.source, job.variant.name, job.world)


def _worker(spec: tuple, n, depth: int, properties) -> list:
    source, name, world = spec
    job = Job(_variant(source, name), world, source)
    out = []
    for r in run_one(job, n, depth, properties, lambda message: None):
        picks = None
        if r.trace is not None:
            picks = [(i.transition.key, i.ctrl, None if i.mode is None else int(i.mode))
                     for i in r.trace.steps]
        out.append((dataclasses.replace(r, trace=None), picks))
    return out


def _variant(source: Optional[str], name: str) -> Variant:
    if source is None:
        from sessionfence.model.variants import get

        return get(name)
    from sessionfence.model import variant_file

    (found,) = [v for v in variant_file.load(source) if v.name == name]
    return found


def _rebuild(job: Job, n, got: list) -> list:
    """The worker's results with their traces replayed here."""
    out = []
    for r, picks in got:
        if picks is not None:
            controllers = n if n != "any" else WITNESS_CONTROLLERS
            machine = build(job.variant, r.world)
            by_key = {t.key: t for t in machine.transitions}
            steps = [(by_key[key], c, None if m is None else Mode(m)) for key, c, m in picks]
            r = dataclasses.replace(r, trace=check.replay(
                Executor(machine, controllers), steps, P.BY_NAME[r.property]))
        out.append(r)
    return out


__all__ = ["Job", "default_jobs", "run", "run_one"]
