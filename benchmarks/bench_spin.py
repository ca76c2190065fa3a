#!/usr/bin/env python3
"""SPIN and this checker side by side, on the same cells, in one run.

    python benchmarks/bench_spin.py                  # N = 3, 3 runs of each side, medians
    python benchmarks/bench_spin.py --controllers 2 --variants reference,strict-fingerprint
    python benchmarks/bench_spin.py --quick          # N = 2, 1 run: a smoke test

SPIN side: the independent Promela model of the four designs
(`../shared/peers/spin-fence.pml`, its header lists the switches), copied
into a fresh temporary directory per cell and checked as a SPIN user checks
assertions, bounded by 2 external writes and 2 write sections per controller:

    spin -a -DVARIANT=v -DN=n -DPROP=p -DMAXEXT=2 -DWMAX=2 fence.pml
    gcc -O2 -DSAFETY -DMEMLIM=16384 -o pan pan.c
    ./pan -m100000

-DSAFETY: assertions only (no cycle detection), the mode for safety
properties; partial order reduction stays on (SPIN's default); no state
compression, because the states fit in memory with room to spare (measured
on broad-publication precision, N = 3, 5.46 M states: -DCOLLAPSE 19.1 s
and 675 MB, none 6.7 s and 509 MB), and pan's default hash table (-w24)
was the fastest (-w26 7.7 s, -w27 9.3 s). -m100000 is a search depth far
beyond what these models reach (64 at N = 3). A search that pan reports as
truncated (max search depth too small, memory bound) is not a verdict: it is
flagged and the run exits 1. SPIN's time per cell is compile (spin -a + gcc)
plus search (pan), both shown.

This checker's side: `sessionfence verify --variant V --controllers N
--fingerprint digest --external append --json` in a child process, one per
variant, which checks the three properties (and the `sometimes` witnesses)
in one run, in the peer model's world: digest fingerprints (a file is an
integer, every write a fresh one) and one kind of external write, whose
fresh fingerprint is all the brief's four designs can see of it (with digest
fingerprints every non-deleting kind does the same to `file`). verify runs
with its default `--jobs` (the number of cores); pan is one process. Its wall time per variant is the fair
comparison; its per-cell `seconds` are what verify reports (a BMC cell's time
counts from the start of the variant's run, so cells overlap).

Verdicts must agree: a SPIN error <=> `violated`, no SPIN error <=> `proved`
(SPIN's "holds" is for the bounded space, `proved` is for all depths). Any
disagreement is printed loudly and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_PML = os.path.join(os.path.dirname(ROOT), "shared", "peers", "spin-fence.pml")

VARIANTS = {"strict-fingerprint": 1, "broad-publication": 2, "narrow-publication": 3,
            "reference": 4}
PROPERTIES = {"released-safety": 1, "safety": 2, "precision": 3}
BOUNDS = ("-DMAXEXT=2", "-DWMAX=2")
CFLAGS = ("-O2", "-DSAFETY", "-DMEMLIM=16384")
PAN_DEPTH = 100_000


class BenchError(Exception):
    """The benchmark cannot run as asked: one line for the user."""


# -- pan's report -------------------------------------------------------------

@dataclass
class PanResult:
    errors: Optional[int] = None
    first_error: str = ""  # "assertion violated !(ext_rel[_pid])", "invalid end state", ...
    states: Optional[int] = None  # states stored
    transitions: Optional[int] = None
    memory_mb: Optional[float] = None  # total actual memory usage
    depth: Optional[int] = None  # depth reached
    elapsed: Optional[float] = None  # pan's own elapsed time
    problems: list = field(default_factory=list)  # why this is not a valid verdict

    @property
    def verdict(self) -> str:
        """`violated` (an assertion failed), `holds` (complete search, no
        error: in the bounded space), or `invalid` (see `problems`)."""
        if self.problems:
            return "invalid"
        return "violated" if self.errors else "holds"


_INT = r"([0-9][0-9.e+]*)"


def _number(text: str) -> int:
    return int(float(text)) if ("e" in text or "." in text) else int(text)


def parse_pan(text: str) -> PanResult:
    """Read pan's output (stdout and stderr together)."""
    r = PanResult()
    m = re.search(r"depth reached (\d+), errors: (\d+)", text)
    if m:
        r.depth, r.errors = int(m.group(1)), int(m.group(2))
    m = re.search(rf"^\s*{_INT} states, stored", text, re.M)
    if m:
        r.states = _number(m.group(1))
    m = re.search(rf"^\s*{_INT} transitions \(= stored\+matched\)", text, re.M)
    if m:
        r.transitions = _number(m.group(1))
    m = re.search(r"^\s*([0-9.]+)\s+total actual memory usage", text, re.M)
    if m:
        r.memory_mb = float(m.group(1))
    m = re.search(r"pan: elapsed time ([0-9.e+]+) seconds", text)
    if m:
        r.elapsed = float(m.group(1))
    m = re.search(r"^pan:\d+: (.+?)(?: \(at depth \d+\))?$", text, re.M)
    if m:
        r.first_error = m.group(1).strip()
    # Why a search might not be a verdict: each is a line pan prints.
    if r.errors is None:
        r.problems.append("no 'errors:' line in pan's output (did pan finish?)")
    if "max search depth too small" in text:
        r.problems.append("max search depth too small: the search was truncated (raise -m)")
    if re.search(r"reached -DMEMLIM bound|out of memory", text):
        r.problems.append("pan ran out of memory: the search is incomplete (raise -DMEMLIM)")
    if r.errors == 0 and "Search not completed" in text:
        r.problems.append("pan says 'Search not completed' without an error")
    if r.errors and not r.first_error.startswith("assertion violated"):
        r.problems.append(f"the error is not an assertion violation: {r.first_error or '?'}")
    return r


