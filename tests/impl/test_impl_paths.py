"""The transcript path: symlinks, symlinked directories, leftover temp files."""

from __future__ import annotations

import errno
import os

import pytest

from sessionfence.impl import (
    SessionController,
    SessionTakeoverError,
    TranscriptError,
    read_transcript,
)
from sessionfence.impl import _controller as cmod
from sessionfence.impl._lock_payload import new_token

# -- symlinks: a symlinked directory is resolved, a symlinked transcript refused --------


def test_a_symlink_at_the_transcript_path_is_refused_not_followed(tmp_path, registry):
    real = tmp_path / "real.jsonl"
    real.write_bytes(b'{"precious":1}\n')
    link = tmp_path / "link.jsonl"
    os.symlink(real, link)
    c = SessionController(str(link), registry=registry, timeout=1)
    assert c.path == str(link)  # the last component is not resolved
    with pytest.raises(TranscriptError) as err:
        c.start()
    assert err.value.errno == errno.ELOOP and "symbolic link" in str(err.value)
    assert c.phase == "idle" and not c.holds_lock
    assert not os.path.exists(str(link) + ".lock") and not os.path.exists(str(real) + ".lock")
    assert real.read_bytes() == b'{"precious":1}\n'


def test_a_dangling_symlink_creates_nothing(tmp_path, registry):
    target = tmp_path / "not-yet.jsonl"
    link = tmp_path / "session.jsonl"
    os.symlink(target, link)
    c = SessionController(str(link), registry=registry, timeout=1)
    with pytest.raises(TranscriptError, match="symbolic link"):
        c.start()
    assert not target.exists() and os.path.islink(link)
    assert c.phase == "idle" and not c.holds_lock


def test_a_symlinked_directory_is_fine_and_resolved(tmp_path, registry):
    (tmp_path / "data").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "alias")
    via_alias = SessionController(str(tmp_path / "alias" / "s.jsonl"), registry=registry)
    direct = SessionController(str(tmp_path / "data" / "s.jsonl"), registry=registry,
                               timeout=0)
    assert via_alias.path == direct.path == os.path.realpath(tmp_path / "data" / "s.jsonl")
    assert via_alias.lock.path == direct.path + ".lock"
    via_alias.start()
    via_alias.append({"via": "alias"})
    via_alias.dispose()
    direct.start()  # the same file, lock and registry entry
    direct.append({"direct": 1})
    direct.dispose()
    assert read_transcript(direct.path).records == [{"via": "alias"}, {"direct": 1}]


def test_a_symlink_put_at_the_path_later_is_a_takeover(tmp_path, make_ctrl, transcript):
    c = make_ctrl()
    c.start()
    c.release_for_prompt()
    os.link(transcript, tmp_path / "other-name")
    os.symlink(tmp_path / "other-name", tmp_path / "tmp-link")
    os.rename(tmp_path / "tmp-link", transcript)  # the same content, now through a symlink
    with pytest.raises(SessionTakeoverError) as err:
        c.reacquire_after_prompt()
    assert err.value.reason.startswith("file replaced (inode changed)")


def test_the_reader_follows_a_symlink(tmp_path):
    (tmp_path / "real").write_bytes(b'{"a":1}\n')
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert read_transcript(str(tmp_path / "link")).records == [{"a": 1}]


# -- temp files of rewrites that never finished ---------------------------------------


def temp_name(transcript, token=None):
    d, name = os.path.split(transcript)
    return os.path.join(d, f".{name}.rewrite-{token or new_token()}")


def test_start_removes_stale_rewrite_temp_files_and_nothing_else(make_ctrl, transcript,
                                                                 tmp_path):
    stale = [temp_name(transcript) for _ in range(2)]
    for p in stale:
        open(p, "wb").write(b'{"half":"a copy"}\n')
    keep = [
        temp_name(transcript, "not-a-token"),  # not our naming
        temp_name(str(tmp_path / "other.jsonl")),  # another transcript's
        str(tmp_path / f"session.jsonl.rewrite-{new_token()}"),  # no leading dot
    ]
    for p in keep:
        open(p, "wb").write(b"x")
    as_dir = temp_name(transcript)
    os.mkdir(as_dir)  # our naming, but not a regular file
    as_link = temp_name(transcript)
    os.symlink(transcript, as_link)
    c = make_ctrl()
    c.start()
    assert not any(os.path.exists(p) for p in stale)
    assert all(os.path.exists(p) for p in keep)
    assert os.path.isdir(as_dir) and os.path.islink(as_link)
    assert read_transcript(transcript).records == [{"seq": 0}, {"seq": 1}]


def test_a_rewrite_killed_before_its_rename_leaves_nothing_behind(transcript, registry):
    pid = os.fork()
    if pid == 0:  # dies between writing the temp copy and renaming it
        try:
            cmod.os.rename = lambda *a: os._exit(7)
            c = SessionController(transcript, registry=registry)
            c.start()
            c.rewrite([{"compacted": True}])
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7
    d, name = os.path.split(transcript)
    assert any(f.startswith(f".{name}.rewrite-") for f in os.listdir(d))
    assert os.path.exists(transcript + ".lock")  # the dead holder's
    c = SessionController(transcript, registry=registry, timeout=5)
    c.start()  # reclaims the dead holder's lock, then removes its temp file
    assert not any(f.startswith(f".{name}.rewrite-") for f in os.listdir(d))
    assert read_transcript(transcript).records == [{"seq": 0}, {"seq": 1}]
    c.dispose()


def test_an_interrupted_rewrite_removes_its_temp_file(make_ctrl, transcript, monkeypatch):
    def interrupted(*a):
        raise KeyboardInterrupt

    c = make_ctrl()
    c.start()
    monkeypatch.setattr(cmod.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        c.rewrite([{"compacted": True}])
    monkeypatch.undo()
    d, name = os.path.split(transcript)
    assert not any(f.startswith(f".{name}.rewrite-") for f in os.listdir(d))
    assert read_transcript(transcript).records == [{"seq": 0}, {"seq": 1}]
