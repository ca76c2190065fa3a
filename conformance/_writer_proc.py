"""The external writer: a separate process that edits the transcript without the lock.

Started once per replay run by `external_writer.ExternalWriter` (with
`python -S -E`: stdlib only, so it starts in ~10 ms and never imports the
library it is testing). It reads one JSON request per line on stdin,

    {"kind": "append" | "rewrite" | "replace" | "delete", "path": "...", "n": 7}

performs that edit on the path, and answers one JSON line:

    {"ok": true, "size": 123}        (size after the edit; -1 when deleted)
    {"error": "why"}

It never looks at the lock file: it is the model's external writer `X`,
which ignores the lock. `n` numbers the edit, so every edit writes bytes no
earlier edit wrote (the digest of every state is new, not only its stat).
"""

import json
import os
import sys

_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_REWRITE_WIDTH = 24  # bytes overwritten at offset 0 by a same-size rewrite


def append(path, n):
    """Another process appends one line (creating the file if it is missing)."""
    fd = os.open(path, _APPEND_FLAGS, 0o600)
    try:
        os.write(fd, b'{"external":%d}\n' % n)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def rewrite(path, n):
    """A same-size in-place write at offset 0 (an editor saving in place).

    Size, inode and the tail stay as they were: only timestamps (stat mode)
    and content (digest mode) can tell the new state apart.
    """
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


def replace(path, n):
    """Write a new file next to it and rename it over the path (a sync tool)."""
    tmp = f"{path}.external-{os.getpid()}-{n}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, b'{"replaced_by_external":%d}\n' % n)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    return os.stat(path).st_size


def delete(path, n):
    os.unlink(path)
    return -1


KINDS = {f.__name__: f for f in (append, rewrite, replace, delete)}


def main():
    out = sys.stdout
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req.get("kind") == "exit":
                break
            size = KINDS[req["kind"]](req["path"], int(req["n"]))
            reply = {"ok": True, "size": size}
        except KeyError as exc:
            reply = {"error": f"unknown request field or kind: {exc}"}
        except (OSError, ValueError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
