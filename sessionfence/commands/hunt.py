"""Hunt for property violations directly on an implementation.

No variant is assumed: schedules of the model's steps are grown from what
the implementation reports (phases, lock holder), with the runner's
external writer making each kind of edit (append, forged-append,
prefix-rewrite, same-size-rewrite, replace, truncate, delete) at the pause
points between steps, across the controllers. Coverage-directed first
(every kind of edit after every step and phase), then random walks with
swarm weights. Each schedule is judged like a replay judges
(released-safety, safety, precision on real files, takeover-releases-lock).
A violating schedule is shrunk to one from which no step can be removed and
written as an ITF trace that `sessionfence replay` reproduces.

Progress on stderr: schedules tried, distinct windows covered, elapsed.

Exit status: 0 no violation found within the budget, 4 a violation found
(the trace is written), 1 the adapter died or hung during the hunt, 2 bad
input, 3 internal error.

Examples:
  sessionfence hunt --policy broad-publication
  sessionfence hunt --policy reference --budget 30 --controllers 3
  sessionfence hunt --adapter "node examples/adapter-js/adapter.js" --out found.itf.json
"""

from __future__ import annotations

import os
import sys

from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.conformance.adapter_client import AdapterError
from sessionfence.conformance.session import HarnessError
from sessionfence.impl import FINGERPRINT_MODES, POLICIES
from sessionfence.progress import Progress

HELP = "search an implementation for property violations (no variant assumed)"
DEFAULT_BUDGET = 60.0


def add_arguments(parser) -> None:
    parser.add_argument("--policy", metavar="P",
                        help=f"the policy to hunt in ({', '.join(POLICIES)} in-process; with "
                        "--adapter one it lists, default its own)")
    parser.add_argument("--adapter", metavar="COMMAND",
                        help="hunt an implementation driven through an adapter process "
                        "(docs/adapter-protocol.md)")
    parser.add_argument("--adapter-timeout", type=float, default=30.0, metavar="SEC",
                        help="seconds to wait for each adapter answer (default %(default)g)")
    parser.add_argument("--controllers", type=int, choices=(2, 3), default=2,
                        help="controllers per schedule (default %(default)s)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET, metavar="S",
                        help="seconds to search (default %(default)g)")
    parser.add_argument("--schedules", type=int, metavar="N",
                        help="stop after N schedules (a deterministic bound with --seed)")
    parser.add_argument("--keep-going", action="store_true",
                        help="search the whole budget for every property, not just the first")
    parser.add_argument("--fingerprint", choices=FINGERPRINT_MODES, default=None,
                        help="fingerprint mode (default digest, or the adapter's first mode)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the search (default 0)")
    parser.add_argument("--out", metavar="FILE",
                        help="where the shrunk violating schedule goes (default "
                        "hunt-POLICY.itf.json; with several properties, -PROPERTY is added)")
    parser.add_argument("--workdir", metavar="DIR", help="where the per-schedule directories go")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output on stdout (docs/json-output.md)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _driver(args):
    if args.adapter:
        from sessionfence.conformance.adapter_client import AdapterDriver

        try:
            driver = AdapterDriver(args.adapter, timeout=args.adapter_timeout)
        except HarnessError as exc:
            raise UsageError(str(exc)) from None
        modes = tuple(driver.fingerprint_modes)
        if args.fingerprint is None:
            args.fingerprint = "digest" if "digest" in modes or not modes else modes[0]
        elif args.fingerprint not in modes:
            driver.close()
            raise UsageError(f"the adapter does not support --fingerprint {args.fingerprint} "
                             f"(it supports {', '.join(modes) or 'none'})")
    else:
        if args.policy is None:
            raise UsageError("say what to hunt: --policy P (the Python implementation, "
                             f"{', '.join(POLICIES)}) or --adapter COMMAND")
        from sessionfence.conformance.local_driver import LocalDriver

        driver = LocalDriver()
        args.fingerprint = args.fingerprint or "digest"
    if args.policy is not None and args.policy not in driver.policies:
        driver.close()
        raise UsageError(f"unknown policy {args.policy!r}; the policies are "
                         f"{', '.join(driver.policies)}")
    return driver


def _out_path(args, policy: str, prop: str, several: bool) -> str:
    path = args.out or f"hunt-{policy}.itf.json"
    if not several:
        return path
    base = path[:-len(".itf.json")] if path.endswith(".itf.json") else os.path.splitext(path)[0]
    return f"{base}-{prop}.itf.json"


