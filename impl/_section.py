"""Write sections: the step-wise handle, and whole operations built from it.

`WriteSection` is what `begin_write` returns; its methods are the remaining
model steps of one owned write (read_before, append, finish_write), one call
per step, for a conformance harness to drive.

`WholeOperations` is the everyday API of `SessionController` (append,
extend, rewrite, locked_section, acquire_for_cleanup): each is the same four
steps in sequence, with a probe called right after each step so a test can
pause a write exactly at a model step boundary and act there. With no probe
set, the cost is one `is not None` test per step.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import (TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, Tuple,
                    Union)

from sessionfence.impl._errors import SessionTakeoverError, TranscriptWriteError
from sessionfence.impl._fingerprint import Fingerprint
from sessionfence.impl._transcript import as_line_bytes, encode_records

if TYPE_CHECKING:
    from sessionfence.impl._controller import SessionController

PROBE_POINTS = ("begin_write", "read_before", "append", "finish_write")
WRITE_PHASES = ("write_before", "write_append", "write_after")

Probe = Callable[[str, "SessionController"], None]


def set_probe(probe: Optional[Probe]) -> None:
    """Install (or with None remove) the global probe.

    It is called as `probe(point, controller)` right after each step of the
    whole operations, by every controller that has no probe of its own
    (including controllers created before the call).
    """
    # staticmethod: a plain function stored on the class would be bound as a
    # method when read through an instance (`self._probe`).
    WholeOperations._probe = staticmethod(probe) if probe is not None else None


class WriteSection:
    """An open write section: the remaining steps of one owned write.

    Returned by `begin_write`; each method is exactly one model step.
    """

    __slots__ = ("controller", "mode", "_probe", "_new_fd", "_new_ident", "_rewrite", "_after")

    def __init__(self, controller: "SessionController", mode: str):
        self.controller = controller
        self.mode = mode
        self._probe: Optional[Probe] = None
        self._new_fd = -1
        self._new_ident: Tuple[int, int] = (0, 0)
        self._rewrite = False
        self._after: Optional[os.stat_result] = None  # fstat right after our write

    def __repr__(self) -> str:
        return f"<WriteSection {self.mode} of {self.controller!r}>"

    @property
    def before(self) -> Optional[Fingerprint]:
        return self.controller._ctx.before

    def read_before(self) -> Fingerprint:
        """Observe the file the write will extend (step `read_before`)."""
        return self.controller._read_before(self)

    def append(self, data) -> int:
        """Append a record, a list of records, or whole-line bytes with one write
        (step `append`). Returns the number of bytes written."""
        n = self.controller._append(self, as_line_bytes(data))
        if self._probe is not None:
            self._probe("append", self.controller)
        return n

    def replace(self, data) -> int:
        """Replace the whole file by records/bytes via temp file + fsync + rename
        (the `append` step of an owned rewrite)."""
        n = self.controller._replace(self, as_line_bytes(data))
        if self._probe is not None:
            self._probe("append", self.controller)
        return n

    def finish_write(self) -> Fingerprint:
        """Observe, validate and publish per the policy (step `finish_write`)."""
        return self.controller._finish_write(self)


class WholeOperations:
    """Whole operations of a controller, each a sequence of the model steps."""

    _probe: Optional[Probe] = None  # the global probe; an instance may override

    def append(self, record: Union[Mapping[str, Any], bytes]) -> Fingerprint:
        """A validated append of one record: begin_write(publish) -> read_before
        -> append -> finish_write. Returns the published fingerprint."""
        return self._whole_write(as_line_bytes(record), rewrite=False)

    def extend(self, records: Iterable[Mapping[str, Any]]) -> Fingerprint:
        """Like `append`, for several records written with one write()."""
        return self._whole_write(encode_records(records), rewrite=False)

    def rewrite(self, records: Iterable[Mapping[str, Any]]) -> Fingerprint:
        """Owned compaction: replace the transcript by `records` (temp file +
        fsync + rename), validated and published like an append."""
        return self._whole_write(encode_records(records), rewrite=True)

    def _whole_write(self, data: bytes, rewrite: bool) -> Fingerprint:
        probe = self._probe
        section = self.begin_write("publish")
        try:
            if probe is not None:
                probe("begin_write", self)
            self._read_before(section)
            if probe is not None:
                probe("read_before", self)
            if rewrite:
                self._replace(section, data)
            else:
                self._append(section, data)
            if probe is not None:
                probe("append", self)
        except BaseException:
            self._complete_after_error(section)
            raise
        post = self._finish_write(section)
        if probe is not None:
            probe("finish_write", self)
        return post

    @contextmanager
    def locked_section(self, mode: str = "broad") -> Iterator[WriteSection]:
        """Hold the lock for a block; yields the section for one `append`.

        Runs begin_write and read_before on entry and finish_write on exit
        (with an empty append if the block wrote nothing). Nested inside an
        open section of the same controller it is reentrant: it yields that
        same section and the outer block finishes it.
        """
        if self._phase in WRITE_PHASES and self._section is not None:
            self._enter("locked_section", WRITE_PHASES)
            self.lock.acquire()  # our own lock: nests, never waits
            try:
                yield self._section
            finally:
                self.lock.release()
            return
        probe = self._probe
        section = self.begin_write(mode)
        section._probe = probe
        try:
            if probe is not None:
                probe("begin_write", self)
            section.read_before()
            if probe is not None:
                probe("read_before", self)
            yield section
        except BaseException:
            self._complete_after_error(section)
            raise
        if self._section is not section:
            return  # the block finished the section itself
        if self._phase == "write_append":
            section.append(b"")
        section.finish_write()
        if probe is not None:
            probe("finish_write", self)

    @contextmanager
    def acquire_for_cleanup(self) -> Iterator[WriteSection]:
        """The final locked section of an attempt (mode cleanup); ends in `done`."""
        with self.locked_section("cleanup") as section:
            yield section

    def _complete_after_error(self, section: WriteSection) -> None:
        # An exception (from a probe, the block, or KeyboardInterrupt) left
        # the section open. Finish it through the normal steps, so bytes that
        # reached the file are validated and published, not orphaned; a
        # takeover here is recorded (sticky) but must not mask the original.
        if self._section is not section:
            return
        try:
            if self._phase == "write_before":
                section.read_before()
            if self._phase == "write_append":
                self._append(section, b"")
            if self._phase == "write_after":
                section.finish_write()
        except (SessionTakeoverError, TranscriptWriteError):
            pass
