"""What validation sees of edits made inside an owned write, per fingerprint mode.

An owned append is: read_before observes `before`, one write(), an fstat
right after it, finish_write observes `post`. Digest mode compares content
and sees every edit. Stat mode sees an edit by size, by our bytes read back
at the tail, or by stat fields moving after an observation; what it cannot
see is a same-size in-place write to the bytes before ours that lands
between read_before's observation and the fstat right after our write. Each
position is pinned here with the probe points (and, inside the write itself,
by wrapping the write syscall).
"""

from __future__ import annotations

import os

import pytest

from impl_support import external_same_size_rewrite
from sessionfence.impl import SessionTakeoverError, read_transcript
from sessionfence.impl import _transcript as tmod


def edit_at(point, transcript):
    def probe(at, ctrl):
        if at == point:
            external_same_size_rewrite(transcript)
    return probe


@pytest.mark.parametrize("mode", ["stat", "digest"])
def test_same_size_edit_between_read_before_and_our_write(make_ctrl, transcript, mode):
    """The stat-mode blind spot that remains: our write moves mtime and ctime
    itself, and the size grows by exactly our line. Digest mode catches it."""
    c = make_ctrl(fingerprint=mode, probe=edit_at("read_before", transcript))
    c.start()
    if mode == "stat":
        c.append({"a": 1})  # accepted: size grew by exactly our line, our bytes at the tail
        assert c.phase == "held"
    else:
        with pytest.raises(SessionTakeoverError) as err:
            c.append({"a": 1})
        assert err.value.reason == "content digest differs from before + our bytes"


@pytest.mark.parametrize("mode", ["stat", "digest"])
def test_same_size_edit_after_our_write_is_caught(make_ctrl, transcript, mode):
    # The probe point `append` is after our write() and before finish_write's
    # observation: the fstat taken right after the write no longer matches.
    c = make_ctrl(fingerprint=mode, probe=edit_at("append", transcript))
    c.start()
    with pytest.raises(SessionTakeoverError) as err:
        c.append({"a": 1})
    assert err.value.check == "finish_write"
    if mode == "stat":
        assert err.value.reason.startswith("the file changed after our write, before "
                                           "finish_write observed it")
    assert c.phase == "taken_over"


def test_same_size_edit_after_our_write_step_wise(make_ctrl, transcript):
    # Step-wise, the gap between `append` and `finish_write` is the caller's:
    # it may be long, and it is covered the same way.
    c = make_ctrl()
    c.start()
    ws = c.begin_write("publish")
    ws.read_before()
    ws.append({"a": 1})
    external_same_size_rewrite(transcript)
    with pytest.raises(SessionTakeoverError, match="changed after our write"):
        ws.finish_write()


@pytest.mark.parametrize("mode", ["stat", "digest"])
def test_same_size_edit_during_the_write_syscall_itself(make_ctrl, transcript, mode,
                                                        monkeypatch):
    """The remaining window's other end: an edit landing between our write()
    and the fstat right after it. Stat mode cannot see it; digest mode can."""
    real = os.write

    def write_then_edit(fd, data):
        n = real(fd, data)
        if fd == c._fd:
            external_same_size_rewrite(transcript)
        return n

    c = make_ctrl(fingerprint=mode)
    c.start()
    monkeypatch.setattr(tmod.os, "write", write_then_edit)
    if mode == "stat":
        c.append({"a": 1})
        assert c.phase == "held"
    else:
        with pytest.raises(SessionTakeoverError, match="content digest differs"):
            c.append({"a": 1})


@pytest.mark.parametrize("mode", ["stat", "digest"])
def test_same_size_edit_during_a_section_that_writes_nothing(make_ctrl, transcript, mode):
    # Nothing of ours moved the stat fields, so any movement is someone else's.
    c = make_ctrl(fingerprint=mode)
    c.start()
    with pytest.raises(SessionTakeoverError) as err:
        with c.locked_section("broad"):
            external_same_size_rewrite(transcript)
    assert err.value.check == "finish_write"
    if mode == "stat":
        assert "a section that wrote nothing" in err.value.reason


def test_an_edit_of_our_own_bytes_after_the_write_is_caught(make_ctrl, transcript):
    def probe(at, ctrl):
        if at == "append":
            fd = os.open(transcript, os.O_RDWR)
            size = os.fstat(fd).st_size
            os.pwrite(fd, b"X", size - 3)  # inside the line we just wrote
            os.close(fd)

    c = make_ctrl(probe=probe)
    c.start()
    with pytest.raises(SessionTakeoverError):
        c.append({"a": 1})
    assert read_transcript(transcript).corrupt  # the edit is there; it was not published
