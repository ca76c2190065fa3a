"""docs/model.md describes the model as declared (no drift)."""

import os
import re

from sessionfence.model import invariants, machine, state

DOC = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "model.md"),
           encoding="utf-8").read()


def test_every_state_variable_is_documented():
    for v in state.STATE_VARS:
        assert f"`{v.name}`" in DOC, v.name


def test_every_step_is_documented():
    for step in machine.STEPS:
        assert re.search(rf"`{step}(\(m\))?`", DOC), step


def test_every_invariant_is_documented_in_its_own_words():
    for inv in invariants.REFERENCE:
        assert f"**{inv.name}**: {inv.words}." in DOC, inv.name
