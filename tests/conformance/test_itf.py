"""The ITF reader/writer against the value grammar (Apalache ADR-015 + Quint variants)."""

from __future__ import annotations

import functools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionfence.conformance import itf, model_traces
from sessionfence.conformance.itf import (
    ItfError,
    ItfList,
    ItfMap,
    ItfRecord,
    ItfTrace,
    ItfVariant,
    Unserializable,
)
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
    ({"#map": [[1, "a"], [{"#bigint": "1"}, "b"]]}, "key 1 appears twice"),
    ({"#bigint": "9" * (itf.MAX_BIGINT_DIGITS + 1)}, "this reader takes at most"),
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
        st.builds(ItfList, st.lists(inner, max_size=3)),
        st.tuples(inner, inner),
        st.frozensets(inner, max_size=3),  # sets of records, lists, sets, ...
        st.builds(ItfMap, st.lists(st.tuples(inner, inner), max_size=3)),
        st.builds(ItfRecord, st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True)
                                             .filter(lambda k: k not in ("tag",)), inner,
                                             max_size=3)),
        st.builds(ItfVariant, st.sampled_from(["Some", "None", "Tag"]), inner),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_values)
def test_every_value_survives_a_json_round_trip(value):
    assert roundtrip(value) == value


# Spec-legal values that used to raise TypeError (unhashable dict/list) or a
# bare ValueError/RecursionError instead of decoding or one ItfError line.
@pytest.mark.parametrize("data, value", [
    ({"#set": [{"a": {"#bigint": "1"}}, {"a": {"#bigint": "2"}}]},
     frozenset({ItfRecord(a=1), ItfRecord(a=2)})),
    ({"#set": [[1, 2], [3]]}, frozenset({ItfList([1, 2]), ItfList([3])})),
    ({"#map": [[{"k": "c1"}, "x"]]}, ItfMap({ItfRecord(k="c1"): "x"})),
    ({"#set": [{"tag": "Some", "value": {"a": 1}}]},
     frozenset({ItfVariant("Some", ItfRecord(a=1))})),
    ({"tag": "Some", "value": {"a": 1}}, ItfVariant("Some", {"a": 1})),
    ({"tag": "UNIT"}, ()),
    ({"#set": [{"tag": "UNIT"}]}, frozenset({()})),
    ({"#bigint": "9" * 5000}, int("9" * 1000) * 10**4000 + int("9" * 4000)),
], ids=["set-of-records", "set-of-lists", "map-keyed-by-records", "set-of-variants-of-records",
        "variant-of-record", "UNIT", "set-of-UNIT", "5000-digit-bigint"])
def test_spec_legal_values_decode(data, value):
    got = itf.decode(data)
    assert got == value
    hash(got)  # any decoded value can be a set element or a map key


def test_decoded_records_and_lists_are_dicts_and_lists_that_cannot_change():
    rec = itf.decode({"a": [1]})
    assert isinstance(rec, dict) and isinstance(rec["a"], list)
    for change in (lambda: rec.__setitem__("b", 1), lambda: rec["a"].append(2),
                   lambda: rec.update(b=1), lambda: rec.pop("a")):
        with pytest.raises(TypeError):
            change()
    import copy
    import pickle
    assert copy.deepcopy(rec) == pickle.loads(pickle.dumps(rec)) == rec


def test_a_huge_bigint_round_trips():
    n = -7 * (10**6000 - 1) // 9  # 6000 sevens
    assert itf.decode(itf.encode(n)) == n


