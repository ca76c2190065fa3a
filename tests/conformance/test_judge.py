"""The implementation's property verdicts (conformance/judge.py) on their own."""

from __future__ import annotations

from sessionfence.conformance import judge as J
from sessionfence.model.variants import BUILTIN


def _judge(tmp_path, table=None, aba="content"):
    path = tmp_path / "session.jsonl"
    path.write_bytes(b"line\n")
    return path, J.Judge(str(path), 2, table, aba)


def test_an_undone_edit_is_no_violation_in_the_content_reading(tmp_path):
    """ABA: c1 accepted an empty file; X truncates it again while c1 is
    released; c1 accepts byte-identical bytes: nothing taken in."""
    for aba, expected in (("content", []), ("history", ["released-safety", "safety"])):
        path, j = _judge(tmp_path, J.decision_table("strict-fingerprint", BUILTIN), aba)
        path.write_bytes(b"")
        assert j.step(1, "start", 1, "idle", "ok", "held") == []
        assert j.step(2, "release", 1, "held", "ok", "released") == []
        j.external(3, "truncate", {"c1": "released", "c2": "idle"})
        found = j.step(4, "reacquire", 1, "released", "ok", "held")
        assert [v.property for v in found] == expected, aba


def test_a_changed_file_accepted_after_an_edit_while_released(tmp_path):
    path, j = _judge(tmp_path, J.decision_table("reference", BUILTIN))
    j.step(1, "start", 1, "idle", "ok", "held")
    j.step(2, "release", 1, "held", "ok", "released")
    j.external(3, "append", {"c1": "released", "c2": "idle"})
    path.write_bytes(b"line\nforeign\n")
    found = j.step(4, "reacquire", 1, "released", "ok", "held")
    assert [(v.property, v.step, v.controller, v.external_step) for v in found] == [
        ("released-safety", 4, "c1", 3), ("safety", 4, "c1", 3)]
    assert found[0].detail == ("the implementation violated released-safety at step 4 (c1 "
                               "accepted a file containing the external append of step 3, "
                               "made while c1 was released)")
    # reported once per property and controller
    assert j.step(5, "begin_write", 1, "held", "ok", "write_before") == []


def test_takeovers_are_judged_by_the_history(tmp_path):
    path, j = _judge(tmp_path)
    j.step(1, "start", 1, "idle", "ok", "held")
    found = j.step(2, "begin_write", 1, "held", "takeover", "taken_over")
    assert [v.property for v in found] == ["precision"]
    j.step(3, "start", 2, "idle", "ok", "held")
    j.external(4, "delete", {"c1": "taken_over", "c2": "held"})
    assert j.step(5, "begin_write", 2, "held", "takeover", "taken_over") == []


def test_the_decision_comes_from_the_policys_design_else_the_generic_table(tmp_path):
    ref = J.decision_table("reference", BUILTIN)
    strict = J.decision_table("strict-fingerprint", BUILTIN)
    assert J.decision_table("my-own-design", BUILTIN) is None
    path, j = _judge(tmp_path, strict)
    assert j.decision("release", "held", "ok", "released") == "adopt"
    j.table = ref
    assert j.decision("release", "held", "ok", "released") == "accept"
    assert j.decision("read_before", "write_before", "ok", "write_append") == "accept"
    j.table = None
    assert j.decision("release", "held", "ok", "released") == "none"
    assert j.decision("reacquire", "released", "ok", "held") == "accept"
    assert j.decision("finish_write", "write_after", "ok", "held") == "adopt"
    assert j.decision("reacquire", "released", "error", "released") == "none"


def test_the_content_is_read_without_stat_and_a_missing_file_has_an_id(tmp_path):
    assert J.content_id(str(tmp_path / "nothing")) == J.MISSING
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").write_bytes(b"x")
    assert J.content_id(str(tmp_path / "a")) == J.content_id(str(tmp_path / "b"))


def test_an_own_append_onto_the_seen_bytes_extends_them(tmp_path):
    """The hunt's first false alarm on the reference: a file created empty,
    truncated (still empty) inside c2's write window, c2's own append, its
    validated finish: nothing foreign is in the file."""
    path, j = _judge(tmp_path, J.decision_table("reference", BUILTIN))
    path.write_bytes(b"")
    j.step(1, "start", 2, "idle", "ok", "held")
    j.step(2, "begin_write", 2, "held", "ok", "write_before")
    j.step(3, "read_before", 2, "write_before", "ok", "write_append")
    j.external(4, "truncate", {"c1": "idle", "c2": "write_append"})
    j.before("append", 2)
    path.write_bytes(b"mine\n")
    j.step(5, "append", 2, "write_append", "ok", "write_after")
    assert j.step(6, "finish_write", 2, "write_after", "ok", "held") == []
    # a real edit before the append is still caught
    j.step(7, "begin_write", 2, "held", "ok", "write_before")
    j.step(8, "read_before", 2, "write_before", "ok", "write_append")
    j.external(9, "append", {"c1": "idle", "c2": "write_append"})
    path.write_bytes(b"mine\nforeign\n")
    j.before("append", 2)
    path.write_bytes(b"mine\nforeign\nmine\n")
    j.step(10, "append", 2, "write_append", "ok", "write_after")
    found = j.step(11, "finish_write", 2, "write_after", "ok", "held")
    assert [(v.property, v.external_step) for v in found] == [("safety", 9)]


