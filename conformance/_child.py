"""Ending a helper process we talk to over a pipe (the writer, an adapter)."""

from __future__ import annotations

import subprocess
from typing import Optional


def end_child(proc: subprocess.Popen, last_words: Optional[str] = None,
              grace: float = 5.0) -> None:
    """Say `last_words` (if any), close its stdin (EOF asks it to exit),
    wait up to `grace` seconds, then kill: a wedged child never hangs us."""
    try:
        assert proc.stdin is not None
        if last_words is not None:
            proc.stdin.write(last_words)
        proc.stdin.close()
    except OSError:  # it is already gone (BrokenPipeError is an OSError)
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
