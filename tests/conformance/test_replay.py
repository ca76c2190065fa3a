"""`sessionfence replay`: conformance of all four policies, and that it can fail."""

from __future__ import annotations

import json
import os

import pytest

from conformance_support import POLICIES, cli, thorough_only
from sessionfence.conformance import external_plan
from sessionfence.conformance import replay as R
from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.conformance.session import format_divergence
from sessionfence.impl import ReferencePolicy, StrictFingerprintPolicy
from sessionfence.model.variants import BUILTIN


@pytest.mark.parametrize("fingerprint", ["stat", "digest"])
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("policy", POLICIES)
def test_cover_and_random_traces_conform_on_real_files(ci_traces, policy, n, fingerprint):
    code, out, err = cli(["replay", ci_traces(policy, n), "--fingerprint", fingerprint,
                          "--seed", str(n), "--json", "-q"])
    report = json.loads(out)
    bad = [t for t in report["traces"] if t["status"] != "conforms"]
    assert code == 0 and not bad, json.dumps(bad[:1], indent=1)
    s = report["summary"]
    assert s["traces"] == s["conform"] >= 20
    assert all(t["policy"] == policy for t in report["traces"])
    # the design's own fence data was compared, not only the observable behaviour
    assert all("fence" in t["compared"] for t in report["traces"])
    kinds = {}
    for t in report["traces"]:
        for k, v in t["external_writes"].items():
            kinds[k] = kinds.get(k, 0) + v
    assert set(kinds) == {"append", "rewrite", "replace", "delete"}
    if fingerprint == "digest":
        assert s["stat_blind_spot_substitutions"] == 0


def test_repeated_replays_in_one_replayer_stay_independent(ci_traces):
    # One Replayer serves many traces (that is how replay gets its speed; the
    # figure is in benchmarks/bench_conformance.py, not in a timed test).
    traces = R.load([ci_traces("reference", 3)], BUILTIN) * 3
    with R.Replayer(LocalDriver(), R.ReplayOptions()) as r:
        results = [r.replay(lt) for lt in traces]
    summary = R.summarize(results, 1.0)
    assert summary.diverged == 0 and summary.steps > 500
    assert [res.status for res in results] == ["conforms"] * len(traces)


# -- replay can fail: deliberately wrong policies, one rule changed each -------------


class NoReleaseCheck(ReferencePolicy):
    """The reference policy without its check at release."""
    check_at_release = False


class NoBeforeCheck(ReferencePolicy):
    """The reference policy with a bare stat at read_before."""
    before_ok = None


class StrictWithoutSnapshot(StrictFingerprintPolicy):
    """strict-fingerprint that forgets to record the fence at release."""
    def on_release(self, ctx, now):
        pass


BAD_POLICIES = (
    (NoReleaseCheck(), "reference", "transition release:held->taken_over",
     ["diverged at step 3 of 3: release c", "- outcome: takeover", "+ outcome: ok",
      "]: taken_over\n", "]: released\n",
      "the implementation goes on where the model of reference takes over"]),
    (NoBeforeCheck(), "reference", "transition read_before:write_before->taken_over",
     ["diverged at step 4 of 4: read_before c", "- outcome: takeover", "+ outcome: ok"]),
    (StrictWithoutSnapshot(), "strict-fingerprint", "violation safety",
     ["- fence[c", "same outcome, but the state after the step differs"]),
)


@pytest.mark.parametrize("policy, variant, target, expected", BAD_POLICIES,
                         ids=[type(p[0]).__name__ for p in BAD_POLICIES])
def test_a_wrong_policy_is_caught_with_a_readable_divergence(cover_dir, policy, variant,
                                                           target, expected):
    traces = R.load([cover_dir(variant, 2)], BUILTIN)
    with R.Replayer(LocalDriver(), R.ReplayOptions(policy=policy)) as r:
        results = {lt.tf.meta["covers"]: r.replay(lt) for lt in traces}
    assert any(res.status == "diverged" for res in results.values())
    res = results[target]
    assert res.status == "diverged" and res.policy == f"{variant} ({type(policy).__name__})"
    text = format_divergence(res.divergence, res.steps)
    for line in expected:
        assert line in text, text
    # the same traces with the real policy conform: the divergence is the rule's
    with R.Replayer(LocalDriver(), R.ReplayOptions()) as r:
        assert r.replay([lt for lt in traces if lt.tf.meta["covers"] == target][0]).status \
            == "conforms"


