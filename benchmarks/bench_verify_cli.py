"""Wall time of the `verify` commands the issues set targets for, with one
process and with one per core, side by side.

    python benchmarks/bench_verify_cli.py            # 3 runs of each, interleaved
    python benchmarks/bench_verify_cli.py --runs 1

Targets: the brief's four designs, both fingerprint modes, N = 2, < 20 s
(issue 9); every built-in design (upstream's zoo), both modes, N = 2, < 60 s
(issue 10). Each run is a fresh `sessionfence verify ... --json -q` process;
its exit status must be 0 (every cell as declared), or the figure is not
printed. The runs of the settings alternate, so a busy spell of the shared
machine falls on all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BRIEF = ["--variant", "strict-fingerprint", "--variant", "broad-publication",
         "--variant", "narrow-publication", "--variant", "reference"]
COMMANDS = [
    ("brief's four, both modes, N = 2", BRIEF, 20.0),
    ("every built-in design, both modes, N = 2", ["--all"], 60.0),
]


def run(argv: list) -> tuple:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sessionfence", "verify", *argv, "--json", "-q"],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"verify {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    doc = json.loads(done.stdout)
    return seconds, sum(r["seconds"] for r in doc["results"]), len(doc["results"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"# verify wall time, {args.runs} runs each, medians; {cores} cores\n")
    print("| command | cells | --jobs 1 | --jobs %d | ratio | target |" % cores)
    print("|---|---|---|---|---|---|")
    for name, argv, target in COMMANDS:
        walls: dict = {1: [], cores: []}
        cells = 0
        for _ in range(args.runs):
            for jobs in walls:
                seconds, _, cells = run([*argv, "--jobs", str(jobs)])
                walls[jobs].append(seconds)
        one, many = (statistics.median(walls[j]) for j in (1, cores))
        verdict = "met" if many < target else "not met"
        print(f"| {name} | {cells} | {one:.1f} s ({min(walls[1]):.1f}–{max(walls[1]):.1f}) | "
              f"{many:.1f} s ({min(walls[cores]):.1f}–{max(walls[cores]):.1f}) | "
              f"{many / one:.2f}× | < {target:g} s: {verdict} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
