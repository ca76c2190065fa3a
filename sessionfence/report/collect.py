"""Everything the report shows, gathered once: verify each variant, draw.

Diagrams are rendered to SVG here (Graphviz `dot` is required: the caller
checks for it first), so `page` only assembles text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from sessionfence import cells
from sessionfence.diagrams import render
from sessionfence.diagrams.diff import compare, diff_graph
from sessionfence.diagrams.machine import machine_graph
from sessionfence.diagrams.trace import trace_graph
from sessionfence.model import check
from sessionfence.model import invariants as INV
from sessionfence.model.concrete import Executor
from sessionfence.model.display import trace_rows
from sessionfence.model.machine import build
from sessionfence.model.world import World
from sessionfence.model.variants import BUILTIN, Variant
from sessionfence.report.coverage import TraceDir, scan

REFERENCE = "reference"
LEMMAS_PREFIX = "lemmas: "
WITNESS_CONTROLLERS = 2  # counterexamples of `--controllers any` are found with 2


@dataclass
class Counterexample:
    result: check.Result
    controllers: int
    rows: list  # display.trace_rows
    svg: str


@dataclass
class Proof:
    result: check.Result
    explanation: str
    facts: list  # [(name, words)]: the invariants or lemmas the proof rests on


@dataclass
class VariantReport:
    variant: Variant
    results: list  # check.Result, always properties first
    machine_svg: str
    proofs: list = field(default_factory=list)
    counterexamples: list = field(default_factory=list)
    diff_svg: Optional[str] = None
    diff_summary: str = ""

    @property
    def builtin(self) -> bool:
        return BUILTIN.get(self.variant.name) is self.variant

    @property
    def always(self) -> list:
        return [r for r in self.results if r.kind == "always"]

    @property
    def sometimes(self) -> list:
        return [r for r in self.results if r.kind == "sometimes"]


@dataclass
class Report:
    variants: list
    controllers: object
    depth: int
    worlds: list
    seconds: float
    traces: Optional[TraceDir] = None

    @property
    def atomic_writes(self) -> bool:
        return any(w.atomic_writes for w in self.worlds)

    @property
    def results(self) -> list:
        return [r for v in self.variants for r in v.results]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def explain(variant: Variant, r: check.Result) -> Proof:
    """How a proved cell was proved, with the facts in plain words."""
    if r.method.startswith("invariants") and r.note.startswith(check.INDUCTIVE_NOTE):
        # The subset Houdini kept for this variant in this world (in stat
        # mode the reference's `exposed-out-of-step` is not among them).
        names = [n.strip() for n in r.note[len(check.INDUCTIVE_NOTE):].split(",") if n.strip()]
        return Proof(r, f"Inductive invariants, for {r.controllers} controllers: those of the "
                     "shared facts and the design's invariants that Z3 shows inductive for this "
                     "variant in this world; each holds initially and is preserved by every "
                     "transition, and together they rule out the property's bad event.",
                     _in_words(variant, r, names))
    if r.method.startswith(("invariants", "quantified invariants")) and variant.invariants:
        invs = INV.for_machine(build(variant, r.world), INV.SETS[variant.invariants])
        scope = ("for any number of controllers (controllers an uninterpreted sort)"
                 if r.method.startswith("quantified") else f"for {r.controllers} controllers")
        return Proof(r, f"Inductive invariants, {scope}: each holds initially and is preserved "
                     "by every transition, and together they rule out the property's bad event.",
                     [(i.name, i.words) for i in invs])
    if r.method == "spacer" and r.note.startswith(LEMMAS_PREFIX):
        names = [n.strip() for n in r.note[len(LEMMAS_PREFIX):].split(",") if n.strip()]
        return Proof(r, "Spacer (Z3's fixed-point engine) found an inductive strengthening on "
                     "its own, starting from the lemmas that are inductive for this variant "
                     "(the shared facts and the invariants of the design it derives from):",
                     _in_words(variant, r, names))
    if r.invariants:
        how = "learned from counterexamples to induction" if r.method.startswith("learned") \
            else "saved by an earlier run and re-checked"
        return Proof(r, f"Quantified invariants {how}, for any number of controllers "
                     "(controllers an uninterpreted sort): each holds initially and is preserved "
                     "by every transition, and together they rule out the property's bad event.",
                     [(f"l{i}", words) for i, words in enumerate(r.invariants)])
    if r.method.startswith("k-induction"):
        return Proof(r, f"{r.method}: no run of k steps that avoids the bad event can be "
                     "followed by it (strengthened with the shared lemmas inductive for this "
                     "variant), and bounded model checking found none within k steps.", [])
    return Proof(r, r.method + (f" ({r.note})" if r.note else ""), [])


def _in_words(variant: Variant, r: check.Result, names: list) -> list:
    """(name, words) of lemmas named in a result's note. The machine's own
    candidates first: a name can have other words in another world
    (`no-future-fence` against the file, or against the clock)."""
    candidates = INV.for_machine(build(variant, r.world),
                                 INV.SETS.get(variant.invariants or "", ()))
    words = {i.name: i.words for i in candidates}
    return [(n, words.get(n) or lemma_words(n)) for n in names]


def lemma_words(name: str) -> str:
    """A lemma in plain words: a shared fact or an invariant of any design
    (a variant of your own borrows those of the design it derives from)."""
    for invariant in (*INV.SHARED, *INV._FILE_COUNTS, *INV._CLOCK_COUNTS,
                      *(i for invs in INV.SETS.values() for i in invs)):
        if invariant.name == name:
            return invariant.words
    return "(no description: not one of the model's named invariants)"


def variant_report(variant: Variant, results: list, controllers, worlds: list,
                   progress: Callable[[str], None]) -> VariantReport:
    progress(f"[{variant.name}] drawing")
    machine = build(variant, worlds[0])
    vr = VariantReport(variant, results,
                       render.svg_inline(machine_graph(machine, titled=False).source()))
    n = controllers if controllers != "any" else WITNESS_CONTROLLERS
    executors = {w: Executor(build(variant, w), n) for w in worlds}
    for r in vr.always:
        ex = executors[r.world] if r.world in executors else Executor(build(variant, r.world), n)
        if r.status == "proved":
            vr.proofs.append(explain(variant, r))
        if r.trace is not None:
            # untitled: the page's heading above it says what it is
            g = trace_graph(ex, r.trace, "", name=r.property)
            vr.counterexamples.append(Counterexample(r, n, trace_rows(ex, r.trace, r.property),
                                                     render.svg_inline(g.source())))
    if not vr.builtin:
        ref = build(BUILTIN[REFERENCE], worlds[0])
        changes = compare(ref, machine)
        differ = sum(c.kind != "same" for c in changes)
        vr.diff_summary = f"{differ} of {len(changes)} transitions differ from {REFERENCE}"
        vr.diff_svg = render.svg_inline(diff_graph(ref, machine, titled=False).source())
    return vr


def run(variants, *, controllers=2, depth: int = check.DEFAULT_DEPTH,
        worlds: Optional[list] = None, traces: Optional[str] = None,
        progress: Callable[[str], None] = lambda m: None, workers: int = 1,
        sources: Optional[dict] = None) -> Report:
    """`sources`: variant name -> the variant file it comes from (worker
    processes load it again); built-ins need none."""
    t0 = time.perf_counter()
    worlds = worlds or [World()]
    jobs = [cells.Job(v, w, (sources or {}).get(v.name)) for v in variants for w in worlds]
    per_job = cells.run(jobs, controllers, depth, None, workers=workers, progress=progress,
                        on_done=lambda job, got: progress(f"[{job.label}] verified"))
    reports = []
    for i, v in enumerate(variants):
        results = [r for got in per_job[i * len(worlds):(i + 1) * len(worlds)] for r in got]
        reports.append(variant_report(v, results, controllers, worlds, progress))
    trace_dir = None
    if traces is not None:
        progress(f"reading traces in {traces}")
        trace_dir = scan(traces, variants)
    return Report(reports, controllers, depth, worlds, time.perf_counter() - t0, trace_dir)