@pytest.mark.parametrize("text, message", [
    ('{"vars": [], "states": [{"x": ' + "9" * 5000 + "}]}",
     "a 5000-digit JSON number is outside the safe range"),
    ('{"vars": [], "states": [{"x": 9007199254740993}]}', "outside the safe range"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ('{"vars": [], "states": [{"x": ' + "[" * 300 + "]" * 300 + "}]}",
     f"nested more than {itf.MAX_NESTING} levels deep"),
    ('{"vars": [], "params": "N", "states": []}', "'params' must be an array"),
    ("\x00", "not JSON"),
], ids=["5000-digit-number", "unsafe-number", "200000-deep", "300-deep", "params",
        "nul"])
def test_unreadable_files_are_one_itf_error(tmp_path, text, message):
    path = tmp_path / "bad.itf.json"
    path.write_text(text)
    with pytest.raises(ItfError) as e:
        itf.load(str(path))
    assert message in str(e.value) and str(e.value).startswith(str(path))
    assert "\n" not in str(e.value)


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


# -- for the wider ecosystem: varTypes and the parameter N ------------------------


def _conforms(value, typ: str) -> bool:
    """Does a decoded value have the Apalache type `typ` (the forms we write)?"""
    typ = typ.strip()
    if typ.startswith("Str -> "):
        return isinstance(value, ItfMap) and all(
            isinstance(k, str) and _conforms(v, typ[len("Str -> "):]) for k, v in value.items())
    if typ.startswith("{"):
        fields = dict(f.split(":", 1) for f in typ.strip("{} ").split(", ") if f)
        return isinstance(value, dict) and set(value) == {k.strip() for k in fields} and all(
            _conforms(value[k.strip()], t) for k, t in fields.items())
    if "|" in typ:
        arms = dict(a.strip().rstrip(")").split("(", 1) for a in typ.split("|"))
        return isinstance(value, ItfVariant) and value.tag in arms and _conforms(
            value.value, arms[value.tag])
    return {"Int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "Bool": lambda v: isinstance(v, bool), "Str": lambda v: isinstance(v, str),
            "UNIT": lambda v: v == ()}[typ](value)


def test_every_state_variable_sort_has_an_apalache_type():
    from sessionfence.model import state as S

    for v in S.MACHINE_VARS + S.WORLD_VARS + S.GHOST_VARS + (S.fence.decl, S.reg_gen.decl):
        assert model_traces.itf_type(v.sort, v.per_ctrl) in (
            "Int", "Bool", "Str", "Str -> Int", "Str -> Bool", "Str -> Str")
    with pytest.raises(ValueError, match="SORT_TYPES"):
        model_traces.itf_type("no-such-sort", False)


def test_var_types_cover_exactly_the_vars_and_match_every_written_value(tmp_path):
    ex, trace = _counterexample()
    path = str(tmp_path / "t.itf.json")
    model_traces.write(ex, trace, path, covers="x")
    t = itf.load(path)
    types = t.meta["varTypes"]
    assert list(types) == t.vars  # Apalache: the keys are the variables in `vars`
    assert types["phase"] == "Str -> Str" and types["file"] == "Int"
    assert types["mbt::nondetPicks"] == ("{ controller: None(UNIT) | Some(Str), "
                                         "mode: None(UNIT) | Some(Str), "
                                         "kind: None(UNIT) | Some(Str) }")
    for i, state in enumerate(t.states):
        for name in t.vars:
            assert _conforms(state[name], types[name]), (i, name, state[name], types[name])


def test_the_number_of_controllers_is_the_parameter_n_in_state_0(tmp_path):
    ex, trace = _counterexample()
    path = str(tmp_path / "t.itf.json")
    model_traces.write(ex, trace, path, covers="x")
    data = json.load(open(path))
    assert data["params"] == ["N"] and data["states"][0]["N"] == {"#bigint": "2"}
    assert all("N" not in s for s in data["states"][1:]) and "N" not in data["vars"]
    assert data["#meta"]["controllers"] == 2  # kept: older readers use it
    # A reader gets N from either place ...
    del data["#meta"]["controllers"]
    json.dump(data, open(path, "w"))
    assert model_traces.read(path).controllers == 2
    # ... and refuses a file where they disagree.
    data["#meta"]["controllers"] = 3
    json.dump(data, open(path, "w"))
    with pytest.raises(ItfError, match="#meta.controllers = 3 and parameter N = 2 disagree"):
        model_traces.read(path)
    data["params"] = []
    del data["#meta"]["controllers"]
    json.dump(data, open(path, "w"))
    with pytest.raises(ItfError, match="number of controllers is missing"):
        model_traces.read(path)
