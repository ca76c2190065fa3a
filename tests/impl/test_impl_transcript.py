"""The transcript: whole-line appends, the tolerant reader, rewrite, durability."""

from __future__ import annotations

import errno
import json
import os
import stat
import time

import pytest

from sessionfence.impl import (
    TranscriptError,
    TranscriptWriteError,
    encode_record,
    read_transcript,
)
from sessionfence.impl import _transcript as tmod
from sessionfence.impl._transcript import as_line_bytes, open_transcript, parse_transcript


def test_a_record_is_one_compact_line():
    line = encode_record({"text": "two\nlines", "n": 1, "u": "é"})
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert json.loads(line) == {"text": "two\nlines", "n": 1, "u": "é"}
    assert line == '{"text":"two\\nlines","n":1,"u":"é"}\n'.encode()


@pytest.mark.parametrize("bad,exc", [
    ([1, 2], TypeError), ("text", TypeError), ({"x": float("nan")}, ValueError),
    ({"x": object()}, TypeError),
])
def test_bad_records_are_refused_before_any_write(bad, exc):
    with pytest.raises(exc):
        encode_record(bad)


def test_appended_bytes_must_be_whole_lines():
    assert as_line_bytes(b"") == b""
    assert as_line_bytes([{"a": 1}, {"b": 2}]) == b'{"a":1}\n{"b":2}\n'
    with pytest.raises(ValueError, match="whole lines"):
        as_line_bytes(b'{"a":1}')
    with pytest.raises(TypeError):
        as_line_bytes(42)


def test_reader_reports_a_torn_last_line():
    got = parse_transcript(b'{"a":1}\n{"b":2}\n{"c":')
    assert got.records == [{"a": 1}, {"b": 2}]
    assert got.torn_tail == b'{"c":' and not got.clean


def test_reader_reports_corrupt_lines_and_keeps_going():
    got = parse_transcript(b'{"a":1}\n\x00\xff garbage\n{"b":2}\n')
    assert got.records == [{"a": 1}, {"b": 2}]
    assert got.corrupt == [(2, b"\x00\xff garbage")] and got.torn_tail is None


def test_reader_on_empty_and_clean_files(tmp_path):
    p = tmp_path / "t"
    p.write_bytes(b"")
    assert read_transcript(str(p)).clean and read_transcript(str(p)).records == []
    p.write_bytes(b'{"a":1}\n')
    assert read_transcript(str(p)).records == [{"a": 1}]


def test_reader_refuses_a_fifo_without_hanging(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(TranscriptError):
        read_transcript(fifo)
    assert time.monotonic() - t0 < 4  # a blocking open/read of a FIFO would never return


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_open_refuses_what_is_not_a_regular_file(tmp_path, kind):
    p = str(tmp_path / "t")
    if kind == "directory":
        os.mkdir(p)
    elif kind == "fifo":
        os.mkfifo(p)
    else:
        (tmp_path / "real").write_bytes(b"")
        os.symlink(tmp_path / "real", p)
    t0 = time.monotonic()
    with pytest.raises(TranscriptError) as err:
        open_transcript(p)
    assert time.monotonic() - t0 < 4 and err.value.path == p


def test_open_creates_a_private_file(tmp_path):
    fd, st = open_transcript(str(tmp_path / "new"))
    os.close(fd)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 0


def test_short_write_fails_closed_and_leaves_a_visible_torn_line(transcript, spawn_helper):
    # Real short write: the helper runs under RLIMIT_FSIZE with SIGXFSZ ignored.
    before = read_transcript(transcript).records
    reply = spawn_helper().call("short_write", path=transcript, room=10)
    assert reply["raised"] == "TranscriptWriteError"
    assert reply["written"] == 10 and "short write" in reply["text"]
    assert reply["phase"] == "taken_over" and reply["lock_exists"] is False
    got = read_transcript(transcript)
    assert got.records == before and got.torn_tail is not None and len(got.torn_tail) == 10


def test_a_short_write_is_never_retried(make_ctrl, monkeypatch):
    ctrl = make_ctrl()
    ctrl.start()
    calls = []
    real = os.write

    def short(fd, data):
        calls.append(len(data))
        return real(fd, bytes(data)[:3])

    monkeypatch.setattr(tmod.os, "write", short)
    with pytest.raises(TranscriptWriteError) as err:
        ctrl.append({"k": "v"})
    assert len(calls) == 1  # a second write could land after someone else's bytes
    assert (err.value.written, err.value.wanted) == (3, calls[0])
    assert ctrl.phase == "taken_over" and not ctrl.holds_lock
    assert ctrl.takeover_error.check == "append"


def test_enospc_on_append_fails_closed(make_ctrl, monkeypatch):
    ctrl = make_ctrl()
    ctrl.start()

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tmod.os, "write", full)
    with pytest.raises(TranscriptWriteError) as err:
        ctrl.append({"k": "v"})
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert ctrl.phase == "taken_over" and not os.path.exists(ctrl.lock.path)


def test_fsync_every_append(make_ctrl, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(tmod.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    ctrl = make_ctrl(fsync="every")
    ctrl.start()
    for i in range(3):
        ctrl.append({"i": i})
    assert len(synced) == 3
    none = make_ctrl(fsync="none")
    ctrl.dispose()
    none.start()
    none.append({"i": 3})
    assert len(synced) == 3


def test_failed_fsync_is_never_reported_durable(make_ctrl, monkeypatch):
    def eio(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(tmod.os, "fsync", eio)
    ctrl = make_ctrl(fsync="every")
    ctrl.start()
    with pytest.raises(TranscriptWriteError, match="fsync failed"):
        ctrl.append({"i": 0})
    assert ctrl.phase == "taken_over"


def test_rewrite_replaces_via_a_fsynced_temp_file(make_ctrl, transcript, monkeypatch):
    os.chmod(transcript, 0o640)
    synced = []
    real = os.fsync
    monkeypatch.setattr(tmod.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    ctrl = make_ctrl()
    ctrl.start()
    old_ino = os.stat(transcript).st_ino
    post = ctrl.rewrite([{"summary": "compacted"}])
    st = os.stat(transcript)
    assert st.st_ino != old_ino and post.ino == st.st_ino
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert read_transcript(transcript).records == [{"summary": "compacted"}]
    assert synced, "the temp file must be fsynced before the rename"
    assert [n for n in os.listdir(os.path.dirname(transcript)) if "rewrite" in n] == []
    ctrl.append({"after": 1})  # later appends land in the new file
    assert read_transcript(transcript).records == [{"summary": "compacted"}, {"after": 1}]
