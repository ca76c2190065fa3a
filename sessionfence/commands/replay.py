"""Replay ITF traces on the real implementation, on real files, step by step.

Each trace runs in a fresh temporary directory: one controller per model
controller (same policy), the step-wise API, and `external_write` done by a
separate long-lived writer process that ignores the lock, making exactly
the kind of edit the trace names (append, forged-append, prefix-rewrite,
same-size-rewrite, replace, truncate, delete). A trace whose edit cannot be
made on real files here is skipped with the reason (e.g. a stat-invisible
rewrite on a filesystem with fine timestamps). After every step
the outcome, every controller's phase, the lock holder and the fingerprints
(through a bijection model id <-> real fingerprint) are compared with the
model's run of the same trace.

--policy defaults to the trace's own variant when the implementation has
that policy, else reference. Replaying a counterexample with its own policy
reproduces the bug on real files; with --policy reference the
implementation leaves the buggy model's path where it fails closed.

Exit status: 0 every replayed trace conforms, 1 a divergence (or nothing
could be replayed), 2 bad input (unreadable or non-ITF file, unknown step,
unknown policy, an adapter that cannot be driven).

Examples:
  sessionfence replay traces/
  sessionfence replay --policy reference --fingerprint digest traces/narrow*.itf.json
  sessionfence replay --adapter "node ts-adapter.js" traces/
"""

from __future__ import annotations

import json
import os
import sys
import time

from sessionfence.cli import UsageError
from sessionfence.conformance import replay as R
from sessionfence.conformance.session import HarnessError, format_divergence
from sessionfence.impl import FINGERPRINT_MODES, POLICIES
from sessionfence.model import variant_file
from sessionfence.model.variants import BUILTIN
from sessionfence.progress import Progress

HELP = "replay ITF traces on the real implementation and check conformance"
LIST_LIMIT = 30  # above this many traces, conforming ones are not listed one by one


def add_arguments(parser) -> None:
    parser.add_argument("traces", nargs="+", metavar="TRACE_OR_DIR",
                        help="trace files (.itf.json) or directories holding them")
    parser.add_argument("--policy", metavar="P",
                        help=f"implementation policy ({', '.join(POLICIES)}); default: "
                        "the trace's variant if it is a policy, else reference")
    parser.add_argument("--fingerprint", choices=FINGERPRINT_MODES, default="stat",
                        help="fingerprint mode of the implementation (default stat)")
    parser.add_argument("--adapter", metavar="COMMAND",
                        help="drive an implementation through an adapter process "
                        "(docs/adapter-protocol.md) instead of in-process")
    parser.add_argument("--adapter-timeout", type=float, default=30.0, metavar="SEC",
                        help="seconds to wait for each adapter answer (default %(default)g)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed for anything the replay draws at random (default 0)")
    parser.add_argument("--compare", choices=("auto", "observable", "all"), default="auto",
                        help="observable: outcome, phases, holder, file; all: also the "
                        "design's fence data; auto (default): all iff policy = trace variant")
    parser.add_argument("--variant-file", metavar="PATH",
                        help="a Python file defining the variant(s) the traces name")
    parser.add_argument("--workdir", metavar="DIR", help="where the per-trace directories go")
    parser.add_argument("--keep", action="store_true",
                        help="keep the directory of each diverging trace (path is printed)")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every trace")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _variants(args) -> dict:
    known = dict(BUILTIN)
    if args.variant_file:
        try:
            known.update({v.name: v for v in variant_file.load(args.variant_file)})
        except variant_file.VariantFileError as exc:
            raise UsageError(str(exc)) from None
    return known


def _driver(args):
    if args.adapter:
        from sessionfence.conformance.adapter_client import AdapterDriver

        try:
            driver = AdapterDriver(args.adapter, timeout=args.adapter_timeout)
        except HarnessError as exc:
            raise UsageError(str(exc)) from None
        if args.fingerprint not in driver.fingerprint_modes:
            driver.close()
            raise UsageError(f"the adapter does not support --fingerprint {args.fingerprint} "
                             f"(it supports {', '.join(driver.fingerprint_modes) or 'none'})")
    else:
        from sessionfence.conformance.local_driver import LocalDriver

        driver = LocalDriver()
    if args.policy is not None and args.policy not in driver.policies:
        driver.close()
        raise UsageError(f"unknown policy {args.policy!r}; the policies are "
                         f"{', '.join(driver.policies)}")
    return driver