def test_the_stat_mode_blind_spot_is_real(cover_dir, monkeypatch):
    # Let the planner put same-size rewrites inside write sections in stat mode:
    # the reference implementation then accepts an external edit the model
    # catches, i.e. the substitution the planner makes is needed, not cosmetic.
    target = "transition finish_write:write_after->taken_over"
    traces = [lt for lt in R.load([cover_dir("reference", 2)], BUILTIN)
              if lt.tf.meta["covers"] == target]
    monkeypatch.setattr(external_plan, "STAT_BLIND", ())
    status = {}
    for fp in ("stat", "digest"):
        with R.Replayer(LocalDriver(), R.ReplayOptions(fingerprint=fp, kinds=("rewrite",))) as r:
            status[fp] = r.replay(traces[0])
    assert status["digest"].status == "conforms" and status["digest"].kinds == {"rewrite": 1}
    dv = status["stat"].divergence
    assert dv is not None and dv.label.startswith("finish_write c")
    c = dv.label.split()[1]
    first = [(d.field, d.model, d.impl.split(" ")[0]) for d in dv.diffs][:2]
    # The write's mode (which Z3 picks) decides where the accepting
    # implementation goes next; what matters is that it did not fail closed.
    assert first[0] == ("outcome", "takeover", "ok")
    assert first[1][:2] == (f"phase[{c}]", "taken_over")
    assert first[1][2] in ("held", "released", "done")


def test_blind_spot_substitutions_are_counted_not_hidden(cover_dir):
    code, out, _ = cli(["replay", cover_dir("reference", 2), "--external", "rewrite", "-q"])
    assert code == 0
    assert "stat-mode blind spot: 1 same-size in-place rewrite(s)" in out
    code, out, _ = cli(["replay", cover_dir("reference", 2), "--external", "rewrite",
                        "--fingerprint", "digest", "-q"])
    assert code == 0 and "blind spot" not in out


def test_a_diverging_trace_exits_1_and_keeps_its_directory(cover_dir, tmp_path):
    path = os.path.join(cover_dir("strict-fingerprint", 2),
                        "strict-fingerprint-n2-violation-safety.itf.json")
    code, out, _ = cli(["replay", "--policy", "reference", "--keep", "--workdir", str(tmp_path),
                        "--external", "append", path, "-q"])
    assert code == 1
    assert "DIVERGED" in out and "1 diverged" in out
    kept = [p for p in tmp_path.iterdir()]
    assert len(kept) == 1
    assert (kept[0] / "session.jsonl").read_bytes().endswith(b'{"external":1}\n')
    assert f"directory kept: {kept[0]}" in out


# -- bad input: exit 2, one line naming the file and the place --------------------


def _trace_json(cover_dir):
    path = os.path.join(cover_dir("reference", 2),
                        "reference-n2-transition-release-held-taken_over.itf.json")
    return json.load(open(path))


@pytest.mark.parametrize("edit, message", [
    (lambda d: "{not json", ":1:2: not JSON"),
    (lambda d: "[1, 2]", "an ITF trace is a JSON object"),
    (lambda d: {**d, "states": 3}, "missing 'states'"),
    (lambda d: _set(d, 2, "mbt::actionTaken", "teleport"), "states[2]: unknown step 'teleport'"),
    (lambda d: _set(d, 1, "mbt::nondetPicks", {"controller": {"tag": "Some", "value": "c9"},
                                                "mode": {"tag": "None", "value": {"#tup": []}}}),
     "states[1]: controller must be one of c1..c2"),
    (lambda d: _set(d, 3, "mbt::actionTaken", "reacquire"),
     "step 3 (reacquire c"),
    (lambda d: {**d, "#meta": {**d["#meta"], "variant": "mine"}},
     "#meta.variant 'mine' is not a known variant"),
])
def test_bad_input_exits_2_with_one_line_naming_file_and_place(cover_dir, tmp_path, edit,
                                                                message):
    data = edit(_trace_json(cover_dir))
    path = tmp_path / "bad.itf.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    code, out, err = cli(["replay", str(path)])
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and str(path) in line and message in line, line
    if "reacquire c" in message:
        assert "reacquire is not enabled for c" in line and "(phase held)" in line


