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

import errno
import json
import logging
import os
import re
import resource
import stat as _stat
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Literal, Mapping, Optional, Tuple

from sessionfence.impl._errors import TranscriptError, TranscriptWriteError
from sessionfence.impl._fingerprint import READ_CHUNK, Fingerprint, hash_prefix

log = logging.getLogger("sessionfence.transcript")

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
        if exc.errno == errno.ELOOP:
            # O_NOFOLLOW: a symlink, dangling or not, is refused, and nothing
            # is ever created through it.
            raise TranscriptError(path, "the transcript path is a symbolic link, which "
                                  "is never followed (pass the path of the file itself)",
                                  exc.errno) from exc
        raise TranscriptError(path, f"cannot open the transcript: {exc.strerror}",
                              exc.errno) from exc
    st = os.fstat(fd)
    if not _stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise TranscriptError(path, "the transcript path is not a regular file")
    return fd, st


def write_once(fd: int, data: bytes, path: str, fsync: FsyncMode = "none",
               start: Optional[int] = None) -> Optional[os.stat_result]:
    """Append `data` with exactly one write(); fail closed on a short write.

    Returns fstat(fd) taken right after the write (None for empty `data`):
    validation compares it with the later observation, so a same-size edit
    after our write is seen (`verify_append`). `start` is the file's size
    right before the write, if known: it lets a short write be undone.
    """
    if not data:
        return None  # a zero-length write changes nothing; skip the syscall
    try:
        n = os.write(fd, data)
    except OSError as exc:
        raise TranscriptWriteError(path, f"append failed: {exc.strerror}", exc.errno,
                                   0, len(data)) from exc
    if n != len(data):
        raise _short_write(fd, data, n, path, start)
    after = os.fstat(fd)
    if fsync == "every":
        try:
            os.fsync(fd)
        except OSError as exc:
            # After a failed fsync the page cache cannot be trusted to hold
            # what we wrote ("fsyncgate"): never report the write as durable.
            raise TranscriptWriteError(path, f"fsync failed: {exc.strerror}", exc.errno,
                                       n, len(data)) from exc
    return after


def _short_write(fd: int, data: bytes, n: int, path: str,
                 start: Optional[int]) -> TranscriptWriteError:
    """The error for a short write, after undoing it if the bytes are provably ours.

    Our `n` bytes are a torn line that the next append would be glued to.
    They are ours to remove only if the file is exactly `start` bytes plus
    them: same inode (our fd pins it), size `start + n`, our bytes at the
    tail. Anything else means someone else wrote too, and then the tail is
    left alone (the next append refuses it, see `torn_tail_length`).
    """
    where = f"short write: {n} of {len(data)} bytes reached the file"
    restored, why = False, "the size before the write is unknown"
    try:
        end = os.fstat(fd).st_size
        if start is not None:
            why = "someone else wrote too"
            if end == start + n and os.pread(fd, n, start) == data[:n]:
                # A lock-ignoring writer appending between this check and the
                # truncate would lose its bytes: the one window left, microseconds
                # on a failure path, and only for a writer that ignores the lock.
                os.ftruncate(fd, start)
                restored = os.fstat(fd).st_size == start
                why = "the truncate did not take"
    except OSError as exc:
        end, why = (start or 0) + n, f"could not undo it: {exc.strerror}"
    code, cause = _short_write_cause(fd, end)
    if restored:
        text = f"{where}{cause} and were removed again; the file is as it was before the write"
    else:
        text = f"{where}{cause}; they were left in place ({why}), so its last line is torn"
    return TranscriptWriteError(path, text, code, n, len(data), restored)


