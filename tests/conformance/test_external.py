"""The external writer process and the choice of edit kinds."""

from __future__ import annotations

import os

import pytest

from sessionfence.conformance.external_plan import BLIND_SPOT, FileTracker, KindPlanner
from sessionfence.conformance.external_writer import KINDS, ExternalWriter, ExternalWriterError
from sessionfence.conformance.model_traces import Step
from sessionfence.impl import MISSING, digest_fingerprint, stat_fingerprint
from sessionfence.model.expr import Mode, Phase


@pytest.fixture(scope="module")
def writer():
    with ExternalWriter() as w:
        yield w


@pytest.fixture
def transcript(tmp_path):
    path = tmp_path / "session.jsonl"
    path.write_bytes(b'{"role":"system","seq":0}\n{"seq":1}\n')
    return str(path)


def test_the_writer_is_another_process(writer):
    assert writer.pid != os.getpid()


@pytest.mark.parametrize("mode", ["stat", "digest"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_the_file_a_new_fingerprint(writer, transcript, kind, mode):
    observe = stat_fingerprint if mode == "stat" else (lambda p: digest_fingerprint(p)[0])
    before = observe(transcript)
    size = writer.write(transcript, kind)
    after = observe(transcript)
    assert after != before
    if kind == "append":
        assert after.ident == before.ident and size == after.size > before.size
    elif kind == "rewrite":  # same size, same inode: only time (or content) tells
        assert (after.ident, after.size) == (before.ident, before.size) and size == before.size
        with open(transcript, "rb") as fh:
            assert fh.read().endswith(b'{"seq":1}\n')
    elif kind == "replace":
        assert after.exists and after.ident != before.ident
    else:
        assert after == MISSING and size == -1


def test_repeated_rewrites_are_all_distinct(writer, transcript):
    seen = {digest_fingerprint(transcript)[0]}
    for _ in range(50):
        writer.write(transcript, "rewrite")
        fp = digest_fingerprint(transcript)[0]
        assert fp not in seen
        seen.add(fp)


def test_append_creates_a_missing_file_and_rewrite_refuses_one(writer, transcript):
    writer.write(transcript, "delete")
    with pytest.raises(ExternalWriterError, match="rewrite"):
        writer.write(transcript, "rewrite")
    writer.write(transcript, "append")
    assert os.path.getsize(transcript) > 0


def test_unknown_kind_is_refused_before_reaching_the_process(writer, transcript):
    with pytest.raises(ValueError, match="unknown external edit kind"):
        writer.write(transcript, "truncate")


# -- which kind where -------------------------------------------------------------

HELD, W_APPEND, W_AFTER, REL, IDLE = (Phase.held, Phase.write_append, Phase.write_after,
                                      Phase.released, Phase.idle)


def test_stat_mode_refuses_same_size_rewrites_inside_a_write_section():
    stat, digest = FileTracker("stat"), FileTracker("digest")
    for phase in (W_APPEND, W_AFTER):
        assert stat.refusal("rewrite", [phase, IDLE]) == BLIND_SPOT
        assert digest.refusal("rewrite", [phase, IDLE]) == ""
    assert stat.refusal("rewrite", [Phase.write_before, REL]) == ""


def test_replace_and_delete_are_refused_if_an_open_controller_appends_later():
    t = FileTracker()
    future = [Step("append", 1)]
    assert "c1 holds the old inode" in t.refusal("replace", [W_APPEND, IDLE], future)
    assert t.refusal("replace", [IDLE, W_APPEND], future) == ""  # c1 will open the new file
    # without lookahead, not while anyone holds the file open
    assert t.refusal("replace", [W_APPEND, IDLE], None) == "c1 holds the file open (no lookahead)"
    assert t.refusal("delete", [IDLE, Phase.done], None) == ""


def test_delete_only_once_and_never_before_a_start_on_the_missing_file():
    t = FileTracker()
    assert "c2 starts" in t.refusal("delete", [HELD, IDLE], [Step("start", 2)])
    assert t.refusal("delete", [HELD, IDLE],
                     [Step("external_write", None), Step("start", 2)]) == ""
    t.wrote("delete", [HELD, IDLE])
    assert t.refusal("delete", [HELD, IDLE]) == "the file is already missing"
    t.wrote("append", [HELD, IDLE])
    assert "deleted before" in t.refusal("delete", [HELD, IDLE])


def test_without_lookahead_the_later_steps_are_blocked_instead():
    t = FileTracker()
    t.wrote("replace", [HELD, IDLE])
    assert "replaced or deleted inode" in t.blocks("append", 1)
    assert t.blocks("append", 2) == ""
    t.stepped("dispose", 1, Phase.done)
    assert t.blocks("append", 1) == ""
    t.wrote("delete", [IDLE, IDLE])
    assert "start would create it" in t.blocks("start", 2)


def test_kind_choice_is_deterministic_and_records_substitutions():
    phases = [W_AFTER, IDLE]
    a, b = KindPlanner(3, "digest"), KindPlanner(3, "digest")
    assert [a.choose(i, phases).kind for i in range(20)] == [b.choose(i, phases).kind for i in range(20)]
    planner = KindPlanner(0, "stat", kinds=("rewrite",))
    choice = planner.choose(5, phases)
    assert (choice.kind, choice.preferred, choice.reason) == ("append", "rewrite", BLIND_SPOT)
    with pytest.raises(ValueError):
        KindPlanner(0, "stat", kinds=("chmod",))


def test_steps_of_other_modes_do_not_matter_for_the_plan():
    t = FileTracker()
    future = [Step("begin_write", 1, Mode.publish), Step("read_before", 1)]
    assert t.refusal("replace", [HELD, IDLE], future) == ""
