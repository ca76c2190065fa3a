"""The Informal Trace Format (ITF) of Apalache and Quint: values and files.

A small reader/writer for the value grammar (Apalache ADR-015 plus the de
facto variant encoding of Quint):

    JSON                               Python
    true / false                       bool
    "text"                             str
    {"#bigint": "-12"} or 12           int (plain JSON numbers are accepted on input)
    [v, ...]                           list
    {"#tup": [v, ...]}                 tuple
    {"#set": [v, ...]}                 frozenset
    {"#map": [[k, v], ...]}            ItfMap (an immutable, hashable mapping)
    {"tag": "T", "value": v}           ItfVariant("T", v)
    {"tag": "UNIT"}                    () (Apalache's unit value; Quint reads it the same way)
    {"#unserializable": "text"}        Unserializable("text")
    {"field": v, ...}                  ItfRecord (a dict; field names never start with '#')

Decoded values are immutable and hashable (records are `ItfRecord`, lists
`ItfList`, subclasses of dict and list), so any value may be a set element
or a map key, as the format allows. Plain JSON numbers outside
±(2**53 - 1) are refused: a JSON writer may already have rounded them
(RFC 7159), and ITF has `#bigint` for them. Every problem is one `ItfError`
whose message names the file and the place in it.

The writer emits every integer as `#bigint`, and set elements and map
entries in a canonical order, so files are byte-stable and diffable.
"""

from __future__ import annotations

import decimal
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_MAX_SAFE = 2**53 - 1
MAX_NESTING = 200  # levels of nested values; deeper input is refused, not a RecursionError
MAX_BIGINT_DIGITS = 100_000  # converting longer decimal strings takes seconds (quadratic)


class ItfError(ValueError):
    """The input is not ITF; the message says where (a JSON path)."""


@dataclass(frozen=True)
class ItfVariant:
    tag: str
    value: Any


@dataclass(frozen=True)
class Unserializable:
    text: str


def _immutable(self, *args, **kwargs):
    raise TypeError(f"decoded ITF values are immutable ({type(self).__name__})")


class ItfRecord(dict):
    """A record: a read-only dict that can be a set element or a map key."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _immutable
    clear = pop = popitem = setdefault = update = _immutable

    def __hash__(self):
        return hash(frozenset(self.items()))

    def __reduce__(self):
        return (ItfRecord, (dict(self),))

    def __repr__(self) -> str:
        return f"ItfRecord({dict.__repr__(self)})"


class ItfList(list):
    """A list (ITF sequence): read-only and hashable, like `ItfRecord`."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _immutable
    append = extend = insert = pop = remove = reverse = sort = clear = _immutable

    def __hash__(self):
        return hash(tuple(self))

    def __reduce__(self):
        return (ItfList, (list(self),))

    def __repr__(self) -> str:
        return f"ItfList({list.__repr__(self)})"


class _LongNumber:
    """A plain JSON integer too long for Python's int() (sys.int_info limit):
    kept as text so that `decode` can refuse it with its place in the file."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"<a {len(self.text.lstrip('-'))}-digit number>"


def _parse_int(text: str):
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    if limit and len(text) > limit:
        return _LongNumber(text)
    return int(text)


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond sys.int_info's digit limit; Decimal has none
        return str(decimal.Decimal(value))


def _bigint(text: str, where: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_BIGINT_DIGITS:
        raise ItfError(f"{where}: #bigint has {digits} digits; this reader takes at most "
                       f"{MAX_BIGINT_DIGITS}")
    try:
        return int(text)
    except ValueError:  # beyond sys.int_info's digit limit
        return int(decimal.Decimal(text))


class ItfMap(Mapping):
    """An immutable mapping whose keys may be any ITF value."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable = ()):
        if isinstance(items, Mapping):
            items = items.items()
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return hash(frozenset(self._items.items()))

    def __eq__(self, other):
        if isinstance(other, ItfMap):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"ItfMap({self._items!r})"


def some(value) -> ItfVariant:
    return ItfVariant("Some", value)


NONE = ItfVariant("None", ())


# -- values ------------------------------------------------------------------


