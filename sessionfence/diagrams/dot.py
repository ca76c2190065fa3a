"""A small DOT writer: graphs as text, deterministic to the byte.

The diagrams are committed under docs/diagrams and a test regenerates them,
so the text must depend only on the model: statements come out in the order
they were added, attributes in the order given, every id and value quoted.
Writing DOT directly (rather than through a library) also means `--format
dot` needs nothing installed.
"""

from __future__ import annotations

import textwrap

FONT = "DejaVu Sans"  # has ∧ ∨ ¬ ≤ ⊥ ∀ ∈; Debian's graphviz depends on it
TAKEOVER = "#b3261e"  # fail-closed edges, bad states, the violating step
EXTERNAL = "#6a4c93"  # the external writer
CHANGED = "#e07000"  # diff: a rule that differs
MUTED = "#5f6368"
BAD_FILL = "#f28b82"


class Left(str):
    """A label whose lines are left-justified (`\\l` line ends)."""


class Html(str):
    """An HTML-like label, emitted between < and > as it is."""


def quote(value) -> str:
    if isinstance(value, Html):
        return f"<{value}>"
    if isinstance(value, bool):
        return '"true"' if value else '"false"'
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, Left):
        return '"' + "".join(line + "\\l" for line in text.split("\n")) + '"'
    return '"' + text.replace("\n", "\\n") + '"'


def _attrs(attrs: dict) -> str:
    items = [f"{k.rstrip('_')}={quote(v)}" for k, v in attrs.items() if v is not None]
    return f" [{', '.join(items)}]" if items else ""


def wrap(text: str, width: int) -> str:
    """Break long text at spaces into lines of about `width` characters."""
    lines = []
    for para in text.split("\n"):
        lines.extend(textwrap.wrap(para, width, break_long_words=False,
                                   break_on_hyphens=False, subsequent_indent="  ") or [""])
    return "\n".join(lines)


class Graph:
    """A digraph or one of its subgraphs; `source()` gives the DOT text."""

    def __init__(self, name: str, *, kind: str = "digraph", **attrs):
        self.name, self.kind = name, kind
        self.attrs = attrs
        self.defaults: list[tuple[str, dict]] = []
        self.body: list = []  # str statements or nested Graphs

    def default(self, what: str, **attrs) -> None:
        """`node [...]` / `edge [...]` defaults for what follows."""
        self.defaults.append((what, attrs))

    def node(self, node_id: str, **attrs) -> None:
        self.body.append(f"{quote(node_id)}{_attrs(attrs)}")

    def edge(self, tail: str, head: str, **attrs) -> None:
        self.body.append(f"{quote(tail)} -> {quote(head)}{_attrs(attrs)}")

    def subgraph(self, name: str, **attrs) -> "Graph":
        sub = Graph(name, kind="subgraph", **attrs)
        self.body.append(sub)
        return sub

    def source(self, indent: str = "") -> str:
        inner = indent + "  "
        lines = [f"{indent}{self.kind} {quote(self.name)} {{"]
        if self.attrs:
            lines.append(f"{inner}graph{_attrs(self.attrs)}")
        for what, attrs in self.defaults:
            lines.append(f"{inner}{what}{_attrs(attrs)}")
        for item in self.body:
            lines.append(item.source(inner) if isinstance(item, Graph) else f"{inner}{item}")
        lines.append(f"{indent}}}")
        return "\n".join(lines) + ("\n" if not indent else "")


def graph_id(kind: str, *names: str) -> str:
    """A graph's `id`: Graphviz prefixes every generated SVG id with it, so
    several diagrams can share one HTML page."""
    return "-".join((kind,) + names)


def base_graph(name: str, title: str, **attrs) -> Graph:
    """A graph with the house style: one font, title on top (none if empty)."""
    place = {"label": title, "labelloc": "t", "labeljust": "l"} if title else {}
    g = Graph(name, **place, fontname=FONT, fontsize="14", **attrs)
    g.default("node", fontname=FONT, fontsize="11")
    g.default("edge", fontname=FONT, fontsize="9")
    return g
