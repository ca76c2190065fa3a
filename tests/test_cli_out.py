"""Every command that writes files refuses a bad --out at once, in one line,
with exit 2, before any long work (nothing computed is then thrown away)."""

import subprocess
import sys

import pytest

COMMANDS = [
    ["report", "--variant", "reference", "--out", "{bad}"],
    ["traces", "--variant", "reference", "--cover", "--out", "{bad}"],
    ["diagram", "--variant", "reference", "--kind", "machine", "--format", "dot",
     "--out", "{bad}/machine.dot"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[a[0] for a in COMMANDS])
@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_a_bad_out_is_a_one_line_usage_error(tmp_path, argv, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = str(blocker / "sub") if where == "under-a-file" else "/proc/sessionfence-no"
    argv = [a.replace("{bad}", bad) for a in argv]
    done = subprocess.run([sys.executable, "-m", "sessionfence", *argv, "-q"]
                          if argv[0] != "diagram" else
                          [sys.executable, "-m", "sessionfence", *argv],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessionfence: error:"), done.stderr
    assert "directory" in lines[0]


def test_an_existing_file_as_report_dir_is_refused(tmp_path):
    f = tmp_path / "report"
    f.write_text("keep me")
    done = subprocess.run([sys.executable, "-m", "sessionfence", "report", "--variant",
                           "reference", "--out", str(f)], capture_output=True, text=True)
    assert done.returncode == 2 and "exists and is not a directory" in done.stderr
    assert f.read_text() == "keep me"
