"""Time and peak memory of the model checker.

    python benchmarks/bench_verify.py            # N = 2, 3, 4 + parametric, 3 runs each
    python benchmarks/bench_verify.py --quick    # N = 2 and parametric, 1 run

Each measurement runs in a fresh child process that reports its own wall
time and peak resident set size, so runs do not share caches or memory.
Prints medians, the slowest cells, and the reference's proof times against
the targets (all four variants x three properties: N = 2 < 10 s, N = 3 <
60 s; each of the reference's unbounded proofs < 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def one(n: str) -> dict:
    """Run in the child: verify every built-in variant, report figures."""
    from sessionfence.model import check, variants

    t0 = time.perf_counter()
    cells = []
    for v in variants.BUILTIN.values():
        if n == "any":
            results = check.verify_any(v)
        else:
            results = check.verify(v, int(n))
        cells += [{"variant": r.variant, "property": r.property, "status": r.status,
                   "method": r.method, "seconds": r.seconds, "ok": r.ok}
                  for r in results if r.kind == "always"]
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "seconds": seconds, "peak_mib": peak_kib / 1024, "cells": cells}


def reference_proofs() -> dict:
    """Run in the child: the reference's invariant proofs, one by one."""
    from sessionfence.model import check, invariants, machine, properties, variants

    m = machine.build(variants.get("reference"))
    out = {}
    for n in (2, 3, 4, 5, 6):
        t0 = time.perf_counter()
        report = check.prove_invariants(m, n, invariants.REFERENCE, properties.ALWAYS)
        assert report.proved and all(report.property_ok.values())
        out[str(n)] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = check.prove_invariants_any(m, invariants.REFERENCE, properties.ALWAYS)
    assert report.proved and all(report.property_ok.values())
    out["any"] = time.perf_counter() - t0
    return out


def child(*args) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2 and parametric, one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", help="comma-separated controller counts, e.g. 2,any")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data = reference_proofs() if args.child == "proofs" else one(args.child)
        json.dump(data, sys.stdout)
        return 0

    sizes = ["2", "any"] if args.quick else ["2", "3", "4", "any"]
    if args.sizes:
        sizes = args.sizes.split(",")
    runs = 1 if args.quick else args.runs
    print(f"sessionfence verify benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{runs} run(s) per size, medians")
    print()
    print(f"{'controllers':>11}  {'all 12 cells (s)':>16}  {'min..max (s)':>14}  {'peak RSS (MiB)':>14}  cells as expected")
    slowest = {}
    for n in sizes:
        samples = [child("--child", n) for _ in range(runs)]
        secs = [s["seconds"] for s in samples]
        cells = samples[0]["cells"]
        # The verdicts do not change between runs; a run that disagrees is shown.
        counts = {f"{sum(c['ok'] for c in s['cells'])}/{len(s['cells'])}" for s in samples}
        misses = ", ".join(f"{c['variant']} {c['property']} {c['status']}"
                           for c in cells if not c["ok"])
        print(f"{n:>11}  {statistics.median(secs):>16.2f}  {min(secs):>6.2f}..{max(secs):<6.2f}  "
              f"{statistics.median(s['peak_mib'] for s in samples):>14.0f}  "
              f"{' | '.join(sorted(counts))}{'  not as expected: ' + misses if misses else ''}")
        slowest[n] = sorted(samples[0]["cells"], key=lambda c: -c["seconds"])[:3]
    print()
    print("slowest cells (first run; BMC cells count from the start of their variant's search):")
    for n, cells in slowest.items():
        for c in cells:
            print(f"  N={n:<3} {c['variant']:<19} {c['property']:<16} {c['status']:<9} "
                  f"{c['method']:<28} {c['seconds']:.2f}s")
    print()
    proofs = [child("--child", "proofs") for _ in range(runs)]
    print("reference: inductive-invariant proof of all three properties (initiation,")
    print("consecution per transition and controller, non-vacuity, implication), median:")
    for key in proofs[0]:
        print(f"  controllers {key:>3}: {statistics.median(p[key] for p in proofs):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
