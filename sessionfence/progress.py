"""Progress lines on stderr for long runs.

On a terminal one status line is rewritten in place; otherwise (CI logs)
lines are printed, at most one per `interval` seconds, so logs stay short.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True, stream=None, interval: float = 1.0):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\x1b[K" + message[:150])
            self._shown = True
        else:
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            self.stream.write(message + "\n")
        self.stream.flush()

    def line(self, message: str) -> None:
        """A line that stays (a finished cell), never rate-limited."""
        if not self.enabled:
            return
        self.clear()
        self.stream.write(message + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled and self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
