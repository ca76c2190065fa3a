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
that policy, else the implementation's own (the first policy an adapter
lists; reference in-process), and then only observable behaviour is
compared. Replaying a counterexample with its own policy reproduces the
bug on real files; with --policy reference the implementation leaves the
buggy model's path where it fails closed.

An adapter that dies, hangs or breaks the protocol in the middle of the run
ends its trace as diverged at the step it did not answer; the results so
far are printed (and the --json document written), the error line names
the trace and the step, and the adapter's process group is killed.

Exit status: 0 every replayed trace conforms, 1 a divergence with no
implementation property violated (or nothing could be replayed, or the
adapter failed), 2 bad input (unreadable or non-ITF file, unknown step,
unknown policy, an adapter that cannot be driven at the handshake),
3 internal error (the harness itself could not go on), 4 the implementation
violates a property (takeover-releases-lock).

Examples:
  sessionfence replay traces/
  sessionfence replay --policy reference --fingerprint digest traces/narrow*.itf.json
  sessionfence replay --adapter "node ts-adapter.js" traces/
"""

from __future__ import annotations

import os
import sys
import time

from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.conformance import replay as R
from sessionfence.conformance.compare import OBSERVABLE
from sessionfence.conformance.session import HarnessError, format_divergence
from sessionfence.impl import FINGERPRINT_MODES, POLICIES
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
    parser.add_argument("--fingerprint", choices=FINGERPRINT_MODES, default=None,
                        help="fingerprint mode of the implementation (default: the mode of "
                        "each trace's model)")
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
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output on stdout (docs/json-output.md)")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every trace")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _variants(args) -> dict:
    known = dict(BUILTIN)
    if args.variant_file:
        known.update({v.name: v for v in _common.load_variant_file(args.variant_file)})
    return known


def _driver(args):
    if args.adapter:
        from sessionfence.conformance.adapter_client import AdapterDriver

        try:
            driver = AdapterDriver(args.adapter, timeout=args.adapter_timeout)
        except HarnessError as exc:
            raise UsageError(str(exc)) from None
        if args.fingerprint is not None and args.fingerprint not in driver.fingerprint_modes:
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
    failure = internal = ""
    t0 = time.perf_counter()
    try:
        with R.Replayer(driver, options) as replayer:
            for i, lt in enumerate(traces, 1):
                if replayer.failure:
                    break  # the adapter is gone: the rest is counted as not run
                progress(f"replay {i}/{len(traces)}: {os.path.basename(lt.source)}")
                results.append(replayer.replay(lt))
            failure = replayer.failure
    except HarnessError as exc:
        internal = str(exc)
    finally:
        progress.clear()
    summary = R.summarize(results, time.perf_counter() - t0, len(traces) - len(results))
    where = f"adapter {driver.name} (protocol {driver.protocol})" if args.adapter else driver.name
    if args.json:
        _common.print_json("replay", to_json(results, summary, args, where, failure, internal))
    else:
        print_human(results, summary, args, where)
    if failure:
        print(f"sessionfence: error: {failure}", file=sys.stderr)
    if internal:
        print(f"sessionfence: error: internal: {internal}", file=sys.stderr)
        return 3
    return exit_status(summary)


def exit_status(summary) -> int:
    """4 a property violated, else 0 conforming or 1."""
    if summary.violations:
        return 4
    return 0 if summary.ok else 1


def _divergence_json(dv) -> dict:
    return {"step": dv.step, "label": dv.label, "transition": dv.transition,
            "decision": dv.decision, "verdict": dv.verdict,
            "diffs": [{"field": d.field, "model": d.model, "impl": d.impl} for d in dv.diffs],
            "history": dv.history, "model_violates": dv.model_violates,
            "implementation_violates": dv.impl_violates, "safe_side": dv.safety or None}


def result_json(r) -> dict:
    """One trace's result; the same for in-process and adapter replays."""
    return {
        "trace": r.source, "variant": r.variant, "policy": r.policy,
        "policy_source": r.policy_source,
        "fingerprint": r.fingerprint, "controllers": r.controllers, "status": r.status,
        "steps": r.steps, "executed": r.executed,
        "compared": [f for f in r.fields if f not in r.derived], "derived": list(r.derived),
        "unobserved": ["lock"] if r.lock_unobserved else [],
        "implementation_violations": [
            {"property": v.property, "step": v.step, "controller": v.controller,
             "external_step": v.external_step} for v in r.violations],
        "external_writes": r.kinds,
        "violation": r.violation or None, "reproduced": r.reproduced or None,
        "skipped": r.skipped or None,
        "missing_pause_points": [
            {"pause_point": n.point, "mode": n.mode, "step": n.step,
             "controller": n.controller, "next": n.next} for n in r.missing_pauses],
        "divergence": _divergence_json(r.divergence) if r.divergence else None,
        "adapter_failure": r.adapter_failure or None,
        "kept": r.kept or None,
    }


