"""Diagrams generated from the model's transitions (never drawn by hand).

  machine  the per-controller fence machine of one variant (`machine.py`)
  states   the reachable global states of a small instance (`states.py`)
  trace    one run as a sequence diagram (`trace.py`)
  diff     two variants' machines in one picture (`diff.py`)

Each builder returns a `dot.Graph`; `render` turns its text into SVG or PNG
with Graphviz's `dot`. `docs.regenerate` writes the committed pictures of
the built-in variants under docs/diagrams.
"""

KINDS = ("machine", "states", "trace", "diff")
