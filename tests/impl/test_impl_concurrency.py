"""Threads and processes appending through controllers on one transcript."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sessionfence.impl import SessionController, SessionTakeoverError, read_transcript


def run_threads(target, n):
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_threads_with_prompt_cycles_never_take_each_other_over(transcript, registry):
    cycles, n = 40, 4

    def worker(t):
        with SessionController(transcript, registry=registry, timeout=20) as c:
            for i in range(cycles):
                c.append({"t": t, "i": i})
                c.release_for_prompt()  # peers append while we "wait for the model"
                c.reacquire_after_prompt()  # their writes are owned: accepted

    assert run_threads(worker, n) == []
    got = read_transcript(transcript)
    assert got.clean
    mine = [r for r in got.records if "t" in r]
    assert len(mine) == n * cycles
    for t in range(n):
        assert [r["i"] for r in mine if r["t"] == t] == list(range(cycles))


def test_digest_mode_threads_with_prompt_cycles(transcript, registry):
    def worker(t):
        with SessionController(transcript, registry=registry, fingerprint="digest",
                               timeout=20) as c:
            for i in range(15):
                c.append({"t": t, "i": i})
                c.release_for_prompt()
                c.reacquire_after_prompt()

    assert run_threads(worker, 3) == []
    assert len([r for r in read_transcript(transcript).records if "t" in r]) == 45


def test_threads_times_processes_lose_nothing_and_never_take_over(transcript,
                                                                  spawn_helper):
    """M processes x N threads, each running sessions (start, appends, dispose).

    Across processes the registry is not shared, so a controller of another
    process is an external writer to this one; sessions that hold the lock
    from start to dispose are how processes share a transcript safely.
    """
    threads, sessions, appends = 3, 6, 4
    helpers = [spawn_helper() for _ in range(3)]
    for n, h in enumerate(helpers):
        h.send("sessions", path=transcript, tag=f"p{n}", threads=threads,
               sessions=sessions, appends=appends)
    takeovers = []

    def worker(t):
        for s in range(sessions):
            c = SessionController(transcript, timeout=30)
            try:
                c.start()
                for a in range(appends):
                    c.append({"w": "main", "t": t, "s": s, "a": a})
                c.dispose()
            except SessionTakeoverError as exc:
                takeovers.append(str(exc))

    assert run_threads(worker, threads) == []
    replies = [h._read(timeout=120) for h in helpers]
    assert takeovers == [] and all(r == {"takeovers": [], "errors": []} for r in replies), replies
    got = read_transcript(transcript)
    assert got.clean
    keys = Counter((r["w"], r["t"], r["s"], r["a"]) for r in got.records if "w" in r)
    expected = {(w, t, s, a) for w in ["main", "p0", "p1", "p2"] for t in range(threads)
                for s in range(sessions) for a in range(appends)}
    assert set(keys) == expected and max(keys.values()) == 1  # no loss, no duplicate


def test_external_writer_process_is_detected_by_every_live_controller(
        transcript, registry, ext_writer):
    appended, outcomes, in_flight = Counter(), {}, {}
    started = threading.Barrier(4)
    deadline = time.monotonic() + 20

    def worker(t):
        c = SessionController(transcript, registry=registry, timeout=20)
        c.start()
        c.release_for_prompt()
        started.wait()
        i = 0
        try:
            while time.monotonic() < deadline:
                c.reacquire_after_prompt()
                in_flight[t] = (t, i)
                c.append({"t": t, "i": i})
                del in_flight[t]
                appended[(t, i)] += 1
                i += 1
                c.release_for_prompt()
        except SessionTakeoverError as exc:
            outcomes[t] = exc.check
            return
        outcomes[t] = "never detected"

    runner = threading.Thread(target=lambda: run_threads(worker, 3))
    runner.start()
    started.wait()
    time.sleep(0.05)
    ext_writer.call("ext_append", path=transcript, data='{"external":{i}}\n', count=50)
    runner.join()
    # Every controller was alive during the external writes: all fail closed.
    assert set(outcomes) == {0, 1, 2} and "never detected" not in outcomes.values()
    got = read_transcript(transcript)
    assert got.clean
    ours = Counter((r["t"], r["i"]) for r in got.records if "t" in r)
    # Every append that returned is there exactly once. An append that raised
    # at finish_write (the external writer got in between our write and the
    # after-check) has its line in the file too: the takeover is a verdict on
    # the file, not an undo. No other line may appear.
    extra = ours - appended
    assert appended - ours == Counter()
    assert set(extra) <= set(in_flight.values()) and max(extra.values(), default=1) == 1
    assert sum(1 for r in got.records if "external" in r) == 50
