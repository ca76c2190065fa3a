#!/usr/bin/env python3
"""Speed of the conformance tooling: simulation, coverage, replay, Hypothesis.

  simulation   model steps per second of `conformance.simulate` (the engine
               of `traces --random`: the per-actor choice and the property
               checks included), per variant, N = 2 and 3; and the cost of
               writing the walks as ITF files.
  cover        wall time of `traces --cover` (Z3 search, proofs, replay in
               the model) per variant, N = 2 and 3.
  replay       steps per second of `replay` over the same trace set (every
               cover target plus random walks, all four variants, N = 3) in
               process and through the subprocess adapter, stat and digest
               fingerprints; per step in µs, next to the ~29 µs physical
               floor of one full lock cycle (reliability notes). A replay
               step is one model step: many are a lock cycle, some only a
               stat, and each is followed by an observation and a comparison.
  hypothesis   programs (examples) and steps per second of the generated
               state machine under fixed settings (40 programs of up to 25
               steps, derandomized, like the `ci` profile).

Each figure is the median of several rounds. Usage:
  benchmarks/bench_conformance.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

from sessionfence.conformance import cover as C
from sessionfence.conformance import model_traces, simulate
from sessionfence.conformance import replay as R
from sessionfence.conformance.adapter_client import AdapterDriver
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.model import variants
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build

VARIANTS = ("strict-fingerprint", "broad-publication", "narrow-publication", "reference")
ADAPTER = f"{sys.executable} -m sessionfence.conformance.adapter"


def median_of(rounds: int, fn) -> float:
    return statistics.median(fn() for _ in range(rounds))


def bench_simulation(quick: bool) -> None:
    print("## Simulation (traces --random): model steps per second")
    print()
    seconds = 0.3 if quick else 1.0
    for n in (2, 3):
        for name in VARIANTS:
            ex = Executor(build(variants.get(name)), n)
            rate = median_of(3, lambda: simulate.steps_per_second(ex, 50, seconds))
            print(f"  N={n}  {name:<20} {rate:>10,.0f} steps/s")
    ex = Executor(build(variants.get("reference")), 3)
    d = tempfile.mkdtemp(prefix="sf-bench-")
    try:
        walks = simulate.random_walks(ex, 200, 50, seed=1)
        steps = sum(len(w.trace.steps) for w in walks)
        t0 = time.perf_counter()
        for w in walks:
            model_traces.write(ex, w.trace, os.path.join(d, f"w{w.index}.itf.json"),
                               covers="bench", seed=w.seed)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(d)
    # walks end when no controller can move, so they are shorter than the bound
    per_file = seconds / len(walks) * 1000
    print(f"  writing a walk as an ITF file: {per_file:.2f} ms for {steps / len(walks):.1f} steps "
          f"on average (= {steps / seconds:,.0f} steps/s including files)")
    print()


def bench_cover(quick: bool) -> None:
    print("## Coverage (traces --cover): seconds per variant")
    print()
    for n in ((2,) if quick else (2, 3)):
        for name in VARIANTS:
            t0 = time.perf_counter()
            result = C.cover(variants.get(name), n)
            dt = time.perf_counter() - t0
            print(f"  N={n}  {name:<20} {dt:6.2f} s  {len(result.covered)} targets reached, "
                  f"{len(result.unreached)} unreached")
    print()


def trace_set(directory: str, quick: bool) -> list:
    walks = 10 if quick else 40
    for name in VARIANTS:
        v = variants.get(name)
        ex = Executor(build(v), 3)
        for c in C.cover(v, 3).covered:
            model_traces.write(ex, c.trace, os.path.join(directory, C.file_name(name, 3, False,
                                                                                c.target)),
                               covers=c.target.name, status=c.target.status)
        for w in simulate.random_walks(ex, walks, 40, seed=7):
            model_traces.write(ex, w.trace, os.path.join(directory, f"{name}-w{w.index}.itf.json"),
                               covers="random", seed=w.seed)
    return R.load([directory], variants.BUILTIN)


def bench_replay(quick: bool) -> None:
    print("## Replay on real files: steps per second (all four variants, N = 3)")
    print()
    d = tempfile.mkdtemp(prefix="sf-bench-traces-")
    try:
        traces = trace_set(d, quick)
        steps = sum(len(lt.run.steps) for lt in traces)
        print(f"  trace set: {len(traces)} traces, {steps} steps "
              f"(cover targets + random walks of up to 40 steps)")
        rounds = 3 if quick else 5
        for where in ("in-process", "adapter"):
            for fp in ("stat", "digest"):
                def one_round():
                    driver = LocalDriver() if where == "in-process" else AdapterDriver(ADAPTER)
                    with R.Replayer(driver, R.ReplayOptions(fingerprint=fp)) as r:
                        t0 = time.perf_counter()
                        results = [r.replay(lt) for lt in traces]
                        dt = time.perf_counter() - t0
                    assert all(res.status == "conforms" for res in results)
                    return dt
                dt = median_of(rounds, one_round)
                print(f"  {where:<10} {fp:<6} {steps / dt:>8,.0f} steps/s  "
                      f"{dt / steps * 1e6:6.0f} µs/step  ({dt:.2f} s per round)")
    finally:
        shutil.rmtree(d)
    print()


def bench_hypothesis(quick: bool) -> None:
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    from sessionfence.conformance import hypothesis_machine as H

    print("## Hypothesis state machine: programs per second (40 programs, <= 25 steps)")
    print()
    fixed = settings(settings.get_profile("ci"), max_examples=40, stateful_step_count=25)
    counted = {"steps": 0}
    for name in (("reference",) if quick else VARIANTS):
        for fp in ("stat", "digest"):
            machine = H.conformance_machine(name, 2, fingerprint=fp)
            original = machine.take

            def take(self, step, kind=None, *, _orig=original):
                counted["steps"] += 1
                _orig(self, step, kind)

            machine.take = take

            def one_round():
                counted["steps"] = 0
                t0 = time.perf_counter()
                run_state_machine_as_test(machine, settings=fixed)
                return time.perf_counter() - t0, counted["steps"]

            runs = [one_round() for _ in range(3)]
            dt = statistics.median(r[0] for r in runs)
            st = statistics.median(r[1] for r in runs)
            print(f"  {name:<20} {fp:<6} {40 / dt:6.0f} programs/s  {st / dt:7,.0f} steps/s")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    print("# sessionfence conformance benchmark" + (" (--quick: not for quoting)" if args.quick else ""))
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}, "
          f"{os.cpu_count()} cpus, temp dir {tempfile.gettempdir()}")
    print()
    t0 = time.perf_counter()
    bench_simulation(args.quick)
    bench_cover(args.quick)
    bench_replay(args.quick)
    bench_hypothesis(args.quick)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
