"""Controllers: the step machine, takeover, probes, sections, rewrite."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from impl_support import external_append
from sessionfence.impl import (
    PHASES,
    PROBE_POINTS,
    PolicyMismatchError,
    ProtocolError,
    SessionController,
    SessionLockTimeout,
    SessionTakeoverError,
    TranscriptError,
    read_transcript,
    set_probe,
)

# -- the phase machine -----------------------------------------------------------


def drive_to(ctrl, phase):
    """Bring a fresh controller to `phase` through the public steps."""
    path = {
        "idle": [],
        "held": ["start"],
        "released": ["start", "release"],
        "write_before": ["start", "begin"],
        "write_append": ["start", "begin", "read_before"],
        "write_after": ["start", "begin", "read_before", "append"],
        "done": ["dispose"],
        "taken_over": ["start", "external", "release"],
    }[phase]
    for step in path:
        if step == "start":
            ctrl.start()
        elif step == "release":
            try:
                ctrl.release_for_prompt()
            except SessionTakeoverError:
                pass
        elif step == "begin":
            ctrl.begin_write("publish")
        elif step == "read_before":
            ctrl.section.read_before()
        elif step == "append":
            ctrl.section.append({"x": 1})
        elif step == "external":
            external_append(ctrl.path)
        elif step == "dispose":
            ctrl.dispose()
    assert ctrl.phase == phase


STEP_CALLS = {
    "start": (lambda c: c.start(), ("idle",)),
    "release": (lambda c: c.release_for_prompt(), ("held",)),
    "reacquire": (lambda c: c.reacquire_after_prompt(), ("released",)),
    "begin_write": (lambda c: c.begin_write("broad"), ("held", "released")),
    "dispose": (lambda c: c.dispose(), ("idle", "held", "released")),
}


@pytest.mark.parametrize("phase", [p for p in PHASES if p != "taken_over"])
@pytest.mark.parametrize("step", STEP_CALLS)
def test_a_step_in_the_wrong_phase_says_where_it_is_and_what_is_allowed(
        make_ctrl, phase, step):
    call, allowed = STEP_CALLS[step]
    ctrl = make_ctrl()
    drive_to(ctrl, phase)
    if phase in allowed:
        return
    with pytest.raises(ProtocolError) as err:
        call(ctrl)
    e = err.value
    assert (e.phase, e.allowed) == (phase, allowed)
    assert repr(phase) in str(e) and all(repr(a) in str(e) for a in allowed)
    assert ctrl.phase == phase  # a refused step changes nothing


@pytest.mark.parametrize("phase", ["held", "write_before", "write_after"])
def test_section_steps_out_of_order_are_refused(make_ctrl, phase):
    ctrl = make_ctrl()
    drive_to(ctrl, phase)
    section = ctrl.section
    if phase == "held":
        section = ctrl.begin_write("publish")
        ctrl_phase = "write_before"
        with pytest.raises(ProtocolError):
            section.append(b"")
        with pytest.raises(ProtocolError):
            section.finish_write()
    elif phase == "write_before":
        ctrl_phase = phase
        with pytest.raises(ProtocolError):
            section.finish_write()
    else:
        ctrl_phase = phase
        with pytest.raises(ProtocolError):
            section.read_before()
        with pytest.raises(ProtocolError):
            section.append(b"")
    assert ctrl.phase == ctrl_phase


def test_full_step_wise_walk_and_lock_ownership(make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    assert (c.phase, c.holds_lock) == ("held", True)
    c.release_for_prompt()
    assert (c.phase, c.holds_lock) == ("released", False)
    ws = c.begin_write("publish")  # from released: takes the lock for the section
    assert (c.phase, c.holds_lock, ws.mode) == ("write_before", True, "publish")
    before = ws.read_before()
    assert c.phase == "write_append" and ws.before == before
    assert ws.append({"n": 1}) == len(b'{"n":1}\n')
    assert c.phase == "write_after"
    post = ws.finish_write()
    assert (c.phase, c.holds_lock) == ("released", False)  # gives back what it took
    assert post.size == before.size + 8 and c.fence == post
    c.reacquire_after_prompt()
    ws = c.begin_write("broad")  # from held: keeps the lock afterwards
    ws.read_before()
    ws.append(b"")
    ws.finish_write()
    assert (c.phase, c.holds_lock) == ("held", True)
    ws = c.begin_write("cleanup")
    ws.read_before()
    ws.append({"n": 2})
    ws.finish_write()
    assert (c.phase, c.holds_lock) == ("done", False)
    assert not os.path.exists(transcript + ".lock")
    assert read_transcript(transcript).records[-2:] == [{"n": 1}, {"n": 2}]


def test_bad_mode_and_foreign_section_are_refused(make_ctrl):
    a = make_ctrl()
    a.start()
    with pytest.raises(ValueError, match="mode must be one of"):
        a.begin_write("sideways")
    assert a.phase == "held"
    ws = a.begin_write("publish")
    ws.read_before()
    ws.append(b"")
    ws.finish_write()
    a.begin_write("publish")
    with pytest.raises(ProtocolError, match="not the controller's open section"):
        ws.read_before()  # a finished section is not the open one


def test_start_creates_a_missing_transcript(tmp_path, registry):
    path = str(tmp_path / "new.jsonl")
    with SessionController(path, registry=registry) as c:
        c.append({"first": True})
    assert read_transcript(path).records == [{"first": True}]


def test_start_on_a_fifo_fails_without_hanging_or_keeping_the_lock(tmp_path, registry):
    path = str(tmp_path / "fifo.jsonl")
    os.mkfifo(path)
    c = SessionController(path, registry=registry)
    with pytest.raises(TranscriptError):
        c.start()
    assert c.phase == "idle" and not os.path.exists(path + ".lock")


def test_lock_timeout_leaves_the_phase_unchanged(make_ctrl):
    a, b = make_ctrl(), make_ctrl(timeout=0.05)
    b.start()
    b.release_for_prompt()
    a.start()
    with pytest.raises(SessionLockTimeout):
        b.reacquire_after_prompt()
    assert b.phase == "released"
    with pytest.raises(SessionLockTimeout):
        b.append({"x": 1})
    assert b.phase == "released"
    a.dispose()
    b.reacquire_after_prompt()
    assert b.phase == "held"


@pytest.mark.parametrize("step", ["reacquire", "begin_write"])
def test_an_io_error_during_a_check_gives_the_lock_back(
        make_ctrl, transcript, monkeypatch, step):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    real_stat = os.lstat

    def failing_stat(path, *a, **kw):
        if path == c.path:
            raise OSError(errno.EIO, "Input/output error")
        return real_stat(path, *a, **kw)

    monkeypatch.setattr(os, "lstat", failing_stat)
    with pytest.raises(OSError) as err:
        c.reacquire_after_prompt() if step == "reacquire" else c.begin_write("publish")
    assert err.value.errno == errno.EIO and not isinstance(err.value, SessionTakeoverError)
    assert c.phase == "released" and not c.holds_lock
    assert not os.path.exists(transcript + ".lock")
    monkeypatch.setattr(os, "lstat", real_stat)
    c.reacquire_after_prompt()
    assert c.phase == "held"


def test_one_file_cannot_mix_policies_in_one_registry(make_ctrl):
    make_ctrl("reference")
    with pytest.raises(PolicyMismatchError, match="reference"):
        make_ctrl("strict-fingerprint")


def test_controller_refuses_to_work_in_a_forked_child(make_ctrl):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            c.reacquire_after_prompt()
            os._exit(1)
        except ProtocolError as exc:
            # One sentence that says what is wrong, not "not allowed in
            # 'released'; it is allowed in 'released'".
            expected = (f"reacquire refused: this controller was created in pid {parent}, "
                        f"and this is pid {os.getpid()} (a forked child); create a new "
                        f"controller after fork")
            os._exit(0 if str(exc) == expected else 2)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    c.reacquire_after_prompt()


def test_a_stale_section_is_refused_without_contradicting_itself(make_ctrl):
    a = make_ctrl()
    a.start()
    old = a.begin_write("publish")
    old.read_before()
    old.append(b"")
    old.finish_write()
    a.begin_write("publish")
    with pytest.raises(ProtocolError) as err:
        old.read_before()
    assert str(err.value) == ("read_before refused: this WriteSection is not the "
                              "controller's open section")


def test_context_manager_starts_and_disposes(transcript, registry):
    with SessionController(transcript, registry=registry) as c:
        assert c.phase == "held"
    assert c.phase == "done" and not os.path.exists(transcript + ".lock")
    with pytest.raises(RuntimeError):
        with SessionController(transcript, registry=registry) as c:
            c.begin_write("publish").read_before()
            raise RuntimeError("left the section open")
    assert c.phase == "done" and not os.path.exists(transcript + ".lock")


# -- takeover ----------------------------------------------------------------------


def test_takeover_names_file_check_and_fingerprints_and_is_sticky(make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    fence = c.fence
    external_append(transcript, b'{"x":1}\n')
    with pytest.raises(SessionTakeoverError) as err:
        c.reacquire_after_prompt()
    e = err.value
    assert (e.path, e.check, e.expected) == (os.path.realpath(transcript), "reacquire", fence)
    assert e.found.size == fence.size + 8
    assert e.reason == f"size changed {fence.size} -> {e.found.size}"
    assert transcript in str(e) and "reacquire" in str(e) and e.reason in str(e)
    assert c.phase == "taken_over" and c.taken_over and not c.holds_lock
    assert not os.path.exists(transcript + ".lock")
    for call in (c.start, c.release_for_prompt, c.reacquire_after_prompt, c.dispose,
                 lambda: c.begin_write("publish"), lambda: c.append({"y": 1})):
        with pytest.raises(SessionTakeoverError) as again:
            call()
        assert again.value.sticky and again.value.check == "reacquire"
    assert c.phase == "taken_over"


def test_deleted_transcript_is_a_takeover(make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    os.unlink(transcript)
    with pytest.raises(SessionTakeoverError) as err:
        c.release_for_prompt()
    assert err.value.reason == ("file deleted; the file our fd holds was deleted (nlink 0)")


def test_recreated_transcript_is_told_apart_by_the_pinned_fd(make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    content = open(transcript, "rb").read()
    os.unlink(transcript)  # delete and recreate, same name, size and bytes
    with open(transcript, "wb") as f:
        f.write(content)
    with pytest.raises(SessionTakeoverError) as err:
        c.reacquire_after_prompt()
    assert err.value.reason == ("file replaced (inode changed); the file our fd holds "
                                "was deleted (nlink 0)")


def test_append_to_an_unlinked_transcript_fails_validation(make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    ws = c.begin_write("publish")
    ws.read_before()
    os.unlink(transcript)  # our fd now writes to the orphan
    ws.append({"lost": True})
    with pytest.raises(SessionTakeoverError) as err:
        ws.finish_write()
    assert err.value.check == "finish_write" and "deleted" in err.value.reason


def test_replaced_transcript_is_a_takeover(make_ctrl, transcript, tmp_path):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    copy = tmp_path / "copy"
    copy.write_bytes(open(transcript, "rb").read())
    os.rename(copy, transcript)  # a sync tool's atomic replace, same bytes
    with pytest.raises(SessionTakeoverError) as err:
        c.reacquire_after_prompt()
    assert err.value.reason.startswith("file replaced (inode changed)")


# -- probes ---------------------------------------------------------------------------


def test_probe_points_follow_the_model_steps(make_ctrl):
    seen = []
    c = make_ctrl(probe=lambda point, ctrl: seen.append((point, ctrl.phase)))
    c.start()
    c.append({"a": 1})
    assert seen == [("begin_write", "write_before"), ("read_before", "write_append"),
                    ("append", "write_after"), ("finish_write", "held")]
    assert [p for p, _ in seen] == list(PROBE_POINTS)
    seen.clear()
    ws = c.begin_write("publish")  # the step-wise API is the harness's: no probes
    ws.read_before()
    ws.append(b"")
    ws.finish_write()
    assert seen == []


def test_global_probe_and_per_controller_override(make_ctrl):
    seen = []
    set_probe(lambda point, ctrl: seen.append(("global", point)))
    try:
        plain = make_ctrl()
        own = make_ctrl(probe=lambda point, ctrl: seen.append(("own", point)))
        plain.start()
        plain.append({"a": 1})
        plain.dispose()
        own.start()
        own.append({"a": 2})
    finally:
        set_probe(None)
    assert [s for s, _ in seen] == ["global"] * 4 + ["own"] * 4
    assert SessionController._probe is None


def test_a_probe_can_inject_an_external_edit_at_every_point(make_ctrl, transcript):
    # Reference policy: an external write at any point inside a write is
    # caught by the very next check (read_before, finish_write, or release).
    expected_check = {"begin_write": "read_before", "read_before": "finish_write",
                      "append": "finish_write", "finish_write": "release"}
    for point, check in expected_check.items():
        def probe(p, ctrl, point=point):
            if p == point:
                external_append(transcript)

        c = make_ctrl(probe=probe)
        c.start()
        with pytest.raises(SessionTakeoverError) as err:
            c.append({"a": 1})
            c.release_for_prompt()
        assert err.value.check == check, point


def test_an_exception_in_a_probe_finishes_the_section_first(make_ctrl, transcript):
    def probe(point, ctrl):
        if point == "append":
            raise KeyboardInterrupt

    c = make_ctrl(probe=probe)
    c.start()
    with pytest.raises(KeyboardInterrupt):
        c.append({"a": 1})
    assert c.phase == "held"  # validated and published, not orphaned
    assert read_transcript(transcript).records[-1] == {"a": 1}
    c.release_for_prompt()


# -- sections ----------------------------------------------------------------------------


def test_locked_section_nests_for_its_own_controller_only(make_ctrl, transcript):
    a, b = make_ctrl(), make_ctrl(timeout=0.05)
    a.start()
    a.release_for_prompt()
    with a.locked_section("broad") as ws:
        with a.locked_section() as inner:  # reentrant for the same controller
            assert inner is ws and a.lock.depth == 2
            with pytest.raises(SessionLockTimeout):
                b.start()  # never shared with another controller
        assert a.lock.depth == 1
        ws.append({"in": "section"})
    assert a.phase == "released" and not a.holds_lock
    assert read_transcript(transcript).records[-1] == {"in": "section"}


def test_empty_section_publishes_an_unchanged_file(make_ctrl):
    c = make_ctrl()
    c.start()
    fence = c.fence
    with c.locked_section("broad"):
        pass
    assert c.phase == "held" and c.fence == fence


def test_an_exception_in_a_section_body_still_finishes_it(make_ctrl):
    c = make_ctrl()
    c.start()
    with pytest.raises(ValueError):
        with c.locked_section("publish") as ws:
            ws.append({"a": 1})
            raise ValueError("boom")
    assert c.phase == "held"
    c.release_for_prompt()


def test_cleanup_ends_the_controller(make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    with c.acquire_for_cleanup() as ws:
        assert c.holds_lock
        ws.append({"final": True})
    assert c.phase == "done" and not c.holds_lock
    assert not os.path.exists(transcript + ".lock")
    with pytest.raises(ProtocolError):
        c.reacquire_after_prompt()


# -- rewrite (owned compaction) --------------------------------------------------------------


def test_a_peers_rewrite_is_accepted_and_followed_to_the_new_inode(make_ctrl, transcript):
    a, b = make_ctrl(), make_ctrl()
    a.start()
    a.release_for_prompt()
    b.start()
    b.rewrite([{"compacted": True}])
    b.dispose()
    a.reacquire_after_prompt()  # published by a validated owned write: accepted
    a.append({"after": 1})  # our fd follows the new inode
    assert read_transcript(transcript).records == [{"compacted": True}, {"after": 1}]


def test_an_external_append_lost_by_a_rewrite_is_a_takeover(make_ctrl, transcript):
    def probe(point, ctrl):
        if point == "read_before":
            external_append(transcript)  # hits the file about to be replaced

    c = make_ctrl(probe=probe)
    c.start()
    with pytest.raises(SessionTakeoverError) as err:
        c.rewrite([{"compacted": True}])
    assert err.value.check == "finish_write" and "replaced file" in err.value.reason


def test_an_external_replace_after_a_rewrite_is_a_takeover(make_ctrl, transcript, tmp_path):
    def probe(point, ctrl):
        if point == "append":
            (tmp_path / "other").write_bytes(b'{"x":1}\n')
            os.rename(tmp_path / "other", transcript)

    c = make_ctrl(probe=probe)
    c.start()
    with pytest.raises(SessionTakeoverError, match="does not name our rewritten file"):
        c.rewrite([{"compacted": True}])


# -- what digest mode adds ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stat", "digest"])
def test_metadata_only_change_is_reported_as_such(make_ctrl, transcript, mode):
    c = make_ctrl(fingerprint=mode)
    c.start()
    c.release_for_prompt()
    os.chmod(transcript, 0o600 if os.stat(transcript).st_mode & 0o044 else 0o644)
    with pytest.raises(SessionTakeoverError) as err:
        c.reacquire_after_prompt()
    if mode == "digest":
        assert err.value.reason == "metadata changed only (content digest identical)"
    else:
        assert err.value.reason.startswith("inode changed (ctime moved")


def test_digest_mode_full_cycle_with_peers(make_ctrl, transcript):
    a, b = make_ctrl(fingerprint="digest"), make_ctrl(fingerprint="digest")
    a.start()
    a.append({"a": 1})
    a.release_for_prompt()
    b.start()
    b.append({"b": 1})
    b.rewrite([{"compacted": 2}])
    b.dispose()
    a.reacquire_after_prompt()
    a.append({"a": 2})
    assert a.fence.digest is not None
    assert read_transcript(transcript).records == [{"compacted": 2}, {"a": 2}]


def test_public_api_is_explicit_and_sorted():
    import sessionfence.impl as impl

    assert impl.__all__ == sorted(impl.__all__)
    for name in impl.__all__:
        assert getattr(impl, name) is not None
    assert PHASES == ("idle", "held", "released", "write_before", "write_append",
                      "write_after", "done", "taken_over")
    assert impl.STEPS == ("start", "release", "reacquire", "begin_write", "read_before",
                          "append", "finish_write", "dispose")
    from sessionfence.model import variants

    # one policy per built-in variant: the brief's four and upstream's designs
    assert set(impl.POLICIES) == set(variants.BUILTIN)
    assert {"strict-refresh", "validate-on-assert", "tail-digest", "publication-gated-own-fence",
            "post-message-publication", "benign-advance", "file-owner"} <= set(impl.POLICIES)


def test_the_five_line_example_in_the_docs_runs(tmp_path, monkeypatch):
    doc = (Path(__file__).parents[2] / "docs" / "impl.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in example.splitlines() if line.strip()]) == 5
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/impl.md", "exec"), {})
    assert read_transcript("session.jsonl").records == [{"role": "user", "text": "hi"}]
    assert not os.path.exists("session.jsonl.lock")
