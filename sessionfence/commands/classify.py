"""Which built-in fence designs does an implementation behave like?

For every built-in variant (or the ones named with --variant), the shortest
trace to each of its transitions and to each of its declared violations
(`traces --cover`, 2 controllers), and the violations of every built-in
design re-run in that variant's model, are replayed on the implementation --
in-process with --policy, or through --adapter -- comparing only what every
design shows (outcome, phases, lock holder, lock file, file). The
implementation *conforms* to a variant when none of that variant's traces
diverges; a trace real files cannot follow here is skipped ("physics"), and
a variant with no trace replayed is not claimed. The traces of the designs
tell them apart: each design's counterexamples are where the others fail
closed (or do not take over).

Exit status: 0 the implementation conforms to at least one built-in
variant, 1 to none, 2 bad input, 3 internal error.

Examples:
  sessionfence classify --policy benign-advance
  sessionfence classify --adapter "node my-adapter.js" --fingerprint digest
  sessionfence classify --policy reference --variant reference --variant strict-refresh
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from sessionfence.cli import UsageError
from sessionfence.commands.replay import _driver, after_a_second
from sessionfence.conformance import cover as C
from sessionfence.conformance import model_traces
from sessionfence.conformance import replay as R
from sessionfence.impl._fingerprint import FINGERPRINT_MODES
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor, NotEnabled
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN
from sessionfence.model.world import World
from sessionfence.progress import Progress

HELP = "replay every built-in design's distinguishing traces: which does the implementation follow?"
CONTROLLERS = 2
PROOF_TIMEOUT_S = 5.0  # unreachable targets need no proof here: only traces matter


def add_arguments(parser) -> None:
    parser.add_argument("--policy", metavar="P", help="an in-process implementation policy")
    parser.add_argument("--adapter", metavar="COMMAND",
                        help="drive an implementation through an adapter process "
                        "(docs/adapter-protocol.md)")
    parser.add_argument("--adapter-timeout", type=float, default=30.0, metavar="SEC",
                        help="seconds to wait for each adapter answer (default %(default)g)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME",
                        help=f"only these built-in variants ({', '.join(BUILTIN)}); repeatable")
    parser.add_argument("--fingerprint", choices=FINGERPRINT_MODES, default="digest",
                        help="fingerprint mode of the model and the implementation "
                        "(default %(default)s)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def run(args) -> int:
    if bool(args.policy) == bool(args.adapter):
        raise UsageError("say which implementation to classify: --policy P or --adapter COMMAND")
    for name in args.variant:
        if name not in BUILTIN:
            raise UsageError(f"unknown variant {name!r}; known variants: {', '.join(BUILTIN)}")
    names = args.variant or list(BUILTIN)
    args.seed, args.workdir, args.keep = 0, None, False
    driver = _driver(args)
    world = World(fingerprint=args.fingerprint)
    progress = after_a_second(Progress(enabled=not args.quiet))
    rows = []
    t0 = time.perf_counter()
    options = R.ReplayOptions(policy=args.policy, fingerprint=args.fingerprint,
                              compare="observable")
    try:
        with tempfile.TemporaryDirectory(prefix="sessionfence-classify-") as tmp, \
                R.Replayer(driver, options) as replayer:
            covers = {}
            for name in BUILTIN:  # every design's violations distinguish the others
                progress(f"{name}: cover traces")
                covers[name] = C.cover(BUILTIN[name], CONTROLLERS, world=world,
                                       proof_timeout_s=PROOF_TIMEOUT_S)
            violations = [c.trace for result in covers.values() for c in result.covered
                          if c.target.status == "violation"]
            for name in names:
                paths = _write(BUILTIN[name], world, covers[name], violations,
                               os.path.join(tmp, name))
                traces = R.load(paths, BUILTIN)
                counts = {"conform": 0, "diverged": 0, "skipped": 0}
                first = ""
                for i, lt in enumerate(traces, 1):
                    if replayer.failure:
                        break
                    progress(f"{name}: replay {i}/{len(traces)}")
                    res = replayer.replay(lt)
                    counts["conform" if res.status == "conforms" else res.status] += 1
                    if res.status == "diverged" and not first:
                        first = (f"{os.path.basename(lt.source)}: step {res.divergence.step} "
                                 f"({res.divergence.label})")
                if replayer.failure:
                    print(f"sessionfence: error: {replayer.failure}", file=sys.stderr)
                    return 3
                conforms = counts["diverged"] == 0 and counts["conform"] > 0
                rows.append(dict(variant=name, traces=len(traces), **counts,
                                 conforms=conforms, first_divergence=first))
    finally:
        progress.clear()
    matched = [r["variant"] for r in rows if r["conforms"]]
    who = f"adapter {args.adapter}" if args.adapter else f"policy {args.policy}"
    _print(rows, matched, who, args.fingerprint, time.perf_counter() - t0)
    return 0 if matched else 1


def _write(variant, world: World, result, violations, directory: str) -> list:
    """`variant`'s cover traces, and every design's violation re-run in
    `variant`'s model (up to the first step it does not allow), as files."""
    os.makedirs(directory, exist_ok=True)
    ex = Executor(build(variant, world), CONTROLLERS)
    paths = []
    for c in result.covered:
        path = os.path.join(directory, C.file_name(variant.name, CONTROLLERS,
                                                   ex.machine.world, c.target))
        model_traces.write(ex, c.trace, path, covers=c.target.name, status=c.target.status)
        paths.append(path)
    for i, other in enumerate(violations):
        run = _rerun(ex, other)
        if run is not None:
            path = os.path.join(directory, f"{variant.name}-n{CONTROLLERS}-distinguish-{i}.itf.json")
            model_traces.write(ex, run, path, covers="distinguishing", status="ok")
            paths.append(path)
    return paths


def _rerun(ex: Executor, trace):
    s = ex.initial()
    steps, states = [], [s]
    for inst in trace.steps:
        try:
            done, s = ex.step(s, inst.step, inst.ctrl, inst.mode, inst.kind)
        except NotEnabled:
            break
        steps.append(done)
        states.append(s)
    return Trace(steps, states) if steps else None


def _print(rows, matched, who, fingerprint, seconds) -> None:
    print(f"sessionfence classify: {who}, {fingerprint} fingerprints, "
          f"{CONTROLLERS} controllers, the cover traces of each design\n")
    width = max(len(r["variant"]) for r in rows)
    print(f"{'variant':{width}}  traces  conform  diverged  skipped  verdict")
    for r in rows:
        verdict = "conforms" if r["conforms"] else (
            "differs: " + r["first_divergence"] if r["diverged"] else "not replayed")
        print(f"{r['variant']:{width}}  {r['traces']:6}  {r['conform']:7}  {r['diverged']:8}  "
              f"{r['skipped']:7}  {verdict}")
    print()
    if matched:
        print(f"{who} conforms to: {', '.join(matched)} ({seconds:.1f}s)")
    else:
        print(f"{who} conforms to no built-in variant ({seconds:.1f}s)")