def to_json(results, summary, args, where, failure="", internal="") -> dict:
    return {
        "ok": summary.ok and not internal,
        "exit_status": 3 if internal else exit_status(summary),
        "driver": where,
        "adapter_failure": failure or None,
        "error": internal or None,
        "fingerprint": args.fingerprint,
        "seed": args.seed,
        "summary": {"traces": summary.traces, "conform": summary.conforming,
                    "diverged": summary.diverged, "skipped": summary.skipped,
                    "skip_reasons": summary.skip_reasons, "steps": summary.steps,
                    "seconds": round(summary.seconds, 3),
                    "steps_per_second": round(summary.steps_per_second),
                    "implementation_violations": summary.violations,
                    "not_run": summary.not_run},
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


def _policy_note(r) -> str:
    """How the trace's policy was chosen, when it is not the trace's own."""
    if r.policy_source != "default":
        return ""
    what = "observable behaviour only" if not _internal(r) else "all fields (--compare all)"
    return f" (no policy for {r.variant}: the implementation's own; {what})"


def _internal(r) -> bool:
    return any(f not in OBSERVABLE for f in r.fields)


def print_human(results, summary, args, where) -> None:
    if args.policy:
        policy = args.policy
    elif args.adapter:
        policy = "the trace's own variant (else the adapter's own, its first listed)"
    else:
        policy = "the trace's own variant (reference if none)"
    print(f"sessionfence replay: {_n(summary.traces, 'trace')} on {where}, policy {policy}, "
          f"{args.fingerprint or 'each trace’s own'} fingerprints, seed {args.seed}")
    derived = list(dict.fromkeys(f for r in results for f in r.derived))
    if derived:
        print(f"  {', '.join(derived)}: the adapter's bookkeeping (declared derived), compared "
              "for consistency, not counted as observations")
    listed = args.verbose or summary.traces <= LIST_LIMIT
    for r in results:
        name = r.source
        if r.status == "conforms" and (listed or r.reproduced or r.violations):
            ext = ", ".join(f"{k} {v}" for k, v in r.kinds.items())
            print(f"  conforms  {name}  ({r.executed} steps, policy {r.policy}{_policy_note(r)}"
                  + (f"; external: {ext}" if ext else "") + ")")
            if r.reproduced:
                print(f"            reproduced {r.violation} on real files: {r.reproduced}")
        elif r.status == "skipped":
            print(f"  skipped   {name}: {r.skipped}")
        elif r.status == "diverged":
            print(f"  DIVERGED  {name}  (model {r.variant}, policy {r.policy}{_policy_note(r)}, "
                  f"{r.controllers} controllers)")
            print(format_divergence(r.divergence, r.steps, indent="            "))
            if r.kept:
                print(f"            directory kept: {r.kept}")
        for v in r.violations:
            print(f"  VIOLATES  {v.property}  {name}: {v.detail}")
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
    defaulted = [r for r in results if r.policy_source == "default" and r.status != "skipped"]
    if defaulted:
        names = ", ".join(sorted({r.policy for r in defaulted}))
        variants = ", ".join(sorted({r.variant for r in defaulted}))
        print(f"{_n(len(defaulted), 'trace')} of {variants} ran with the implementation's own "
              f"policy {names}" + ("" if any(_internal(r) for r in defaulted)
                                   else ": observable behaviour only"))
    if any(r.lock_unobserved for r in results):
        print("the session write lock was not observed: holder is declared derived and the "
              "adapter reports no lock_file (takeover-releases-lock rests on holder alone)")
    if summary.violations:
        counts: dict = {}
        for r in results:
            for v in r.violations:
                counts[v.property] = counts.get(v.property, 0) + 1
        print("implementation property violated: "
              + ", ".join(f"{p} ({_n(c, 'time')})" for p, c in counts.items()))
    if summary.not_run:
        print(f"{_n(summary.not_run, 'trace')} not replayed (the adapter had failed)")
    if summary.conforming == 0 and summary.diverged == 0:
        print("nothing was replayed: no trace conforms")

