"""Draw the fence machine, its reachable states, a run, or a fence change.

Every picture is generated from the model's transitions:

  machine  phases as nodes, transitions as edges with their guard and effect
  states   the reachable global states of a small instance (red: a
           property's bad event is enabled, --property for one property);
           refused beyond --limit states
  trace    one run as a sequence diagram: an ITF trace (--trace FILE) or the
           counterexample verify finds for a property (--property P)
  diff     this variant's machine against another (--against, default
           reference): transitions whose guard or effect differs stand out

--format dot needs nothing installed; svg and png need Graphviz's `dot`.

Examples:
  sessionfence diagram --variant reference --kind machine --out machine.svg
  sessionfence diagram --variant broad-publication --kind trace --property safety --out cex.svg
  sessionfence diagram --variant-file my_fence.py --kind diff --out change.svg
  sessionfence diagram --regenerate-docs
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.diagrams import KINDS, docs, render
from sessionfence.diagrams.diff import diff_graph
from sessionfence.diagrams.machine import machine_graph
from sessionfence.diagrams.states import build_states, describe
from sessionfence.diagrams.trace import trace_graph, trace_title
from sessionfence.model import properties as P
from sessionfence.model.explore import DEFAULT_LIMIT, Bounds, TooManyStates
from sessionfence.model.expr import WRITE_MODES
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN
from sessionfence.progress import Progress

HELP = "draw the machine, reachable states, a trace or a fence change (Graphviz)"


def add_arguments(parser) -> None:
    _common.add_variant_arguments(parser, many=False)
    parser.add_argument("--kind", choices=KINDS, help="what to draw")
    parser.add_argument("--out", metavar="FILE", help="where to write the picture")
    parser.add_argument("--format", choices=render.FORMATS,
                        help="svg, png or dot (default: from --out's extension, else svg)")
    parser.add_argument("--controllers", type=_common.fixed_controllers, default=2, metavar="N",
                        help="controllers for states and trace (default 2)")
    _common.add_world_arguments(parser)
    trace = parser.add_argument_group("trace")
    trace.add_argument("--trace", metavar="FILE", help="an ITF trace (.itf.json) to draw")
    parser.add_argument("--property", choices=[p.name for p in P.ALWAYS],
                       help="trace: draw the counterexample verify finds for this property; "
                       "states: only this property's bad event makes red leaves")
    parser.add_argument("--against", metavar="NAME", default=docs.REFERENCE,
                        help="diff: the variant to compare with (default reference)")
    states = parser.add_argument_group("states (the small instance)")
    states.add_argument("--external-writes", type=_count, default=Bounds.external, metavar="K",
                        help=f"external writes per path (default {Bounds.external})")
    states.add_argument("--writes", type=_writes, default=Bounds.writes, metavar="W",
                        help=f"write sections per path, or 'any' (default {Bounds.writes})")
    states.add_argument("--modes", type=_modes, default=Bounds.modes, metavar="M,M",
                        help="begin_write modes offered (default "
                        f"{','.join(m.name for m in Bounds.modes)})")
    states.add_argument("--dispose", action="store_true", help="offer the dispose step")
    states.add_argument("--limit", type=_count, default=DEFAULT_LIMIT, metavar="N",
                        help=f"refuse graphs of more states (default {DEFAULT_LIMIT})")
    parser.add_argument("--regenerate-docs", nargs="?", const=docs.DOCS_DIR, metavar="DIR",
                        help=f"rewrite the built-in variants' pictures (default {docs.DOCS_DIR})")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable summary on stdout (docs/json-output.md)")


def _count(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if k < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {k}")
    return k


def _writes(value: str):
    return None if value == "any" else _count(value)


def _modes(value: str) -> tuple:
    names = [m.strip() for m in value.split(",") if m.strip()]
    known = {m.name: m for m in WRITE_MODES}
    bad = [m for m in names if m not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"modes are {', '.join(known)} (comma-separated), got {value!r}")
    return tuple(m for m in WRITE_MODES if m.name in names)


def run(args) -> int:
    t0 = time.perf_counter()
    try:
        if args.regenerate_docs is not None:
            return _regenerate(args, t0)
        fmt = _format(args)
        if fmt != "dot":
            render.require_dot(fmt, alternative="or use --format dot")  # fail before any work
        if os.path.isdir(args.out):
            raise UsageError(f"--out {args.out}: is a directory; give a file name, "
                             f"e.g. {os.path.join(args.out, args.kind + '.' + fmt)}")
        _common.writable_directory(os.path.dirname(os.path.abspath(args.out)))
        info = {"kind": args.kind, "variant": None, "against": None, "controllers": None,
                "format": fmt, "out": args.out, "bytes": None, "seconds": None,
                "graph": None, "trace": None}
        source = _build(args, info)
        try:
            info["bytes"] = render.write(source, fmt, args.out)
        except OSError as exc:
            raise UsageError(f"cannot write --out {args.out}: {exc.strerror or exc}") from None
    except (render.DotMissing, render.RenderError) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        info["seconds"] = round(time.perf_counter() - t0, 3)
        _common.print_json("diagram", info)
    return 0


def _format(args) -> str:
    if not args.kind:
        raise UsageError("say what to draw: --kind " + "|".join(KINDS))
    if not args.out:
        raise UsageError("say where to write the picture: --out FILE")
    if args.format:
        return args.format
    ext = args.out.rsplit(".", 1)[-1].lower() if "." in args.out else ""
    return ext if ext in render.FORMATS else "svg"


def _regenerate(args, t0: float) -> int:
    progress = Progress()
    try:
        written = docs.regenerate(args.regenerate_docs, progress=progress)
    finally:
        progress.clear()
    print(f"wrote {len(written)} files under {args.regenerate_docs}", file=sys.stderr)
    if args.json:
        _common.print_json("diagram", {"kind": "docs", "out": args.regenerate_docs,
                                       "files": written,
                                       "seconds": round(time.perf_counter() - t0, 3)})
    return 0


def _variant(args, name=None):
    if name is None:
        return _common.resolve_variants(args, many=False)[0]
    shadow = argparse.Namespace(variant=name, variant_file=args.variant_file)
    return _common.resolve_variants(shadow, many=False)[0]


def _build(args, info: dict) -> str:
    if args.kind == "trace":
        return _trace(args, info)
    variant = _variant(args)
    info["variant"] = variant.name
    (world,) = _common.worlds(args)
    machine = build(variant, world)
    if args.kind == "machine":
        return machine_graph(machine).source()
    if args.kind == "diff":
        other = _variant(args, args.against)
        if other.name == variant.name:
            raise UsageError(f"--against {other.name} is the variant itself; "
                             "name another one to compare with")
        info["against"] = other.name
        return diff_graph(build(other, world), machine).source()
    info["controllers"] = args.controllers
    # The states picture offers one kind of edit unless --external names them.
    kinds = tuple(world.kinds) if args.external else Bounds.kinds
    bounds = Bounds(args.external_writes, args.writes, args.modes, args.dispose, kinds)
    try:
        graph, g = build_states(machine, args.controllers, bounds, limit=args.limit,
                                properties=(args.property,) if args.property else None)
    except TooManyStates as exc:
        count = exc.count if exc.complete else f"more than {exc.count}"
        raise UsageError(
            f"{variant.name}: the states graph has {count} states for {args.controllers} "
            f"controller{'s' if args.controllers != 1 else ''} ({bounds.describe()}), "
            f"more than --limit {exc.limit}; lower --external-writes or --writes, narrow "
            "--modes or --external kinds, or raise --limit") from None
    print(f"{variant.name}: {describe(graph)}, {len(graph.bad)} red", file=sys.stderr)
    info["graph"] = {"states": len(graph), "edges": len(graph.edges), "red": len(graph.bad)}
    return g.source()


def _trace(args, info: dict) -> str:
    if bool(args.trace) == bool(args.property):
        raise UsageError("the trace kind draws one run: give --trace FILE or --property NAME")
    if args.trace:
        return _trace_file(args, info)
    from sessionfence.model import check
    from sessionfence.model.concrete import Executor

    variant = _variant(args)
    info["variant"], info["controllers"] = variant.name, args.controllers
    (world,) = _common.worlds(args)
    machine = build(variant, world)
    progress = Progress()
    try:
        results = check.verify(variant, args.controllers, world=world,
                               progress=lambda m: progress(f"[{variant.name}] {m}"))
    finally:
        progress.clear()
    result = next(r for r in results if r.property == args.property)
    if result.trace is None:
        raise UsageError(f"{variant.name}: no counterexample to {args.property} for "
                         f"{args.controllers} controllers ({result.status}, {result.method}); "
                         "nothing to draw")
    ex = Executor(machine, args.controllers)
    info["trace"] = {"file": None, "property": args.property, "steps": len(result.trace.steps)}
    what = (f"violates {args.property}: counterexample found by {result.method} at depth "
            f"{result.depth}, replayed on the concrete semantics")
    return trace_graph(ex, result.trace, trace_title(ex, what), name=args.property).source()


def _trace_file(args, info: dict) -> str:
    from sessionfence.conformance import model_traces
    from sessionfence.model.concrete import Executor

    try:
        tf = model_traces.read(args.trace)
    except OSError as exc:
        raise UsageError(f"{args.trace}: {exc.strerror or exc}") from None
    except ValueError as exc:  # ItfError: the message names the file and the place
        raise UsageError(str(exc)) from None
    if args.variant and args.variant != tf.variant:
        raise UsageError(f"{args.trace} is a trace of {tf.variant}, not of {args.variant}")
    variant = _variant(args, tf.variant) if (tf.variant in BUILTIN or args.variant_file) \
        else None
    if variant is None:
        raise UsageError(f"{args.trace}: variant {tf.variant!r} is not built in; "
                         "pass the file defining it with --variant-file")
    ex = Executor(build(variant, tf.world), tf.controllers)
    try:
        trace = model_traces.execute(ex, tf)
    except model_traces.StaleTrace as exc:
        raise UsageError(str(exc)) from None
    info.update(variant=variant.name, controllers=tf.controllers)
    info["trace"] = {"file": args.trace, "property": None, "steps": len(trace.steps)}
    covers = str(tf.meta.get("covers", ""))
    what = f"trace {os.path.basename(args.trace)}" + (f" (covers {covers})" if covers else "")
    # A trace written for a property is highlighted where that property
    # fails, even if another one failed on the way there.
    watched = (covers,) if covers in P.BY_NAME and P.BY_NAME[covers].kind == "always" else None
    return trace_graph(ex, trace, trace_title(ex, what), name="file",
                       properties=watched).source()
