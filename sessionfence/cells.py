"""Verify (variant, world) jobs, in parallel processes when there are several.

A job is a variant in one world (fingerprint mode ...). It is checked as
independent tasks: each `always` property on its own, and the `sometimes`
witnesses together, each one `check.verify` call, single-threaded in Z3.
The split is the same whatever the number of processes, so a command gives
the same counterexamples with `--jobs 1` and `--jobs 8`; it costs a little
CPU (each task selects its lemmas again) for a shorter critical path (the
longest counterexample search of a job no longer waits for the others).
With `jobs > 1` the tasks run in a pool of fresh processes (`spawn`: a forked copy of a
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
import multiprocessing
import os
import queue
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Optional

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


def tasks(jobs: list, properties) -> list:
    """(job index, property names or () for the witnesses), in job order."""
    names = [p.name for p in P.ALWAYS if properties is None or p.name in properties]
    return [(i, task) for i in range(len(jobs)) for task in [(name,) for name in names] + [()]]


def run_task(job: Job, n, depth: int, task: tuple, progress, any_options=None) -> list:
    """One task; `any_options` (saved invariant files, where to save learned
    ones, the learning budget) go to `check.verify_any` when n is "any"."""
    if n == "any":
        return check.verify_any(job.variant, depth=depth, world=job.world, progress=progress,
                                properties=task, witnesses=not task, **(any_options or {}))
    return check.verify(job.variant, n, depth=depth, world=job.world, progress=progress,
                        properties=task, witnesses=not task)


def run(jobs: list, n, depth: int, properties, *, workers: int,
        progress: Callable[[str], None], on_done: Callable[[Job, list], None],
        any_options: Optional[dict] = None) -> list:
    """Results per job (its cells in property order, then its witnesses), in
    the order of `jobs`; `on_done(job, results)` as each task finishes."""
    todo = tasks(jobs, properties)
    got: dict = {}

    def finished(i: int, task: tuple, results: list) -> None:
        got[(i, task)] = results
        on_done(jobs[i], results)

    if workers <= 1 or len(todo) <= 1:
        for i, task in todo:
            job = jobs[i]
            finished(i, task, run_task(job, n, depth, task, lambda message, job=job, task=task:
                                       progress(f"[{job.label}, N={n}] {message}"), any_options))
    else:
        _in_pool(jobs, todo, n, depth, workers, progress, finished, any_options)
    return [_in_order(got, i, todo) for i in range(len(jobs))]


def _in_order(got: dict, i: int, todo: list) -> list:
    return [r for j, task in todo if j == i for r in got[(j, task)]]


def _in_pool(jobs, todo, n, depth, workers, progress, finished, any_options) -> None:
    ctx = multiprocessing.get_context("spawn")
    # The pool marks a task "running" as soon as it is queued for a worker
    # (one more than there are workers): the workers say when they start.
    started = ctx.Queue()
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                               initializer=_init_worker, initargs=(started,))
    try:
        futures = {pool.submit(_worker, _spec(jobs[i]), n, depth, task, any_options, k): k
                   for k, (i, task) in enumerate(todo)}
        progress(f"{len(todo)} tasks in {min(workers, len(todo))} worker processes")
        pending = set(futures)
        # A worker runs one task at a time: its newest notice is its task.
        # (Its notice of the next task can arrive before the result of the
        # last one: the two travel on different queues.)
        current: dict = {}
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for f in done:
                i, task = todo[futures[f]]
                finished(i, task, _rebuild(jobs[i], n, f.result()))
            try:
                while True:
                    pid, k = started.get_nowait()
                    current[pid] = k
            except queue.Empty:
                pass
            now = set(current.values()) & {futures[f] for f in pending}
            running = [_label(jobs, n, *todo[k]) for k in sorted(now)]
            if running:
                progress("; ".join(running))
    except BaseException:
        # Interrupted or a worker failed: stop the others now, not after
        # their cells finish. (`_processes` is the pool's own list; the
        # public API has no way to kill a running task.)
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _label(jobs, n, i: int, task: tuple) -> str:
    return f"[{jobs[i].label}, N={n}] {task[0] if task else 'witnesses'} running"


_STARTED = None  # in a worker: the queue it announces each task's start on


def _init_worker(started) -> None:
    global _STARTED
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STARTED = started


def _spec(job: Job) -> tuple:
    return (job.source, job.variant.name, job.world)


def _worker(spec: tuple, n, depth: int, task: tuple, any_options, key: int) -> list:
    if _STARTED is not None:
        _STARTED.put((os.getpid(), key))
    source, name, world = spec
    job = Job(_variant(source, name), world, source)
    out = []
    for r in run_task(job, n, depth, task, lambda message: None, any_options):
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


__all__ = ["Job", "default_jobs", "run", "run_task", "tasks"]
