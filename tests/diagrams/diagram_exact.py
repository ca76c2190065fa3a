"""Checking the state-graph reductions of `model.explore` against the raw
semantics.

Within `Bounds` the raw state space is finite (every number can only grow
a bounded number of times), so it can be explored with no reduction at all:
no renaming, no symmetry, nothing forgotten. The reduced graph is right iff
mapping every raw state to its representative gives exactly the reduced
graph's states, its red states, and its edges (up to controller names).
"""

from __future__ import annotations

from collections import deque

from sessionfence.model import properties as P
from sessionfence.model.explore import Reducer, StateGraph


class ReductionMismatch(AssertionError):
    pass


def raw_graph(ex, bounds, max_states: int = 200_000):
    """(states, bad states, edges (s, key, mode, s')) reachable within
    `bounds` with no reduction, leaves at bad states like `explore`."""
    init = ex.initial()
    seen = {(init, 0, 0)}
    queue = deque(seen)
    states, bad, edges = {init}, set(), set()
    while queue:
        s, ext, writes = queue.popleft()
        if any(ex.event(s, p) for p in P.ALWAYS):
            bad.add(s)
            continue
        for inst, nxt in ex.successors(s):
            counts = bounds.advance(ext, writes, inst)
            if counts is None:
                continue
            ext2, writes2 = counts
            states.add(nxt)
            edges.add((s, inst.transition.key, int(inst.mode or 0), nxt))
            if (nxt, ext2, writes2) not in seen:
                seen.add((nxt, ext2, writes2))
                queue.append((nxt, ext2, writes2))
                if len(seen) > max_states:
                    raise AssertionError(f"more than {max_states} raw configurations")
    return states, bad, edges


def assert_exact(graph: StateGraph, reducer=None) -> int:
    """Raises `ReductionMismatch` saying what differs; returns the number of
    raw states checked."""
    ex = graph.executor
    reduce = reducer or Reducer(ex, symmetry=graph.symmetry)
    states, bad, edges = raw_graph(ex, graph.bounds)
    reps = {s: reduce(s) for s in states}
    got_states = set(graph.states)
    want_states = set(reps.values())
    if got_states != want_states:
        raise ReductionMismatch(f"{len(got_states - want_states)} representative(s) no raw state "
                                f"maps to, {len(want_states - got_states)} raw state class(es) "
                                "missing from the graph")
    got_bad = {graph.states[i] for i in graph.bad}
    want_bad = {reps[s] for s in bad}
    if got_bad != want_bad:
        raise ReductionMismatch(f"red states differ: {len(got_bad ^ want_bad)} mismatched")
    # A representative that is red in the graph must not hide a raw state
    # that is not red (and the other way round): redness is a class property.
    if any((s in bad) != (reps[s] in got_bad) for s in states):
        raise ReductionMismatch("a class mixes red and non-red raw states")
    got_edges = {(graph.states[i], inst.transition.key, int(inst.mode or 0), graph.states[j])
                 for i, inst, j in graph.edges}
    want_edges = {(reps[a], key, mode, reps[b]) for a, key, mode, b in edges}
    if got_edges != want_edges:
        raise ReductionMismatch(f"edges differ: {len(got_edges - want_edges)} extra, "
                                f"{len(want_edges - got_edges)} missing")
    return len(states)


def _configs(ex, bounds, reduce=None, max_configs: int = 300_000):
    """The bounded state space as configurations (state, external writes
    used, write sections used), each step labelled (transition key, mode),
    states reduced by `reduce` if given; leaves at bad states."""
    reduce = reduce or (lambda s: s)
    start = (reduce(ex.initial()), 0, 0)
    succ: dict = {}
    queue = deque([start])
    while queue:
        conf = queue.popleft()
        if conf in succ:
            continue
        s, ext, writes = conf
        succ[conf] = []
        if any(ex.event(s, p) for p in P.ALWAYS):
            continue
        for inst, nxt in ex.successors(s):
            counts = bounds.advance(ext, writes, inst)
            if counts is None:
                continue
            ext2, writes2 = counts
            nxt_conf = (reduce(nxt), ext2, writes2)
            succ[conf].append(((inst.transition.key, int(inst.mode or 0)), nxt_conf))
            queue.append(nxt_conf)
        if len(succ) > max_configs:
            raise AssertionError(f"more than {max_configs} configurations")
    return start, succ


def assert_bisimilar(graph: StateGraph) -> int:
    """The claim that holds for every bound: stepping representatives
    behaves like stepping raw states. The raw and the reduced configuration
    spaces within `graph.bounds` are bisimilar (steps labelled by transition
    and mode, states by the properties whose bad event is enabled), and the
    drawn graph is exactly the reduced space's states and steps. Renaming may
    merge states whose numbers differ only where no guard looks (generations
    of another epoch in `reference`), which `assert_exact` would reject.
    Returns the number of blocks of the coarsest bisimulation."""
    ex = graph.executor
    reduce = Reducer(ex, symmetry=graph.symmetry)
    raw_start, raw = _configs(ex, graph.bounds)
    rep_start, rep = _configs(ex, graph.bounds, reduce)
    drawn = {(graph.states[i], inst.transition.key, int(inst.mode or 0), graph.states[j])
             for i, inst, j in graph.edges}
    explored = {(c[0], key, mode, d[0]) for c, out in rep.items() for (key, mode), d in out}
    if drawn != explored or set(graph.states) != {c[0] for c in rep}:
        raise ReductionMismatch("the drawn graph is not the reduced configuration space")
    nodes = [("raw", c) for c in raw] + [("rep", c) for c in rep]
    succ = {("raw", c): [(lab, ("raw", d)) for lab, d in out] for c, out in raw.items()}
    succ.update({("rep", c): [(lab, ("rep", d)) for lab, d in out] for c, out in rep.items()})
    block = {n: tuple(p.name for p in P.ALWAYS if ex.event(n[1][0], p)) for n in nodes}
    count = len(set(block.values()))
    while True:  # refine until stable: the coarsest bisimulation
        sig = {n: (block[n], frozenset((lab, block[m]) for lab, m in succ[n])) for n in nodes}
        ids: dict = {}
        block = {n: ids.setdefault(sig[n], len(ids)) for n in nodes}
        if len(ids) == count:
            break
        count = len(ids)
    if block[("raw", raw_start)] != block[("rep", rep_start)]:
        raise ReductionMismatch("the reduced initial state does not behave like the raw one")
    return count
