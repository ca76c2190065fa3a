"""Attempt controllers: the model's steps on a real transcript.

One `SessionController` per attempt. Its public methods are the model's
steps, one call = one step, with the phase discipline of
`sessionfence.model.machine`:

  start                   idle -> held
  release_for_prompt      held -> released            (release)
  reacquire_after_prompt  released -> held            (reacquire)
  begin_write(mode)       held|released -> write_before
  WriteSection.read_before  write_before -> write_append
  WriteSection.append       write_append -> write_after  (.replace for a rewrite)
  WriteSection.finish_write write_after -> held|released|done
  dispose                 idle|held|released -> done

A failed check anywhere ends in `taken_over`: the lock is released, the
phase is sticky and every later call raises SessionTakeoverError. What a
check accepts and what a write publishes is the policy's (`_policies`); the
controller only observes the file and enforces the order of steps.

The everyday methods (`append`, `extend`, `rewrite`, `locked_section`,
`acquire_for_cleanup`) are sequences of those steps, defined with the
`WriteSection` handle in `_section`.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

from sessionfence.impl._errors import (
    ProtocolError,
    SessionLockTimeout,
    SessionTakeoverError,
    TornTailError,
    TranscriptWriteError,
)
from sessionfence.impl._fingerprint import (
    FINGERPRINT_MODES,
    MISSING,
    Fingerprint,
    digest_fingerprint,
    explain,
    new_hasher,
)
from sessionfence.impl._event_log import EventLog, logged
from sessionfence.impl._lock import DEFAULT_STALE_GRACE, DEFAULT_TIMEOUT, SessionLock
from sessionfence.impl._lock_payload import new_token
from sessionfence.impl._policies import WRITE_MODES, FenceContext, Policy, get_policy
from sessionfence.impl._proc import ProcTable
from sessionfence.impl._registry import (
    DEFAULT_REGISTRY,
    Registry,
    RegistrySnapshot,
    canonical_path,
)
from sessionfence.impl._section import WRITE_PHASES, Probe, WholeOperations, WriteSection
from sessionfence.impl._transcript import (
    FSYNC_MODES,
    fsync_directory,
    open_transcript,
    remove_stale_rewrites,
    same_stat,
    torn_tail_length,
    verify_append,
    verify_rewrite,
    write_once,
    write_temp_copy,
)

PHASES = ("idle", "held", "released", "write_before", "write_append", "write_after",
          "done", "taken_over")
STEPS = ("start", "release", "reacquire", "begin_write", "read_before", "append",
         "finish_write", "dispose")

_IDLE = ("idle",)
_HELD = ("held",)
_RELEASED = ("released",)
_HELD_OR_RELEASED = ("held", "released")
_DISPOSABLE = ("idle", "held", "released")
_REOPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

# getpid() is a real syscall on current glibc; every step checks that the
# controller is used in the process that created it, so track the pid here.
_PID = os.getpid()


def _refresh_pid() -> None:
    global _PID
    _PID = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


class SessionController(WholeOperations):
    """One attempt's access to one transcript, fenced by a policy.

    Not thread-safe: use one controller from one thread at a time (give
    each thread its own controller; they exclude each other through the lock).
    """

    def __init__(self, transcript: Union[str, "os.PathLike[str]"], *,
                 policy: Union[str, Policy, None] = "reference",
                 fingerprint: str = "stat", fsync: str = "none",
                 timeout: Optional[float] = DEFAULT_TIMEOUT,
                 registry: Optional[Registry] = None, proc: Optional[ProcTable] = None,
                 probe: Optional[Probe] = None, stale_grace: float = DEFAULT_STALE_GRACE,
                 name: Optional[str] = None,
                 event_log: Union[str, "os.PathLike[str]", EventLog, None] = None):
        if fingerprint not in FINGERPRINT_MODES:
            raise ValueError(f"fingerprint must be one of {FINGERPRINT_MODES}, got {fingerprint!r}")
        if fsync not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        # The directory is resolved, the last component is not: a symlink at
        # the transcript path is refused at `start` (O_NOFOLLOW), never followed.
        self.path = canonical_path(transcript)
        self.policy = get_policy(policy)
        self.fingerprint_mode = fingerprint
        self.fsync = fsync
        self.name = name or f"controller@{id(self):x}"
        self.registry = registry if registry is not None else DEFAULT_REGISTRY
        self.lock = SessionLock(self.path, timeout=timeout, proc=proc, stale_grace=stale_grace)
        self._ctx = FenceContext(self.registry.file_state(self.path, self.policy.name))
        self._ctx.read = self._read_now
        self._owner = False  # file-owner: this attempt owns the path
        if probe is not None:
            self._probe = probe
        self._digest = fingerprint == "digest"
        self._phase = "idle"
        self._pid = _PID
        self._fd = -1
        self._fd_ident: Tuple[int, int] = (0, 0)
        self._last_hasher = None  # digest mode: hash state of the last observation
        self._before_hasher = None
        # A state of the file known to end in a newline (or be empty): our
        # last validated write. An append from it needs no torn-tail read.
        self._clean_tail: Optional[Fingerprint] = None
        self._section: Optional[WriteSection] = None
        self._takeover: Optional[SessionTakeoverError] = None
        # Opt-in decision log (docs/event-log.md); the fingerprint each step observed.
        self._event_log = (event_log if event_log is None or isinstance(event_log, EventLog)
                           else EventLog(event_log))
        self._observed: Optional[Fingerprint] = None

    def __repr__(self) -> str:
        return f"<SessionController {self.name} {self.policy.name} {self._phase} {self.path}>"

    # -- state ------------------------------------------------------------------

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def taken_over(self) -> bool:
        return self._takeover is not None

    @property
    def takeover_error(self) -> Optional[SessionTakeoverError]:
        return self._takeover

    @property
    def holds_lock(self) -> bool:
        return self.lock.held

    @property
    def section(self) -> Optional[WriteSection]:
        """The open write section, if any."""
        return self._section

    @property
    def fence(self) -> Optional[Fingerprint]:
        return self._ctx.fence

    @property
    def known(self) -> Tuple[int, int, Optional[Fingerprint]]:
        """(k_epoch, k_gen, fence): what this controller knows of the registry."""
        ctx = self._ctx
        return (ctx.k_epoch, ctx.k_gen, ctx.fence)

    def registry_state(self) -> RegistrySnapshot:
        return self._ctx.reg.snapshot()

    def __enter__(self) -> "SessionController":
        if self._phase == "idle":
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._phase in _DISPOSABLE:
            self.dispose()
        elif self._phase in WRITE_PHASES:
            # A step-wise section was left open by an exception. The model has
            # no step for this; give the lock back and retire: peers will fail
            # closed on any unpublished bytes, which is safe.
            self._drop_resources()
            self._phase = "done"

    # -- the steps ---------------------------------------------------------------

    @logged("start")
    def start(self) -> None:
        """Take the lock and initialise the fence (step `start`)."""
        self._enter("start", _IDLE)
        if self.policy.owns_attempt:
            self._own_path()
        try:
            self.lock.acquire()
        except BaseException:
            self._disown_path()
            raise
        try:
            # Under the lock no rewrite of this transcript is in flight, so
            # any rewrite temp file of it is a dead process's leftover.
            remove_stale_rewrites(self.path)
            now = self._open_aligned()
        except BaseException:
            self._drop_resources()
            raise
        ctx = self._ctx
        with ctx.reg.mutex:
            self.policy.start(ctx, now)
        self._phase = "held"

    @logged("release")
    def release_for_prompt(self) -> None:
        """(Check,) snapshot and release the lock for the prompt (step `release`)."""
        self._enter("release", _HELD)
        now = self._observe()
        ctx, policy = self._ctx, self.policy
        with ctx.reg.mutex:
            if policy.check_at_release:
                if not policy.check(ctx, now):
                    self._fail("release", ctx.fence, now)
                policy.on_accept(ctx, now)
            policy.on_release(ctx, now)
        self.lock.release()
        self._phase = "released"

    @logged("reacquire")
    def reacquire_after_prompt(self) -> None:
        """Take the lock back and check the fence (step `reacquire`)."""
        self._enter("reacquire", _RELEASED)
        self._acquire_and_check("reacquire")
        self._phase = "held"

    @logged("begin_write")
    def begin_write(self, mode: str = "publish") -> WriteSection:
        """Open a write section (step `begin_write`); mode: publish, broad, cleanup.

        From `released` this takes the lock for the section and checks; from
        `held` it checks if the policy says so.
        """
        if mode not in WRITE_MODES:
            raise ValueError(f"mode must be one of {WRITE_MODES}, got {mode!r}")
        phase = self._enter("begin_write", _HELD_OR_RELEASED)
        ctx, policy = self._ctx, self.policy
        ctx.mode = mode  # (policies may ask which section this is)
        if phase == "released":
            if policy.checks_at(ctx, "released"):
                self._acquire_and_check("begin_write")
            else:
                self.lock.acquire()
            ctx.took = True
        else:
            ctx.took = False
            if policy.checks_at(ctx, "held"):
                self._check_and_accept("begin_write", keep_lock=policy.keep_held_lock)
        section = self._section = WriteSection(self, mode)
        self._phase = "write_before"
        return section

    @logged("read_before")
    def _read_before(self, section: WriteSection) -> Fingerprint:
        self._enter_section("read_before", "write_before", section)
        before = self._observe()
        ctx = self._ctx
        ctx.before = before
        self._before_hasher = self._last_hasher
        before_ok = self.policy.before_ok
        if before_ok is not None:
            with ctx.reg.mutex:
                ok = before_ok(ctx, before)
            if not ok:
                self._fail("read_before", ctx.fence, before)
        if self.policy.on_read_before is not None:
            with ctx.reg.mutex:
                self.policy.on_read_before(ctx, before)
        self._phase = "write_append"
        return before

    @logged("append")
    def _append(self, section: WriteSection, ours: bytes) -> int:
        self._enter_section("append", "write_append", section)
        ctx = self._ctx
        ctx.ours = ours
        if ours:
            before, fd = ctx.before, self._fd
            # Our bytes go at the real end (O_APPEND). If the file is still
            # what our own last validated write left, that end is known and
            # clean: no read. Else the end is judged as it is now -- the file
            # may have been emptied and written again since read_before
            # (validation then fails closed anyway).
            if before.exists and before.ident == self._fd_ident and before == self._clean_tail:
                start, clean = before.size, True  # hot path: no read
            else:
                start, clean = os.fstat(fd).st_size, False
            if not clean:
                torn = torn_tail_length(fd, start)
                if torn:
                    self._fail_torn(before, torn)
            try:
                section._after = write_once(fd, ours, self.path, self.fsync, start)
            except TranscriptWriteError as exc:
                self._fail_write(exc)
        self._phase = "write_after"
        return len(ours)

    def _replace(self, section: WriteSection, content: bytes) -> int:
        self._enter_section("append", "write_append", section)
        self._ctx.ours = content
        tmp = None
        try:
            fd, tmp = write_temp_copy(self.path, content, os.fstat(self._fd).st_mode,
                                      new_token())
            section._new_fd = fd
            st = os.fstat(fd)
            section._new_ident = (st.st_dev, st.st_ino)
            section._rewrite = True
            os.rename(tmp, self.path)
            tmp = None
            if self.fsync == "every":
                fsync_directory(self.path)
        except BaseException as exc:
            # Also on KeyboardInterrupt: an unrenamed temp copy is a leak (the
            # next start would remove it, but only if one comes).
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            if not isinstance(exc, OSError):
                raise
            self._fail_write(TranscriptWriteError(self.path, f"rewrite failed: {exc}",
                                                  exc.errno, 0, len(content)))
        self._phase = "write_after"
        return len(content)

    @logged("finish_write")
    def _finish_write(self, section: WriteSection) -> Fingerprint:
        self._enter_section("finish_write", "write_after", section)
        post = self._observe()
        ctx, policy = self._ctx, self.policy
        if policy.write_ok is not None:
            reason = self._validate(section, post)
            with ctx.reg.mutex:
                ok = policy.write_ok(ctx, post)
                if ok:
                    policy.on_finish(ctx, post)
            if not ok:
                self._fail("finish_write", ctx.before, post, reason or (
                    "the registry moved since read_before (compare-and-set failed)"))
        else:
            with ctx.reg.mutex:
                policy.on_finish(ctx, post)
        if ctx.ours and (ctx.exact or self._tail_is_ours(section, post)):
            self._clean_tail = post  # validated: it ends with our whole lines
        if section._rewrite:
            os.close(self._fd)
            self._fd, self._fd_ident = section._new_fd, section._new_ident
            section._new_fd = -1
        mode, took = ctx.mode, ctx.took
        ctx.end_write()
        self._section = None
        self._before_hasher = None
        if mode == "cleanup":
            self._drop_resources()
            self._phase = "done"
        elif took:
            self.lock.release()
            self._phase = "released"
        else:
            self._phase = "held"
        return post

    @logged("dispose")
    def dispose(self) -> None:
        """Retire without a check, releasing the lock if held (step `dispose`).

        A controller taken over in a section that reused the held prompt lock
        (policies with `keep_held_lock`) still holds it: dispose gives it back.
        """
        if self._phase == "taken_over" and self.policy.keep_held_lock and self._pid == _PID:
            while self.lock.held:
                self.lock.release()
            self._phase = "done"
            return
        self._enter("dispose", _DISPOSABLE)
        self._drop_resources()
        self._phase = "done"

    # -- internals ------------------------------------------------------------------

    def _enter(self, step: str, allowed: Tuple[str, ...]) -> str:
        phase = self._phase
        if phase in allowed and self._pid == _PID:
            return phase
        if self._takeover is not None:
            raise self._takeover.again()
        if self._pid != _PID:
            raise ProtocolError(step, phase, allowed, f"this controller was created in pid "
                                f"{self._pid}, and this is pid {_PID} (a forked child); "
                                f"create a new controller after fork")
        raise ProtocolError(step, phase, allowed)

    def _enter_section(self, step: str, phase: str, section: WriteSection) -> None:
        self._enter(step, (phase,))
        if section is not self._section:
            raise ProtocolError(step, self._phase, (phase,),
                                "this WriteSection is not the controller's open section")

    def _observe(self) -> Fingerprint:
        if self._digest:
            fp, self._last_hasher = digest_fingerprint(self.path, self._fd, self._fd_ident)
        else:
            try:
                st = os.lstat(self.path)  # a symlink put at the path is another file
            except (FileNotFoundError, NotADirectoryError):
                fp = MISSING
            else:
                fp = Fingerprint(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                 st.st_ctime_ns, True)
        self._observed = fp
        return fp

    def _open_aligned(self) -> Fingerprint:
        """Open the transcript (creating it under the lock if absent) and
        observe it, until the fd and the observation name the same inode."""
        for _ in range(3):
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._fd, st = open_transcript(self.path)
            self._fd_ident = (st.st_dev, st.st_ino)
            now = self._observe()
            if now.ident == self._fd_ident:
                return now
        raise TranscriptWriteError(self.path, "the transcript keeps being replaced while "
                                   "the session starts; someone ignores the lock")

    def _acquire_and_check(self, step: str) -> None:
        self.lock.acquire()
        try:
            self._check_and_accept(step)
        except SessionTakeoverError:
            raise  # the takeover already gave the lock back
        except BaseException:
            # Not a verdict (EIO from stat, KeyboardInterrupt, ...): the step
            # did not happen, so the phase stays `released` and the lock we
            # took for it must not outlive it.
            self.lock.release()
            raise

    def _check_and_accept(self, step: str, keep_lock: bool = False) -> None:
        now = self._observe()
        ctx, policy = self._ctx, self.policy
        with ctx.reg.mutex:
            if not policy.check(ctx, now):
                self._fail(step, ctx.fence, now, keep_lock=keep_lock)
            policy.on_accept(ctx, now)
        if now.exists and now.ident != self._fd_ident:
            self._reopen(step, now)

    def _reopen(self, step: str, now: Fingerprint) -> None:
        # We accepted a file on another inode (a peer's published rewrite):
        # our fd must pin and write to *that* inode from now on. If the path
        # moved again before we could open it, we accepted something we can
        # no longer reach: fail closed.
        try:
            fd = os.open(self.path, _REOPEN_FLAGS)
        except OSError:
            self._fail(step, now, self._observe(), "file vanished while reopening it")
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != now.ident:
            os.close(fd)
            self._fail(step, now, self._observe(), "file replaced while reopening it")
        os.close(self._fd)
        self._fd, self._fd_ident = fd, now.ident

    def _validate(self, section: WriteSection, post: Fingerprint) -> str:
        ctx = self._ctx
        if section._rewrite:
            expected = None
            if self._digest:
                h = new_hasher()
                h.update(ctx.ours)
                expected = h.digest()
            reason = verify_rewrite(section._new_ident, self._fd, ctx.before,
                                    post, ctx.ours, expected)
        else:
            expected = None
            if self._digest:
                if self._before_hasher is None:
                    expected = b""  # the before observation had no digest: equals nothing
                else:
                    h = self._before_hasher.copy()
                    h.update(ctx.ours)
                    expected = h.digest()
            reason = verify_append(self._fd, self._fd_ident, ctx.before, post, ctx.ours,
                                   expected, section._after)
        ctx.exact = not reason
        return reason

    def _tail_is_ours(self, section: WriteSection, post: Fingerprint) -> bool:
        """`post` ends with our (whole-line) bytes, by the write's own evidence."""
        ours = self._ctx.ours
        if section._rewrite:
            return post.ident == section._new_ident and post.size == len(ours)
        after = section._after
        return (post.exists and post.ident == self._fd_ident
                and post.size == self._ctx.before.size + len(ours)
                and (after is None or same_stat(post, after)))

    def _fd_status(self, found: Optional[Fingerprint]) -> str:
        """What our pinned fd says about the path (failure path only).

        fstat(fd) vs stat(path): nlink 0 means the file we hold was deleted
        (our writes would go to an orphan); a different inode at the path
        means it was replaced.
        """
        if self._fd < 0 or found is None:
            return ""
        try:
            st = os.fstat(self._fd)
        except OSError:
            return ""
        if st.st_nlink == 0:
            return "; the file our fd holds was deleted (nlink 0)"
        if found.exists and found.ident != (st.st_dev, st.st_ino):
            return "; the path names another inode than the file our fd holds"
        return ""

    def _fail(self, check: str, expected: Optional[Fingerprint],
              found: Optional[Fingerprint], reason: Optional[str] = None,
              keep_lock: bool = False):
        err = SessionTakeoverError(self.path, check, expected, found,
                                   (reason or explain(expected, found)) + self._fd_status(found))
        self._take_over(err, keep_lock)
        raise err

    def _fail_torn(self, before: Fingerprint, torn: int):
        err = TornTailError(self.path, "append", before, None,
                            f"the file ends in a torn line ({torn} bytes after its last "
                            f"newline: a write that did not finish); an append would be glued "
                            f"to it, so nothing was written: repair the file's last line, then "
                            f"start a new controller")
        self._take_over(err)
        raise err

    def _fail_write(self, exc: TranscriptWriteError):
        self._take_over(SessionTakeoverError(self.path, "append", self._ctx.before, None,
                                             f"the owned write failed: {exc.message}"))
        raise exc

    def _take_over(self, err: SessionTakeoverError, keep_lock: bool = False) -> None:
        self._takeover = err
        self._drop_resources(keep_lock)
        self._phase = "taken_over"

    def _read_now(self) -> bytes:
        """The path's bytes now (b"" if there is no file): for content-aware policies."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return b""
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        finally:
            os.close(fd)

    def _own_path(self) -> None:
        """file-owner: wait until no other attempt of this process owns the path."""
        state = self._ctx.reg
        with state.owner_free:
            if not state.owner_free.wait_for(lambda: state.owner is None, self.lock.timeout):
                raise SessionLockTimeout(self.path, os.getpid(), self.lock.timeout or 0.0,
                                         "another attempt of this process owns the transcript")
            state.owner = self._ctx
        self._owner = True

    def _disown_path(self) -> None:
        if self._owner:
            state = self._ctx.reg
            with state.owner_free:
                state.owner = None
                state.owner_free.notify_all()
            self._owner = False

    def _drop_resources(self, keep_lock: bool = False) -> None:
        section = self._section
        if section is not None and section._new_fd >= 0:
            os.close(section._new_fd)
            section._new_fd = -1
        self._section = None
        self._ctx.end_write()
        self._ctx.gate = False
        self._before_hasher = None
        self._disown_path()  # the attempt ends (dispose, cleanup, takeover)
        while self.lock.held and not keep_lock:
            self.lock.release()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