def test_a_divergence_where_the_implementation_is_the_unsafe_side(tmp_path):
    """A reference trace (c1 released, an external append, a peer's publishing
    write, c1's reacquire fails closed) replayed with broad-publication: the
    implementation launders the edit and accepts it where the reference's
    model takes over. The divergence says the model was the safe side, and
    the violation counts (exit status 4)."""
    import json

    from conformance_support import cli
    from sessionfence.conformance import model_traces
    from sessionfence.model.check import Trace
    from sessionfence.model.concrete import Executor
    from sessionfence.model.expr import Kind, Mode
    from sessionfence.model.machine import build
    from sessionfence.model.world import World

    ex = Executor(build(BUILTIN["reference"], World()), 2)
    s = ex.initial()
    insts, states = [], [s]
    for step, ctrl, mode, kind in [("start", 1, None, None), ("release", 1, None, None),
                                   ("external_write", None, None, Kind.append),
                                   ("start", 2, None, None),
                                   ("begin_write", 2, Mode.publish, None),
                                   ("read_before", 2, None, None), ("append", 2, None, None),
                                   ("finish_write", 2, None, None), ("release", 2, None, None),
                                   ("reacquire", 1, None, None)]:
        inst, s = ex.step(s, step, ctrl, mode, kind)
        insts.append(inst)
        states.append(s)
    assert insts[-1].transition.key == "reacquire:released->taken_over"
    path = str(tmp_path / "laundered.itf.json")
    model_traces.write(ex, Trace(insts, states), path, covers="laundering", status="ok")
    code, out, _ = cli(["replay", "--policy", "broad-publication", path, "--json", "-q"])
    assert code == 4
    (t,) = json.loads(out)["traces"]
    dv = t["divergence"]
    assert t["status"] == "diverged" and dv["step"] == 10
    assert dv["model_violates"] == [] and "released-safety" in dv["implementation_violates"]
    assert dv["safe_side"].startswith("the implementation violates released-safety")
    assert dv["safe_side"].endswith("the model of reference does not (the model is the safe side)")
    assert {"property": "released-safety", "step": 10, "controller": "c1",
            "external_step": 3} in t["implementation_violations"]


def test_aba_on_real_files_follows_the_traces_reading(tmp_path):
    """strict-fingerprint accepts a file deleted, recreated and deleted again
    while it was released (docs/model.md, Undone edits): a released-safety
    violation under --aba history, none under the content reading. The same
    steps replayed on real files get the same two verdicts."""
    from sessionfence.conformance import model_traces
    from sessionfence.conformance import replay as R
    from sessionfence.conformance.local_driver import LocalDriver
    from sessionfence.model import check
    from sessionfence.model.check import Trace
    from sessionfence.model.concrete import Executor
    from sessionfence.model.machine import build
    from sessionfence.model.world import World

    strict = BUILTIN["strict-fingerprint"]
    history = World(aba="history")
    (r,) = [x for x in check.verify(strict, 2, world=history)
            if x.property == "released-safety"]
    assert r.status == "violated"
    verdicts = {}
    for aba in ("history", "content"):
        ex = Executor(build(strict, World(aba=aba)), 2)
        s = ex.initial()
        insts, states = [], [s]
        for i in r.trace.steps:
            inst, s = ex.step(s, i.step, i.ctrl, i.mode, i.kind)
            insts.append(inst)
            states.append(s)
        path = str(tmp_path / f"{aba}.itf.json")
        model_traces.write(ex, Trace(insts, states), path, covers="aba", status="ok")
        (lt,) = R.load([path], BUILTIN)
        with R.Replayer(LocalDriver(), R.ReplayOptions(policy="strict-fingerprint")) as rep:
            res = rep.replay(lt)
        assert res.status == "conforms", res.skipped or res.divergence
        verdicts[aba] = {v.property for v in res.violations}
    assert "released-safety" in verdicts["history"]
    assert "released-safety" not in verdicts["content"]
