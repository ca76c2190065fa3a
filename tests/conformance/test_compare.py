"""The comparison of model and implementation views, fingerprints by bijection."""

from __future__ import annotations

from sessionfence.conformance.compare import Bijection, Comparator, View
from sessionfence.model.expr import NO_FP


def test_a_model_id_and_a_real_fingerprint_are_bound_at_first_meeting():
    b = Bijection()
    assert b.check("file", 0, "R0", 0) is None
    assert b.check("fence[c1]", 0, "R0", 1) is None


def test_a_model_id_meeting_another_real_state_is_a_divergence():
    b = Bijection()
    b.check("file", 3, "R0", 2)
    d = b.check("fence[c1]", 3, "R1", 5)
    assert d.field == "fence[c1]"
    assert d.model == "f3 = real #0 (bound at step 2, file)"
    assert d.impl == "real #1 (new)"


def test_a_real_state_meeting_a_new_model_id_is_a_divergence_too():
    # the model says the file changed, the real file did not: a write nobody saw
    b = Bijection()
    b.check("file", 1, "R0", 1)
    d = b.check("file", 2, "R0", 2)
    assert d.model == "f2 (a state the model has not shown before)"
    assert d.impl == "real #0 = model f1"


def test_no_fingerprint_must_meet_no_fingerprint():
    b = Bijection()
    assert b.check("fence[c1]", NO_FP, None, 0) is None
    assert b.check("fence[c1]", NO_FP, "R0", 0).model == "⊥"
    assert b.check("fence[c1]", 4, None, 0).impl == "none"


def _view(outcome="ok", phase=None, holder="none", values=None, lock=False):
    return View(outcome, phase or {"c1": "held", "c2": "idle"}, holder, lock,
                values or {"file": 0})


def test_comparator_reports_outcome_phase_holder_and_lock_file():
    c = Comparator(("outcome", "phase", "holder", "lock_file", "file"))
    model = _view("ok", {"c1": "held", "c2": "idle"}, "c1", {"file": 0}, True)
    impl = _view("takeover", {"c1": "taken_over", "c2": "idle"}, "none", {"file": "R"}, False)
    impl.detail = "reacquire check: size changed"
    fields = [(d.field, d.model, d.impl) for d in c.compare(1, model, impl)]
    assert fields == [("outcome", "ok", "takeover (reacquire check: size changed)"),
                      ("phase[c1]", "held", "taken_over"), ("holder", "c1", "none"),
                      ("lock file", "present", "absent")]


def test_external_writes_have_no_outcome_to_compare():
    c = Comparator(("outcome", "file"))
    assert c.compare(1, _view(None), _view(None, values={"file": "R"})) == []


def test_section_data_is_compared_in_every_phase():
    c = Comparator(("mode",))
    model = _view(phase={"c1": "taken_over", "c2": "write_before"},
                  values={"mode": {"c1": "none", "c2": "broad"}})
    impl = _view(values={"mode": {"c1": "publish", "c2": "broad"}})
    assert [d.field for d in c.compare(3, model, impl)] == ["mode[c1]"]

