"""The session write lock: exclusion, reclaim, bad lock files, exit paths."""

from __future__ import annotations

import errno
import json
import os
import selectors
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time

import pytest

from impl_support import FakeProcTable, wait_for
from sessionfence.impl import (
    LinuxProcTable,
    SessionController,
    SessionLock,
    SessionLockError,
    SessionLockTimeout,
    parse_payload,
)
from sessionfence.impl import _lock_slots


@pytest.fixture
def target(tmp_path):
    return str(tmp_path / "session.jsonl")


def write_lock(target, payload, *, age=0.0):
    """Plant a lock file as another process would have left it."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    path = target + ".lock"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def payload_of(pid, **over):
    proc = LinuxProcTable()
    info = {"pid": pid, "starttime": proc.starttime(pid), "boot_id": proc.boot_id(),
            "created_at": time.time(), "token": "planted"}
    info.update(over)
    return info


def dead_pid():
    """A pid that just exited and has been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


# -- the lock file ------------------------------------------------------------


def test_lock_file_is_private_and_names_its_holder(target):
    lk = SessionLock(target)
    lk.acquire()
    st = os.lstat(lk.path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    info = json.loads(open(lk.path).read())
    assert list(info) == ["pid", "starttime", "boot_id", "pid_ns", "created_at", "token"]
    proc = LinuxProcTable()
    assert info["pid"] == os.getpid()
    assert info["starttime"] == proc.starttime(os.getpid())
    assert info["boot_id"] == open("/proc/sys/kernel/random/boot_id").read().strip()
    assert f"pid:[{info['pid_ns']}]" == os.readlink("/proc/self/ns/pid")
    assert abs(info["created_at"] - time.time()) < 5
    assert parse_payload(open(lk.path, "rb").read())[0].token == info["token"]
    lk.release()
    assert not os.path.exists(lk.path)


def test_every_spelling_of_a_transcript_maps_to_one_lock(tmp_path, target):
    os.symlink(tmp_path, tmp_path / "alias")
    via_link = SessionLock(str(tmp_path / "alias" / "session.jsonl"))
    relative = SessionLock(os.path.relpath(target))
    assert via_link.path == relative.path == os.path.realpath(target) + ".lock"
    via_link.acquire()
    with pytest.raises(SessionLockTimeout):
        relative.acquire(timeout=0.05)
    via_link.release()


def test_threads_of_one_process_exclude_each_other(target):
    inside, overlaps, rounds = [0], [], 40

    def worker():
        lk = SessionLock(target, timeout=20)
        for _ in range(rounds):
            with lk:
                inside[0] += 1
                if inside[0] != 1:
                    overlaps.append(inside[0])
                time.sleep(0.0001)
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    assert not os.path.exists(target + ".lock")


def test_timeout_names_lock_path_holder_and_wait(target, spawn_helper):
    holder = spawn_helper()
    holder.call("lock", path=target)
    t0 = time.monotonic()
    with pytest.raises(SessionLockTimeout) as err:
        SessionLock(target).acquire(timeout=0.3)
    e = err.value
    assert isinstance(e, TimeoutError)
    assert e.lock_path == os.path.realpath(target) + ".lock"
    assert e.holder_pid == holder.pid
    assert 0.3 <= e.waited <= time.monotonic() - t0
    assert str(holder.pid) in str(e) and e.lock_path in str(e)


def test_timeout_zero_is_a_single_attempt(target):
    a, b = SessionLock(target), SessionLock(target)
    a.acquire()
    t0 = time.monotonic()
    with pytest.raises(SessionLockTimeout) as err:
        b.acquire(timeout=0)
    assert err.value.waited < 2 and time.monotonic() - t0 < 2  # never sleeps a full poll cycle
    a.release()
    b.acquire(timeout=0)
    b.release()


# -- upstream's six ways to let a second writer in ------------------------------


def test_hazard_shared_reentrancy_reentrancy_is_per_owner(target, registry):
    """Upstream keys reentrancy by process: a second controller re-enters."""
    a, b = SessionLock(target), SessionLock(target)
    a.acquire()
    a.acquire()  # the same owner nests
    assert a.depth == 2
    with pytest.raises(SessionLockTimeout) as err:
        b.acquire(timeout=0.05)  # same thread, same process, other owner: waits
    assert err.value.holder_pid == os.getpid()
    assert "another controller of this process" in str(err.value)
    a.release()
    assert a.held and os.path.exists(a.path)
    with pytest.raises(SessionLockTimeout):
        b.acquire(timeout=0.05)
    a.release()
    b.acquire(timeout=0)
    b.release()
    # The same through controllers: a second controller of the same thread waits.
    c1 = SessionController(target, registry=registry)
    c2 = SessionController(target, registry=registry, timeout=0.05)
    c1.start()
    with pytest.raises(SessionLockTimeout):
        c2.start()
    assert c2.phase == "idle"
    c1.dispose()


def test_hazard_watchdog_a_paused_live_holder_keeps_its_lock(target, spawn_helper):
    """No timer, watchdog or grace ever frees a live holder's lock."""
    holder = spawn_helper()
    holder.call("lock", path=target)
    before = open(target + ".lock", "rb").read()
    threads = threading.active_count()
    os.kill(holder.pid, signal.SIGSTOP)  # stuck holder: GC pause, suspend, ...
    try:
        with pytest.raises(SessionLockTimeout):
            SessionLock(target, stale_grace=0.05).acquire(timeout=0.6)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    assert threading.active_count() == threads  # the library started no watchdog thread
    assert open(target + ".lock", "rb").read() == before
    assert holder.call("unlock", path=target) == {"released": True}
    assert not os.path.exists(target + ".lock")


def test_hazard_age_a_live_holders_ancient_lock_is_not_stolen(target, spawn_helper):
    holder = spawn_helper()
    write_lock(target, payload_of(holder.pid, created_at=0.0), age=30 * 86400)
    with pytest.raises(SessionLockTimeout) as err:
        SessionLock(target, stale_grace=0.01).acquire(timeout=0.3)
    assert err.value.holder_pid == holder.pid
    assert json.loads(open(target + ".lock").read())["pid"] == holder.pid


def test_hazard_unconditional_unlink_release_spares_a_stolen_then_retaken_lock(
        target, spawn_helper):
    lk = SessionLock(target)
    lk.acquire()
    os.unlink(lk.path)  # a foreign tool breaks our lock...
    thief = spawn_helper()
    thief.call("lock", path=target)  # ...and another process takes it
    thief_payload = open(lk.path, "rb").read()
    assert lk.release() is True  # we leave; their lock must survive
    assert open(lk.path, "rb").read() == thief_payload
    thief.call("unlock", path=target)
    assert not os.path.exists(lk.path)


def test_hazard_unconditional_unlink_release_spares_a_lock_rewritten_in_place(target):
    lk = SessionLock(target)
    lk.acquire()
    with open(lk.path, "r+b") as f:  # same inode, someone else's token
        f.write(json.dumps(payload_of(os.getpid(), token="someone-else")).encode())
        f.truncate()
    lk.release()
    assert os.path.exists(lk.path)
    os.unlink(lk.path)


def test_hazard_two_reclaimers_cannot_both_win(target):
    """Both judge the same dead holder's lock; only the first reclaim wins."""
    fake = FakeProcTable()
    fake.alive[4242] = False
    write_lock(target, {"pid": 4242, "starttime": 1, "boot_id": fake.boot_id(),
                        "created_at": 1.0, "token": "dead"})
    a = SessionLock(target, proc=fake)
    b = SessionLock(str(target), proc=fake)
    obs_a, obs_b = a._observe(), b._observe()
    why_a, why_b = a._judge(obs_a), b._judge(obs_b)
    assert why_a and why_b  # both saw a stale lock
    assert a._reclaim(obs_a, why_a) is True
    a.acquire(timeout=0)  # the winner locks at once
    mine = open(a.path, "rb").read()
    ino = os.lstat(a.path).st_ino
    assert b._reclaim(obs_b, why_b) is False  # the late reclaimer moved a live lock: put back
    os.close(obs_a.fd)
    os.close(obs_b.fd)
    assert open(a.path, "rb").read() == mine and os.lstat(a.path).st_ino == ino
    assert [n for n in os.listdir(os.path.dirname(a.path)) if ".stale-" in n] == []
    assert a.release() and not os.path.exists(a.path)


def test_hazard_two_reclaimers_racing_processes_take_turns(target, spawn_helper):
    write_lock(target, payload_of(dead_pid()), age=60)
    helpers = [spawn_helper() for _ in range(4)]
    sel = selectors.DefaultSelector()
    for h in helpers:
        sel.register(h.proc.stdout, selectors.EVENT_READ, h)
    for h in helpers:
        h.send("lock", path=target, timeout=20)
    waiting = set(helpers)
    while waiting:
        events = sel.select(timeout=10)
        assert events, "nobody got the lock"
        winners = [key.data for key, _ in events if key.data in waiting]
        time.sleep(0.05)  # give a second (wrong) winner time to show up
        winners += [key.data for key, _ in sel.select(timeout=0)
                    if key.data in waiting and key.data not in winners]
        assert len(winners) == 1, "two processes hold the lock at once"
        (winner,) = winners
        assert "lock_path" in winner._read()
        assert json.loads(open(target + ".lock").read())["pid"] == winner.pid
        waiting.discard(winner)
        sel.unregister(winner.proc.stdout)
        winner.call("unlock", path=target)
    assert not os.path.exists(target + ".lock")


def test_hazard_double_release_is_harmless(target):
    a, b = SessionLock(target), SessionLock(target)
    a.acquire()
    assert a.release() is True
    assert a.release() is False
    b.acquire(timeout=0)
    assert a.release() is False  # a stale handle cannot free b's lock
    assert b.held and os.path.exists(b.path)
    b.release()


# -- stale reclaim: only when the holder is provably gone -----------------------


def test_sigkilled_holder_lock_is_reclaimed(target, spawn_helper):
    holder = spawn_helper()
    holder.call("lock", path=target)
    os.kill(holder.pid, signal.SIGKILL)
    holder.proc.wait()
    assert os.path.exists(target + ".lock")
    lk = SessionLock(target)
    lk.acquire(timeout=5)  # a live holder would make this time out
    assert json.loads(open(lk.path).read())["pid"] == os.getpid()
    lk.release()


def test_unreaped_zombie_holder_counts_as_dead(target, spawn_helper):
    holder = spawn_helper()
    holder.call("lock", path=target)
    os.kill(holder.pid, signal.SIGKILL)
    assert wait_for(lambda: open(f"/proc/{holder.pid}/stat").read().split(") ")[1][0] == "Z")
    lk = SessionLock(target)
    lk.acquire(timeout=5)  # kill(pid, 0) still succeeds on a zombie
    lk.release()


def test_recycled_pid_is_detected_by_start_time(target, spawn_helper):
    # Real: a live process whose start time differs from the lock's record.
    other = spawn_helper()
    real_start = LinuxProcTable().starttime(other.pid)
    write_lock(target, payload_of(other.pid, starttime=real_start + 1))
    lk = SessionLock(target)
    lk.acquire(timeout=1)
    lk.release()


def test_recycled_pid_via_injected_process_table(target):
    fake = FakeProcTable()
    fake.alive[4242] = True
    fake.starts[4242] = 200
    write_lock(target, payload_of(4242, starttime=100, boot_id=fake.boot_id()))
    lk = SessionLock(target, proc=fake)
    lk.acquire(timeout=1)
    assert ("starttime", 4242) in fake.calls
    lk.release()


def test_same_pid_same_start_time_is_respected(target):
    fake = FakeProcTable()
    fake.alive[4242] = True
    fake.starts[4242] = 100
    write_lock(target, payload_of(4242, starttime=100, boot_id=fake.boot_id()), age=3600)
    with pytest.raises(SessionLockTimeout) as err:
        SessionLock(target, proc=fake).acquire(timeout=0.1)
    assert err.value.holder_pid == 4242


def test_unknown_start_time_counts_as_alive(target):
    fake = FakeProcTable()
    fake.alive[4242] = True
    fake.starts[4242] = None  # no /proc, hidepid, another namespace
    write_lock(target, payload_of(4242, starttime=100, boot_id=fake.boot_id()))
    with pytest.raises(SessionLockTimeout):
        SessionLock(target, proc=fake).acquire(timeout=0.1)


def test_lock_from_before_a_reboot_is_reclaimed(target):
    fake = FakeProcTable(boot="boot-after")
    fake.alive[4242] = True
    fake.starts[4242] = 100  # the same pid and start time exist again after the reboot
    write_lock(target, payload_of(4242, starttime=100, boot_id="boot-before"))
    lk = SessionLock(target, proc=fake)
    lk.acquire(timeout=1)
    assert json.loads(open(lk.path).read())["boot_id"] == "boot-after"
    lk.release()


# -- holders in another PID namespace (a container sharing the directory) ------

OUR_NS = int(os.readlink("/proc/self/ns/pid")[len("pid:["):-1])


@pytest.mark.parametrize("fate", ["dead", "recycled"])
def test_a_holder_in_another_pid_namespace_is_never_judged_by_pid(target, fate):
    # Its pid 4242 means nothing here: whatever process 4242 is (or is not)
    # in our namespace says nothing about the holder.
    fake = FakeProcTable()
    fake.alive[4242] = fate == "recycled"
    fake.starts[4242] = 999
    write_lock(target, payload_of(4242, starttime=100, pid_ns=OUR_NS + 1), age=3600)
    with pytest.raises(SessionLockTimeout) as err:
        SessionLock(target, proc=fake).acquire(timeout=0.1)
    assert err.value.holder_pid == 4242
    assert "another PID namespace" in str(err.value) and "remove" in str(err.value)
    assert not any(pid == 4242 for _, pid in fake.calls)  # never looked up
    assert os.path.exists(target + ".lock")


def test_a_holder_in_another_pid_namespace_from_before_a_reboot_is_reclaimed(target):
    fake = FakeProcTable(boot="boot-after")
    write_lock(target, payload_of(4242, starttime=100, boot_id="boot-before",
                                  pid_ns=OUR_NS + 1))
    lk = SessionLock(target, proc=fake)
    lk.acquire(timeout=1)
    lk.release()


@pytest.mark.parametrize("ns", ["absent", "null", "ours"])
def test_a_lock_without_a_foreign_namespace_is_judged_by_pid_as_before(target, ns):
    payload = payload_of(dead_pid(), pid_ns=OUR_NS if ns == "ours" else None)
    if ns == "absent":  # written by a version before pid_ns existed
        del payload["pid_ns"]
    write_lock(target, payload)
    assert parse_payload(open(target + ".lock", "rb").read())[0] is not None
    lk = SessionLock(target)
    lk.acquire(timeout=1)
    lk.release()


def test_a_table_that_cannot_answer_namespaces_judges_by_pid(target):
    class OldTable:  # a ProcTable written before pid_namespace() existed
        def is_alive(self, pid):
            return False

        def starttime(self, pid):
            return None

        def boot_id(self):
            return None

    write_lock(target, payload_of(4242, pid_ns=OUR_NS + 1))
    lk = SessionLock(target, proc=OldTable())
    lk.acquire(timeout=1)  # our namespace unknown: as before, pid 4242 is dead
    assert json.loads(open(lk.path).read())["pid_ns"] is None
    lk.release()


def test_a_live_holder_in_a_real_pid_namespace_keeps_its_lock(target, spawn_helper):
    # The reported bug: a holder that is pid 1 of its own namespace. Here pid
    # 1 is our init, alive with another start time, so judged by pid the
    # holder looked recycled and lost its lock while alive.
    try:
        holder = spawn_helper(prefix=["unshare", "--pid", "--fork", "--mount-proc"])
    except (OSError, RuntimeError, AssertionError) as exc:
        pytest.skip(f"cannot create a PID namespace here: {exc}")
    got = holder.call("lock", path=target)
    assert got["pid"] == 1 and got["pid_ns"] != os.readlink("/proc/self/ns/pid")
    with pytest.raises(SessionLockTimeout) as err:
        SessionLock(target).acquire(timeout=0.3)
    assert err.value.holder_pid == 1 and "another PID namespace" in str(err.value)
    holder.call("unlock", path=target)
    lk = SessionLock(target)
    lk.acquire(timeout=1)
    lk.release()


def test_eperm_from_kill_counts_as_alive(spawn_helper):
    assert LinuxProcTable().is_alive(1)
    nobody = spawn_helper(user=65534)
    assert nobody.call("is_alive", pid=1) == {"alive": True}  # kill(1, 0) -> EPERM


def test_invalid_pids_are_never_probed_with_kill():
    proc = LinuxProcTable()
    assert not proc.is_alive(0) and not proc.is_alive(-1)
    assert not proc.is_alive(2 ** 70)
    assert proc.starttime(0) is None


# -- bad lock files: clear error or safe reclaim, never a hang ------------------

MALFORMED = {
    "empty": b"",
    "truncated": b'{"pid": 12',
    "not-json": b"locked by rsync",
    "nul-bytes": b"\x00" * 40,
    "utf8-bom": b"\xef\xbb\xbf" + json.dumps({"pid": 1, "token": "t"}).encode(),
    "utf16": json.dumps({"pid": 1, "token": "t"}).encode("utf-16"),
    "duplicate-keys": b'{"pid": 1, "pid": 2, "token": "t"}',
    "array": b"[1, 2, 3]",
    "pid-string": json.dumps({"pid": "123", "token": "t"}).encode(),
    "pid-float": json.dumps({"pid": 12.5, "token": "t"}).encode(),
    "pid-negative": json.dumps({"pid": -1, "token": "t"}).encode(),
    "pid-zero": json.dumps({"pid": 0, "token": "t"}).encode(),
    "pid-bool": json.dumps({"pid": True, "token": "t"}).encode(),
    "starttime-string": json.dumps({"pid": 1, "starttime": "x", "token": "t"}).encode(),
    "created-at-nan": b'{"pid": 1, "created_at": NaN, "token": "t"}',
    "created-at-string": json.dumps({"pid": 1, "created_at": "soon", "token": "t"}).encode(),
    "token-missing": json.dumps({"pid": 1}).encode(),
    "pid-ns-string": json.dumps({"pid": 1, "pid_ns": "pid:[4026531836]", "token": "t"}).encode(),
    "pid-ns-negative": json.dumps({"pid": 1, "pid_ns": -1, "token": "t"}).encode(),
    "pid-ns-bool": json.dumps({"pid": 1, "pid_ns": True, "token": "t"}).encode(),
    "oversized": b"{" + b" " * 5000 + b"}",
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_lock_is_evicted_after_the_grace(target, content):
    assert parse_payload(content if len(content) <= 4096 else None)[0] is None
    write_lock(target, content, age=10)
    lk = SessionLock(target, stale_grace=2.0)
    lk.acquire(timeout=1)
    lk.release()


@pytest.mark.parametrize("name", ["empty", "truncated", "pid-string"])
def test_fresh_malformed_lock_is_respected_during_the_grace(target, name):
    # Empty is exactly what a live holder's lock looks like between its
    # O_EXCL create and its payload write.
    write_lock(target, MALFORMED[name])
    with pytest.raises(SessionLockTimeout) as err:
        SessionLock(target, stale_grace=5.0).acquire(timeout=0.15)
    assert err.value.holder_pid is None
    assert os.path.exists(target + ".lock")


def test_malformed_lock_with_future_mtime_is_evicted_by_our_own_clock(target):
    path = write_lock(target, b"")
    future = time.time() + 86400  # wall clock stepped back / skewed writer
    os.utime(path, (future, future))
    lk = SessionLock(target, stale_grace=0.2)
    t0 = time.monotonic()
    lk.acquire(timeout=5)
    assert time.monotonic() - t0 >= 0.2  # only after the grace
    lk.release()


@pytest.mark.parametrize("pid", [99_999_999, 2 ** 70], ids=["above-pid-max", "overflow"])
def test_impossible_pid_is_dead(target, pid):
    write_lock(target, {**payload_of(os.getpid(), starttime=1), "pid": pid})
    lk = SessionLock(target)
    lk.acquire(timeout=1)
    lk.release()


def test_huge_lock_file_is_never_read(target, monkeypatch):
    path = target + ".lock"
    with open(path, "wb") as f:
        f.truncate(8 << 30)  # 8 GiB, sparse
    then = time.time() - 10
    os.utime(path, (then, then))
    reads = []
    real_pread, real_read = os.pread, os.read
    monkeypatch.setattr(os, "pread",
                        lambda fd, n, off: (reads.append(n), real_pread(fd, n, off))[1])
    monkeypatch.setattr(os, "read", lambda fd, n: (reads.append(n), real_read(fd, n))[1])
    lk = SessionLock(target)
    lk.acquire(timeout=2)
    lk.release()
    assert max(reads, default=0) <= 4097  # bounded reads only (our own payload check included)


def test_fifo_at_lock_path_is_an_error_not_a_hang(target):
    os.mkfifo(target + ".lock")
    t0 = time.monotonic()
    with pytest.raises(SessionLockError) as err:
        SessionLock(target).acquire(timeout=5)
    assert err.value.reason == "fifo" and "fifo" in str(err.value)
    assert time.monotonic() - t0 < 4  # an error at once, not a hang or the 5 s timeout
    assert stat.S_ISFIFO(os.lstat(target + ".lock").st_mode)


def test_socket_at_lock_path_is_an_error(target, tmp_path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(target + ".lock")
    try:
        with pytest.raises(SessionLockError) as err:
            SessionLock(target).acquire(timeout=1)
        assert err.value.reason == "socket"
    finally:
        sock.close()


def test_directory_at_lock_path_is_an_error(target):
    os.mkdir(target + ".lock")
    with pytest.raises(SessionLockError) as err:
        SessionLock(target).acquire(timeout=1)
    assert err.value.reason == "directory" and err.value.errno == errno.EISDIR
    assert "remove it" in str(err.value)


@pytest.mark.parametrize("kind", ["victim-file", "directory", "fifo", "dangling"])
def test_symlink_at_lock_path_is_never_followed(target, tmp_path, kind):
    victim = tmp_path / f"victim-{kind}"
    if kind == "victim-file":
        victim.write_bytes(b"precious")
    elif kind == "directory":
        victim.mkdir()
    elif kind == "fifo":
        os.mkfifo(victim)
    os.symlink(victim, target + ".lock")
    t0 = time.monotonic()
    with pytest.raises(SessionLockError) as err:
        SessionLock(target).acquire(timeout=5)
    assert err.value.reason == "symlink"
    assert time.monotonic() - t0 < 4  # an error at once, not a hang or the 5 s timeout
    assert os.path.islink(target + ".lock")
    if kind == "victim-file":
        assert victim.read_bytes() == b"precious"
    if kind == "dangling":
        assert not victim.exists()  # O_EXCL never creates a symlink's target


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SessionLockError) as err:
        SessionLock(str(tmp_path / "no-such-dir" / "session.jsonl")).acquire(timeout=1)
    e = err.value
    assert e.reason == "missing-directory" and e.errno == errno.ENOENT
    assert isinstance(e, OSError) and "create the transcript's directory" in str(e)


@pytest.fixture
def shared_dir():
    """A directory other users can traverse (pytest's tmp dirs are 0700)."""
    d = tempfile.mkdtemp(prefix="sf-perm-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def test_permission_denied_is_a_clear_error(shared_dir, spawn_helper):
    nobody = spawn_helper(user=65534)
    reply = nobody.call("try_lock", path=os.path.join(shared_dir, "session.jsonl"))
    assert reply["acquired"] is False
    assert reply["type"] == "SessionLockError" and reply["reason"] == "permission"
    assert "permission denied" in reply["text"] and "writable" in reply["text"]


def test_unreadable_lock_of_another_user_is_never_reclaimed(shared_dir, spawn_helper):
    os.chmod(shared_dir, 0o777)
    target = os.path.join(shared_dir, "session.jsonl")
    write_lock(target, payload_of(dead_pid()), age=3600)  # root's 0600 lock
    nobody = spawn_helper(user=65534)
    reply = nobody.call("try_lock", path=target, timeout=0.2)
    assert reply["acquired"] is False and reply["type"] == "SessionLockTimeout"
    assert os.path.exists(target + ".lock")


# -- release at exit, on signals, and across fork -------------------------------


def test_lock_released_at_normal_exit(target, spawn_helper):
    holder = spawn_helper()
    holder.call("lock", path=target)
    holder.close()
    assert holder.proc.returncode == 0
    assert not os.path.exists(target + ".lock")


def test_lock_released_on_sigterm(target, spawn_helper):
    holder = spawn_helper()
    holder.call("lock", path=target)
    os.kill(holder.pid, signal.SIGTERM)
    assert holder.proc.wait(10) == -signal.SIGTERM  # still dies of the signal
    assert not os.path.exists(target + ".lock")


def test_lock_released_on_sigint(target, spawn_helper):
    holder = spawn_helper()
    holder.call("lock", path=target)
    os.kill(holder.pid, signal.SIGINT)  # KeyboardInterrupt unwinds, atexit releases
    assert holder.proc.wait(10) != 0
    assert not os.path.exists(target + ".lock")


def test_sigterm_chains_to_the_previous_handler(target, spawn_helper, tmp_path):
    marker = str(tmp_path / "marker")
    holder = spawn_helper()
    holder.call("custom_sigterm", marker=marker)
    holder.call("lock", path=target)
    os.kill(holder.pid, signal.SIGTERM)
    assert holder.proc.wait(10) == 3
    assert open(marker).read() == "custom handler ran"
    assert not os.path.exists(target + ".lock")


def test_forked_child_cannot_release_the_parents_lock(target):
    lk = SessionLock(target)
    lk.acquire()
    pid = os.fork()
    if pid == 0:  # child: release, atexit path; both must leave the parent's lock alone
        ok = lk.release() is False and not lk.held
        _lock_slots.release_all_held("exit")
        os._exit(0 if ok and os.path.exists(lk.path) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.path.exists(lk.path) and lk.held
    lk.release()
    assert not os.path.exists(lk.path)
