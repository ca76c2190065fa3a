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
from sessionfence.commands import _common, verify
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
    parser.add_argument("--json", action="store_true",
                        help="machine-readable summary on stdout (docs/json-output.md)")
    _common.add_jobs_argument(parser)
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
                             progress=progress, workers=args.jobs,
                             sources={v.name: _common.variant_source(v, args) for v in variants})
    except render.RenderError as exc:
        raise UsageError(str(exc)) from None
    finally:
        progress.clear()
    command = "sessionfence " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith(("sessionfence", "__main__.py")) else ""
    path = os.path.join(args.out, "index.html")
    _write(path, page.render(report, command))
    results = report.results
    bad = sum(not r.ok for r in results)
    summary = (f"all {len(results)} results match the declared expectations" if not bad
               else f"{bad} of {len(results)} results do not match the declared expectations")
    print(f"report written to {path}: {summary}", file=sys.stderr)
    if args.json:
        _common.print_json("report", to_json(report, path))
    return 0 if report.ok else 1


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def to_json(report: collect.Report, path: str) -> dict:
    body = {"ok": report.ok, "out": path, "controllers": report.controllers,
            "depth": report.depth, "atomic_writes": report.atomic_writes,
            "seconds": round(report.seconds, 3)}
    cells = verify.to_json(report.results, report.ok)
    body["results"], body["witnesses"] = cells["results"], cells["witnesses"]
    td = report.traces
    body["traces"] = None if td is None else {
        "path": td.path, "files": td.files, "unreadable": list(td.unreadable),
        "other_variants": dict(td.other),
        "variants": [{"variant": name, "traces": cov.traces,
                      "transitions": len(cov.keys), "fired": len(cov.keys) - len(cov.missed),
                      "missed": list(cov.missed), "stale": list(cov.stale)}
                     for name, cov in td.by_variant.items()],
    }
    return body