# -- running the two sides ------------------------------------------------------

def tool_versions() -> dict:
    out = {}
    for tool, argv in (("spin", ["spin", "-V"]), ("gcc", ["gcc", "--version"])):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not on PATH: run scripts/bootstrap --bench "
                             f"(installs Debian's spin and gcc)")
        proc = subprocess.run(argv, capture_output=True, text=True)
        out[tool] = (proc.stdout or proc.stderr).strip().splitlines()[0]
    return out


def _run(argv, cwd, timeout) -> tuple:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)} took more than {timeout:g} s (--timeout)") from None
    return time.perf_counter() - t0, proc


@dataclass
class SpinCell:
    compile_s: float
    search_s: float
    pan: PanResult

    @property
    def seconds(self) -> float:
        return self.compile_s + self.search_s


def spin_cell(pml: str, variant: int, n: int, prop: int, timeout: float,
              cflags=CFLAGS, depth: int = PAN_DEPTH) -> SpinCell:
    """One cell, compiled and searched in a temporary directory of its own."""
    d = tempfile.mkdtemp(prefix="sf-spin-")
    try:
        shutil.copyfile(pml, os.path.join(d, "fence.pml"))
        gen = ["spin", "-a", f"-DVARIANT={variant}", f"-DN={n}", f"-DPROP={prop}", *BOUNDS,
               "fence.pml"]
        t_gen, proc = _run(gen, d, timeout)
        if proc.returncode != 0:
            raise BenchError(f"spin -a failed: {(proc.stdout + proc.stderr).strip()[-300:]}")
        t_cc, proc = _run(["gcc", *cflags, "-o", "pan", "pan.c"], d, timeout)
        if proc.returncode != 0:
            raise BenchError(f"gcc failed on pan.c: {proc.stderr.strip()[-300:]}")
        t_pan, proc = _run(["./pan", f"-m{depth}"], d, timeout)
        return SpinCell(t_gen + t_cc, t_pan, parse_pan(proc.stdout + proc.stderr))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class OursRun:
    wall_s: float
    ok: bool  # verify's own verdict: every cell matched the variant's expectation
    cells: dict  # property -> {"status", "method", "seconds"}


