"""benchmarks/bench_spin.py: reading pan's report, judging agreement, and one real SPIN cell."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "bench_spin", os.path.join(ROOT, "benchmarks", "bench_spin.py"))
B = importlib.util.module_from_spec(_spec)
sys.modules["bench_spin"] = B  # dataclasses look their module up there
_spec.loader.exec_module(B)


def test_a_complete_search_without_errors_holds():
    r = B.parse_pan(HOLDS)
    assert (r.errors, r.states, r.transitions, r.depth) == (0, 20979, 37533, 34)
    assert r.memory_mb == pytest.approx(134.903) and r.elapsed == pytest.approx(0.03)
    assert r.problems == [] and r.verdict == "holds"


def test_an_assertion_violation_is_violated_although_the_search_stopped():
    r = B.parse_pan(VIOLATED)
    assert r.errors == 1 and r.verdict == "violated"
    assert r.first_error == "assertion violated  !(ext_rel[_pid])"
    assert r.states == 2034 and r.problems == []


def test_a_truncated_search_is_not_a_verdict():
    r = B.parse_pan(TRUNCATED)
    assert r.errors == 0 and r.verdict == "invalid"
    assert any("max search depth too small" in p for p in r.problems)


def test_a_search_out_of_memory_is_not_a_verdict():
    r = B.parse_pan(OUT_OF_MEMORY)
    assert r.verdict == "invalid"
    assert any("out of memory" in p for p in r.problems)
    assert any("Search not completed" in p for p in r.problems)


def test_an_error_that_is_not_an_assertion_is_not_a_verdict():
    text = VIOLATED.replace("assertion violated  !(ext_rel[_pid])", "invalid end state")
    r = B.parse_pan(text)
    assert r.verdict == "invalid" and "not an assertion violation" in r.problems[0]


def test_output_without_a_summary_is_not_a_verdict():
    r = B.parse_pan("Segmentation fault\n")
    assert r.verdict == "invalid" and "no 'errors:' line" in r.problems[0]


def test_counts_in_exponent_notation_are_read():
    r = B.parse_pan(HOLDS.replace("    20979 states, stored", "  1.2e+07 states, stored"))
    assert r.states == 12_000_000


def test_verdicts_agree_only_as_error_iff_violated():
    assert B.agree("violated", "violated") and B.agree("holds", "proved")
    assert not B.agree("holds", "violated") and not B.agree("violated", "proved")
    assert not B.agree("holds", "bounded") and not B.agree("invalid", "proved")


def test_a_disagreement_is_reported(capsys):
    args = type("Args", (), {"controllers": 2, "variants": ["reference"]})()
    cell = B.SpinCell(1.0, 0.5, B.parse_pan(VIOLATED))
    spin_runs = {("reference", p): [cell] for p in B.PROPERTIES}
    ours = B.OursRun(2.0, True, {p: {"status": "proved", "method": "invariants", "seconds": 1.0}
                                 for p in B.PROPERTIES})
    problems = B.report(args, spin_runs, {"reference": [ours]})
    assert len(problems) == 3 and problems[0].startswith("DISAGREEMENT reference released-safety")
    out = capsys.readouterr().out
    assert "<< DISAGREE" in out and "reference" in out


def test_usage_errors_exit_2(capsys):
    assert B.main(["--variants", "nope"]) == 2
    assert "unknown variant(s) nope" in capsys.readouterr().err
    assert B.main(["--pml", "/nonexistent/fence.pml", "--quick"]) == 2
    assert "no Promela model at /nonexistent/fence.pml" in capsys.readouterr().err


_missing = [t for t in ("spin", "gcc") if shutil.which(t) is None]
if not os.path.isfile(B.DEFAULT_PML):
    _missing.append(B.DEFAULT_PML)


@pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)} (scripts/bootstrap --bench)")
def test_one_real_spin_cell_agrees_with_the_brief():
    # reference, 2 controllers, precision: holds in the bounded space
    cell = B.spin_cell(B.DEFAULT_PML, B.VARIANTS["reference"], 2, B.PROPERTIES["precision"], 600)
    assert cell.pan.problems == [] and cell.pan.verdict == "holds"
    assert cell.pan.states > 1000 and cell.compile_s > 0 and cell.search_s > 0


# Captured from `pan` of SPIN 6.5.2 on ../shared/peers/spin-fence.pml (gcc -O2 -DSAFETY):
# reference N=2 PROP=3 (-m100000, then -m20, then built with -DMEMLIM=20), broad N=2 PROP=1.

HOLDS = """\

