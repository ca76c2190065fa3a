"""Helpers shared by the conformance tests (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import os

import pytest

from sessionfence.cli import main
from sessionfence.conformance import cover as C
from sessionfence.conformance import model_traces
from sessionfence.model import variants
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.world import World

POLICIES = ("strict-fingerprint", "broad-publication", "narrow-publication", "reference")
HISTORICAL = POLICIES[:3]

THOROUGH = os.environ.get("SESSIONFENCE_PROFILE", "ci") == "thorough"
thorough_only = [
    pytest.mark.slow,
    pytest.mark.skipif(not THOROUGH, reason="long campaign: set SESSIONFENCE_PROFILE=thorough"),
]


def write_cover(directory: str, variant: str, n: int, atomic: bool = False,
                world: World = None) -> C.CoverResult:
    """The cover traces of `variant` as ITF files in `directory` (library path)."""
    v = variants.get(variant)
    world = (world or World()).but(atomic_writes=atomic) if atomic else (world or World())
    ex = Executor(build(v, world), n)
    result = C.cover(v, n, world=world)
    os.makedirs(directory, exist_ok=True)
    for c in result.covered:
        path = os.path.join(directory, C.file_name(variant, n, ex.machine.world, c.target))
        model_traces.write(ex, c.trace, path, covers=c.target.name, status=c.target.status)
    return result


def cli(argv) -> tuple:
    """Run the sessionfence CLI in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
