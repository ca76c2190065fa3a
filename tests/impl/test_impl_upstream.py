"""Upstream's designs on real files: the §0 facts and the content rules.

The counterexamples are replayed step by step in
tests/conformance/test_upstream_counterexamples.py; these tests pin the
mechanisms the policies add to the controller (the held lock kept on a
takeover, the process-wide owner, the content snapshot) directly.
"""

from __future__ import annotations

import threading
import time

import pytest

from sessionfence.impl import SessionLockTimeout, SessionTakeoverError
from sessionfence.impl._runtime_lines import runtime_line


def _append_foreign(path, data=b'{"external":1}\n'):
    with open(path, "ab") as fh:
        fh.write(data)


def _write(ctrl, mode="broad", data=None):
    section = ctrl.begin_write(mode)
    section.read_before()
    section.append(data or runtime_line(f"{ctrl.name}-{time.monotonic_ns()}"))
    section.finish_write()


@pytest.mark.parametrize("policy", ["strict-refresh", "benign-advance", "file-owner"])
def test_a_takeover_on_the_held_prompt_lock_keeps_it_until_dispose(make_ctrl, transcript, policy):
    c = make_ctrl(policy, fingerprint="digest")
    c.start()
    c.release_for_prompt()
    c.reacquire_after_prompt()
    _append_foreign(transcript)
    with pytest.raises(SessionTakeoverError):
        c.begin_write("broad")  # checked: the fence is active
    assert c.phase == "taken_over" and c.holds_lock
    c.dispose()
    assert c.phase == "done" and not c.holds_lock


def test_before_the_first_release_a_held_section_does_not_check(make_ctrl, transcript):
    c = make_ctrl("benign-advance", fingerprint="digest")
    c.start()
    _append_foreign(transcript)
    _write(c)  # fence inactive: no check, and the plain section refreshes its fence
    c.release_for_prompt()
    c.reacquire_after_prompt()
    c.dispose()


def test_the_reference_policy_gives_the_lock_back_on_the_same_takeover(make_ctrl, transcript):
    c = make_ctrl("reference", fingerprint="digest")
    c.start()
    c.release_for_prompt()
    c.reacquire_after_prompt()
    _append_foreign(transcript)
    with pytest.raises(SessionTakeoverError):
        c.begin_write("broad")
    assert not c.holds_lock


@pytest.mark.parametrize("policy, accepted", [
    ("validate-on-assert", True),  # a forged runtime line: content-based trust
    ("benign-advance", True),
    ("tail-digest", True),
    ("strict-refresh", False),
    ("publication-gated-own-fence", False),
])
def test_a_forged_runtime_line_while_released(make_ctrl, transcript, policy, accepted):
    c = make_ctrl(policy, fingerprint="digest")
    c.start()
    c.release_for_prompt()
    _append_foreign(transcript, runtime_line("forged"))
    if accepted:
        c.reacquire_after_prompt()
    else:
        with pytest.raises(SessionTakeoverError):
            c.reacquire_after_prompt()


@pytest.mark.parametrize("policy, accepted", [("validate-on-assert", False),
                                              ("benign-advance", True)])
def test_a_prefix_rewrite_then_a_runtime_line(make_ctrl, transcript, policy, accepted):
    """§1.6: benign-advance does not compare the prefix; §1.2 does."""
    c = make_ctrl(policy, fingerprint="digest")
    c.start()
    c.release_for_prompt()
    with open(transcript, "r+b") as fh:
        fh.write(b"#rewritten")
    _append_foreign(transcript, runtime_line("after-rewrite"))
    if accepted:
        c.reacquire_after_prompt()
    else:
        with pytest.raises(SessionTakeoverError):
            c.reacquire_after_prompt()


def test_file_owner_a_second_attempt_waits_for_the_first(make_ctrl):
    first = make_ctrl("file-owner")
    second = make_ctrl("file-owner", timeout=0.2)
    first.start()
    first.release_for_prompt()  # the lock is free; the path is still owned
    with pytest.raises(SessionLockTimeout, match="another attempt of this process owns"):
        second.start()
    assert second.phase == "idle"
    third = make_ctrl("file-owner", timeout=5.0)
    started = threading.Event()

    def run():
        third.start()
        started.set()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.1)
    assert not started.is_set()  # waiting for the owner
    first.dispose()
    t.join(5)
    assert started.is_set() and third.phase == "held"
    third.dispose()
