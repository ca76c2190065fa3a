#!/usr/bin/env python3
"""Run every benchmark, one after another, and keep what each printed.

    python benchmarks/run_all.py            # full figures (several minutes)
    python benchmarks/run_all.py --quick    # smoke sizes, about a minute

The benchmarks run in sequence, never side by side: each one compares
things measured in its own run, and a second benchmark on the other core
would add noise to both. Each one's output goes to the terminal as it comes
and to build/bench/<name>.txt; docs/performance.md quotes those files.
Exit status: 0 if every benchmark ran, 1 if any failed (the rest still run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCHES = ("bench_impl", "bench_verify", "bench_verify_cli", "bench_conformance", "bench_hunt", "bench_diagrams",
           "bench_spin")
QUICK_FLAGS = {"bench_impl": ["--quick"], "bench_verify": ["--quick"],
               "bench_verify_cli": ["--runs", "1"],
               "bench_conformance": ["--quick"], "bench_hunt": ["--quick"],
               "bench_diagrams": ["--repeat", "1"],
               "bench_spin": ["--quick"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--only", choices=BENCHES, action="append",
                    help="run just this benchmark (repeatable)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                    help="where to keep each benchmark's output (default: build/bench)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name in args.only or BENCHES:
        cmd = [sys.executable, os.path.join(HERE, f"{name}.py")]
        cmd += QUICK_FLAGS[name] if args.quick else []
        print(f"==> {name} {' '.join(cmd[2:])}".rstrip(), flush=True)
        t0 = time.perf_counter()
        path = os.path.join(args.out, f"{name}.txt")
        tmp = path + ".part"  # a failed run never replaces the last good figures
        with open(tmp, "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
            rc = proc.wait()
        if rc == 0:
            os.replace(tmp, path)
        else:
            failed.append(name)
        print(f"<== {name}: exit {rc} after {time.perf_counter() - t0:.1f} s "
              f"({'kept in ' + os.path.relpath(path, ROOT) if rc == 0 else 'output in ' + os.path.relpath(tmp, ROOT)})\n",
              flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
