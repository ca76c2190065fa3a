"""Fingerprints on real files: what each mode sees and what it cannot."""

from __future__ import annotations

import hashlib
import os
import stat
import time

import pytest

from impl_support import external_append, external_same_size_rewrite
from sessionfence.impl import MISSING, Fingerprint, digest_fingerprint, stat_fingerprint
from sessionfence.impl import _fingerprint as fpmod
from sessionfence.impl._fingerprint import explain, from_stat, hash_prefix

_release = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
multigrain = pytest.mark.skipif(
    _release < (6, 13), reason="same-size rewrites are only visible to stat with "
    "multigrain timestamps (Linux 6.13+)")


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(b'{"a":1}\n' * 100)
    return str(p)


def test_stat_fingerprint_fields(path):
    st = os.stat(path)
    fp = stat_fingerprint(path)
    assert fp == Fingerprint(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                             st.st_ctime_ns, True)
    assert fp.digest is None and fp.ident == (st.st_dev, st.st_ino)
    assert stat_fingerprint(path + ".absent") == MISSING and not MISSING.exists


def test_reads_never_trip_the_fence(path):
    fp, dg = stat_fingerprint(path), digest_fingerprint(path)[0]
    for _ in range(200):
        with open(path, "rb") as f:
            f.read()
        digest_fingerprint(path)  # our own digest reads included
    assert stat_fingerprint(path) == fp
    assert digest_fingerprint(path)[0] == dg


def test_an_append_changes_both_fingerprints(path):
    fp, dg = stat_fingerprint(path), digest_fingerprint(path)[0]
    external_append(path)
    assert stat_fingerprint(path) != fp
    assert digest_fingerprint(path)[0] != dg


@multigrain
def test_same_size_rewrites_are_seen_by_stat_after_a_stat(path):
    # The holder's own stat arms fine-grained stamping for the next write.
    for _ in range(200):
        before = stat_fingerprint(path)
        external_same_size_rewrite(path)
        after = stat_fingerprint(path)
        assert after != before and after.size == before.size


def test_delete_and_recreate_cannot_reuse_a_pinned_inode(path):
    fd = os.open(path, os.O_RDONLY)  # a controller keeps its fd open like this
    try:
        before = stat_fingerprint(path)
        content = open(path, "rb").read()
        for _ in range(50):
            os.unlink(path)
            with open(path, "wb") as f:
                f.write(content)
            assert stat_fingerprint(path).ino != before.ino
            assert os.fstat(fd).st_nlink == 0  # the pinned original is deleted
    finally:
        os.close(fd)


def test_atomic_replace_changes_identity(path, tmp_path):
    before = stat_fingerprint(path)
    tmp = tmp_path / "tmp"
    tmp.write_bytes(open(path, "rb").read())
    os.rename(tmp, path)
    after = stat_fingerprint(path)
    assert after.ident != before.ident
    assert explain(before, after) == "file replaced (inode changed)"


def test_utime_restoring_mtime_still_moves_ctime(path):
    st = os.stat(path)
    before = stat_fingerprint(path)
    external_same_size_rewrite(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = stat_fingerprint(path)
    assert after.mtime_ns == before.mtime_ns and after.ctime_ns != before.ctime_ns
    assert after != before


def test_digest_tells_metadata_only_from_content(path):
    before = digest_fingerprint(path)[0]
    os.chmod(path, 0o640)  # moves ctime: stat alone cannot tell it from a write
    after = digest_fingerprint(path)[0]
    assert after != before and after.digest == before.digest
    assert explain(before, after) == "metadata changed only (content digest identical)"
    external_same_size_rewrite(path)
    changed = digest_fingerprint(path)[0]
    assert explain(after, changed) == "content changed (digest differs, same size)"


def test_digest_is_blake2b_of_the_whole_content_and_extends_incrementally(path):
    fp, hasher = digest_fingerprint(path)
    content = open(path, "rb").read()
    assert fp.digest == hashlib.blake2b(content, digest_size=32).digest()
    ours = b'{"mine":true}\n'
    extended = hasher.copy()
    extended.update(ours)
    external_append(path, ours)
    assert digest_fingerprint(path)[0].digest == extended.digest()
    # and the original hasher state is untouched by the copy
    assert hasher.digest() == fp.digest


def test_digest_uses_a_pinned_fd_only_while_the_path_names_it(path, tmp_path):
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        pinned = (st.st_dev, st.st_ino)
        assert digest_fingerprint(path, fd, pinned)[0] == digest_fingerprint(path)[0]
        other = tmp_path / "other"
        other.write_bytes(b"replacement\n")
        os.rename(other, path)
        fp = digest_fingerprint(path, fd, pinned)[0]
        assert fp.ident != pinned
        assert fp.digest == hashlib.blake2b(b"replacement\n", digest_size=32).digest()
    finally:
        os.close(fd)


def test_hash_prefix_hashes_a_fixed_length(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        h = hash_prefix(fd, 16, buf=bytearray(5))  # several short reads
        assert h.digest() == hashlib.blake2b(open(path, "rb").read(16), digest_size=32).digest()
        assert hash_prefix(fd, os.fstat(fd).st_size + 1) is None  # "shrank under us"
    finally:
        os.close(fd)


def test_a_file_changing_under_the_digest_read_never_matches(path, monkeypatch):
    real = fpmod.hash_prefix

    def racing(fd, length, *a, **kw):
        h = real(fd, length, *a, **kw)
        external_append(path)  # someone writes while we hash
        return h

    monkeypatch.setattr(fpmod, "hash_prefix", racing)
    one, h1 = digest_fingerprint(path)
    two, _ = digest_fingerprint(path)
    assert h1 is None and one.digest.startswith(b"unstable:")
    assert one != two


def test_a_fifo_at_the_transcript_path_is_observed_without_reading(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    fp, hasher = digest_fingerprint(fifo)
    assert time.monotonic() - t0 < 4  # a blocking read of a FIFO would never return
    assert fp.exists and fp.digest is None and hasher is None
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("expected,found,text", [
    (None, MISSING, "no fingerprint recorded"),
    (Fingerprint(1, 2, 3, 4, 5, True), MISSING, "file deleted"),
    (MISSING, Fingerprint(1, 2, 3, 4, 5, True), "file created"),
    (Fingerprint(1, 2, 3, 4, 5, True), Fingerprint(1, 2, 9, 6, 7, True), "size changed 3 -> 9"),
    (Fingerprint(1, 2, 3, 4, 5, True), Fingerprint(1, 2, 3, 6, 7, True),
     "content rewritten in place (mtime changed, same size)"),
    (Fingerprint(1, 2, 3, 4, 5, True), Fingerprint(1, 2, 3, 4, 7, True),
     "inode changed (ctime moved: metadata or a same-size write)"),
])
def test_explain_names_the_difference(expected, found, text):
    assert explain(expected, found) == text


def test_fingerprints_are_immutable_values():
    a = from_stat(os.stat("/"))
    with pytest.raises(AttributeError):
        a.size = 1
    assert a == from_stat(os.stat("/")) and hash(a) == hash(from_stat(os.stat("/")))
