"""The adapter protocol: the subprocess adapter replays exactly like in-process."""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from conformance_support import cli
from sessionfence.conformance.adapter import AdapterServer
from sessionfence.conformance.protocol import PROTOCOL_VERSION

ADAPTER = f"{shlex.quote(sys.executable)} -m sessionfence.conformance.adapter"


def _results(out: str) -> list:
    report = json.loads(out)
    for t in report["traces"]:
        t.pop("kept")
    return report["traces"]


@pytest.mark.parametrize("variant, n, fingerprint, policy", [
    ("reference", 2, "stat", None),
    ("narrow-publication", 2, "digest", None),
    ("broad-publication", 2, "stat", "reference"),  # with divergences
])
def test_subprocess_adapter_gives_exactly_the_in_process_results(ci_traces, variant, n,
                                                                  fingerprint, policy):
    argv = ["replay", ci_traces(variant, n), "--fingerprint", fingerprint, "--json", "-q",
            "--seed", "5"] + (["--policy", policy] if policy else [])
    code_local, out_local, _ = cli(argv)
    code_adapter, out_adapter, err = cli(argv + ["--adapter", ADAPTER])
    assert code_local == code_adapter, err
    local, adapter = _results(out_local), _results(out_adapter)
    assert local == adapter
    if policy:
        assert any(t["status"] == "diverged" for t in local)
    assert json.loads(out_adapter)["driver"].startswith("adapter sessionfence.impl (python)")


def test_traces_needing_an_unsupported_pause_point_are_skipped_and_counted(ci_traces):
    adapter = ADAPTER + " --pause-points begin_write"
    code, out, _ = cli(["replay", ci_traces("reference", 2), "--adapter", adapter, "--json",
                        "-q"])
    report = json.loads(out)
    s = report["summary"]
    skipped = [t for t in report["traces"] if t["status"] == "skipped"]
    assert code == 0 and s["diverged"] == 0
    assert skipped and s["skipped"] == len(skipped) and s["conform"] == s["traces"] - len(skipped)
    assert all(t["skipped"].startswith("needs pause point(s)") for t in skipped)
    assert "begin_write" not in " ".join(t["skipped"] for t in skipped)
    by_cover = {t["trace"].rsplit("-n2-", 1)[1]: t["status"] for t in report["traces"]
                if "-n2-" in t["trace"]}
    # an external write between read_before and append needs that pause point
    assert by_cover["transition-read_before-write_before-taken_over.itf.json"] == "conforms"
    assert by_cover["transition-finish_write-write_after-taken_over.itf.json"] == "skipped"
    code, text, _ = cli(["replay", ci_traces("reference", 2), "--adapter", adapter, "-q"])
    assert f"{len(skipped)} skipped" in text and "skipped " in text


def test_without_the_traces_policy_the_adapter_replays_with_reference(ci_traces):
    adapter = ADAPTER + " --policies reference"
    code, out, _ = cli(["replay", ci_traces("narrow-publication", 2), "--adapter", adapter,
                        "--json", "-q"])
    report = json.loads(out)
    assert code == 1  # narrow-publication's bugs are not the reference's behaviour
    assert {t["policy"] for t in report["traces"]} == {"reference"}
    assert any(t["status"] == "diverged" for t in report["traces"])
    code, out, err = cli(["replay", ci_traces("narrow-publication", 2), "--policy",
                          "narrow-publication", "--adapter", adapter])
    assert code == 2 and "unknown policy 'narrow-publication'" in err


def test_when_every_trace_is_skipped_nothing_passes(ci_traces, tmp_path):
    src = [p for p in __import__("glob").glob(ci_traces("reference", 2) + "/*.itf.json")
           if p.endswith("finish_write-write_after-taken_over.itf.json")]
    code, out, _ = cli(["replay", *src, "--adapter", ADAPTER + " --pause-points ''", "-q"])
    assert code == 1
    assert "1 skipped" in out and "nothing was replayed: no trace conforms" in out


@pytest.mark.parametrize("command, message", [
    (f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(3)'",
     "adapter exited (status 3) before answering hello"),
    (f"{shlex.quote(sys.executable)} -c 'print(\"hello there\")'",
     "adapter answered hello with a line that is not JSON"),
    (f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'",
     "adapter gave no answer to hello within 0.5s"),
    ("/nonexistent/adapter", "cannot start adapter"),
    (f"{shlex.quote(sys.executable)} -c 'print(\"{{\\\"protocol\\\": 9}}\")'",
     "speaks protocol 9; the runner speaks 1 and 2"),
])
def test_an_adapter_that_cannot_be_driven_is_bad_input(ci_traces, command, message):
    code, out, err = cli(["replay", ci_traces("reference", 2), "--adapter", command,
                          "--adapter-timeout", "0.5"])
    assert code == 2 and message in err, err


def test_adapter_answers_bad_requests_with_an_error():
    server = AdapterServer()
    assert "protocol" in server.handle({"op": "hello", "protocol": 99})["error"]
    hello = server.handle({"op": "hello", "protocol": PROTOCOL_VERSION})
    assert hello["pause_points"] == ["begin_write", "read_before", "append"]
    from sessionfence.model.variants import BUILTIN

    assert set(hello["policies"]) == set(BUILTIN)  # one policy per built-in variant
    assert "unknown op" in server.handle({"op": "fly"})["error"]
    assert "no setup yet" in server.handle({"op": "start", "controller": "c1"})["error"]
    assert "observe before setup" in server.handle({"op": "observe"})["error"]
    assert "string 'op'" in server.handle([1])["error"]
    bad_setup = {"op": "setup", "directory": "/tmp", "transcript": "/tmp/x", "policy": "reference",
                 "fingerprint": "stat", "controllers": ["c2"]}
    assert "controllers" in server.handle(bad_setup)["error"]
    assert "policy" in server.handle({**bad_setup, "controllers": ["c1"], "policy": "p"})["error"]


def test_a_step_answer_carries_the_acting_controllers_phase(tmp_path):
    server = AdapterServer()
    path = tmp_path / "session.jsonl"
    path.write_bytes(b'{"x":1}\n')
    state = server.handle({"op": "setup", "directory": str(tmp_path), "transcript": str(path),
                           "policy": "reference", "fingerprint": "digest",
                           "controllers": ["c1", "c2"]})
    assert state["phases"] == {"c1": "idle", "c2": "idle"} and state["holder"] == "none"
    r = server.handle({"op": "start", "controller": "c2"})
    assert (r["outcome"], r["phase"], r["holder"], r["lock_file"]) == ("ok", "held", "c2", True)
    assert r["state"]["fence"]["c2"] == r["fingerprint"]  # tokens compare by equality
    assert "begin_write: mode" in server.handle({"op": "begin_write", "controller": "c2"})["error"]
    assert server.handle({"op": "begin_write", "controller": "c2", "mode": "broad"})["phase"] \
        == "write_before"
    assert server.handle({"op": "teardown"}) == {"ok": True}
    assert not (tmp_path / "session.jsonl.lock").exists()
