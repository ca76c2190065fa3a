"""Write the review report: one static HTML page (DIR/index.html).

The page holds the verdict table, each proof (method, time, and the
invariants in plain words), each counterexample (step table and sequence
diagram), the machine of every variant, the change against `reference` for
a variant of your own, and, with --traces, which transitions the ITF traces
in DIR exercise. It needs no network and no external files.

The exit status is that of `verify`: 0 iff every result matches its
variant's declared expectation; the report is written either way.

Examples:
  sessionfence report --all --out build/report
  sessionfence report --variant-file my_fence.py --out build/report
  sessionfence report --variant reference --traces traces/ --out build/report
"""

from __future__ import annotations

import os
import shlex
import sys

from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.diagrams import render
from sessionfence.model import check
from sessionfence.progress import Progress
from sessionfence.report import collect, page

HELP = "write the HTML review report (verdicts, proofs, counterexamples, diagrams)"


def add_arguments(parser) -> None:
    _common.add_variant_arguments(parser)
    parser.add_argument("--controllers", type=_common.controllers, default=2, metavar="N",
                        help="number of controllers, 1 to 6, or 'any' (default 2)")
    parser.add_argument("--depth", type=_common.depth, default=check.DEFAULT_DEPTH, metavar="K",
                        help=f"bound for the counterexample search (default {check.DEFAULT_DEPTH})")
    _common.add_world_arguments(parser, both=True)
    parser.add_argument("--traces", metavar="DIR",
                        help="ITF traces (from `sessionfence traces`) to report coverage of")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for index.html")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def run(args) -> int:
    variants = _common.resolve_variants(args)
    if args.traces is not None and not os.path.isdir(args.traces):
        raise UsageError(f"--traces {args.traces}: no such directory")
    try:
        render.require_dot("the report's svg")
    except render.DotMissing as exc:
        raise UsageError(str(exc)) from None
    _common.writable_directory(args.out)
    progress = Progress(enabled=not args.quiet)
    try:
        report = collect.run(variants, controllers=args.controllers, depth=args.depth,
                             worlds=_common.worlds(args), traces=args.traces,
                             progress=progress)
    except render.RenderError as exc:
        raise UsageError(str(exc)) from None
    finally:
        progress.clear()
    command = "sessionfence " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith(("sessionfence", "__main__.py")) else ""
    path = os.path.join(args.out, "index.html")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page.render(report, command))
    os.replace(tmp, path)
    results = report.results
    bad = sum(not r.ok for r in results)
    summary = (f"all {len(results)} results match the declared expectations" if not bad
               else f"{bad} of {len(results)} results do not match the declared expectations")
    print(f"report written to {path}: {summary}", file=sys.stderr)
    return 0 if report.ok else 1