def run(args) -> int:
    if args.workdir and not os.path.isdir(args.workdir):
        raise UsageError(f"--workdir {args.workdir}: not a directory")
    try:
        traces = R.load(args.traces, _variants(args))
    except R.BadInput as exc:
        print(f"sessionfence: error: {exc}", file=sys.stderr)
        return 2
    driver = _driver(args)
    options = R.ReplayOptions(policy=args.policy, fingerprint=args.fingerprint,
                              seed=args.seed, workdir=args.workdir, keep=args.keep,
                              compare=args.compare)
    progress = after_a_second(Progress(enabled=not args.quiet))
    results = []
    t0 = time.perf_counter()
    try:
        with R.Replayer(driver, options) as replayer:
            for i, lt in enumerate(traces, 1):
                progress(f"replay {i}/{len(traces)}: {os.path.basename(lt.source)}")
                results.append(replayer.replay(lt))
    except HarnessError as exc:
        progress.clear()
        print(f"sessionfence: error: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.clear()
    summary = R.summarize(results, time.perf_counter() - t0)
    where = args.adapter and f"adapter {driver.name}" or driver.name
    if args.json:
        json.dump(to_json(results, summary, args, where), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_human(results, summary, args, where)
    return 0 if summary.ok else 1


def _divergence_json(dv) -> dict:
    return {"step": dv.step, "label": dv.label, "transition": dv.transition,
            "decision": dv.decision, "verdict": dv.verdict,
            "diffs": [{"field": d.field, "model": d.model, "impl": d.impl} for d in dv.diffs],
            "history": dv.history}


def result_json(r) -> dict:
    """One trace's result; the same for in-process and adapter replays."""
    return {
        "trace": r.source, "variant": r.variant, "policy": r.policy,
        "fingerprint": r.fingerprint, "controllers": r.controllers, "status": r.status,
        "steps": r.steps, "executed": r.executed, "compared": list(r.fields),
        "external_writes": r.kinds,
        "violation": r.violation or None, "reproduced": r.reproduced or None,
        "skipped": r.skipped or None,
        "divergence": _divergence_json(r.divergence) if r.divergence else None,
        "kept": r.kept or None,
    }


def to_json(results, summary, args, where) -> dict:
    return {
        "ok": summary.ok,
        "driver": where,
        "fingerprint": args.fingerprint,
        "seed": args.seed,
        "summary": {"traces": summary.traces, "conform": summary.conforming,
                    "diverged": summary.diverged, "skipped": summary.skipped,
                    "skip_reasons": summary.skip_reasons, "steps": summary.steps,
                    "seconds": round(summary.seconds, 3),
                    "steps_per_second": round(summary.steps_per_second)},
        "traces": [result_json(r) for r in results],
    }


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def after_a_second(progress):
    """Progress that stays silent for the first second: short runs print
    only their result, long ones show where they are."""
    start = time.monotonic()

    def report(message: str) -> None:
        if time.monotonic() - start >= 1.0:
            progress(message)

    report.clear = progress.clear
    return report


def print_human(results, summary, args, where) -> None:
    policy = args.policy or "the trace's own variant (reference if none)"
    print(f"sessionfence replay: {_n(summary.traces, 'trace')} on {where}, policy {policy}, "
          f"{args.fingerprint} fingerprints, seed {args.seed}")
    listed = args.verbose or summary.traces <= LIST_LIMIT
    for r in results:
        name = r.source
        if r.status == "conforms" and (listed or r.reproduced):
            ext = ", ".join(f"{k} {v}" for k, v in r.kinds.items())
            print(f"  conforms  {name}  ({r.executed} steps, policy {r.policy}"
                  + (f"; external: {ext}" if ext else "") + ")")
            if r.reproduced:
                print(f"            reproduced {r.violation} on real files: {r.reproduced}")
        elif r.status == "skipped":
            print(f"  skipped   {name}: {r.skipped}")
        elif r.status == "diverged":
            print(f"  DIVERGED  {name}  (model {r.variant}, policy {r.policy}, "
                  f"{r.controllers} controllers)")
            print(format_divergence(r.divergence, r.steps, indent="            "))
            if r.kept:
                print(f"            directory kept: {r.kept}")
    print()
    rate = f"{summary.steps_per_second:,.0f} steps/s" if summary.seconds > 0 else "-"
    print(f"{_n(summary.traces, 'trace')}: {summary.conforming} conform, {summary.diverged} diverged, "
          f"{summary.skipped} skipped; {summary.steps} steps in {summary.seconds:.2f}s ({rate})")
    for reason, count in summary.skip_reasons.items():
        print(f"  skipped {count}: {reason}")
    totals: dict = {}
    for r in results:
        for k, v in r.kinds.items():
            totals[k] = totals.get(k, 0) + v
    if totals:
        print("external writes: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    if summary.conforming == 0 and summary.diverged == 0:
        print("nothing was replayed: no trace conforms")

