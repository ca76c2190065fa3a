"""The ITF reader/writer against the value grammar (Apalache ADR-015 + Quint variants)."""

from __future__ import annotations

import functools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionfence.conformance import itf, model_traces
from sessionfence.conformance.itf import ItfError, ItfMap, ItfTrace, ItfVariant, Unserializable
from sessionfence.model import check, variants
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build


def roundtrip(value):
    return itf.decode(json.loads(json.dumps(itf.encode(value))))


@pytest.mark.parametrize("value, encoded", [
    (True, True),
    ("c1", "c1"),
    (0, {"#bigint": "0"}),
    (-12, {"#bigint": "-12"}),
    (2**80, {"#bigint": str(2**80)}),
    ([1, 2], [{"#bigint": "1"}, {"#bigint": "2"}]),
    ((), {"#tup": []}),
    (("a", 1), {"#tup": ["a", {"#bigint": "1"}]}),
    (frozenset({3, 1, 2}), {"#set": [{"#bigint": "1"}, {"#bigint": "2"}, {"#bigint": "3"}]}),
    (ItfMap({"c2": "idle", "c1": "held"}), {"#map": [["c1", "held"], ["c2", "idle"]]}),
    ({"f": 1, "g": "x"}, {"f": {"#bigint": "1"}, "g": "x"}),
    (ItfVariant("Some", "c1"), {"tag": "Some", "value": "c1"}),
    (itf.NONE, {"tag": "None", "value": {"#tup": []}}),
    (Unserializable("Int"), {"#unserializable": "Int"}),
])
def test_each_form_encodes_as_the_spec_says_and_decodes_back(value, encoded):
    assert itf.encode(value) == encoded
    assert itf.decode(encoded) == value


def test_sets_and_maps_are_written_in_a_canonical_order():
    a = itf.encode(frozenset({"b", "a", "c"}))
    b = itf.encode(frozenset({"c", "b", "a"}))
    assert json.dumps(a) == json.dumps(b)
    m1 = itf.encode(ItfMap([(frozenset({2}), 1), (frozenset({1}), 2)]))
    m2 = itf.encode(ItfMap([(frozenset({1}), 2), (frozenset({2}), 1)]))
    assert json.dumps(m1) == json.dumps(m2)


def test_plain_json_numbers_are_accepted_and_equal_bigints():
    assert itf.decode(7) == itf.decode({"#bigint": "7"}) == 7


def test_maps_may_have_compound_keys():
    value = ItfMap([((1, "a"), {"r": frozenset({1})}), ((2, "b"), {"r": frozenset()})])
    assert roundtrip(value) == value


@pytest.mark.parametrize("bad, where", [
    ({"#bigint": "12x"}, "#bigint must be a decimal string"),
    ({"#bigint": 12}, "#bigint must be a decimal string"),
    (1.5, "not an integer"),
    (2**60, "outside the safe range"),
    ({"#map": [[1]]}, "each entry must be a [key, value] pair"),
    ({"#set": 3}, "#set must hold an array"),
    ({"#what": 1}, "unknown ITF form '#what'"),
    (None, "null is not an ITF value"),
])
def test_malformed_values_are_rejected_with_the_reason(bad, where):
    with pytest.raises(ItfError, match=None) as e:
        itf.decode(bad, "$.x")
    assert where in str(e.value)
    assert str(e.value).startswith("$.x")


def test_errors_name_the_path_inside_nested_values():
    with pytest.raises(ItfError) as e:
        itf.decode({"a": [{"#tup": [1, {"#bigint": "?"}]}]}, "states[3].v")
    assert "states[3].v.a[0].#tup[1]" in str(e.value)


def test_records_cannot_have_hash_fields():
    with pytest.raises(ItfError):
        itf.encode({"#meta": 1})


_scalars = st.one_of(st.booleans(), st.integers(-(2**70), 2**70),
                     st.text(max_size=5).filter(lambda s: True))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(_scalars, max_size=3),
        st.builds(ItfMap, st.lists(st.tuples(_scalars, inner), max_size=3)),
        st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True)
                        .filter(lambda k: k not in ("tag",)), inner, max_size=3),
        st.builds(ItfVariant, st.sampled_from(["Some", "None", "Tag"]), inner),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_values)
def test_every_value_survives_a_json_round_trip(value):
    assert roundtrip(value) == value


def test_a_record_with_exactly_tag_and_value_reads_as_a_variant():
    # The known ambiguity of the format (no types): documented, not a bug.
    assert itf.decode({"tag": "A", "value": 1}) == ItfVariant("A", 1)


# -- trace files ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _counterexample(name="narrow-publication", prop="precision"):
    v = variants.get(name)
    ex = Executor(build(v), 2)
    (r,) = [r for r in check.verify(v, 2) if r.property == prop]
    return ex, r.trace


def test_a_model_trace_round_trips_through_a_file_and_reexecutes(tmp_path):
    ex, trace = _counterexample()
    path = str(tmp_path / "t.itf.json")
    model_traces.write(ex, trace, path, covers="violation precision", status="violation", seed=5)
    tf = model_traces.read(path)
    assert [s.label() for s in tf.steps] == [i.label() for i in trace.steps]
    assert tf.meta["covers"] == "violation precision" and tf.meta["seed"] == 5
    again = model_traces.execute(ex, tf)
    assert again.states == trace.states


def test_trace_files_carry_quint_mbt_fields_and_bigints(tmp_path):
    ex, trace = _counterexample()
    path = str(tmp_path / "t.itf.json")
    model_traces.write(ex, trace, path, covers="violation precision", status="violation")
    data = json.load(open(path))
    assert data["#meta"]["format"] == "ITF" and data["#meta"]["status"] == "violation"
    assert "mbt::actionTaken" in data["vars"] and "mbt::nondetPicks" in data["vars"]
    s0, s1 = data["states"][0], data["states"][1]
    assert s0["mbt::actionTaken"] == "init"
    assert s1["mbt::nondetPicks"]["controller"]["tag"] == "Some"
    assert s0["file"] == {"#bigint": "0"}
    for state in data["states"]:
        assert set(data["vars"]) <= set(state)


def test_files_are_byte_stable(tmp_path):
    ex, trace = _counterexample()
    a, b = str(tmp_path / "a.itf.json"), str(tmp_path / "b.itf.json")
    model_traces.write(ex, trace, a, covers="x")
    model_traces.write(ex, trace, b, covers="x")
    assert open(a, "rb").read() == open(b, "rb").read()


def test_extra_meta_never_overrides_the_standard_keys(tmp_path):
    ex, trace = _counterexample()
    t = model_traces.to_itf(ex, trace, covers="x", extra_meta={"covers": "y", "walk": 3})
    assert t.meta["covers"] == "x" and t.meta["walk"] == 3


def test_a_hand_edited_state_is_caught_as_stale(tmp_path):
    ex, trace = _counterexample()
    path = str(tmp_path / "t.itf.json")
    model_traces.write(ex, trace, path, covers="x")
    data = json.load(open(path))
    data["states"][2]["file"] = {"#bigint": "41"}
    json.dump(data, open(path, "w"))
    with pytest.raises(model_traces.StaleTrace, match=r"step 2 .* differs from the model's in file"):
        model_traces.execute(ex, model_traces.read(path))


def test_dump_is_atomic_and_leaves_no_temp_file(tmp_path):
    path = str(tmp_path / "t.itf.json")
    itf.dump(ItfTrace({"format": "ITF"}, ["x"], [{"x": 1}], []), path)
    assert [p.name for p in tmp_path.iterdir()] == ["t.itf.json"]
    assert itf.load(path).states == [{"x": 1}]
