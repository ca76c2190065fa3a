"""One report shared by the report tests (verifying takes seconds)."""

from __future__ import annotations

import pytest

from sessionfence.cli import main
from sessionfence.conformance import model_traces
from sessionfence.diagrams.docs import counterexample
from sessionfence.model import properties as P
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN

# strict-fingerprint with a (wrong) claim of precision: a quick, certain
# mismatch; its on_finish is rewritten so the diff has something to show.
USER_VARIANT = """\
from sessionfence.model import builtin, state as S
VARIANT = builtin("strict-fingerprint").derive(
    "strict-claims-precision",
    summary="strict-fingerprint that claims precision",
    expected={"precision": "holds"},
    on_finish=lambda c: {"fence": S.mine[c]},
)
"""


@pytest.fixture(scope="session")
def traces_dir(tmp_path_factory):
    """Two good traces of reference, one of broad-publication, one corrupt."""
    d = tmp_path_factory.mktemp("traces")
    ex, trace = counterexample(BUILTIN["broad-publication"], P.BY_NAME["safety"])
    model_traces.write(ex, trace, str(d / "broad-safety.itf.json"), covers="safety")
    ref = Executor(build(BUILTIN["reference"]), 2)
    s, steps, states = ref.initial(), [], [ref.initial()]
    for step, ctrl in (("start", 1), ("release", 1), ("start", 2), ("release", 2),
                       ("reacquire", 1)):
        inst, s = ref.step(s, step, ctrl)
        steps.append(inst)
        states.append(s)
    model_traces.write(ref, Trace(steps, states), str(d / "ref-a.itf.json"),
                       covers="reacquire:released->held")
    (d / "sub").mkdir()  # traces in subdirectories count too
    model_traces.write(ref, Trace(steps[:2], states[:3]), str(d / "sub" / "ref-b.itf.json"),
                       covers="release:held->released")
    (d / "broken.itf.json").write_text("{ not json")
    return d


@pytest.fixture(scope="session")
def report(tmp_path_factory, traces_dir):
    root = tmp_path_factory.mktemp("report")
    vf = root / "mine.py"
    vf.write_text(USER_VARIANT)
    out = root / "out"
    code = main(["report", "--variant", "reference", "--variant-file", str(vf),
                 "--fingerprint", "digest", "--traces", str(traces_dir), "--out", str(out),
                 "--quiet"])
    return code, (out / "index.html").read_text(encoding="utf-8"), out
