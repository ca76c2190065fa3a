"""The implementation's event log (impl/_event_log.py) and `sessionfence check-log`."""

from __future__ import annotations

import json
import os

import pytest

from conformance_support import cli
from sessionfence.conformance import log_check as L
from sessionfence.conformance import replay as R
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.impl import EventLog, SessionController
from sessionfence.model.variants import BUILTIN


def _replay_logged(trace: str, policy: str, log: str, fingerprint=None):
    (lt,) = R.load([trace], BUILTIN)
    with R.Replayer(LocalDriver(event_log=log), R.ReplayOptions(policy=policy,
                                                                fingerprint=fingerprint)) as r:
        res = r.replay(lt)
    return lt, res


@pytest.mark.parametrize("fingerprint", ["digest", "stat"])
def test_a_log_written_during_a_replay_validates(cover_dir, tmp_path, fingerprint):
    """Every cover trace of the reference, replayed with an event log: the
    reference model explains each log, one event per controller step, and
    each takeover by an external write it infers."""
    d = cover_dir("reference", 2)
    checked = takeovers = 0
    for name in sorted(os.listdir(d)):
        log = str(tmp_path / f"{name}-{fingerprint}.jsonl")
        lt, res = _replay_logged(os.path.join(d, name), "reference", log, fingerprint)
        if res.status == "skipped":
            continue
        assert res.status == "conforms", (name, res.divergence)
        events = L.read_log(log) if os.path.exists(log) and os.path.getsize(log) else []
        # one event per controller step (the harness's teardown is not logged)
        assert [e.label() for e in events] == [s.label() for s in lt.run.steps
                                               if s.ctrl is not None]
        if not events:
            continue
        result = L.check(events, BUILTIN["reference"])
        assert result.unexplained is None, (name, result.unexplained, result.reason)
        assert result.false_takeovers == [], name
        checked += 1
        takeovers += len(result.takeovers)
    assert checked >= 15 and takeovers >= 3


def test_a_false_takeover_is_called_out(cover_dir, tmp_path):
    trace = os.path.join(cover_dir("narrow-publication", 2),
                         "narrow-publication-n2-violation-precision.itf.json")
    log = str(tmp_path / "events.jsonl")
    lt, res = _replay_logged(trace, "narrow-publication", log)
    assert res.status == "conforms"
    code, out, err = cli(["check-log", log, "--variant", "narrow-publication"])
    assert code == 4, err
    last = lt.run.steps[-1]
    assert f"FALSE TAKEOVER at event {len(lt.run.steps)}" in out and last.label() in out
    assert "no external write was needed" in out
    # the reference's model explains no such log: the first event it cannot
    # explain is named, with what its model does there
    code, out, _ = cli(["check-log", log, "--variant", "reference", "--json"])
    assert code == 1
    doc = json.loads(out)
    assert doc["unexplained"]["event"] <= len(lt.run.steps)
    assert doc["unexplained"]["reason"]


def test_an_edit_the_log_cannot_show_is_inferred_where_needed(tmp_path):
    """A reacquire that fails closed after a peer-less edit: one external
    write is inferred before it, while the controller was released."""
    path = tmp_path / "session.jsonl"
    path.write_text('{"a":1}\n')
    log = str(tmp_path / "events.jsonl")
    with EventLog(log) as ev:
        c = SessionController(str(path), fingerprint="digest", event_log=ev, name="worker",
                              timeout=0)
        c.start()
        c.release_for_prompt()
        with open(path, "a") as fh:
            fh.write('{"foreign":true}\n')
        with pytest.raises(Exception):
            c.reacquire_after_prompt()
    lines = [json.loads(x) for x in open(log)]
    assert [(e["step"], e["outcome"], e["decision"]) for e in lines] == [
        ("start", "ok", "adopt"), ("release", "ok", "accept"),
        ("reacquire", "takeover", "takeover")]
    assert lines[2]["holder"] == "none" and lines[2]["phase"] == "taken_over"
    result = L.check(L.read_log(log), BUILTIN["reference"])
    assert result.unexplained is None
    assert [(i, t.explained, t.by) for i, t in enumerate(result.takeovers)] == [(0, True, 3)]
    assert [i for i, _ in result.inferred] == [3]


@pytest.mark.parametrize("content, words", [
    ("not json\n", ":1: not a JSON line"),
    ('{"controller":"c1","step":"fly","phase":"held","outcome":"ok","decision":"none"}\n',
     ":1: unknown step 'fly'"),
    ('{"controller":"c1"}\n', ":1: field 'step' is missing"),
    ("", "the log holds no events"),
])
def test_a_bad_log_is_one_line_and_status_2(tmp_path, content, words):
    log = tmp_path / "bad.jsonl"
    log.write_text(content)
    code, out, err = cli(["check-log", str(log), "--variant", "reference"])
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_no_log_no_cost_and_the_default_is_off(tmp_path):
    path = tmp_path / "session.jsonl"
    path.write_text("")
    c = SessionController(str(path), fingerprint="digest", timeout=0)
    c.start()
    c.dispose()
    assert c._event_log is None
    assert os.listdir(tmp_path) == ["session.jsonl"]