def encode(value) -> Any:
    """A Python value as ITF JSON (ready for `json.dumps`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {"#bigint": _int_text(value)}
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"#tup": [encode(v) for v in value]}
    if isinstance(value, frozenset):
        return {"#set": sorted((encode(v) for v in value), key=_order)}
    if isinstance(value, ItfMap):
        pairs = [[encode(k), encode(v)] for k, v in value.items()]
        return {"#map": sorted(pairs, key=lambda kv: _order(kv[0]))}
    if isinstance(value, ItfVariant):
        return {"tag": value.tag, "value": encode(value.value)}
    if isinstance(value, Unserializable):
        return {"#unserializable": value.text}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or key.startswith("#"):
                raise ItfError(f"record field {key!r} must be a string not starting with '#'")
        return {k: encode(v) for k, v in value.items()}
    raise ItfError(f"cannot encode {type(value).__name__} value {value!r} as ITF")


def _order(encoded) -> str:
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"))


def decode(data, where: str = "$") -> Any:
    """ITF JSON (already parsed) to a Python value; `where` names the position."""
    try:
        return _decode(data, where, 0)
    except RecursionError:  # a backstop: MAX_NESTING should stop deep input first
        raise ItfError(f"{where}: values nested too deeply to read") from None


def _decode(data, where: str, depth: int) -> Any:
    if depth > MAX_NESTING:
        raise ItfError(f"{where}: values nested more than {MAX_NESTING} levels deep")
    if isinstance(data, bool):
        return data
    if isinstance(data, int):
        if abs(data) > _MAX_SAFE:
            raise ItfError(f"{where}: integer {data} is outside the safe range of JSON numbers "
                           '±(2**53 - 1); write it as {"#bigint": "..."}')
        return data
    if isinstance(data, _LongNumber):
        raise ItfError(f"{where}: a {len(data.text.lstrip('-'))}-digit JSON number is outside "
                       'the safe range ±(2**53 - 1); write it as {"#bigint": "..."}')
    if isinstance(data, float):
        raise ItfError(f"{where}: {data} is not an integer (ITF has no fractions)")
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return ItfList([_decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(data)])
    if isinstance(data, dict):
        return _decode_object(data, where, depth)
    raise ItfError(f"{where}: null is not an ITF value")


def _decode_object(data: dict, where: str, depth: int):
    def inner(value, place):
        return _decode(value, place, depth + 1)

    if "#bigint" in data:
        text = data["#bigint"]
        body = text[1:] if isinstance(text, str) and text.startswith("-") else text
        if not isinstance(text, str) or not body.isdigit() or not body.isascii():
            raise ItfError(f"{where}: #bigint must be a decimal string, got {_short(text)}")
        return _bigint(text, where)
    if "#tup" in data:
        return tuple([inner(v, f"{where}.#tup[{i}]")
                      for i, v in enumerate(_array(data, "#tup", where))])
    if "#set" in data:
        return frozenset([inner(v, f"{where}.#set[{i}]")
                          for i, v in enumerate(_array(data, "#set", where))])
    if "#map" in data:
        entries: dict = {}
        for i, kv in enumerate(_array(data, "#map", where)):
            if not isinstance(kv, list) or len(kv) != 2:
                raise ItfError(f"{where}.#map[{i}]: each entry must be a [key, value] pair")
            key = inner(kv[0], f"{where}.#map[{i}][0]")
            if key in entries:
                raise ItfError(f"{where}.#map[{i}]: key {_short(key)} appears twice "
                               "(a map is a function: one value per key)")
            entries[key] = inner(kv[1], f"{where}.#map[{i}][1]")
        return ItfMap(entries)
    if "#unserializable" in data:
        return Unserializable(str(data["#unserializable"]))
    if data.get("tag") == "UNIT" and set(data) <= {"tag", "value"}:
        return ()  # Apalache's unit; Quint's is {"#tup": []}, the same value
    if set(data) == {"tag", "value"} and isinstance(data["tag"], str):
        return ItfVariant(data["tag"], inner(data["value"], f"{where}.value"))
    bad = [k for k in data if k.startswith("#")]
    if bad:
        raise ItfError(f"{where}: unknown ITF form {_short(bad[0])}")
    return ItfRecord({k: inner(v, f"{where}.{k}") for k, v in data.items()})


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _array(data: dict, key: str, where: str) -> list:
    value = data[key]
    if not isinstance(value, list):
        raise ItfError(f"{where}: {key} must hold an array")
    return value


# -- traces ------------------------------------------------------------------


@dataclass
class ItfTrace:
    meta: dict
    vars: list
    states: list  # [dict var -> decoded value]; a state's own #meta is dropped
    params: list
    loop: Any = None


def trace_to_json(trace: ItfTrace) -> dict:
    out: dict = {"#meta": trace.meta}
    if trace.params:
        out["params"] = trace.params
    out["vars"] = trace.vars
    out["states"] = [{"#meta": {"index": i}, **{k: encode(v) for k, v in s.items()}}
                     for i, s in enumerate(trace.states)]
    if trace.loop is not None:
        out["loop"] = trace.loop
    return out


def trace_from_json(data, source: str = "<trace>") -> ItfTrace:
    if not isinstance(data, dict):
        raise ItfError(f"{source}: an ITF trace is a JSON object, got {type(data).__name__}")
    states = data.get("states")
    if not isinstance(states, list):
        raise ItfError(f"{source}: missing 'states' (an array of states)")
    names = data.get("vars", [])
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise ItfError(f"{source}: 'vars' must be an array of variable names")
    meta = data.get("#meta", {})
    if not isinstance(meta, dict):
        raise ItfError(f"{source}: '#meta' must be an object")
    params = data.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ItfError(f"{source}: 'params' must be an array of parameter names")
    decoded = []
    for i, state in enumerate(states):
        if not isinstance(state, dict):
            raise ItfError(f"{source}: states[{i}] must be an object")
        decoded.append({k: decode(v, f"{source}: states[{i}].{k}")
                        for k, v in state.items() if k != "#meta"})
    return ItfTrace(meta, list(names), decoded, list(params), data.get("loop"))


def dumps(trace: ItfTrace) -> str:
    """The trace as JSON text with one state per line (readable, diffable)."""
    data = trace_to_json(trace)
    compact = dict(ensure_ascii=False, separators=(", ", ": "))
    lines = ["{"]
    keys = [k for k in data if k != "states"]
    for k in keys:
        lines.append(f" {json.dumps(k)}: {json.dumps(data[k], **compact)},")
    lines.append(' "states": [')
    rows = [f"  {json.dumps(s, **compact)}" for s in data["states"]]
    lines.append(",\n".join(rows))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dump(trace: ItfTrace, path: str) -> None:
    """Write atomically: a reader never sees half a trace."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dumps(trace))
    os.replace(tmp, path)


def parse(text: str, source: str = "<trace>"):
    """JSON text to Python data as `load` reads it (big numbers kept for
    `decode` to refuse), or one `ItfError` line."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ItfError(f"{source}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise ItfError(f"{source}: JSON nested too deeply to read "
                       f"(ITF values may nest at most {MAX_NESTING} levels)") from None
    except ValueError as exc:
        raise ItfError(f"{source}: not JSON: {exc}") from None


def load(path: str) -> ItfTrace:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ItfError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ItfError(f"{path}: {exc.strerror or exc}") from None
    return trace_from_json(parse(text, path), path)
