"""The report as one HTML page: inline CSS and SVG, no external assets.

The verdict table comes first and is the one thing a reviewer must see: a
green cell is a result that matches the variant's declared expectation, a
red cell one that does not. Everything below it is evidence: proofs with
their invariants in plain words, counterexamples as step tables and
sequence diagrams, the machine, the change against `reference`, coverage.

Diagrams are scaled down to the page width; clicking one shows it at full
size in its own horizontally scrolling box (a checkbox and CSS, no script),
so nothing on the page is wider than the window.
"""

from __future__ import annotations

import html

from sessionfence.diagrams import diff as diff_diagram
from sessionfence.diagrams import machine as machine_diagram
from sessionfence.model import properties as P
from sessionfence.model.display import COLUMNS
from sessionfence.report.collect import Report, VariantReport
from sessionfence.report.coverage import TraceDir

OK_FILL = "#c9ecc9"  # the screenshot test looks for these two fills
BAD_FILL = "#f7c6c6"
HEAD_FILL = "#283593"

CSS = f"""
body {{ font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #202124;
       max-width: 1400px; overflow-wrap: break-word; }}
h1 {{ font-size: 26px; margin: 0 0 8px; }}
h2 {{ font-size: 21px; margin: 36px 0 8px; border-bottom: 2px solid #dadce0; }}
h3 {{ font-size: 16px; margin: 22px 0 6px; }}
table {{ border-collapse: collapse; margin: 6px 0 12px; }}
th, td {{ border: 1px solid #9aa0a6; padding: 5px 9px; text-align: left; vertical-align: top; }}
table.verdicts {{ font-size: 15px; }}
table.verdicts th {{ background: {HEAD_FILL}; color: #ffffff; }}
table.verdicts td.ok {{ background: {OK_FILL}; }}
table.verdicts td.bad {{ background: {BAD_FILL}; }}
table.verdicts td.name {{ font-weight: bold; }}
td .small, .small {{ font-size: 12px; color: #5f6368; }}
table.steps {{ font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }}
table.steps th {{ background: #eceff1; }}
table.steps tr.violating td {{ background: {BAD_FILL}; font-weight: bold; }}
.banner {{ padding: 10px 14px; font-size: 17px; font-weight: bold; border-radius: 4px; }}
.banner.ok {{ background: {OK_FILL}; }}
.banner.bad {{ background: {BAD_FILL}; }}
.wide {{ overflow-x: auto; }}
input.zoom {{ display: none; }}
label.diagram {{ display: block; border: 1px solid #dadce0; padding: 6px; margin: 6px 0 14px;
                 cursor: zoom-in; }}
label.diagram svg {{ display: block; max-width: 100%; height: auto; }}
input.zoom:checked + label.diagram {{ overflow-x: auto; cursor: zoom-out; }}
input.zoom:checked + label.diagram svg {{ max-width: none; }}
.facts li {{ margin: 3px 0; }}
code {{ font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }}
nav a {{ margin-right: 14px; }}
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def _anchor(name: str) -> str:
    return "v-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _modes(report: Report) -> list:
    return [w.fingerprint for w in report.worlds]


def verdict_table(report: Report) -> str:
    """The verdict matrix: design x property x fingerprint mode."""
    props = [p.name for p in P.ALWAYS]
    modes = _modes(report)
    head = "".join(f'<th colspan="{len(modes)}">{esc(p)}</th>' for p in props)
    sub = "".join(f"<th>{esc(m)}</th>" for _ in props for m in modes)
    rows = []
    for vr in report.variants:
        cells = [f'<td class="name"><a href="#{_anchor(vr.variant.name)}">'
                 f"{esc(vr.variant.name)}</a></td>"]
        by_cell = {(r.property, r.world.fingerprint): r for r in vr.always}
        for p in props:
            for m in modes:
                r = by_cell[(p, m)]
                mark = "ok" if r.ok else "bad"
                want = {"holds": "proved", "violated": "violated"}.get(r.expected, "an answer")
                note = "" if r.ok else f" (expected {want})"
                cells.append(f'<td class="{mark}">{esc(r.status)}{esc(note)}<br>'
                             f'<span class="small">{esc(r.method)}, {r.seconds:.2f} s</span></td>')
        found = sum(r.ok for r in vr.sometimes)
        mark = "ok" if found == len(vr.sometimes) else "bad"
        cells.append(f'<td class="{mark}">{found} of {len(vr.sometimes)} witnessed</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table class="verdicts" id="verdicts"><thead><tr><th rowspan="2">variant</th>'
            f'{head}<th rowspan="2">sometimes</th></tr><tr>{sub}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def figure(svg: str, ident: str) -> str:
    """A diagram that fits the page width; a click toggles its full size."""
    return (f'<input type="checkbox" class="zoom" id="zoom-{ident}">'
            f'<label class="diagram" for="zoom-{ident}" title="click to enlarge or fit">'
            f"{svg}</label>")


def results_table(vr: VariantReport) -> str:
    out = ["<table><thead><tr><th>property</th><th>fingerprints</th><th>expected</th>"
           "<th>status</th><th>method</th><th>depth</th><th>time</th><th>note</th></tr>"
           "</thead><tbody>"]
    for r in vr.always:
        # A proof's or a counterexample's note is shown with it below.
        below = r.status == "proved" or r.trace is not None
        note = "see below" if below and r.note else r.note
        out.append(f'<tr><td>{esc(r.property)}</td><td>{esc(r.world.fingerprint)}</td>'
                   f'<td>{esc(r.expected or "-")}</td>'
                   f'<td style="background:{OK_FILL if r.ok else BAD_FILL}">{esc(r.status)}</td>'
                   f"<td>{esc(r.method)}</td><td>{'-' if r.depth is None else r.depth}</td>"
                   f"<td>{r.seconds:.2f} s</td><td>{esc(note)}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def proofs(vr: VariantReport) -> str:
    if not vr.proofs:
        return ""
    out = ["<h3>Proofs</h3>"]
    shown: set = set()
    for proof in vr.proofs:
        r = proof.result
        out.append(f"<p><b>{esc(r.property)}</b> ({esc(r.world.fingerprint)} fingerprints) "
                   f"proved by {esc(r.method)} in {r.seconds:.2f} s. "
                   f"{esc(proof.explanation)}</p>")
        key = tuple(proof.facts)
        if proof.facts and key in shown:
            out.append('<p class="small">The same facts as listed above.</p>')
        elif proof.facts:
            shown.add(key)
            items = "".join(f"<li><code>{esc(n)}</code>: {esc(w)}</li>" for n, w in proof.facts)
            out.append(f'<ol class="facts">{items}</ol>')
    return "".join(out)


def step_table(rows: list) -> str:
    cols = [c for c in COLUMNS if any(r.get(c) for r in rows)]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols) + "<th></th>"
    body = []
    for r in rows:
        cls = ' class="violating"' if r.get("mark") else ""
        cells = "".join(f"<td>{esc(r.get(c, ''))}</td>" for c in cols)
        body.append(f"<tr{cls}>{cells}<td>{esc(r.get('mark', ''))}</td></tr>")
    return (f'<div class="wide"><table class="steps"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def counterexamples(vr: VariantReport) -> str:
    if not vr.counterexamples:
        return ""
    out = ["<h3>Counterexamples</h3>"]
    for cex in vr.counterexamples:
        r = cex.result
        out.append(f"<h4>{esc(vr.variant.name)} violates {esc(r.property)} "
                   f"({esc(r.world.fingerprint)} fingerprints): "
                   f"{len(r.trace.steps)} steps, {cex.controllers} controllers</h4>")
        if r.note:
            out.append(f'<p class="small">{esc(r.note)}</p>')
        out.append(step_table(cex.rows))
        out.append(figure(cex.svg, f"{_anchor(vr.variant.name)}-{r.property}-"
                                   f"{r.world.fingerprint}"))
    return "".join(out)


def witnesses(vr: VariantReport) -> str:
    items = []
    for r in vr.sometimes:
        doc = P.BY_NAME[r.property].doc if r.property in P.BY_NAME else ""
        detail = (f"reachable in {r.depth} steps ({r.world.fingerprint})" if r.ok
                  else f"{r.status} ({r.world.fingerprint}): {r.note}")
        style = "" if r.ok else f' style="background:{BAD_FILL}"'
        items.append(f"<li{style}><code>{esc(r.property)}</code> ({esc(doc)}): {esc(detail)}</li>")
    return f"<h3>Reachability witnesses</h3><ul>{''.join(items)}</ul>" if items else ""


def coverage_section(td: TraceDir) -> str:
    out = [f"<h2 id=\"coverage\">Trace coverage</h2><p>{td.files} trace file(s) in "
           f"<code>{esc(td.path)}</code>.</p>"]
    for name, cov in td.by_variant.items():
        fired = len(cov.keys) - len(cov.missed)
        out.append(f"<h3>{esc(name)}: {cov.traces} trace(s), {fired} of {len(cov.keys)} "
                   "transitions fired</h3>")
        rows = "".join(
            f'<tr><td><code>{esc(k)}</code></td><td style="background:'
            f'{OK_FILL if k in cov.fired else BAD_FILL}">{cov.fired.get(k, 0)}</td></tr>'
            for k in cov.keys)
        out.append(f"<table><thead><tr><th>transition</th><th>traces firing it</th></tr>"
                   f"</thead><tbody>{rows}</tbody></table>")
        if cov.covers:
            items = "".join(f"<li><code>{esc(t)}</code>: {n}</li>" for t, n in cov.covers.items())
            out.append(f"<p>Targets the traces were written for (<code>#meta.covers</code>):</p>"
                       f"<ul>{items}</ul>")
        for line in cov.stale:
            out.append(f'<p style="background:{BAD_FILL}">stale: {esc(line)}</p>')
    for line in td.unreadable:
        out.append(f'<p style="background:{BAD_FILL}">unreadable: {esc(line)}</p>')
    if td.other:
        listed = ", ".join(f"{esc(k)} ({n})" for k, n in td.other.items())
        out.append(f"<p class=\"small\">Traces of variants not in this report: {listed}.</p>")
    return "".join(out)


def variant_section(vr: VariantReport) -> str:
    v = vr.variant
    origin = ""
    if not vr.builtin:
        changed = ", ".join(v.changed) or "no rules"
        origin = ('<p class="small">A variant of your own'
                  + (f", derived from <code>{esc(v.base)}</code> with {esc(changed)} changed"
                     if v.base else "") + ".</p>")
    atomic = (", write sections atomic w.r.t. X" if any(r.atomic_writes for r in vr.results)
              else "")
    parts = [f'<section id="{_anchor(v.name)}"><h2>{esc(v.name)}</h2>',
             f"<p>{esc(v.summary)}</p>", origin, "<h3>Verdicts</h3>", results_table(vr),
             proofs(vr), counterexamples(vr), witnesses(vr),
             f'<h3>The machine</h3><p class="small">The per-controller fence machine{atomic}: '
             f"{esc(machine_diagram.KEY)}.</p>",
             figure(vr.machine_svg, f"{_anchor(v.name)}-machine")]
    if vr.diff_svg:
        parts.append(f"<h3>Change against reference</h3><p>{esc(vr.diff_summary)} "
                     f"({esc(diff_diagram.KEY)}).</p>"
                     + figure(vr.diff_svg, f"{_anchor(v.name)}-diff"))
    parts.append("</section>")
    return "".join(parts)


def render(report: Report, command: str = "") -> str:
    results = report.results
    bad = sum(not r.ok for r in results)
    if bad:
        banner = (f'<p class="banner bad" id="summary">{bad} of {len(results)} results do not '
                  "match the declared expectations</p>")
    else:
        banner = (f'<p class="banner ok" id="summary">all {len(results)} results match the '
                  "declared expectations</p>")
    atomic = ", write sections atomic w.r.t. the external writer" if report.atomic_writes else ""
    world = report.worlds[0].but(fingerprint="digest").describe().replace("digest fingerprints", "")
    world = world.lstrip(", ")
    settings = (f"{report.controllers} controllers, {' and '.join(_modes(report))} fingerprints"
                + (f", {world}" if world and "atomic" not in world else "")
                + f"{atomic}; counterexample search to depth "
                f"{report.depth}; checked in {report.seconds:.1f} s")
    nav = "".join(f'<a href="#{_anchor(vr.variant.name)}">{esc(vr.variant.name)}</a>'
                  for vr in report.variants)
    if report.traces is not None:
        nav += '<a href="#coverage">trace coverage</a>'
    body = ["<h1>sessionfence report</h1>", banner, f'<p class="small">{esc(settings)}'
            + (f"<br>made by <code>{esc(command)}</code>" if command else "") + "</p>",
            verdict_table(report),
            '<p class="small">Green: the result matches the variant\'s declared expectation '
            "(a “holds” needs a proof, a “violated” a replayed counterexample). Red: it does "
            "not. Diagrams fit the page width: click one to see it at full size.</p>",
            f"<nav>{nav}</nav>"]
    body += [variant_section(vr) for vr in report.variants]
    if report.traces is not None:
        body.append(coverage_section(report.traces))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>sessionfence report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
