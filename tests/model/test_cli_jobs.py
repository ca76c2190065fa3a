"""`verify --property` and `verify --jobs`: the same cells and verdicts,
fewer properties or more processes; Ctrl-C stops the workers at once."""

import json
import os
import signal
import subprocess
import sys
import time

from sessionfence.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "size_only_validation.py")


def _verify(capsys, *argv):
    code = main(["verify", *argv, "--json", "-q"])
    return code, json.loads(capsys.readouterr().out)


def _cells(doc):
    return [(r["variant"], r["fingerprint"], r["property"], r["status"], r["depth"],
             r["counterexample"] is not None) for r in doc["results"]]


def test_property_checks_only_the_named_cells_and_every_witness(capsys):
    code, doc = _verify(capsys, "--variant-file", EXAMPLE, "--fingerprint", "digest",
                        "--property", "safety")
    assert code == 1  # the example breaks safety
    assert [(r["property"], r["status"]) for r in doc["results"]] == [("safety", "violated")]
    assert doc["witnesses"] and all(w["status"] == "reachable" for w in doc["witnesses"])


def test_an_unknown_property_is_a_usage_error(capsys):
    assert main(["verify", "--variant", "reference", "--property", "liveness"]) == 2
    assert "invalid choice: 'liveness'" in capsys.readouterr().err


def test_jobs_gives_the_same_verdicts_as_one_process(capsys):
    argv = ["--variant", "strict-fingerprint", "--variant-file", EXAMPLE, "--property", "safety"]
    one = _verify(capsys, *argv, "--jobs", "1")
    two = _verify(capsys, *argv, "--jobs", "2")
    assert one[0] == two[0] == 1
    assert _cells(one[1]) == _cells(two[1])
    assert len(_cells(two[1])) == 4  # 2 variants x 2 modes, in job order
    # every counterexample came back through the parent's own replay
    assert all(r["counterexample"][-1]["step"] for r in two[1]["results"]
               if r["status"] == "violated")


def test_jobs_zero_is_a_usage_error(capsys):
    assert main(["verify", "--all", "--jobs", "0"]) == 2
    assert "expected a number of processes >= 1" in capsys.readouterr().err


def test_ctrl_c_stops_the_workers_exit_130_and_no_table():
    proc = subprocess.Popen([sys.executable, "-m", "sessionfence", "verify", "--all",
                             "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, start_new_session=True)
    time.sleep(4)  # the workers are checking cells by now
    children = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole group
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out == ""
    assert err.strip().splitlines()[-1] == "sessionfence: interrupted"
    assert children, "the pool had started its workers"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]


def _children(pid: int) -> list:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_progress_names_only_tasks_a_worker_has_started():
    """The pool marks a task running as soon as it is queued for a worker
    (one more than there are workers); progress must name only the tasks
    the workers said they started: never more than two at once here."""
    from sessionfence import cells
    from sessionfence.model import variants
    from sessionfence.model.world import World

    jobs = [cells.Job(variants.get(name), World(fingerprint="digest"), None)
            for name in ("reference", "strict-fingerprint", "broad-publication")]
    lines: list = []
    got = cells.run(jobs, 2, 8, ("safety",), workers=2, progress=lines.append,
                    on_done=lambda job, results: None)
    assert [[r.property for r in res if r.kind == "always"] for res in got] == [["safety"]] * 3
    running = [line for line in lines if line.endswith("running")]
    assert running, lines
    assert all(line.count(" running") <= 2 for line in running), running