def _short_write_cause(fd: int, end: int) -> Tuple[Optional[int], str]:
    """(errno, phrase): the likely reason a write stopped at `end` bytes."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY and end >= soft:
            return errno.EFBIG, f" (the file size limit RLIMIT_FSIZE of {soft} bytes)"
        vfs = os.fstatvfs(fd)
        if (vfs.f_bfree if os.geteuid() == 0 else vfs.f_bavail) == 0:
            return errno.ENOSPC, " (no space left on the device)"
    except (OSError, ValueError):
        pass
    return None, ""


def torn_tail_length(fd: int, size: int) -> int:
    """How many bytes of the first `size` follow the last newline (0: clean).

    The common case costs one pread of the last byte; the length of a torn
    tail is only measured when there is one (a failure path).
    """
    if size <= 0:
        return 0
    last = os.pread(fd, 1, size - 1)
    if last == b"\n":
        return 0
    if not last:  # the file shrank below `size` since it was observed: judge its real end
        return torn_tail_length(fd, min(os.fstat(fd).st_size, size - 1))
    end = size
    while end > 0:
        begin = max(0, end - READ_CHUNK)
        nl = os.pread(fd, end - begin, begin).rfind(b"\n")
        if nl >= 0:
            return size - (begin + nl + 1)
        end = begin
    return size


_TOKEN_PATTERN = r"[0-9a-f]+-[0-9a-f]{12}-[0-9]+"  # `new_token()`


def remove_stale_rewrites(path: str) -> List[str]:
    """Delete rewrite temp files of `path` that a dead process left behind.

    Call only while holding the session lock: every rewrite holds it from
    creating its temp file to the rename, so under the lock any temp file
    of this transcript (`.<name>.rewrite-<token>`, a regular file) is from a
    rewrite that never finished. Other names are never touched. Returns the
    paths removed; errors (an unreadable directory) are ignored.
    """
    directory, name = os.path.split(path)
    pattern = re.compile(re.escape(f".{name}.rewrite-") + _TOKEN_PATTERN)
    prefix = f".{name}.rewrite-"
    removed = []
    try:
        with os.scandir(directory or ".") as entries:
            for entry in entries:
                if (entry.name.startswith(prefix) and pattern.fullmatch(entry.name)
                        and entry.is_file(follow_symlinks=False)):
                    try:
                        os.unlink(entry.path)
                        removed.append(entry.path)
                    except OSError:
                        pass
    except OSError:
        pass
    for stale in removed:
        log.warning("removed %s: the temp file of a rewrite that did not finish", stale)
    return removed


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


def same_stat(fp: Fingerprint, st: os.stat_result) -> bool:
    """`fp` and `st` describe the same state by their stat fields."""
    return (fp.dev, fp.ino, fp.size, fp.mtime_ns, fp.ctime_ns) == (
        st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def verify_append(fd: int, fd_ident: Tuple[int, int], before: Fingerprint,
                  post: Fingerprint, ours: bytes, expected_digest: Optional[bytes],
                  after: Optional[os.stat_result] = None) -> str:
    """"" if `post` is exactly `before` plus `ours`, else what differs.

    Our fd pins the inode, so the path naming the same (dev, ino) means the
    path still names the file we wrote to, with at least one link (this is
    the nlink > 0 check). In stat mode the evidence is size arithmetic, our
    bytes read back at the tail, and `after` (fstat right after our write)
    equal to `post`: any change after our write moves mtime/ctime, as that
    fstat armed fine-grained stamps. An empty append wrote nothing, so
    `post` must equal `before` field for field. What stat mode cannot see is
    a same-size in-place write to bytes before ours that lands between
    read_before's observation and the fstat after our write (digest mode
    can: `expected_digest` is before's digest extended by `ours`).
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
    if not ours:
        if (post.mtime_ns, post.ctime_ns) != (before.mtime_ns, before.ctime_ns):
            return ("the file changed during a section that wrote nothing "
                    "(same size: an in-place write, or a metadata change)")
    elif after is not None and (post.size, post.mtime_ns, post.ctime_ns) != (
            after.st_size, after.st_mtime_ns, after.st_ctime_ns):  # (same inode: our fd's)
        return ("the file changed after our write, before finish_write observed it "
                "(same size: an in-place write, or a metadata change)")
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


class _LineParser:
    """Parses a transcript fed in chunks, holding at most one line's pieces."""

    def __init__(self) -> None:
        self.out = TranscriptRead()
        self._number = 0
        self._pieces: List[bytes] = []  # the unfinished line (may span chunks)

    def feed(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            if chunk:
                self._pieces.append(chunk)
            return
        if self._pieces:
            self._pieces.append(lines[0])
            lines[0] = b"".join(self._pieces)
            self._pieces = []
        rest = lines.pop()
        if rest:
            self._pieces.append(rest)
        out, loads = self.out, json.loads
        number = self._number
        for raw in lines:
            number += 1
            try:
                out.records.append(loads(raw))
            except ValueError:
                out.corrupt.append((number, raw))
        self._number = number

    def finish(self) -> TranscriptRead:
        if self._pieces:
            self.out.torn_tail = b"".join(self._pieces)
            self._pieces = []
        return self.out


def parse_transcript(data: bytes) -> TranscriptRead:
    parser = _LineParser()
    parser.feed(data)
    return parser.finish()


def read_transcript(path: str) -> TranscriptRead:
    """Read a transcript without crashing on a torn last line or bad lines.

    Streams: the file is parsed chunk by chunk, so besides the records it
    returns, it needs about one chunk (1 MiB) and the longest line in memory.
    It follows a symlink at `path` (reading through one changes nothing).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not _stat.S_ISREG(os.fstat(fd).st_mode):
            raise TranscriptError(path, "the transcript path is not a regular file")
        parser = _LineParser()
        while True:
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                break
            parser.feed(chunk)
    finally:
        os.close(fd)
    return parser.finish()
