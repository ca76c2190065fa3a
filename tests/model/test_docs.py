"""docs/model.md describes the model as declared (no drift)."""

import os
import re

from sessionfence.model import invariants, machine, state

DOC = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "model.md"),
           encoding="utf-8").read()


def test_every_state_variable_is_documented():
    for v in state.MACHINE_VARS + state.WORLD_VARS + state.GHOST_VARS:
        assert f"`{v.name}`" in DOC, v.name
    for v in (state.fence, state.k_epoch, state.k_gen, state.reg_epoch, state.reg_gen,
              state.reg_fp, state.next_epoch, state.trusted):
        assert f"`{v.name}`" in DOC, v.name


def test_every_step_is_documented():
    for step in machine.STEPS:
        assert re.search(rf"`{step}(\((m|k)\))?`", DOC), step


def test_every_invariant_is_documented_in_its_own_words():
    for inv in invariants.SHARED + invariants.REFERENCE_OWN + invariants.BROAD_OWN:
        assert f"**{inv.name}**: {inv.words}." in DOC, inv.name
