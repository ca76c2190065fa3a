"""The JavaScript example (examples/adapter-js): its fence conforms to the
reference's cover traces through its protocol 2 adapter, and a broken rule
in it is caught."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess

import pytest

from conformance_support import cli

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
NODE = shutil.which("node")
ADAPTER = f"{shlex.quote(NODE or 'node')} " \
          f"{shlex.quote(os.path.join(ROOT, 'examples', 'adapter-js', 'adapter.js'))}"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JavaScript "
                                "example adapter cannot run (install Node.js 20 to test it)")


def _replay(traces: str, *argv, env=None) -> tuple:
    code, out, err = cli(["replay", traces, "--adapter", ADAPTER, "--json", "-q", *argv])
    return code, json.loads(out), err


def test_the_js_adapter_declares_protocol_2_with_every_pause_point():
    done = subprocess.run([NODE, os.path.join(ROOT, "examples", "adapter-js", "adapter.js")],
                          input='{"op": "hello", "protocol": 2, "protocols": [1, 2]}\n',
                          capture_output=True, text=True, timeout=60)
    hello = json.loads(done.stdout.splitlines()[0])
    assert hello["protocol"] == 2 and hello["policies"] == ["reference"]
    assert hello["pause_points"] == {m: ["begin_write", "read_before", "append"]
                                     for m in ("publish", "broad", "cleanup")}
    assert hello["derived"] == []


@pytest.mark.parametrize("fingerprint", ["stat", "digest"])
def test_the_js_fence_conforms_to_the_reference_cover_traces(cover_dir, fingerprint):
    code, report, err = _replay(cover_dir("reference", 2), "--fingerprint", fingerprint)
    # Only a trace whose edit cannot be made on real files here is skipped
    # ("physics", e.g. a deletion while a controller that appends later holds
    # the old inode): that says nothing about the implementation.
    bad = [t for t in report["traces"] if t["status"] != "conforms"
           and not (t["status"] == "skipped" and "physics" in t["skipped"])]
    assert code == 0 and not bad, (err, json.dumps(bad[:1], indent=1))
    s = report["summary"]
    assert s["conform"] >= 20 and s["conform"] + s["skipped"] == s["traces"]
    assert report["driver"].startswith("adapter examples/adapter-js fence.js")
    # the design's fence data was compared too, through the exposed tokens
    assert all({"fence", "before", "reg_fp", "k_gen"} <= set(t["compared"])
               for t in report["traces"])


def test_the_js_fence_behaves_like_the_python_reference_on_other_designs_traces(cover_dir):
    # narrow-publication's traces run with the adapter's own policy (reference):
    # observable behaviour only, and the same divergences as the Python reference.
    traces = cover_dir("narrow-publication", 2)
    _, js, _ = _replay(traces)
    code, py, _ = cli(["replay", traces, "--policy", "reference", "--json", "-q"])

    def key(t):
        dv = t["divergence"]
        return (t["status"], dv and (dv["step"], [(d["field"], d["model"]) for d in dv["diffs"]]))

    assert {t["policy_source"] for t in js["traces"]} == {"default"}
    assert [key(t) for t in js["traces"]] == [key(t) for t in json.loads(py)["traces"]]
    assert any(t["status"] == "diverged" for t in js["traces"])


def test_a_js_fence_that_keeps_the_lock_after_a_takeover_is_caught(cover_dir, monkeypatch):
    monkeypatch.setenv("FENCE_BUG", "no-release-on-takeover")
    code, report, _ = _replay(cover_dir("reference", 2))
    assert code == 4
    caught = [t for t in report["traces"] if t["implementation_violations"]]
    assert caught and all(t["implementation_violations"][0]["property"] ==
                          "takeover-releases-lock" for t in caught)
    assert all(t["status"] == "conforms" for t in report["traces"] if "taken_over" not in
               t["trace"] and "detected" not in t["trace"])


def test_the_readme_snippet_runs_and_prints_what_the_readme_says():
    here = os.path.join(ROOT, "examples", "adapter-js")
    with open(os.path.join(here, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    snippet = readme.split("```js\n", 1)[1].split("```", 1)[0]
    printed = readme.split("It prints:\n\n```\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([NODE, "-e", snippet], cwd=here, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed
