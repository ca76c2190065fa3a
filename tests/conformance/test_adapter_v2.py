"""Adapter protocol v2: each item of the protocol, and version 1 still accepted.

Edge cases use a fake adapter: our own adapter server with one thing
changed per mode (a lock kept after a takeover, a death or a hang at a
given step, a lenient version 1 handshake, bookkeeping that is wrong).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import time

import pytest

from conformance_support import cli
from sessionfence.conformance import model_traces
from sessionfence.conformance import replay as R
from sessionfence.conformance.compare import View
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.conformance.protocol import ProtocolViolation, capabilities
from sessionfence.impl import _controller
from sessionfence.model import variants
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import Kind, Mode
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN

PY = shlex.quote(sys.executable)
ADAPTER = f"{PY} -m sessionfence.conformance.adapter"

FAKE = r'''
import json, os, subprocess, sys, time
from sessionfence.conformance.adapter import AdapterServer
from sessionfence.impl import _controller

modes = sys.argv[1].split(",")
pidfile = sys.argv[2] if len(sys.argv) > 2 else None
server = AdapterServer(derived=["holder"] if "derived-holder" in modes else [])
if "keep-lock" in modes:  # fail closed but keep the lock and the fd
    def _take_over(self, err, keep_lock=False):
        self._takeover = err
        self._phase = "taken_over"
    _controller.SessionController._take_over = _take_over
for line in sys.stdin:
    req = json.loads(line)
    op = req.get("op")
    if "die-at:" + str(op) in modes:
        print(f"boom: the fake adapter dies at {op}", file=sys.stderr, flush=True)
        os._exit(7)
    if "hang-at:" + str(op) in modes:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(pidfile, "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")
        time.sleep(600)
    reply = server.handle(req)
    if op == "hello" and "v1-lenient" in modes:  # answers 1 whatever was offered
        reply = {**server.handle({"op": "hello", "protocol": 1}),
                 "pause_points": ["begin_write", "read_before", "append", "finish_write"]}
    if "no-lock-file" in modes:
        reply.pop("lock_file", None)
    if "holder-none" in modes and reply.get("outcome") == "takeover":
        reply["holder"] = "none"  # bookkeeping that believes a takeover frees the lock
    if "bad-phase" in modes and reply.get("outcome") == "ok" and op == "release":
        reply["phases"][req["controller"]] = "held"  # bookkeeping that forgot the release
    print(json.dumps(reply), flush=True)
'''


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_adapter.py"
    script.write_text(FAKE)
    return lambda modes, *extra: " ".join([PY, shlex.quote(str(script)), modes, *extra])


def write_trace(path, variant: str, n: int, steps) -> str:
    """A hand-made trace: [(step, ctrl, mode)], executed by the model and written as ITF."""
    ex = Executor(build(variants.get(variant)), n)
    tf = model_traces.TraceFile(str(path), variant, n, ex.machine.world,
                                [model_traces.Step(s, c, Mode[m] if m else None,
                                                   Kind.append if s == "external_write" else None)
                                 for s, c, m in steps], [])
    model_traces.write(ex, model_traces.execute(ex, tf, compare_states=False), str(path),
                       covers="hand-made")
    return str(path)


def section(mode: str, external_after: str):
    """start c1, then one write section of `mode` by c1 with an external write
    right after `external_after`."""
    steps = [("start", 1, None), ("begin_write", 1, mode), ("read_before", 1, None),
             ("append", 1, None), ("finish_write", 1, None)]
    at = [s[0] for s in steps].index(external_after) + 1
    return steps[:at] + [("external_write", None, None)] + steps[at:]


def replay_json(*argv) -> tuple:
    code, out, err = cli(["replay", *argv, "--json", "-q"])
    return code, json.loads(out), err


# -- hello: version 2 offered, version 1 still accepted ---------------------------------------


def test_our_adapter_answers_version_2_and_the_runner_says_which_version_it_drives(cover_dir):
    code, report, _ = replay_json(cover_dir("reference", 2), "--adapter", ADAPTER)
    assert code == 0 and report["driver"].endswith("(protocol 2)")
    code, report, _ = replay_json(cover_dir("reference", 2), "--adapter",
                                  ADAPTER + " --protocol 1")  # refuses 2, then accepts 1
    assert code == 0 and report["driver"].endswith("(protocol 1)")
    assert report["summary"]["conform"] == report["summary"]["traces"]


def test_a_lenient_version_1_adapter_is_driven_with_version_1_semantics(cover_dir, fake):
    # It answers 1 to the offer of 2 and declares a pause point version 1 ignored.
    code, report, err = replay_json(cover_dir("reference", 2), "--adapter", fake("v1-lenient"))
    assert code == 0, err
    assert report["driver"].endswith("(protocol 1)")
    assert report["summary"]["conform"] == report["summary"]["traces"]


@pytest.mark.parametrize("hello, message", [
    ({"pause_points": {"publish": [], "compaction": []}}, "unknown write mode(s) 'compaction'"),
    ({"pause_points": {"cleanup": ["finish_write"]}}, "'cleanup' names 'finish_write'"),
    ({"pause_points": "all"}, "'pause_points' must be a list of strings"),
    ({"derived": ["phase", "file"]}, "'derived' names 'file'"),
])
def test_a_wrong_version_2_declaration_is_named(hello, message):
    with pytest.raises(ProtocolViolation, match=re.escape(message)):
        capabilities({"protocol": 2, "policies": ["reference"], **hello}, 2, "x")
    capabilities({"protocol": 1, **hello}, 1, "x")  # version 1 reads leniently


def test_a_wrong_declaration_stops_the_run_at_the_handshake(cover_dir, tmp_path):
    script = tmp_path / "a.py"
    script.write_text('import sys, json\nsys.stdin.readline()\nprint(json.dumps({"protocol": 2, '
                      '"policies": ["reference"], "pause_points": {"compaction": []}}), '
                      'flush=True)\nsys.stdin.read()\n')
    code, _, err = cli(["replay", cover_dir("reference", 2), "--adapter",
                        f"{PY} {shlex.quote(str(script))}"])
    assert code == 2 and "unknown write mode(s) 'compaction'" in err
    assert len(err.strip().splitlines()) == 1


# -- the adapter's own policy is the default ----------------------------------------------


def test_traces_of_another_variant_run_with_the_adapters_own_policy(cover_dir):
    own = ADAPTER + " --policies narrow-publication"
    code, report, _ = replay_json(cover_dir("reference", 2), "--adapter", own)
    traces = report["traces"]
    assert report["summary"]["skipped"] == 0 and report["summary"]["conform"] > 0
    assert {t["policy"] for t in traces} == {"narrow-publication"}
    assert {t["policy_source"] for t in traces} == {"default"}
    assert all("fence" not in t["compared"] for t in traces)  # observable behaviour only
    code, text, _ = cli(["replay", cover_dir("reference", 2), "--adapter", own, "-q"])
    assert "nothing was replayed" not in text
    assert "ran with the implementation's own policy narrow-publication: observable " \
           "behaviour only" in text
    assert "(no policy for reference: the implementation's own; observable behaviour only" in text


def test_a_version_1_adapter_keeps_reference_as_the_fallback(cover_dir):
    policies = " --policies narrow-publication,reference"
    _, v2, _ = replay_json(cover_dir("strict-fingerprint", 2), "--adapter", ADAPTER + policies)
    _, v1, _ = replay_json(cover_dir("strict-fingerprint", 2), "--adapter",
                           ADAPTER + policies + " --protocol 1")
    assert {t["policy"] for t in v2["traces"]} == {"narrow-publication"}
    assert {t["policy"] for t in v1["traces"]} == {"reference"}


# -- pause points per step and mode ----------------------------------------------------------


def test_pause_points_are_per_mode_and_a_skip_names_step_mode_and_pause(tmp_path):
    cleanup = write_trace(tmp_path / "cleanup.itf.json", "reference", 2,
                          section("cleanup", "read_before"))
    publish = write_trace(tmp_path / "publish.itf.json", "reference", 2,
                          section("publish", "read_before"))
    all_points = "begin_write,read_before,append"
    adapter = (ADAPTER + f" --pause-points publish:{all_points} --pause-points "
               f"broad:{all_points} --pause-points cleanup:begin_write")
    code, report, _ = replay_json(cleanup, publish, "--adapter", adapter)
    by_name = {os.path.basename(t["trace"]): t for t in report["traces"]}
    assert code == 0 and by_name["publish.itf.json"]["status"] == "conforms"
    skipped = by_name["cleanup.itf.json"]
    assert skipped["status"] == "skipped"
    assert skipped["skipped"] == ("needs pause point(s) read_before in cleanup (first after step "
                                  "3, read_before c1 in a cleanup section, where "
                                  "external_write(append) X runs)")
    assert skipped["missing_pause_points"] == [
        {"pause_point": "read_before", "mode": "cleanup", "step": 3, "controller": "c1",
         "next": "external_write(append) X"}]
    assert report["summary"]["skip_reasons"] == {"needs pause point(s) read_before in cleanup": 1}
    # a version 1 adapter has one list for every mode: the cleanup-only gap is everywhere
    code, report, _ = replay_json(cleanup, publish, "--adapter", adapter + " --protocol 1")
    assert [t["status"] for t in report["traces"]] == ["skipped", "skipped"]


def test_the_runner_sees_a_pause_after_begin_write_in_cleanup_only(tmp_path):
    trace = write_trace(tmp_path / "t.itf.json", "reference", 2,
                        section("cleanup", "begin_write")[:4])  # read_before takes over
    lt = R.load([trace], BUILTIN)[0]
    need = R.pause_needs(lt)
    assert [(n.point, n.mode, n.step) for n in need] == [("begin_write", "cleanup", 2)]
    cleanup_only = {"publish": [], "broad": [], "cleanup": ["begin_write"]}
    assert R.missing_pauses(lt, cleanup_only) == []
    assert R.missing_pauses(lt, {**cleanup_only, "cleanup": []}) == need


# -- derived phase and holder ----------------------------------------------------------------


def test_derived_fields_are_compared_for_consistency_but_not_counted_as_observed(cover_dir):
    code, report, _ = replay_json(cover_dir("reference", 2), "--adapter",
                                  ADAPTER + " --derived phase,holder")
    assert code == 0
    for t in report["traces"]:
        assert t["derived"] == ["phase", "holder"]
        assert "phase" not in t["compared"] and "lock_file" in t["compared"]
        assert t["unobserved"] == []  # the lock file is reported: the lock is observed
    code, text, _ = cli(["replay", cover_dir("reference", 2), "--adapter",
                         ADAPTER + " --derived phase,holder", "-q"])
    assert "phase, holder: the adapter's bookkeeping (declared derived)" in text


def test_wrong_bookkeeping_is_a_divergence_that_says_it_is_bookkeeping(cover_dir, fake):
    code, report, _ = replay_json(cover_dir("reference", 2), "--adapter", fake("bad-phase"))
    assert code == 1
    dv = [t["divergence"] for t in report["traces"] if t["status"] == "diverged"][0]
    assert dv["label"].startswith("release c") and dv["diffs"][0]["field"].startswith("phase[")
    # not declared derived: an ordinary divergence
    assert dv["verdict"] == "same outcome, but the state after the step differs"


def test_a_derived_holder_without_a_lock_file_leaves_the_lock_unobserved(cover_dir, fake):
    code, report, _ = replay_json(cover_dir("reference", 2), "--adapter",
                                  fake("derived-holder,no-lock-file"))
    assert code == 0
    assert all(t["unobserved"] == ["lock"] for t in report["traces"])
    code, text, _ = cli(["replay", cover_dir("reference", 2), "--adapter",
                         fake("derived-holder,no-lock-file"), "-q"])
    assert "the session write lock was not observed" in text


def test_a_divergence_in_derived_fields_only_points_at_the_adapter(cover_dir):
    dv = R.Divergence(2, "release c1", "release:held->released", "accept",
                      [R.Diff("phase[c1]", "released", "held")], [], "same outcome")
    R._bookkeeping_verdict(dv, ("phase", "holder"))
    assert dv.verdict.startswith("only the adapter's bookkeeping differs (phase, holder")
    dv.diffs.append(R.Diff("lock file", "absent", "present"))
    dv.verdict = "same outcome"
    R._bookkeeping_verdict(dv, ("phase", "holder"))
    assert dv.verdict == "same outcome"  # an observation differs too


# -- takeover-releases-lock ----------------------------------------------------------------


def _takeover_traces(cover_dir) -> list:
    return [os.path.join(cover_dir("reference", 2), f)
            for f in sorted(os.listdir(cover_dir("reference", 2))) if "taken_over" in f]


def test_a_lock_kept_after_a_takeover_is_a_property_violation(cover_dir, fake):
    traces = _takeover_traces(cover_dir)
    code, report, _ = replay_json(*traces, "--adapter", fake("keep-lock"))
    assert code == 4
    for t in report["traces"]:
        step = t["divergence"]["step"]
        assert t["implementation_violations"] == [
            {"property": "takeover-releases-lock", "step": step, "controller": "c1",
             "external_step": None}]
    assert report["summary"]["implementation_violations"] == len(traces)
    code, text, _ = cli(["replay", traces[0], "--adapter", fake("keep-lock"), "-q"])
    assert code == 4
    assert "VIOLATES  takeover-releases-lock" in text and "kept the session write lock" in text


def test_the_lock_file_alone_shows_a_kept_lock(cover_dir, fake):
    # The adapter's (derived, wrong) holder says nobody; the lock file is still there.
    code, report, _ = replay_json(*_takeover_traces(cover_dir)[:1], "--adapter",
                                  fake("keep-lock,derived-holder,holder-none"))
    assert code == 4
    assert report["traces"][0]["implementation_violations"][0]["property"] == \
        "takeover-releases-lock"


def test_a_conforming_run_has_no_property_violations(cover_dir):
    code, report, _ = replay_json(cover_dir("reference", 2))
    assert code == 0 and report["summary"]["implementation_violations"] == 0
    assert all(t["implementation_violations"] == [] for t in report["traces"])


def test_takeover_releases_lock_in_process(cover_dir, monkeypatch):
    def keep_lock(self, err, keep_lock=False):
        self._takeover, self._phase = err, "taken_over"

    monkeypatch.setattr(_controller.SessionController, "_take_over", keep_lock)
    traces = R.load(_takeover_traces(cover_dir)[:2], BUILTIN)
    with R.Replayer(LocalDriver(), R.ReplayOptions()) as r:
        results = [r.replay(lt) for lt in traces]
    assert all([v.property for v in res.violations] == ["takeover-releases-lock"]
               for res in results)


@pytest.mark.parametrize("holder, lock_file, before, violated", [
    ("c1", True, "c1", True),
    ("none", True, "c1", True),   # the file is left behind
    ("none", True, "none", True),
    ("c1", None, "c1", True),     # no lock file reported: the holder says it
    ("none", False, "c1", False),
    ("none", None, "c1", False),
    ("c2", True, "c2", False),    # someone else's lock, legitimately there
])
def test_which_reports_violate_takeover_releases_lock(holder, lock_file, before, violated):
    view = View("takeover", {"c1": "taken_over", "c2": "idle"}, holder, lock_file)
    found = R.takeover_releases_lock(3, "reacquire c1", 1, view, before)
    assert (found is not None) == violated
    ok = View("ok", {"c1": "held"}, "c1", True)
    assert R.takeover_releases_lock(3, "reacquire c1", 1, ok, "none") is None


# -- an adapter that dies or hangs ---------------------------------------------------------


@pytest.fixture
def three_traces(cover_dir, tmp_path):
    """Three traces in order: no section, a section (append at step 4), no section."""
    src = cover_dir("reference", 2)
    d = tmp_path / "three"
    d.mkdir()
    for name, cover in (("a", "transition-start-idle-held"),
                        ("b", "transition-append-write_append-write_after"),
                        ("c", "transition-release-held-released")):
        shutil.copy(os.path.join(src, f"reference-n2-{cover}.itf.json"),
                    d / f"{name}.itf.json")
    return str(d)


def test_an_adapter_that_dies_ends_its_trace_and_the_results_so_far_are_printed(
        three_traces, fake):
    code, out, err = cli(["replay", three_traces, "--adapter", fake("die-at:append")])
    assert code == 1
    assert "conforms  " + os.path.join(three_traces, "a.itf.json") in out
    assert "DIVERGED  " + os.path.join(three_traces, "b.itf.json") in out
    assert "diverged at step 4 of 4: append c1" in out
    assert "+ outcome: no answer (adapter exited (status 7) before answering append c1)" in out
    assert "1 trace not replayed (the adapter had failed)" in out
    line = err.strip()
    assert "\n" not in line
    assert line.startswith(f"sessionfence: error: the adapter failed in "
                           f"{os.path.join(three_traces, 'b.itf.json')} at step 4 of 4 "
                           f"(append c1): adapter exited (status 7)")
    assert "adapter stderr: boom: the fake adapter dies at append" in line


def test_after_an_adapter_failure_the_json_document_is_still_written(three_traces, fake):
    code, report, _ = replay_json(three_traces, "--adapter", fake("die-at:append"))
    assert code == 1 and report["ok"] is False and report["exit_status"] == 1
    assert [t["status"] for t in report["traces"]] == ["conforms", "diverged"]
    assert report["summary"]["not_run"] == 1 and report["summary"]["traces"] == 3
    failed = report["traces"][1]
    assert failed["divergence"]["step"] == 4
    assert failed["adapter_failure"] == report["adapter_failure"]
    assert "at step 4 of 4 (append c1)" in report["adapter_failure"]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_hung_adapter_is_killed_with_everything_it_started(three_traces, fake, tmp_path):
    pidfile = tmp_path / "pids"
    code, out, err = cli(["replay", three_traces, "--adapter", fake("hang-at:append", str(pidfile)),
                          "--adapter-timeout", "1"])
    assert code == 1
    assert "adapter gave no answer to append c1 within 1s (killed)" in err
    assert "conforms  " in out and "DIVERGED  " in out
    adapter, child = (int(x) for x in pidfile.read_text().split())
    assert not _running(adapter)
    for _ in range(500):  # the orphaned child is reaped by init a moment after the kill
        if not _running(child):
            break
        time.sleep(0.01)
    assert not _running(child)


def test_a_harness_failure_is_an_internal_error_after_the_results_so_far(three_traces,
                                                                         monkeypatch):
    from sessionfence.conformance import session

    apply = session.ReplaySession.apply

    def broken_at_append(self, step, *args, **kwargs):
        if step.step == "append":
            raise session.HarnessError("the writer process is gone")
        return apply(self, step, *args, **kwargs)

    monkeypatch.setattr(session.ReplaySession, "apply", broken_at_append)
    code, out, err = cli(["replay", three_traces, "--json", "-q"])
    report = json.loads(out)
    assert code == 3 and report["exit_status"] == 3
    assert report["error"] == "the writer process is gone"
    assert [t["status"] for t in report["traces"]] == ["conforms"]
    assert report["summary"]["not_run"] == 2
    assert "sessionfence: error: internal: the writer process is gone" in err


# -- hunt through an adapter ----------------------------------------------------------------


def test_hunt_finds_a_takeover_that_keeps_the_lock_through_an_adapter(fake, tmp_path):
    out = str(tmp_path / "kept.itf.json")
    code, stdout, err = cli(["hunt", "--adapter", fake("keep-lock"), "--schedules", "100",
                             "--out", out, "--json", "-q"])
    assert code == 4, err
    (found,) = json.loads(stdout)["found"]
    assert found["property"] == "takeover-releases-lock"
    assert found["schedule"][-1] == found["schedule"][found["step"] - 1]
    code, stdout, _ = cli(["replay", "--adapter", fake("keep-lock"), found["trace"], "--json",
                           "-q"])
    assert code == 4
    assert "takeover-releases-lock" in {
        v["property"] for v in json.loads(stdout)["traces"][0]["implementation_violations"]}


def test_an_adapter_that_dies_during_a_hunt_is_one_line_and_status_1(fake, tmp_path):
    code, out, err = cli(["hunt", "--adapter", fake("die-at:append"), "--schedules", "50",
                          "--out", str(tmp_path / "x.itf.json"), "-q"])
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the adapter failed during the hunt" in lines[0]
