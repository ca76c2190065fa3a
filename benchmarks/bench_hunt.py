#!/usr/bin/env python3
"""Speed of `sessionfence hunt`: schedules per second and time to the first violation.

  per policy   in process, digest fingerprints, N = 2 and 3: the time and the
               schedule number at which the first violation is found (the
               median over seeds 0..R-1), and what it is; for the reference,
               schedules per second over the whole budget with nothing found.
  reference    schedules per second over a whole budget with nothing found,
               in process (N = 2, 3) and through the subprocess adapter (N = 2).
  every        --keep-going for the whole default budget (N = 2, seed 0): when
               each property a historical policy violates is first found.

Usage:
  benchmarks/bench_hunt.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys

from sessionfence.conformance.adapter_client import AdapterDriver
from sessionfence.conformance.hunt import Hunter, HuntOptions
from sessionfence.conformance.local_driver import LocalDriver

VIOLATING = ("strict-fingerprint", "broad-publication", "narrow-publication")
ADAPTER = f"{sys.executable} -m sessionfence.conformance.adapter"


def first(driver_factory, policy: str, n: int, seed: int, budget: float):
    with Hunter(driver_factory(), HuntOptions(policy=policy, controllers=n, seed=seed,
                                              budget=budget)) as h:
        res = h.hunt()
    f = res.found[0] if res.found else None
    return res, f


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds, short reference budget")
    ap.add_argument("--only", choices=("first", "reference", "every"), action="append",
                    help="run just this section (repeatable)")
    args = ap.parse_args(argv)
    only = set(args.only or ("first", "reference", "every"))
    seeds = 3 if args.quick else 10
    ref_budget = 10.0 if args.quick else 60.0
    print("# sessionfence hunt benchmark")
    print(f"Python {platform.python_version()}, {platform.machine()}, digest fingerprints")
    if "first" in only:
        bench_first(seeds)
    if "reference" in only:
        bench_reference(ref_budget)
    if "every" in only:
        bench_every(10.0 if args.quick else 60.0)


def bench_every(budget: float) -> None:
    print(f"## Every property: --keep-going for {budget:g} s (N = 2, seed 0)")
    print()
    print("| policy | property | first found after | schedule | shrunk to (steps) |")
    print("|---|---|---|---|---|")
    for policy in VIOLATING:
        with Hunter(LocalDriver(), HuntOptions(policy=policy, budget=budget,
                                               keep_going=True)) as h:
            res = h.hunt()
        for f in res.found:
            print(f"| {policy} | {f.property} | {f.seconds:.2f} s | {f.at_schedule} | "
                  f"{len(f.schedule)} |")
        print(f"| {policy} | (total) | {res.schedules} schedules in {res.seconds:.0f} s | | |")
    print()


def bench_first(seeds: int) -> None:
    print()
    print("## Time to the first violation, in process (median over "
          f"{seeds} seeds; default budget 60 s)")
    print()
    print("| policy | N | first violation (median) | slowest | schedules (median) | found |")
    print("|---|---|---|---|---|---|")
    for n in (2, 3):
        for policy in VIOLATING:
            times, counts, props = [], [], {}
            for seed in range(seeds):
                res, f = first(LocalDriver, policy, n, seed, 60.0)
                if f is None:
                    times.append(float("inf"))
                    continue
                times.append(f.seconds)
                counts.append(f.at_schedule)
                props[f.property] = props.get(f.property, 0) + 1
            found = ", ".join(f"{p} {c}" for p, c in sorted(props.items()))
            print(f"| {policy} | {n} | {statistics.median(times):.3f} s | {max(times):.3f} s | "
                  f"{statistics.median(counts) if counts else '-'} | {found} |")
    print()


def bench_reference(ref_budget: float) -> None:
    print(f"## The reference: a whole budget of {ref_budget:g} s, nothing to find")
    print()
    print("| driver | N | schedules | schedules/s | steps/s | windows | found |")
    print("|---|---|---|---|---|---|---|")
    for name, factory, ns in (("in process", LocalDriver, (2, 3)),
                              ("adapter", lambda: AdapterDriver(ADAPTER), (2,))):
        for n in ns:
            res, f = first(factory, "reference", n, 0, ref_budget)
            print(f"| {name} | {n} | {res.schedules} | {res.schedules / res.seconds:,.0f} | "
                  f"{res.steps / res.seconds:,.0f} | {res.windows} | "
                  f"{f.property if f else 'none'} |")
    print()


if __name__ == "__main__":
    main()