(Spin Version 6.5.2 -- 6 December 2019)
	+ Partial Order Reduction

Full statespace search for:
	never claim         	- (none specified)
	assertion violations	+
	cycle checks       	- (disabled by -DSAFETY)
	invalid end states	+

State-vector 60 byte, depth reached 34, errors: 0
    20979 states, stored
    16554 states, matched
    37533 transitions (= stored+matched)
        0 atomic steps
hash conflicts:        43 (resolved)

Stats on memory usage (in Megabytes):
    1.761	equivalent memory usage for states (stored*(State-vector + overhead))
    1.644	actual memory usage for states (compression: 93.38%)
         	state-vector as stored = 54 byte + 28 byte overhead
  128.000	memory used for hash table (-w24)
    5.341	memory used for DFS stack (-m100000)
  134.903	total actual memory usage


unreached in proctype Ctrl
	fence.pml:439, state 539, "-end-"
	(1 of 539 states)
unreached in proctype X
	fence.pml:474, state 34, "-end-"
	(1 of 34 states)

pan: elapsed time 0.03 seconds
pan: rate    699300 states/second
"""


VIOLATED = """\
pan:1: assertion violated  !(ext_rel[_pid]) (at depth 10)
pan: wrote fence.pml.trail

(Spin Version 6.5.2 -- 6 December 2019)
Warning: Search not completed
	+ Partial Order Reduction

Full statespace search for:
	never claim         	- (none specified)
	assertion violations	+
	cycle checks       	- (disabled by -DSAFETY)
	invalid end states	+

State-vector 52 byte, depth reached 33, errors: 1
     2034 states, stored
     1816 states, matched
     3850 transitions (= stored+matched)
        0 atomic steps
hash conflicts:         0 (resolved)

Stats on memory usage (in Megabytes):
    0.155	equivalent memory usage for states (stored*(State-vector + overhead))
    0.376	actual memory usage for states
  128.000	memory used for hash table (-w24)
    5.341	memory used for DFS stack (-m100000)
  133.634	total actual memory usage



pan: elapsed time 0.01 seconds
"""


TRUNCATED = """\
error: max search depth too small

(Spin Version 6.5.2 -- 6 December 2019)
	+ Partial Order Reduction

Full statespace search for:
	never claim         	- (none specified)
	assertion violations	+
	cycle checks       	- (disabled by -DSAFETY)
	invalid end states	+

State-vector 60 byte, depth reached 19, errors: 0
    15360 states, stored
    13226 states, matched
    28586 transitions (= stored+matched)
        0 atomic steps
hash conflicts:        41 (resolved)

Stats on memory usage (in Megabytes):
    1.289	equivalent memory usage for states (stored*(State-vector + overhead))
    1.252	actual memory usage for states (compression: 97.14%)
         	state-vector as stored = 57 byte + 28 byte overhead
  128.000	memory used for hash table (-w24)
    0.001	memory used for DFS stack (-m20)
  129.172	total actual memory usage


unreached in proctype Ctrl
	fence.pml:439, state 539, "-end-"
	(1 of 539 states)
unreached in proctype X
	fence.pml:474, state 34, "-end-"
	(1 of 34 states)

pan: elapsed time 0.02 seconds
pan: rate    768000 states/second
"""


OUT_OF_MEMORY = """\
pan: reached -DMEMLIM bound
	5.70257e+06 bytes used
	1.34218e+08 bytes more needed
	2.09715e+07 bytes limit
hint: to reduce memory, recompile with
  -DCOLLAPSE # good, fast compression, or
  -DMA=0   # better/slower compression, or
  -DHC # hash-compaction, approximation
  -DBITSTATE # supertrace, approximation

(Spin Version 6.5.2 -- 6 December 2019)
Warning: Search not completed
	+ Partial Order Reduction

Full statespace search for:
	never claim         	- (none specified)
	assertion violations	+
	cycle checks       	- (disabled by -DSAFETY)
	invalid end states	+

State-vector 0 byte, depth reached 0, errors: 0
        0 states, stored
        0 states, matched
        0 transitions (= stored+matched)
        0 atomic steps
hash conflicts:         0 (resolved)

Stats on memory usage (in Megabytes):
    0.000	equivalent memory usage for states (stored*(State-vector + overhead))
    0.000	actual memory usage for states (less than 1k)
  128.000	memory used for hash table (-w24)
    5.341	memory used for DFS stack (-m100000)
    5.438	total actual memory usage



pan: elapsed time 1.72e+07 seconds
pan: rate         0 states/second
"""