def ours(variant: str, n: int, timeout: float) -> OursRun:
    argv = [sys.executable, "-m", "sessionfence", "verify", "--variant", variant,
            "--controllers", str(n), "--fingerprint", "digest", "--external", "append",
            "--json", "--quiet"]
    wall, proc = _run(argv, ROOT, timeout)
    if proc.returncode not in (0, 1):
        raise BenchError(f"sessionfence verify exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    data = json.loads(proc.stdout)
    cells = {r["property"]: {"status": r["status"], "method": r["method"], "seconds": r["seconds"]}
             for r in data["results"] if r["property"] in PROPERTIES}
    return OursRun(wall, proc.returncode == 0, cells)


def agree(spin_verdict: str, our_status: str) -> bool:
    return (spin_verdict, our_status) in {("violated", "violated"), ("holds", "proved")}


# -- the run ---------------------------------------------------------------------

def median(xs) -> float:
    return statistics.median(xs)


def run(args) -> int:
    pml = args.pml
    if not os.path.isfile(pml):
        raise BenchError(f"no Promela model at {pml} (--pml PATH)")
    versions = tool_versions()
    print("# SPIN side by side" + (" (--quick: not for quoting)" if args.quick else ""))
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}, "
          f"{os.cpu_count()} cpus; {versions['spin']}; {versions['gcc']}")
    print(f"SPIN: spin -a -DVARIANT=v -DN={args.controllers} -DPROP=p {' '.join(BOUNDS)} fence.pml; "
          f"gcc {' '.join(CFLAGS)} -o pan pan.c; ./pan -m{PAN_DEPTH}")
    print(f"ours: sessionfence verify --variant V --controllers {args.controllers} "
          "--fingerprint digest --external append --json "
          f"(all three properties in one run)")
    print(f"model: {os.path.relpath(pml, ROOT)}; N = {args.controllers}; "
          f"medians of {args.repeat} run(s) of each side, interleaved per variant")
    print()
    spin_runs: dict = {}  # (variant, prop) -> [SpinCell]
    our_runs: dict = {}  # variant -> [OursRun]
    t0 = time.perf_counter()
    for r in range(args.repeat):
        for v in args.variants:
            for p in PROPERTIES:
                print(f"  run {r + 1}/{args.repeat}: SPIN {v} {p} ...", file=sys.stderr, flush=True)
                spin_runs.setdefault((v, p), []).append(
                    spin_cell(pml, VARIANTS[v], args.controllers, PROPERTIES[p], args.timeout))
            print(f"  run {r + 1}/{args.repeat}: sessionfence verify {v} ...", file=sys.stderr,
                  flush=True)
            our_runs.setdefault(v, []).append(ours(v, args.controllers, args.timeout))
    problems = report(args, spin_runs, our_runs)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    for line in problems:
        print(f"!! {line}", file=sys.stderr)
    if problems:
        print(f"!! {len(problems)} problem(s): the comparison is not valid as it stands",
              file=sys.stderr)
    return 1 if problems else 0


