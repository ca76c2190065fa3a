"""Reading back the DOT text our diagrams write, for the tests.

The writer emits one statement per line with every id and value quoted, so
a line is either `"id" [attrs]`, `"tail" -> "head" [attrs]`, a `graph` /
`node` / `edge` default, or a subgraph bracket. Escapes are undone (`\\n`
and `\\l` become newlines) so tests compare against the model's own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STRING = r'"((?:[^"\\]|\\.)*)"'
_ATTR = re.compile(r'(\w+)=' + _STRING)
_EDGE = re.compile(r'^\s*' + _STRING + r' -> ' + _STRING + r'(?: \[(.*)\])?$')
_NODE = re.compile(r'^\s*' + _STRING + r'(?: \[(.*)\])?$')
_GRAPH = re.compile(r'^\s*graph \[(.*)\]$')


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nlr" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def attrs(text: str | None) -> dict:
    return {k: unescape(v) for k, v in _ATTR.findall(text or "")}


@dataclass
class Dot:
    graph: dict = field(default_factory=dict)  # the top graph's attributes
    nodes: dict = field(default_factory=dict)  # id -> attrs
    edges: list = field(default_factory=list)  # (tail, head, attrs)

    def edge_by_id(self, edge_id: str):
        found = [e for e in self.edges if e[2].get("id") == edge_id]
        assert len(found) == 1, f"{len(found)} edges with id {edge_id!r}"
        return found[0]

    def classes(self, attrs_: dict) -> set:
        return set(attrs_.get("class", "").split())


def parse(source: str) -> Dot:
    d = Dot()
    depth = 0
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.endswith("{"):
            depth += 1
            continue
        if stripped == "}":
            depth -= 1
            continue
        m = _GRAPH.match(line)
        if m:
            if depth == 1:
                d.graph = attrs(m.group(1))
            continue
        if stripped.startswith(("node [", "edge [")):
            continue
        m = _EDGE.match(line)
        if m:
            d.edges.append((unescape(m.group(1)), unescape(m.group(2)), attrs(m.group(3))))
            continue
        m = _NODE.match(line)
        if m:
            d.nodes[unescape(m.group(1))] = attrs(m.group(2))
            continue
        raise AssertionError(f"unexpected DOT line: {line!r}")
    assert depth == 0, "unbalanced braces"
    return d


def unwrap(label: str) -> str:
    """Undo `dot.wrap`: continuation lines start with two spaces."""
    lines = label.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        if line.startswith("  "):
            out[-1] += " " + line[2:]
        else:
            out.append(line)
    return "\n".join(out)
