#!/usr/bin/env python3
"""Time to draw the built-in variants' diagrams, and the size of the states graphs.

Figures (each the median of --repeat runs, in this process):

  generate   the DOT text of every picture under docs/diagrams (machines,
             states graphs, diffs against reference, shortest counterexamples)
  render     `dot -Tsvg` on each of those texts (one process per picture)
  all        both: what `sessionfence diagram --regenerate-docs` costs,
             minus writing the files (the issue asks for under 10 s)
  states     per variant: states, edges and red states of the default
             instance, and the exploration time alone; also the instance
             with every write mode and dispose, which `diagram` refuses at
             its default --limit
  report     `sessionfence report --all` end to end (verify included), once

Usage: benchmarks/bench_diagrams.py [--repeat K] [--no-report]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from sessionfence.diagrams import docs, render
from sessionfence.model import explore as E
from sessionfence.model.expr import WRITE_MODES
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    render.require_dot("svg")
    dot_version = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
    print("# sessionfence diagrams benchmark")
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}, "
          f"{os.cpu_count()} cpus, {dot_version}; medians of {args.repeat} runs\n")

    gen, ren, total = [], [], []
    for _ in range(args.repeat):
        t_gen, graphs = timed(docs.generate)
        sources = [g.source() for g in graphs.values()]
        t_ren, _ = timed(lambda: [render.render(s, "svg") for s in sources])
        gen.append(t_gen)
        ren.append(t_ren)
        total.append(t_gen + t_ren)
    kinds = {}
    for stem in graphs:
        kind = stem.split("-")[-1] if stem.endswith(("machine", "states")) else (
            "diff" if "-diff-" in stem else "trace")
        kinds[kind] = kinds.get(kind, 0) + 1
    print("## All built-in diagrams (docs/diagrams)\n")
    print(f"  pictures                  {len(graphs)}  "
          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    print(f"  generate DOT              {statistics.median(gen):6.2f} s")
    print(f"  render SVG with dot       {statistics.median(ren):6.2f} s")
    print(f"  all                       {statistics.median(total):6.2f} s   (limit 10 s)\n")

    print("## States graphs, N = 2\n")
    wide = E.Bounds(modes=tuple(WRITE_MODES), dispose=True)
    for label, bounds in (("default", E.Bounds()), ("all modes + dispose", wide)):
        print(f"  {label}: {bounds.describe()}")
        for name, variant in BUILTIN.items():
            machine = build(variant)
            times, g = [], None
            for _ in range(args.repeat):
                t, g = timed(lambda: E.explore(machine, 2, bounds, limit=None))
                times.append(t)
            print(f"    {name:20} {len(g):4} states {len(g.edges):4} edges {len(g.bad):3} red"
                  f"   explored in {statistics.median(times) * 1000:6.1f} ms")
        print()

    if not args.no_report:
        with tempfile.TemporaryDirectory() as out:
            t, done = timed(lambda: subprocess.run(
                [sys.executable, "-m", "sessionfence", "report", "--all", "--out", out, "-q"],
                capture_output=True, text=True))
            size = os.path.getsize(os.path.join(out, "index.html"))
        print("## Report\n")
        print(f"  sessionfence report --all   {t:6.2f} s  (exit {done.returncode}, "
              f"index.html {size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
