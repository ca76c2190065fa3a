"""Trace coverage: which transitions the ITF traces in a directory exercise.

A trace counts for a transition when re-executing it in the current model
(`model_traces.execute`) fires that transition; a trace the model can no
longer execute is listed as stale, not counted. `#meta.covers` (the target
`sessionfence traces` wrote the trace for) is listed alongside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sessionfence.conformance import model_traces
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build

SUFFIX = ".itf.json"


@dataclass
class Coverage:
    variant: str
    traces: int = 0
    fired: dict = field(default_factory=dict)  # transition key -> number of traces
    covers: dict = field(default_factory=dict)  # #meta.covers target -> number of traces
    stale: list = field(default_factory=list)  # "file: reason"
    keys: list = field(default_factory=list)  # every transition key of the machine

    @property
    def missed(self) -> list:
        return [k for k in self.keys if k not in self.fired]


@dataclass
class TraceDir:
    path: str
    files: int
    by_variant: dict  # name -> Coverage
    unreadable: list  # "file: reason"
    other: dict  # variant name not in the report -> number of traces


def trace_files(directory: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.endswith(SUFFIX)]
    return out


def scan(directory: str, variants) -> TraceDir:
    by_name = {v.name: v for v in variants}
    by_variant = {v.name: Coverage(v.name) for v in variants}
    executors: dict = {}
    unreadable, other = [], {}
    files = trace_files(directory)
    for path in files:
        rel = os.path.relpath(path, directory)
        try:
            tf = model_traces.read(path)
        except (OSError, ValueError) as exc:
            reason = str(exc)  # ItfError names the file already: say it once
            reason = reason[len(path):].lstrip(": ") if reason.startswith(path) else reason
            unreadable.append(f"{rel}: {reason}")
            continue
        if tf.variant not in by_name:
            other[tf.variant] = other.get(tf.variant, 0) + 1
            continue
        cov = by_variant[tf.variant]
        key = (tf.variant, tf.controllers, tf.world)
        if key not in executors:
            machine = build(by_name[tf.variant], tf.world)
            executors[key] = Executor(machine, tf.controllers)
            if not cov.keys:
                cov.keys = [t.key for t in machine.transitions]
        try:
            trace = model_traces.execute(executors[key], tf)
        except model_traces.StaleTrace as exc:
            cov.stale.append(f"{rel}: {exc}")
            continue
        cov.traces += 1
        for k in sorted({inst.transition.key for inst in trace.steps}):
            cov.fired[k] = cov.fired.get(k, 0) + 1
        target = str(tf.meta.get("covers", "")) or "(none)"
        cov.covers[target] = cov.covers.get(target, 0) + 1
    for v in variants:
        if not by_variant[v.name].keys:
            by_variant[v.name].keys = [t.key for t in build(v).transitions]
    return TraceDir(directory, len(files), by_variant, unreadable, dict(sorted(other.items())))
