#!/usr/bin/env python3
"""Cost of the reference implementation, side by side with its physical floor.

Every figure is a median over several batches, and every ratio compares two
things measured in the same run, interleaved batch by batch, so machine
noise hits both sides alike:

  cycle      one full cycle from `released`: acquire, fence check, validated
             append, release (= `ctrl.append(line)` from released), against
             the bare syscalls that cycle issues, and against the minimal
             lock-per-operation floor of docs/reliability-notes.
  held       a validated append with the lock held (4 model steps), per
             policy, against its bare syscalls; and the fence check plus
             append alone (check + one write).
  sizes      held append and full cycle on transcripts of 1 KiB .. 100 MiB
             (stat mode must be flat).
  digest     digest-mode verification (full read + BLAKE2b) against BLAKE2b
             over the same bytes already in memory.
  filelock   SessionLock acquire/release against filelock.FileLock, if
             filelock is importable.
  reader     read_transcript: throughput, and memory beyond the records it
             returns (tracemalloc), as a multiple of the file size.

Usage: benchmarks/bench_impl.py [--quick] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc

from sessionfence.impl import (
    Registry,
    SessionController,
    SessionLock,
    digest_fingerprint,
    read_transcript,
)
from sessionfence.impl._lock import make_payload
from sessionfence.impl._proc import DEFAULT_PROC_TABLE

LINE = b'{"role":"assistant","text":"a reply of typical length for a chat turn"}\n'
KIB, MIB = 1024, 1024 * 1024


def per_op_us(fn, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n / 1000


def side_by_side(fns, n, rounds):
    """Median µs/op of each fn, measured in interleaved batches."""
    # Flush the files we just created first: their writeback would otherwise
    # stall the lock's create/unlink (metadata blocks under writeback) and
    # bill our own setup to whatever is measured next.
    os.sync()
    samples = {name: [] for name in fns}
    for name, fn in fns.items():  # warm-up
        per_op_us(fn, max(n // 10, 10))
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(per_op_us(fn, n))
    return {name: statistics.median(v) for name, v in samples.items()}


def make_transcript(directory, size, name="session.jsonl"):
    path = os.path.join(directory, name)
    block = (LINE * (MIB // len(LINE) + 1))[:MIB]
    with open(path, "wb") as f:
        remaining = size
        while remaining > 0:
            chunk = block[:min(remaining, MIB)]
            if remaining <= MIB:
                chunk = chunk[:-1] + b"\n"
            f.write(chunk)
            remaining -= len(chunk)
    return path


# -- the floors: the same syscalls with no library logic --------------------------


class Floors:
    def __init__(self, directory):
        self.path = make_transcript(directory, 4 * KIB, "floor.jsonl")
        self.lock = self.path + ".lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        self.payload = make_payload(DEFAULT_PROC_TABLE, "floor-token")
        self.flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def cycle(self):
        # What a validated cycle from `released` issues: create + write the
        # lock (kept open), stat x3 (check, read_before, finish_write), one
        # write and an fstat right after it, pread of our tail, lstat + pread
        # (ownership) + unlink + close.
        p, fd = self.path, self.fd
        lfd = os.open(self.lock, self.flags, 0o600)
        os.write(lfd, self.payload)
        os.fstat(lfd)
        os.stat(p)
        os.stat(p)
        os.write(fd, LINE)
        os.fstat(fd)
        st = os.stat(p)
        os.pread(fd, len(LINE), st.st_size - len(LINE))
        os.lstat(self.lock)
        os.pread(lfd, len(self.payload) + 1, 0)
        os.unlink(self.lock)
        os.close(lfd)

    def notes_cycle(self):
        # docs' minimal lock-per-operation floor: create+write+close lock,
        # stat, open/append/close, fstat, unlink.
        lfd = os.open(self.lock, self.flags, 0o600)
        os.write(lfd, self.payload)
        os.close(lfd)
        os.stat(self.path)
        afd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        os.write(afd, LINE)
        os.fstat(afd)
        os.close(afd)
        os.unlink(self.lock)

    def held_append(self):
        p, fd = self.path, self.fd
        os.stat(p)
        os.stat(p)
        os.write(fd, LINE)
        os.fstat(fd)
        st = os.stat(p)
        os.pread(fd, len(LINE), st.st_size - len(LINE))

    def check_and_append(self):
        os.stat(self.path)
        os.write(self.fd, LINE)

    def lock_only(self):
        lfd = os.open(self.lock, self.flags, 0o600)
        os.write(lfd, self.payload)
        os.lstat(self.lock)
        os.unlink(self.lock)
        os.close(lfd)


def controller(path, policy="reference", fingerprint="stat", phase="held"):
    c = SessionController(path, policy=policy, fingerprint=fingerprint, registry=Registry())
    c.start()
    if phase == "released":
        c.release_for_prompt()
    return c


def check_and_append_fn(c):
    """The fence check plus one write, with the lock held: begin_write's check
    (the policy's `check` on a fresh stat) and the append step's write.

    This is a component measurement on a controller of its own: the write is
    not validated or published, so no other controller may share the file.
    """
    fd = c._fd

    def run():
        c._check_and_accept("begin_write")
        os.write(fd, LINE)
        c._ctx.fence = c._observe()  # keep the fence current, as a finished write would
    return run


def report(rows, title):
    print(f"\n## {title}\n")
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a fast smoke run (small n, small files)")
    ap.add_argument("--dir", default=None, help="where to put the files (default: a temp dir)")
    args = ap.parse_args(argv)
    quick = args.quick
    n, rounds = (300, 3) if quick else (3000, 9)
    base = tempfile.mkdtemp(prefix="sf-bench-", dir=args.dir)
    try:
        return run(base, quick, n, rounds)
    finally:
        shutil.rmtree(base)


def run(base, quick, n, rounds):
    print("# sessionfence.impl benchmark" + (" (--quick: smoke run, not for quoting)" if quick
                                             else ""))
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}, "
          f"{os.cpu_count()} cpus, dir {base}; medians of {rounds} interleaved batches "
          f"of {n} ops")
    floors = Floors(base)
    path = make_transcript(base, 4 * KIB)

    # 1. full cycle from released
    cyc = controller(path, phase="released")
    m = side_by_side({"impl": lambda: cyc.append(LINE), "floor": floors.cycle,
                      "notes": floors.notes_cycle}, n, rounds)
    prompt = controller(path + ".p", phase="held")

    def prompt_cycle():
        prompt.append(LINE)
        prompt.release_for_prompt()
        prompt.reacquire_after_prompt()
    mp = side_by_side({"prompt": prompt_cycle}, n, rounds)
    report([
        ("validated cycle (ctrl.append from released)", f"{m['impl']:.1f} µs",
         f"= {m['impl'] / m['floor']:.2f}x its bare syscalls ({m['floor']:.1f} µs), "
         f"{m['impl'] / m['notes']:.2f}x the notes' minimal floor ({m['notes']:.1f} µs)"),
        ("prompt cycle (append, release, reacquire)", f"{mp['prompt']:.1f} µs",
         "three fence checks, one validated append, one lock create/unlink"),
    ], "Full cycle: acquire, fence check, validated append, release (stat mode)")

    # 2. lock held
    held = {pol: controller(make_transcript(base, 4 * KIB, f"held-{pol}.jsonl"), policy=pol)
            for pol in ("reference", "strict-fingerprint", "broad-publication",
                        "narrow-publication")}
    fns = {pol: (lambda c=c: c.append(LINE)) for pol, c in held.items()}
    fns["floor"] = floors.held_append
    solo = controller(make_transcript(base, 4 * KIB, "solo.jsonl"))
    fns["check+append"] = check_and_append_fn(solo)
    fns["check+append floor"] = floors.check_and_append
    h = side_by_side(fns, n, rounds)
    rows = [("fence check + append (reference check, one write)", f"{h['check+append']:.1f} µs",
             f"= {h['check+append'] / h['check+append floor']:.2f}x stat+write "
             f"({h['check+append floor']:.1f} µs)")]
    for pol in held:
        rows.append((f"validated append, {pol}", f"{h[pol]:.1f} µs",
                     f"= {h[pol] / h['floor']:.2f}x stat x3 + write + fstat + pread "
                     f"({h['floor']:.1f} µs)" if pol == "reference" else ""))
    report(rows, "Lock held: fence check and append")
    for c in (cyc, prompt, solo, *held.values()):
        c.dispose()

    # 3. flat in transcript size (stat mode). All sizes are measured in one
    # interleaved run, each in a directory of its own, so that drift (load
    # from other processes, directory churn from lock create/unlink) lands
    # on every size alike instead of looking like a size effect.
    sizes = [KIB, MIB, 10 * MIB] + ([] if quick else [100 * MIB])
    fns, ctrls = {}, []
    for size in sizes:
        sub = os.path.join(base, f"size-{size}")
        os.mkdir(sub)
        c_held = controller(make_transcript(sub, size, "held.jsonl"))
        c_rel = controller(make_transcript(sub, size, "cycle.jsonl"), phase="released")
        ctrls += [c_held, c_rel]
        fns[("held", size)] = lambda c=c_held: c.append(LINE)
        fns[("cycle", size)] = lambda c=c_rel: c.append(LINE)
    r = side_by_side(fns, n, rounds)
    rows = []
    for size in sizes:
        h, c = r[("held", size)], r[("cycle", size)]
        rows.append((f"{size // KIB:>6} KiB", f"{h:.1f} µs",
                     f"held append {h / r[('held', KIB)]:.2f}x of 1 KiB; "
                     f"full cycle {c:.1f} µs = {c / r[('cycle', KIB)]:.2f}x of 1 KiB"))
    for c in ctrls:
        c.dispose()
    report(rows, "Cost against transcript size (stat mode)")

    # 4. digest mode
    size = 8 * MIB if quick else 64 * MIB
    p = make_transcript(base, size, "digest.jsonl")
    data = open(p, "rb").read()
    digest_fingerprint(p)  # page cache warm
    reps = 3 if quick else 7

    def blake_mem():
        h = hashlib.blake2b(digest_size=32)
        view = memoryview(data)
        for off in range(0, len(data), MIB):
            h.update(view[off:off + MIB])
        return h.digest()

    t_mem, t_ver = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        expect = blake_mem()
        t_mem.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        got = digest_fingerprint(p)[0].digest
        t_ver.append(time.perf_counter() - t0)
        assert got == expect
    mem, ver = size / statistics.median(t_mem) / MIB, size / statistics.median(t_ver) / MIB
    small = make_transcript(base, 64 * KIB, "digest-small.jsonl")
    dc = controller(small, fingerprint="digest")
    sc = controller(small + "-s")
    # Few ops per batch: every append grows the file, and a digest-mode
    # append costs O(size), so the file must stay near its nominal size.
    d = side_by_side({"digest": lambda: dc.append(LINE), "stat": lambda: sc.append(LINE)},
                     20, rounds)
    grown = os.stat(small).st_size // KIB
    dc.dispose()
    sc.dispose()
    report([
        (f"verification of {size // MIB} MiB (read + BLAKE2b)", f"{ver:.0f} MiB/s",
         f"= {ver / mem:.0%} of BLAKE2b in memory ({mem:.0f} MiB/s)"),
        (f"held append, digest mode, 64..{grown} KiB transcript", f"{d['digest']:.1f} µs",
         f"stat mode {d['stat']:.1f} µs; digest mode reads the whole file 3x per append"),
    ], "Digest mode")

    # 5. filelock side by side
    lk = SessionLock(os.path.join(base, "lk.jsonl"))
    rows = []
    fns = {"sessionfence": lambda: (lk.acquire(), lk.release()), "floor": floors.lock_only}
    try:
        import filelock
    except ImportError:
        filelock = None
    if filelock is not None:
        fl = filelock.FileLock(os.path.join(base, "fl.lock"))
        sfl = filelock.SoftFileLock(os.path.join(base, "sfl.lock"))
        fns["filelock.FileLock"] = lambda: (fl.acquire(), fl.release())
        fns["filelock.SoftFileLock"] = lambda: (sfl.acquire(), sfl.release())
    r = side_by_side(fns, n, rounds)
    rows.append(("SessionLock acquire+release", f"{r['sessionfence']:.1f} µs",
                 f"= {r['sessionfence'] / r['floor']:.2f}x create+write+lstat+unlink+close "
                 f"({r['floor']:.1f} µs)"))
    if filelock is not None:
        for name in ("filelock.FileLock", "filelock.SoftFileLock"):
            rows.append((f"{name} {filelock.__version__} acquire+release", f"{r[name]:.1f} µs",
                         f"SessionLock is {r['sessionfence'] / r[name]:.2f}x this"))
    else:
        rows.append(("filelock", "skipped", "not importable (pip install filelock)"))
    report(rows, "Lock alone, side by side")

    # 6. the reader
    size = 4 * MIB if quick else 16 * MIB
    p = os.path.join(base, "read.jsonl")
    with open(p, "wb") as f:
        f.write(LINE * (size // len(LINE)))
    size = os.path.getsize(p)
    times = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        got = read_transcript(p)
        times.append(time.perf_counter() - t0)
        del got
    tracemalloc.start()
    got = read_transcript(p)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    records = len(got.records)
    del got
    report([
        (f"read_transcript, {size / MIB:.0f} MiB of {len(LINE)}-byte lines",
         f"{size / statistics.median(times) / MIB:.0f} MiB/s", f"{records:,} records"),
        ("memory beyond the records returned", f"{(peak - kept) / size:.2f}x",
         f"of the file; peak {peak / size:.2f}x, the records themselves {kept / size:.2f}x"),
    ], "Reading a transcript")
    return 0


if __name__ == "__main__":
    sys.exit(main())
