"""`verify --controllers any` with learned and saved invariants, and the
usage errors of the proof options."""

import json
import os

import pytest

from sessionfence.cli import main


_BARE = '''
import dataclasses
from sessionfence.model import builtin

# strict-fingerprint without its hand-written invariants: a proof for any
# number of controllers has to be learned.
VARIANT = dataclasses.replace(
    builtin("strict-fingerprint").derive("strict-unannotated", summary="no declared invariants"),
    invariants=None)
'''


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_verify_learns_saves_and_rechecks_a_variant_file(tmp_path, capsys):
    fence = tmp_path / "fence.py"
    fence.write_text(_BARE)
    saved = tmp_path / "proofs"
    base = ["verify", "--variant-file", str(fence), "--controllers", "any", "--fingerprint",
            "digest", "--property", "released-safety", "--json", "-q", "--jobs", "1"]
    code, out, _ = _run(base + ["--save-invariants", str(saved)], capsys)
    (cell,) = json.loads(out)["results"]
    assert code == 0 and cell["status"] == "proved", cell
    assert cell["method"].startswith("learned invariants"), cell
    count = int(cell["method"].split("(")[1].rstrip(")"))
    assert len(cell["invariants"]) == count
    assert all(w.startswith(("when d is", "always ")) for w in cell["invariants"])
    (path,) = saved.iterdir()
    assert path.name == "strict-unannotated.digest.released-safety.json"
    code, out, _ = _run(base + ["--invariants", str(path), "--learn-budget", "0"], capsys)
    (cell,) = json.loads(out)["results"]
    assert code == 0 and cell["method"] == f"saved invariants ({count})", cell
    # The table names the method; the invariants follow it, in words.
    human = [a for a in base if a != "--json"]
    code, out, _ = _run(human + ["--invariants", str(path), "--learn-budget", "0"], capsys)
    assert code == 0
    assert (f"saved invariants ({count}) of strict-unannotated released-safety (digest), "
            "for any number of controllers:") in out
    assert cell["invariants"][0] in out
    # The directory --save-invariants wrote: each cell finds its own file.
    code, out, _ = _run(base + ["--invariants", str(saved), "--learn-budget", "0"], capsys)
    (cell,) = json.loads(out)["results"]
    assert code == 0 and cell["method"] == f"saved invariants ({count})", cell
    assert str(path) in cell["note"]
    # Without learning and without a saved set: proved for 2 controllers only.
    code, out, _ = _run(base + ["--learn-budget", "0"], capsys)
    (cell,) = json.loads(out)["results"]
    assert code == 1 and cell["status"] == "unknown", cell
    assert "proved only for 2 controllers" in cell["note"]


@pytest.mark.parametrize("extra,needle", [
    (["--invariants", "x.json"], "need --controllers any"),
    (["--controllers", "any", "--invariants", "/nonexistent/x.json"], "cannot read invariants"),
    (["--controllers", "any", "--learn-budget", "-1"], "expected a number of seconds >= 0"),
    (["--controllers", "any", "--invariants", "EMPTY_DIR"], "no saved invariants (*.json)"),
])
def test_proof_options_usage_errors(extra, needle, capsys, tmp_path):
    extra = [str(tmp_path) if x == "EMPTY_DIR" else x for x in extra]
    code, out, err = _run(["verify", "--variant", "reference"] + extra, capsys)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_a_file_that_is_not_saved_invariants_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "sessionfence-invariants", "version": 1,
                               "invariants": [{"name": "x", "words": "y",
                                               "spec": ["clause", False, [[["warp", "d"], True]]]}]}))
    code, out, err = _run(["verify", "--variant", "reference", "--controllers", "any",
                           "--invariants", str(bad)], capsys)
    assert code == 2 and out == "" and "malformed invariant" in err
    assert os.path.exists(bad)
