"""The external writer process: every kind of edit on real files, and where
physics lets the harness make it faithfully."""

from __future__ import annotations

import json
import os

import pytest

from sessionfence.conformance.external_plan import PHYSICS, FileTracker, coarse_timestamps
from sessionfence.conformance.external_writer import KINDS, ExternalWriter, ExternalWriterError
from sessionfence.conformance.model_traces import Step
from sessionfence.impl import MISSING, digest_fingerprint, stat_fingerprint
from sessionfence.impl._runtime_lines import looks_like_runtime
from sessionfence.model.expr import Kind, Mode, Phase

FIRST = b'{"role":"system","seq":0}\n'
SECOND = b'{"seq":1}\n'


@pytest.fixture(scope="module")
def writer():
    with ExternalWriter() as w:
        yield w


@pytest.fixture
def transcript(tmp_path):
    path = tmp_path / "session.jsonl"
    path.write_bytes(FIRST + SECOND)
    return str(path)


def _lines(path):
    with open(path, "rb") as fh:
        return fh.read().split(b"\n")[:-1]


def test_the_writer_is_another_process(writer):
    assert writer.pid != os.getpid()


def test_the_writer_knows_exactly_the_models_kinds():
    assert KINDS == tuple(k.label for k in Kind)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_does_on_disk_what_the_model_says(writer, transcript, kind):
    before = stat_fingerprint(transcript)
    digest0 = digest_fingerprint(transcript)[0].digest
    reply = writer.write(transcript, kind)
    after = stat_fingerprint(transcript)
    if kind == "delete":
        assert after == MISSING and reply["size"] == -1
        return
    digest1 = digest_fingerprint(transcript)[0].digest
    assert digest1 != digest0  # every kind changes the content
    lines = _lines(transcript)
    if kind == "append":  # a foreign line at the end, same inode
        assert after.ident == before.ident and lines[:2] == [FIRST[:-1], SECOND[:-1]]
        assert not looks_like_runtime(lines[-1] + b"\n")
    elif kind == "forged-append":  # a line in the runtime's own shape
        assert after.ident == before.ident and lines[:2] == [FIRST[:-1], SECOND[:-1]]
        assert looks_like_runtime(lines[-1] + b"\n")
    elif kind == "prefix-rewrite":  # earlier bytes rewritten in place, then a runtime line
        assert after.ident == before.ident and lines[0] != FIRST[:-1]
        assert len(lines[0]) == len(FIRST) - 1 and looks_like_runtime(lines[-1] + b"\n")
    elif kind == "same-size-rewrite":  # same size, same inode, mtime put back
        assert (after.ident, after.size, after.mtime_ns) == \
            (before.ident, before.size, before.mtime_ns)
        assert lines[1] == SECOND[:-1] and lines[0] != FIRST[:-1]
    elif kind == "replace":
        assert after.ident != before.ident
    elif kind == "truncate":
        assert after.ident == before.ident and after.size == 0 and reply["size"] == 0


def test_repeated_rewrites_are_all_distinct(writer, transcript):
    seen = {digest_fingerprint(transcript)[0]}
    for _ in range(50):
        writer.write(transcript, "same-size-rewrite")
        fp = digest_fingerprint(transcript)[0]
        assert fp not in seen
        seen.add(fp)


def test_append_creates_a_missing_file_and_a_rewrite_refuses_one(writer, transcript):
    writer.write(transcript, "delete")
    with pytest.raises(ExternalWriterError, match="same-size-rewrite"):
        writer.write(transcript, "same-size-rewrite")
    writer.write(transcript, "append")
    assert os.path.getsize(transcript) > 0


def test_unknown_kind_is_refused_before_reaching_the_process(writer, transcript):
    with pytest.raises(ValueError, match="unknown external edit kind"):
        writer.write(transcript, "chmod")


def test_the_writer_says_whether_stat_saw_the_edit(writer, transcript):
    assert writer.write(transcript, "append")["stat_changed"] is True


def test_the_probe_tells_coarse_from_fine_timestamps(tmp_path):
    # This machine's ext4 and tmpfs have multigrain timestamps (Linux >= 6.13):
    # a same-size rewrite with mtime put back moves ctime, and stat sees it.
    assert coarse_timestamps(str(tmp_path)) is False


# -- physics: where each kind can be made faithfully ----------------------------------

HELD, W_APPEND, W_AFTER, REL, IDLE = (Phase.held, Phase.write_append, Phase.write_after,
                                      Phase.released, Phase.idle)


def test_a_stat_invisible_rewrite_needs_a_write_window_or_coarse_timestamps():
    fine, coarse, digest = FileTracker("stat"), FileTracker("stat", coarse=True), FileTracker("digest")
    rewrite = Kind.same_size_rewrite
    # the holder's own write comes next, and moves ctime again
    assert fine.refusal(rewrite, [W_APPEND, IDLE], invisible=True) == ""
    # after it, the holder has looked (its stat right after the write)
    assert fine.refusal(rewrite, [W_AFTER, IDLE], invisible=True).startswith(PHYSICS)
    why = fine.refusal(rewrite, [REL, IDLE], invisible=True)
    assert why.startswith(PHYSICS) and "multigrain" in why
    assert coarse.refusal(rewrite, [REL, IDLE], invisible=True) == ""
    # digest mode sees it anyway, and a visible rewrite is always faithful
    assert digest.refusal(rewrite, [REL, IDLE], invisible=True) == ""
    assert fine.refusal(rewrite, [REL, IDLE], invisible=False) == ""


def test_replace_and_delete_are_refused_if_an_open_controller_appends_later():
    t = FileTracker()
    future = [Step("append", 1)]
    assert "c1 holds the old inode" in t.refusal(Kind.replace, [W_APPEND, IDLE], future)
    assert t.refusal(Kind.replace, [IDLE, W_APPEND], future) == ""  # c1 will open the new file
    # without lookahead, not while anyone holds the file open
    assert "holds the file open" in t.refusal(Kind.replace, [W_APPEND, IDLE], None)
    assert t.refusal(Kind.delete, [IDLE, Phase.done], None) == ""


def test_without_lookahead_the_later_steps_are_blocked_instead():
    t = FileTracker()
    t.wrote(Kind.replace, [HELD, IDLE])
    assert "replaced or deleted inode" in t.blocks("append", 1)
    assert t.blocks("append", 2) == ""
    t.stepped("dispose", 1, Phase.done)
    assert t.blocks("append", 1) == ""


def test_a_start_opens_the_path_again():
    t = FileTracker()
    t.wrote(Kind.delete, [HELD, IDLE])
    assert t.blocks("append", 1)
    t.stepped("start", 1, Phase.held)
    assert t.blocks("append", 1) == ""


def test_steps_of_other_modes_do_not_matter_for_the_plan():
    t = FileTracker()
    future = [Step("begin_write", 1, Mode.publish), Step("read_before", 1)]
    assert t.refusal(Kind.replace, [HELD, IDLE], future) == ""


def test_every_kind_is_in_the_trace_vocabulary():
    assert json.dumps([k.label for k in Kind]) == json.dumps(list(KINDS))
