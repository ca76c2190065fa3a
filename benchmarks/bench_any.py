"""Proofs for any number of controllers: how long each built-in holds cell
takes, and by what it is proved.

    python benchmarks/bench_any.py            # 3 runs, medians
    python benchmarks/bench_any.py --runs 1

One `sessionfence verify --all --controllers any --json -q` process per run
(its exit status must be 0: every cell as declared), then, per holds cell,
the method and the seconds the cell itself took (the re-check of shipped
learned invariants, or the declared set's proof). Target (issue 12): each
holds cell under 2 s on 2 cores, with learned invariants.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def run() -> tuple:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sessionfence", "verify", "--all",
                           "--controllers", "any", "--json", "-q"],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"verify --all --controllers any exited {done.returncode}: "
                 f"{done.stderr.strip()[-300:]}")
    return wall, json.loads(done.stdout)["results"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls, cells = [], {}
    for i in range(args.runs):
        wall, results = run()
        walls.append(wall)
        print(f"run {i + 1}: {wall:.1f} s", file=sys.stderr, flush=True)
        for r in results:
            if r["expected"] == "holds":
                key = (r["variant"], r["fingerprint"], r["property"])
                cells.setdefault(key, []).append((r["seconds"], r["method"], r["status"]))
    print(f"# verify --all --controllers any: {len(walls)} runs, median wall "
          f"{statistics.median(walls):.1f} s\n")
    print(f"{'variant':20} {'mode':7} {'property':16} {'status':8} {'method':30} {'seconds':>7}")
    learned = under = 0
    for (variant, fp, prop), got in sorted(cells.items()):
        seconds = statistics.median(s for s, _, _ in got)
        _, method, status = got[-1]
        learned += method.startswith("learned")
        under += seconds < 2.0
        print(f"{variant:20} {fp:7} {prop:16} {status:8} {method:30} {seconds:7.2f}")
    print(f"\n{len(cells)} holds cells: {learned} by learned invariants, "
          f"{len(cells) - learned} by hand-written ones; {under} under 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