def report(args, spin_runs: dict, our_runs: dict) -> list:
    problems = []
    print(f"## Per cell, N = {args.controllers}")
    print()
    head = (f"{'variant':<20}{'property':<17}{'SPIN':<10}{'compile':>8}{'search':>8}"
            f"{'states':>12}{'MB':>8}   {'ours':<10}{'method':<18}{'seconds':>8}{'ours/SPIN':>11}")
    print(head)
    totals = []
    for v in args.variants:
        spin_total, spin_search = 0.0, 0.0
        for p in PROPERTIES:
            runs = spin_runs[(v, p)]
            verdicts = {c.pan.verdict for c in runs}
            for c in runs:
                for why in c.pan.problems:
                    problems.append(f"SPIN {v} {p}: {why}")
            if len(verdicts) > 1:
                problems.append(f"SPIN {v} {p}: verdicts differ between runs: {sorted(verdicts)}")
            pan = runs[0].pan
            comp = median(c.compile_s for c in runs)
            search = median(c.search_s for c in runs)
            spin_total += median(c.seconds for c in runs)
            spin_search += search
            mine = [o.cells.get(p) for o in our_runs[v]]
            statuses = {m["status"] if m else "missing" for m in mine}
            if len(statuses) > 1:
                problems.append(f"ours {v} {p}: statuses differ between runs: {sorted(statuses)}")
            status = mine[0]["status"] if mine[0] else "missing"
            method = mine[0]["method"] if mine[0] else "-"
            secs = median(m["seconds"] for m in mine if m) if all(mine) else float("nan")
            if not agree(pan.verdict, status):
                problems.append(f"DISAGREEMENT {v} {p}: SPIN {pan.verdict} "
                                f"({pan.first_error or 'no error'}), ours {status}")
            mark = "" if agree(pan.verdict, status) else "  << DISAGREE"
            states = f"{pan.states:,}" if pan.states is not None else "-"
            mem = f"{pan.memory_mb:.0f}" if pan.memory_mb is not None else "-"
            print(f"{v:<20}{p:<17}{pan.verdict:<10}{comp:>8.2f}{search:>8.2f}{states:>12}{mem:>8}"
                  f"   {status:<10}{method[:17]:<18}{secs:>8.2f}{secs / (comp + search):>10.2f}×"
                  f"{mark}")
        wall = median(o.wall_s for o in our_runs[v])
        if not all(o.ok for o in our_runs[v]):
            problems.append(f"ours {v}: verify reports a cell that does not match the variant's "
                            f"declared expectation")
        totals.append((v, spin_total, spin_search, wall))
    print()
    print(f"## Per variant, N = {args.controllers} (SPIN: three compiles and searches; "
          f"ours: one verify run)")
    print()
    print(f"{'variant':<20}{'SPIN total':>11}{'(search)':>10}{'ours':>9}"
          f"{'ours/SPIN':>11}{'ours/search':>13}")
    for v, total, search, wall in totals:
        print(f"{v:<20}{total:>10.2f}s{search:>9.2f}s{wall:>8.2f}s{wall / total:>10.2f}×"
              f"{wall / search:>12.2f}×")
    s_all = sum(t[1] for t in totals)
    o_all = sum(t[3] for t in totals)
    print(f"{'all':<20}{s_all:>10.2f}s{sum(t[2] for t in totals):>9.2f}s{o_all:>8.2f}s"
          f"{o_all / s_all:>10.2f}×{o_all / sum(t[2] for t in totals):>12.2f}×")
    over = [v for v, total, _, wall in totals if wall > total]
    print()
    print("target ours/SPIN <= 1.0 on every variant: "
          + ("met" if not over else f"not met ({', '.join(over)})"))
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="See the module docstring for the flags and why.")
    ap.add_argument("--controllers", type=int, default=3, choices=(2, 3), metavar="N",
                    help="controllers, 2 or 3 (the Promela model's range; default 3)")
    ap.add_argument("--variants", default=",".join(VARIANTS), metavar="V,...",
                    help="comma-separated variants (default: all four)")
    ap.add_argument("--repeat", type=int, default=3, metavar="R",
                    help="runs of each side; medians are quoted (default 3)")
    ap.add_argument("--quick", action="store_true", help="N = 2, one run: a smoke test")
    ap.add_argument("--pml", default=DEFAULT_PML, help="the Promela model (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=1800, metavar="SEC",
                    help="limit for each spin, gcc, pan and verify process (default %(default)g)")
    args = ap.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or not args.variants:
        print(f"bench_spin: unknown variant(s) {', '.join(unknown) or '(none given)'}; "
              f"the variants are {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("bench_spin: --repeat must be at least 1", file=sys.stderr)
        return 2
    if args.quick:
        args.controllers, args.repeat = 2, 1
    try:
        return run(args)
    except BenchError as exc:
        print(f"bench_spin: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
