"""`sessionfence verify`: output, exit status and one-line usage errors."""

import dataclasses
import json
import re
import os
import subprocess
import sys

import pytest

from sessionfence.cli import main
from sessionfence.model import check, variants
from sessionfence.model.world import World

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv,needle", [
    (["verify"], "say which variants"),
    (["verify", "--variant", "nope"], "unknown variant 'nope'; known variants: strict-fingerprint"),
    (["verify", "--all", "--controllers", "7"], "controllers must be from 1 to 6"),
    (["verify", "--all", "--controllers", "0"], "controllers must be from 1 to 6"),
    (["verify", "--all", "--controllers", "two"], "expected a number from 1 to 6 or 'any'"),
    (["verify", "--all", "--depth", "0"], "depth must be from 1 to 100"),
    (["verify", "--all", "--depth", "deep"], "expected a whole number of steps"),
    (["verify", "--variant-file", "/nonexistent/fence.py"], "no such file"),
    (["verify", "--all", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ([], "say which command"),
])
def test_usage_errors_are_one_line_with_exit_2(argv, needle, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err, err


def _file(tmp_path, text):
    path = tmp_path / "fence.py"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,needle", [
    ("VARIANT = (\n", "fence.py:1: syntax error"),
    ("from sessionfence.model import builtin\n\nVARIANT = builtin('nope')\n",
     "fence.py:3: UnknownVariant"),
    ("x = 1\n", "defines neither VARIANT nor VARIANTS"),
    ("VARIANT = 42\n", "expected Variant objects, got int"),
    ("from sessionfence.model import builtin\nVARIANT = builtin('reference')\n",
     "is a built-in name"),
    ("from sessionfence.model import builtin\nVARIANT = builtin('reference').derive('x', chek=1)\n",
     "fence.py:2: TypeError: derive('x'): unknown rule(s) chek"),
])
def test_bad_variant_files_say_where(tmp_path, capsys, text, needle):
    code, out, err = run(["verify", "--variant-file", _file(tmp_path, text)], capsys)
    assert code == 2 and err.count("\n") == 1 and needle in err, err


def test_json_output_schema(capsys):
    code, out, err = run(["verify", "--variant", "strict-fingerprint", "--fingerprint", "digest",
                          "--json", "-q"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert [r["property"] for r in data["results"]] == ["released-safety", "safety", "precision"]
    for r in data["results"]:
        assert set(r) >= {"variant", "property", "controllers", "atomic_writes", "status",
                          "expected", "method", "depth", "seconds", "counterexample"}
        assert r["controllers"] == 2 and r["atomic_writes"] is False
        assert r["fingerprint"] == "digest" and r["aba"] == "content"
    cex = {r["property"]: r["counterexample"] for r in data["results"]}
    assert cex["released-safety"] is None
    assert cex["safety"] == [{"step": "start", "controller": "c1"},
                             {"step": "external_write", "controller": None,
                              "kind": cex["safety"][1]["kind"]},
                             {"step": "release", "controller": "c1"}]
    for step in cex["precision"]:
        assert ("mode" in step) == (step["step"] == "begin_write")
    assert all(w["status"] == "reachable" for w in data["witnesses"])


def test_mismatch_exits_1_and_says_why(capsys):
    code, out, err = run(["verify", "--variant-file",
                          os.path.join(ROOT, "examples", "size_only_validation.py"),
                          "--fingerprint", "digest", "--property", "safety", "-q"], capsys)
    assert code == 1
    assert "reference-size-only-validation violates safety (digest): 6 steps" in out
    assert "◀ safety" in out
    assert ("MISMATCH reference-size-only-validation safety (digest): expected proved, "
            "got violated") in out


def test_harmless_example_passes(capsys):
    code, out, err = run(["verify", "--variant-file",
                          os.path.join(ROOT, "examples", "strictly_newer_generation.py"), "-q"], capsys)
    assert code == 0, out
    assert "all 14 results match" in out  # both fingerprint modes


def test_parametric_reference(capsys):
    code, out, err = run(["verify", "--variant", "reference", "--controllers", "any",
                          "--fingerprint", "digest", "--json", "-q"], capsys)
    data = json.loads(out)
    assert code == 0 and data["ok"]
    for r in data["results"]:
        assert r["status"] == "proved" and r["controllers"] == "any"
        # the learned proofs shipped in model/proofs/, or the hand-written set
        assert r["method"].startswith(("learned invariants", "quantified invariants"))


def test_parametric_without_invariants_is_not_a_proof():
    # strict-fingerprint without its quantified invariants: released-safety is
    # proved for 2 controllers (Spacer), which says nothing about any number.
    bare = dataclasses.replace(variants.get("strict-fingerprint"), name="strict-bare",
                               invariants=None)
    rs = {r.property: r for r in check.verify_any(bare, world=World(), learn_budget_s=0)}
    assert rs["released-safety"].status == "unknown"
    assert "proved only for 2 controllers" in rs["released-safety"].note
    assert rs["safety"].status == "violated"
    assert not rs["released-safety"].ok


def test_console_script_and_module_entry_points():
    for cmd in ([sys.executable, "-m", "sessionfence", "verify", "--variant", "reference",
                 "--fingerprint", "digest", "-q"],
                [os.path.join(os.path.dirname(sys.executable), "sessionfence"), "verify",
                 "--variant", "reference", "--fingerprint", "digest", "-q"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "all 7 results match the declared expectations" in done.stdout


def test_progress_goes_to_stderr_not_stdout():
    done = subprocess.run([sys.executable, "-m", "sessionfence", "verify", "--variant",
                           "narrow-publication", "--fingerprint", "digest", "--json"],
                          capture_output=True, text=True, timeout=300)
    json.loads(done.stdout)  # stdout is only the JSON document
    assert "[narrow-publication, digest, N=2]" in done.stderr
    # i/n cells, elapsed time, and a line per cell as it finishes
    assert re.search(r"^\[0/3 cells, \d+ s\] ", done.stderr, re.M)
    # the cells finish in any order when they run in parallel processes
    seen = set()
    for prop in ("released-safety", "safety", "precision"):
        m = re.search(rf"^\[(\d)/3 cells, \d+ s\] narrow-publication digest {prop}: violated "
                      rf"\((?:bmc|bfs), [\d.]+ s\) ok$", done.stderr, re.M)
        assert m, done.stderr
        seen.add(m.group(1))
    assert seen == {"1", "2", "3"}