def _set(data, i, key, value):
    data["states"][i][key] = value
    return data


@pytest.mark.parametrize("argv, message", [
    (["replay", "--policy", "nope", "X"], "unknown policy 'nope'"),
    (["replay", "/nonexistent/trace.itf.json"], "/nonexistent/trace.itf.json: no such file"),
    (["replay", "--external", "chmod", "X"], "--external: unknown kind(s) chmod"),
])
def test_bad_arguments_exit_2(argv, message, cover_dir):
    argv = [a if a != "X" else cover_dir("reference", 2) for a in argv]
    code, _, err = cli(argv)
    assert code == 2 and message in err


def test_an_empty_directory_is_bad_input(tmp_path):
    code, _, err = cli(["replay", str(tmp_path)])
    assert code == 2 and "holds no *.itf.json trace files" in err


def test_json_output_describes_every_trace(cover_dir):
    code, out, _ = cli(["replay", cover_dir("broad-publication", 2), "--json", "-q"])
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    t = next(t for t in report["traces"] if t["violation"] == "released-safety")
    assert t["status"] == "conforms" and t["divergence"] is None
    assert t["reproduced"].startswith("step 9 (") and "although the external writer" in t["reproduced"]
    assert set(t) >= {"trace", "variant", "policy", "fingerprint", "controllers", "steps",
                      "executed", "compared", "external_writes", "substitutions"}


@pytest.mark.parametrize("fingerprint", ["stat", "digest"])
@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("policy", POLICIES)
def test_random_campaign(tmp_path, policy, n, fingerprint):
    """Long campaign: 400 random walks of 80 steps, replayed with 3 seeds."""
    code, _, err = cli(["traces", "--variant", policy, "--controllers", str(n), "--random",
                        "400", "--depth", "80", "--seed", str(n), "--out", str(tmp_path), "-q"])
    assert code == 0, err
    for seed in range(3):
        code, out, _ = cli(["replay", str(tmp_path), "--fingerprint", fingerprint, "--seed",
                            str(seed), "-q"])
        assert code == 0, out[-3000:]


for _mark in thorough_only:
    test_random_campaign = _mark(test_random_campaign)


@pytest.mark.parametrize("kind", ["append", "rewrite", "replace", "delete"])
def test_recorded_external_kinds_are_used_when_faithful(cover_dir, tmp_path, kind):
    src = os.path.join(cover_dir("reference", 2),
                       "reference-n2-transition-reacquire-released-taken_over.itf.json")
    data = json.load(open(src))
    step = [i for i, st in enumerate(data["states"]) if st["mbt::actionTaken"] == "external_write"]
    data["#meta"]["external_kinds"] = {str(step[0]): kind}
    path = tmp_path / "t.itf.json"
    path.write_text(json.dumps(data))
    code, out, _ = cli(["replay", str(path), "--json", "-q", "--fingerprint", "digest"])
    (t,) = json.loads(out)["traces"]
    assert code == 0 and t["external_writes"] == {kind: 1} and t["substitutions"] == []


def test_kinds_differ_between_traces_of_one_run(cover_dir):
    code, out, _ = cli(["replay", cover_dir("reference", 2), "--json", "-q"])
    kinds = set()
    for t in json.loads(out)["traces"]:
        kinds |= set(t["external_writes"])
    assert len(kinds) >= 2  # each trace has its own seed (run seed + its steps)