def run(args) -> int:
    from sessionfence.conformance.hunt import Hunter, HuntOptions, save

    if args.budget <= 0:
        raise UsageError(f"--budget {args.budget:g}: give a positive number of seconds")
    if args.schedules is not None and args.schedules < 1:
        raise UsageError(f"--schedules {args.schedules}: give at least 1")
    if args.workdir and not os.path.isdir(args.workdir):
        raise UsageError(f"--workdir {args.workdir}: not a directory")
    if args.out and os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: is a directory; give a file name")
    driver = _driver(args)
    options = HuntOptions(policy=args.policy, fingerprint=args.fingerprint,
                          controllers=args.controllers, budget=args.budget,
                          max_schedules=args.schedules, seed=args.seed, workdir=args.workdir,
                          keep_going=args.keep_going)
    progress = Progress(enabled=not args.quiet)
    try:
        with Hunter(driver, options, progress) as hunter:
            result = hunter.hunt()
            where = (f"adapter {driver.name} (protocol {driver.protocol})" if args.adapter
                     else driver.name)
    except AdapterError as exc:
        progress.clear()
        print(f"sessionfence: error: the adapter failed during the hunt: {exc}; the hunt stopped "
              "there and wrote no trace", file=sys.stderr)
        return 1
    except HarnessError as exc:
        progress.clear()
        print(f"sessionfence: error: internal: {exc}", file=sys.stderr)
        return 3
    finally:
        progress.clear()
    several = len(result.found) > 1
    for f in result.found:
        path = _out_path(args, result.policy, f.property, several)
        try:
            save(f, path, result.fingerprint, result.controllers, result.policy)
        except OSError as exc:
            raise UsageError(f"--out {path}: cannot write it ({exc.strerror})") from None
    status = 4 if result.found else 0
    if args.json:
        _common.print_json("hunt", to_json(result, args, where, status))
    else:
        print_human(result, args, where)
    return status


def _reproduce(f, result, args) -> str:
    adapter = f" --adapter {_quote(args.adapter)}" if args.adapter else ""
    return (f"sessionfence replay{adapter} --policy {result.policy} --fingerprint "
            f"{result.fingerprint} {_quote(f.trace)}")


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def to_json(result, args, where: str, status: int) -> dict:
    return {
        "exit_status": status,
        "driver": where,
        "policy": result.policy,
        "fingerprint": result.fingerprint,
        "controllers": result.controllers,
        "seed": args.seed,
        "budget": args.budget,
        "schedules": result.schedules,
        "steps": result.steps,
        "windows": result.windows,
        "phase": result.phase,
        "seconds": round(result.seconds, 3),
        "schedules_per_second": round(result.schedules / result.seconds, 1)
        if result.seconds > 0 else 0,
        "found": [{
            "property": f.property, "step": f.violation.step,
            "controller": f.violation.controller, "external_step": f.violation.external_step,
            "detail": f.violation.detail, "schedule": [s.label() for s in f.schedule],
            "shrunk_from": f.original, "at_schedule": f.at_schedule,
            "seconds": round(f.seconds, 3), "trace": f.trace,
            "variant": f.variant or None, "note": f.note or None,
            "reproduce": _reproduce(f, result, args),
        } for f in result.found],
    }


def print_human(result, args, where: str) -> None:
    print(f"sessionfence hunt: policy {result.policy} on {where}, {result.controllers} "
          f"controllers, {result.fingerprint} fingerprints, budget {args.budget:g}s, "
          f"seed {args.seed}")
    for f in result.found:
        print(f"  FOUND  {f.property} in schedule {f.at_schedule} after {f.seconds:.2f}s: "
              f"{f.violation.detail}")
        print(f"         schedule ({len(f.schedule)} steps, shrunk from {f.original}): "
              + " ; ".join(s.label() for s in f.schedule))
        print(f"         written to {f.trace}" + (f" (variant {f.variant})" if f.variant else ""))
        if f.note:
            print(f"         {f.note}")
        print(f"         reproduce: {_reproduce(f, result, args)}")
    rate = result.schedules / result.seconds if result.seconds > 0 else 0.0
    print(f"{result.schedules} schedules ({rate:,.0f}/s), {result.steps} steps, "
          f"{result.windows} distinct windows, {result.seconds:.2f}s ({result.phase} phase)")
    if not result.found:
        print("no property violation found within the budget (a bounded search, not a proof)")
