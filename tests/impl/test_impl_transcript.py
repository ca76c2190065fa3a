"""The transcript: whole-line appends, the tolerant reader, rewrite, durability."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
import tracemalloc

import pytest

from impl_support import external_append
from sessionfence.impl import (
    SessionTakeoverError,
    TornTailError,
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


def test_reader_gives_the_same_result_whatever_the_chunk_boundaries():
    data = (b'{"a":1}\n\n{"long":"' + b"y" * 300 + b'"}\n\x00bad\n{"b":2}\n'
            + b'{"c":3}\n{"torn":')
    whole = parse_transcript(data)
    assert whole.corrupt == [(2, b""), (4, b"\x00bad")] and whole.torn_tail == b'{"torn":'
    for size in (1, 2, 3, 7, 64, len(data)):
        parser = tmod._LineParser()
        for i in range(0, len(data), size):
            parser.feed(data[i:i + size])
        got = parser.finish()
        assert (got.records, got.corrupt, got.torn_tail) == (
            whole.records, whole.corrupt, whole.torn_tail), size


def test_reader_streams_instead_of_holding_copies_of_the_file(tmp_path):
    # Memory beyond the records returned: ~1 chunk, not ~4x the file. (The
    # records themselves are what the caller asked for.)
    path = tmp_path / "big.jsonl"
    line = encode_record({"text": "z" * 16_000})
    with open(path, "wb") as f:
        for _ in range(1024):
            f.write(line)
    size = path.stat().st_size  # ~16 MiB
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        got = read_transcript(str(path))
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(got.records) == 1024 and got.clean
    transient = peak - kept
    assert transient < size / 4, (transient, size, kept - base)


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


def test_a_real_short_write_fails_closed_and_is_undone(transcript, spawn_helper):
    # Real short write: RLIMIT_FSIZE in a helper process. Python ignores
    # SIGXFSZ from startup, so the write comes back short instead of killing.
    original = open(transcript, "rb").read()
    reply = spawn_helper().call("short_write", path=transcript, room=10)
    assert reply["sigxfsz_ignored"] is True
    assert reply["raised"] == "TranscriptWriteError"
    assert reply["written"] == 10 and "short write" in reply["text"]
    assert reply["phase"] == "taken_over" and reply["lock_exists"] is False
    # The 10 bytes were ours and nobody wrote after them: removed, not left
    # as a torn line for the next append to be glued to.
    assert reply["restored"] is True and "removed again" in reply["text"]
    assert reply["errno"] == errno.EFBIG and "RLIMIT_FSIZE" in reply["text"]
    assert open(transcript, "rb").read() == original
    assert read_transcript(transcript).clean


def test_a_short_write_is_never_retried(make_ctrl, transcript, monkeypatch):
    original = open(transcript, "rb").read()
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
    # No made-up EINVAL: the disk is not full and there is no size limit here.
    assert err.value.errno is None and err.value.restored
    assert open(transcript, "rb").read() == original


def test_a_short_write_is_left_alone_when_someone_else_wrote_too(make_ctrl, transcript,
                                                                  monkeypatch):
    ctrl = make_ctrl()
    ctrl.start()
    real = os.write

    def short_then_foreign(fd, data):
        n = real(fd, bytes(data)[:3])
        other = os.open(transcript, os.O_WRONLY | os.O_APPEND)
        real(other, b'{"foreign":1}\n')  # a writer ignoring the lock, after our 3 bytes
        os.close(other)
        return n

    monkeypatch.setattr(tmod.os, "write", short_then_foreign)
    with pytest.raises(TranscriptWriteError) as err:
        ctrl.append({"k": "v"})
    monkeypatch.setattr(tmod.os, "write", real)
    # Truncating now would cut the foreign line: the tail is not ours alone.
    assert not err.value.restored and "someone else wrote too" in str(err.value)
    assert open(transcript, "rb").read().endswith(b'{"k{"foreign":1}\n')


# -- a torn tail left by someone else: never written after, never repaired -----------


@pytest.mark.parametrize("mode", ["stat", "digest"])
def test_an_append_never_lands_on_a_torn_tail(make_ctrl, transcript, mode):
    external_append(transcript, b'{"crashed mid-wri')  # an external tool died here
    original = open(transcript, "rb").read()
    ctrl = make_ctrl(fingerprint=mode)
    ctrl.start()  # accepting the file as it is is fine: reading or rewriting it is
    with pytest.raises(TornTailError) as err:
        ctrl.append({"a": 1})
    e = err.value
    assert isinstance(e, SessionTakeoverError) and e.check == "append"
    assert "torn line (17 bytes after its last newline" in e.reason
    assert "nothing was written" in e.reason
    assert ctrl.phase == "taken_over" and not ctrl.holds_lock
    assert open(transcript, "rb").read() == original  # neither glued nor repaired
    with pytest.raises(TornTailError):  # sticky, same class
        ctrl.append({"a": 2})


def test_a_torn_tail_is_measured_across_chunks(tmp_path):
    p = tmp_path / "t"
    p.write_bytes(b'{"a":1}\n' + b"x" * (tmod.READ_CHUNK + 5))
    fd = os.open(p, os.O_RDONLY)
    try:
        assert tmod.torn_tail_length(fd, os.fstat(fd).st_size) == tmod.READ_CHUNK + 5
        assert tmod.torn_tail_length(fd, 8) == 0 and tmod.torn_tail_length(fd, 0) == 0
        assert tmod.torn_tail_length(fd, 3) == 3  # no newline at all
        # Asked about more bytes than there are (the file shrank since it was
        # observed): the real end is judged, not the missing bytes.
        assert tmod.torn_tail_length(fd, os.fstat(fd).st_size + 10) == tmod.READ_CHUNK + 5
    finally:
        os.close(fd)
    p.write_bytes(b'{"a":1}\n')
    fd = os.open(p, os.O_RDONLY)
    try:
        assert tmod.torn_tail_length(fd, 100) == 0
    finally:
        os.close(fd)


def test_a_torn_file_can_be_repaired_by_an_owned_rewrite(make_ctrl, transcript):
    external_append(transcript, b'{"torn')
    found = read_transcript(transcript)
    ctrl = make_ctrl()
    ctrl.start()
    ctrl.rewrite(found.records)  # the caller decides what becomes of the torn bytes
    ctrl.append({"after": "repair"})
    assert read_transcript(transcript).records == [{"seq": 0}, {"seq": 1}, {"after": "repair"}]


def test_an_empty_section_on_a_torn_file_writes_nothing_and_passes(make_ctrl, transcript):
    external_append(transcript, b'{"torn')
    ctrl = make_ctrl()
    ctrl.start()
    with ctrl.locked_section():
        pass
    assert ctrl.phase == "held"


def test_the_torn_tail_check_costs_no_read_on_the_hot_path(make_ctrl, monkeypatch):
    ctrl = make_ctrl()
    ctrl.start()
    reads = []
    real = os.pread

    def counting(fd, n, offset):
        if fd == ctrl._fd:  # not the lock file's reads
            reads.append((n, offset))
        return real(fd, n, offset)

    monkeypatch.setattr(os, "pread", counting)
    ctrl.append({"first": 1})  # a file not written by us yet: one read of its last byte
    assert reads[0][0] == 1 and len(reads) == 2  # + the read-back of our bytes
    del reads[:]
    ctrl.append({"second": 2})  # from our own last write: known to end in a newline
    ctrl.release_for_prompt()
    ctrl.reacquire_after_prompt()
    ctrl.append({"third": 3})
    assert [n for n, _ in reads] == [len(b'{"second":2}\n'), len(b'{"third":3}\n')]


def test_a_torn_tail_left_by_a_peers_failed_write_stops_the_next_append(make_ctrl, transcript,
                                                                        monkeypatch):
    a, b = make_ctrl(), make_ctrl()
    a.start()
    a.release_for_prompt()
    b.start()
    real = os.write
    monkeypatch.setattr(tmod.os, "write", lambda fd, data: real(fd, bytes(data)[:4]))
    monkeypatch.setattr(os, "ftruncate", lambda fd, n: None)  # the undo cannot take
    with pytest.raises(TranscriptWriteError) as err:
        b.append({"b": 1})
    monkeypatch.undo()
    assert not err.value.restored and "torn" in str(err.value)
    c = make_ctrl()
    c.start()  # a new session accepts the file as it is ...
    with pytest.raises(TornTailError):
        c.append({"c": 1})  # ... but does not write after the torn bytes
    assert open(transcript, "rb").read().endswith(b'\n{"b"')


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
