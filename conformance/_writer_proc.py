"""The external writer: a separate process that edits the transcript without the lock.

Started once per replay run by `external_writer.ExternalWriter` (with
`python -S -E`: stdlib only, so it starts in ~10 ms and never imports the
library it is testing). It reads one JSON request per line on stdin,

    {"kind": "append" | "forged-append" | "prefix-rewrite" | "same-size-rewrite"
             | "replace" | "truncate" | "delete",
     "path": "...", "n": 7, "line": "<a runtime-looking line, for the kinds that append one>"}

performs that edit on the path, and answers one JSON line:

    {"ok": true, "size": 123, "stat_changed": true}   (size -1 when deleted)
    {"error": "why"}

`stat_changed` says whether (dev, ino, size, mtime_ns, ctime_ns) moved: a
same-size rewrite is invisible to stat only where the timestamps are coarse.
It never looks at the lock file: it is the model's external writer `X`,
which ignores the lock. `n` numbers the edit, so every edit writes bytes no
earlier edit wrote (the digest of every state is new, not only its stat).
"""

import json
import os
import sys

_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_REWRITE_WIDTH = 24  # bytes overwritten at offset 0 by an in-place rewrite


def _stat(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _append_bytes(path, data):
    fd = os.open(path, _APPEND_FLAGS, 0o600)
    try:
        os.write(fd, data)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _rewrite_head(path, n):
    """Overwrite the first bytes in place with new ones of the same length."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise ValueError("the file is empty: nothing to rewrite in place")
        width = min(size - 1, _REWRITE_WIDTH)  # keep the last newline: never tear the tail
        old = os.pread(fd, width, 0)
        new = (b"#x%xx" % n).ljust(width, b"~")[:width]
        if new == old:  # make sure the content really changes
            new = bytes([new[0] ^ 1]) + new[1:]
        os.pwrite(fd, new, 0)
        return size
    finally:
        os.close(fd)


def append(path, n, line):
    """Another process appends one foreign line (creating a missing file)."""
    return _append_bytes(path, b'{"external":%d}\n' % n)


def forged_append(path, n, line):
    """Any process appends a line in the runtime's own shape."""
    return _append_bytes(path, line)


def prefix_rewrite(path, n, line):
    """An editor rewrites earlier bytes in place, then a runtime-looking line is appended."""
    _rewrite_head(path, n)
    return _append_bytes(path, line)


def same_size_rewrite(path, n, line):
    """Same size, in place, mtime put back (os.utime): only ctime can tell, and
    only where timestamps are fine-grained."""
    st = os.stat(path)
    size = _rewrite_head(path, n)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return size


def replace(path, n, line):
    """Write a new file next to it and rename it over the path (a sync tool)."""
    tmp = f"{path}.external-{os.getpid()}-{n}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, b'{"replaced_by_external":%d}\n' % n)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    return os.stat(path).st_size


def truncate(path, n, line):
    """Empty the file in place (same inode)."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return 0


def delete(path, n, line):
    os.unlink(path)
    return -1


KINDS = {f.__name__.replace("_", "-"): f for f in
         (append, forged_append, prefix_rewrite, same_size_rewrite, replace, truncate, delete)}


def main():
    out = sys.stdout
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    for text in sys.stdin:
        try:
            req = json.loads(text)
            if req.get("kind") == "exit":
                break
            path = req["path"]
            before = _stat(path)
            line = req.get("line", "").encode()
            size = KINDS[req["kind"]](path, int(req["n"]), line)
            reply = {"ok": True, "size": size, "stat_changed": _stat(path) != before}
        except KeyError as exc:
            reply = {"error": f"unknown request field or kind: {exc}"}
        except (OSError, ValueError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
