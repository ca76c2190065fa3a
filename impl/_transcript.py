"""The transcript file: whole-line appends, a tolerant reader, owned rewrites.

Records are JSON objects, one per line. An append is ONE `write()` on an
O_APPEND fd: the kernel places it at the end atomically with respect to
other O_APPEND writers on a local filesystem, so lines never interleave. A
short write is not retried (a second write could land after someone else's
bytes and tear our line in two places); it fails closed instead.

This module also states what "exactly `before` plus our bytes" means on a
real file (`verify_append`, `verify_rewrite`): the physical evidence the
reference policy's `write_ok` rule is built on.
"""

from __future__ import annotations

import json
import os
import stat as _stat
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Literal, Mapping, Optional, Tuple

from sessionfence.impl._errors import TranscriptError, TranscriptWriteError
from sessionfence.impl._fingerprint import Fingerprint, hash_prefix

FsyncMode = Literal["none", "every"]
FSYNC_MODES = ("none", "every")

_OPEN_FLAGS = (os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
               | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO planted at the path cannot hang open()


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One record as one line. Raises TypeError/ValueError for bad records."""
    if not isinstance(record, Mapping):
        raise TypeError(f"a transcript record must be a JSON object (a mapping), "
                        f"got {type(record).__name__}")
    # json.dumps escapes control characters, so the line has no raw newline;
    # allow_nan=False because NaN is not JSON and other readers reject it.
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            + "\n").encode("utf-8")


def encode_records(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(encode_record(r) for r in records)


def as_line_bytes(data) -> bytes:
    """Bytes to append: a record, a list of records, or pre-encoded lines."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if data and not data.endswith(b"\n"):
            raise ValueError("appended bytes must be whole lines ending with b'\\n'")
        return data
    if isinstance(data, Mapping):
        return encode_record(data)
    if isinstance(data, (list, tuple)):
        return encode_records(data)
    raise TypeError(f"cannot append {type(data).__name__}: pass a record (mapping), "
                    f"a list of records, or bytes of whole lines")


def open_transcript(path: str) -> Tuple[int, os.stat_result]:
    """Open (creating if absent) the transcript for appending and reading."""
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o600)
    except OSError as exc:
        raise TranscriptError(path, f"cannot open the transcript: {exc.strerror}",
                              exc.errno) from exc
    st = os.fstat(fd)
    if not _stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise TranscriptError(path, "the transcript path is not a regular file")
    return fd, st


def write_once(fd: int, data: bytes, path: str, fsync: FsyncMode = "none") -> None:
    """Append `data` with exactly one write(); fail closed on a short write."""
    if not data:
        return  # a zero-length write changes nothing; skip the syscall
    try:
        n = os.write(fd, data)
    except OSError as exc:
        raise TranscriptWriteError(path, f"append failed: {exc.strerror}", exc.errno,
                                   0, len(data)) from exc
    if n != len(data):
        raise TranscriptWriteError(path, f"short write: {n} of {len(data)} bytes reached "
                                   "the file; its last line is torn", None, n, len(data))
    if fsync == "every":
        try:
            os.fsync(fd)
        except OSError as exc:
            # After a failed fsync the page cache cannot be trusted to hold
            # what we wrote ("fsyncgate"): never report the write as durable.
            raise TranscriptWriteError(path, f"fsync failed: {exc.strerror}", exc.errno,
                                       n, len(data)) from exc


def fsync_directory(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp_copy(path: str, content: bytes, mode: int, token: str) -> Tuple[int, str]:
    """A private, fsynced file next to `path` holding `content`.

    Returned fd is O_APPEND, so it becomes the transcript fd after rename.
    """
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.rewrite-{token}")
    fd = os.open(tmp, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                 | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, _stat.S_IMODE(mode))
        view = memoryview(content)
        while view:  # a private file: retrying a short write here tears nothing
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


# -- validation: is the file exactly what our write should have made? ---------


def verify_append(fd: int, fd_ident: Tuple[int, int], before: Fingerprint,
                  post: Fingerprint, ours: bytes, expected_digest: Optional[bytes]) -> str:
    """"" if `post` is exactly `before` plus `ours`, else what differs.

    Our fd pins the inode, so the path naming the same (dev, ino) means the
    path still names the file we wrote to, with at least one link (this is
    the nlink > 0 check). In stat mode, size arithmetic plus our bytes at the
    tail is the evidence; a same-size in-place write elsewhere in the file
    inside this very window is the one thing it cannot see (digest mode can:
    `expected_digest` is before's digest extended by `ours`).
    """
    if not post.exists:
        return "file deleted during the write"
    if post.ident != before.ident:
        return "file replaced during the write (inode changed)"
    if post.ident != fd_ident:
        return "our append went to a file the path no longer names"
    if post.size != before.size + len(ours):
        return (f"size is {post.size}, expected {before.size} + {len(ours)} "
                f"= {before.size + len(ours)}: someone else wrote too")
    if ours and os.pread(fd, len(ours), before.size) != ours:
        return "our bytes are not at the tail of the file"
    if expected_digest is not None and post.digest != expected_digest:
        return "content digest differs from before + our bytes"
    return ""


def verify_rewrite(new_ident: Tuple[int, int], old_fd: int,
                   before: Fingerprint, post: Fingerprint, content: bytes,
                   expected_digest: Optional[bytes]) -> str:
    """"" if the path now names our rewritten file and nobody touched the old one.

    The old inode is checked after the rename: an external append that hit
    it between read_before and the rename would otherwise vanish silently
    with the replaced file. Its ctime moved (the rename dropped a link), so
    only size, mtime and, in digest mode, the content are compared.
    """
    if not post.exists:
        return "file deleted right after the rewrite"
    if post.ident != new_ident:
        return "the path does not name our rewritten file"
    if post.size != len(content):
        return f"rewritten file has {post.size} bytes, expected {len(content)}"
    if expected_digest is not None and post.digest != expected_digest:
        return "rewritten content digest differs from what we wrote"
    old = os.fstat(old_fd)
    if (old.st_dev, old.st_ino) != before.ident:
        return "the file read_before saw is not the one we replaced"
    if (old.st_size, old.st_mtime_ns) != (before.size, before.mtime_ns):
        return "the replaced file was modified between read_before and the rename"
    if before.digest is not None:
        h = hash_prefix(old_fd, before.size)
        if h is None or h.digest() != before.digest:
            return "the replaced file's content changed between read_before and the rename"
    return ""


# -- reading -------------------------------------------------------------------


@dataclass
class TranscriptRead:
    """A transcript as found: parsed records plus whatever was not a record."""

    records: List[Any] = field(default_factory=list)
    torn_tail: Optional[bytes] = None
    """Bytes after the last newline: a write that did not finish (or is in flight)."""
    corrupt: List[Tuple[int, bytes]] = field(default_factory=list)
    """(1-based line number, raw line) of complete lines that are not valid JSON."""

    @property
    def clean(self) -> bool:
        return self.torn_tail is None and not self.corrupt


def parse_transcript(data: bytes) -> TranscriptRead:
    out = TranscriptRead()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the data ends with a newline
    if tail:
        out.torn_tail = tail
    for number, raw in enumerate(lines, 1):
        try:
            out.records.append(json.loads(raw))
        except ValueError:
            out.corrupt.append((number, raw))
    return out


def read_transcript(path: str) -> TranscriptRead:
    """Read a transcript without crashing on a torn last line or bad lines."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not _stat.S_ISREG(os.fstat(fd).st_mode):
            raise TranscriptError(path, "the transcript path is not a regular file")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return parse_transcript(b"".join(chunks))
