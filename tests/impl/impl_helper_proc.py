"""A long-lived helper process for the implementation tests.

Reads one JSON command per line on stdin, answers one JSON line on stdout.
It plays the other process: an external writer that ignores the lock, a
lock holder to be killed or signalled, or a group of controller threads.
"""

import json
import os
import resource
import signal
import sys
import threading
import traceback

from sessionfence.impl import (
    LinuxProcTable,
    SessionController,
    SessionFenceError,
    SessionLock,
    SessionTakeoverError,
)

LOCKS = {}


def ext_append(path, data, count=1):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for i in range(count):
            os.write(fd, data.replace("{i}", str(i)).encode())
    finally:
        os.close(fd)
    return {}


def ext_same_size(path):
    fd = os.open(path, os.O_RDWR)
    try:
        first = os.pread(fd, 1, 0)
        os.pwrite(fd, b"[" if first != b"[" else b"{", 0)
    finally:
        os.close(fd)
    return {}


def lock(path, timeout=5.0):
    lk = LOCKS.get(path) or SessionLock(path, timeout=timeout)
    lk.acquire()
    LOCKS[path] = lk
    return {"lock_path": lk.path, "pid": os.getpid(),
            "pid_ns": os.readlink("/proc/self/ns/pid")}


def unlock(path):
    return {"released": LOCKS[path].release()}


def try_lock(path, timeout=0.2):
    try:
        SessionLock(path, timeout=timeout).acquire()
        return {"acquired": True}
    except SessionFenceError as exc:
        return {"acquired": False, "type": type(exc).__name__, "text": str(exc),
                "reason": getattr(exc, "reason", None)}


def is_alive(pid):
    return {"alive": LinuxProcTable().is_alive(pid)}


def custom_sigterm(marker):
    def handler(signum, frame):
        with open(marker, "w") as f:
            f.write("custom handler ran")
        sys.exit(3)
    signal.signal(signal.SIGTERM, handler)
    return {}


def sessions(path, tag, threads=2, sessions=5, appends=5, policy="reference", timeout=30.0):
    """Threads each run `sessions` x (start, `appends` validated appends, dispose)."""
    takeovers, errors = [], []

    def worker(t):
        for s in range(sessions):
            ctrl = SessionController(path, policy=policy, timeout=timeout)
            try:
                ctrl.start()
                for a in range(appends):
                    ctrl.append({"w": tag, "t": t, "s": s, "a": a})
                ctrl.dispose()
            except SessionTakeoverError as exc:
                takeovers.append(str(exc))
            except Exception as exc:  # reported to the test, which fails on it
                errors.append(f"{type(exc).__name__}: {exc}")
                if ctrl.lock.held:
                    ctrl.dispose()

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return {"takeovers": takeovers, "errors": errors}


def short_write(path, room):
    """Append through a controller with only `room` bytes left under RLIMIT_FSIZE.

    SIGXFSZ is left as the interpreter set it: Python ignores it at startup,
    so exceeding the limit is a short write (then EFBIG), not a kill.
    """
    disposition = signal.getsignal(signal.SIGXFSZ)
    ctrl = SessionController(path)
    ctrl.start()
    size = os.stat(path).st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + room, resource.RLIM_INFINITY))
    try:
        ctrl.append({"pad": "x" * (room * 4)})
        return {"raised": None}
    except SessionFenceError as exc:
        return {"raised": type(exc).__name__, "text": str(exc), "phase": ctrl.phase,
                "lock_exists": os.path.exists(path + ".lock"),
                "written": getattr(exc, "written", None),
                "restored": getattr(exc, "restored", None),
                "errno": getattr(exc, "errno", None),
                "sigxfsz_ignored": disposition == signal.SIG_IGN}
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)


def become(uid):
    """Drop root for good (after the imports: the interpreter lives under /root)."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    return {"uid": os.getuid()}


def main():
    ops = {f.__name__: f for f in (ext_append, ext_same_size, lock, unlock, try_lock,
                                   is_alive, custom_sigterm, sessions, short_write, become)}
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.pop("op")
        if op == "exit":
            break
        try:
            reply = ops[op](**cmd)
        except Exception:
            reply = {"error": traceback.format_exc()}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
