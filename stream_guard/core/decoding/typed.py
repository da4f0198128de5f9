"""The typed path: a payload decoded straight into the fields a monitor reads, types checked by the parser.

`TypedEvents` builds msgspec Struct types from the monitor's paths (timestamp, features, segments):
one Struct per object on the way to a declared field, with only the declared keys. Decoding into
them skips building a dict per event and a Python object for every field nobody reads, and checks
each read value's type in C: a plain numeric feature is `float | None`, a plain categorical one
`str | None` (plain: nothing declared that a value can violate; other fields keep whatever JSON
held). So a batch decoded this way needs no per-value type check afterwards.

The typed path only takes the payloads it can represent exactly; anything else is answered with
`None` and the caller decodes that record on the general path (orjson + dicts), which gives every
reason code and per-value status. That is the case when a read value has another type (a string
where a number belongs), an object on the way is absent or not an object, an object that holds
declared features carries a key the monitor does not declare (the general path reports those as
schema drift), the payload is not UTF-8 or not JSON, or a batched message is empty.

One difference remains, in fields the monitor does not read: the typed path skips them after a
syntax check, so a number beyond a double's range (`1e400`) or nesting deeper than 1,024 levels
there does not make the event `invalid_json` as it does on the general path.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Annotated, Any

import msgspec
import numpy as np

NUMBER: Any = float | None   # the leaf types the typed path checks
LABEL: Any = str | None
# any other value, as the general path's parser gives it: it reads an integer beyond 64 bits as a
# float (or refuses it), so those take the general path (an integer nested in a list or object is
# still read whole here)
VALUE: Any = (Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | float | str | bool | None
              | list[Any] | dict[str, Any])
_astuple = msgspec.structs.astuple


class TypedEvents:
    """Decodes payloads of one format into Structs holding `paths`, and reads those back as columns."""

    def __init__(self, paths: Iterable[tuple[str, ...]], leaf_types: dict[tuple[str, ...], Any],
                 strict: set[tuple[str, ...]], fmt: str) -> None:
        """`leaf_types`: the type of each path's value (default `VALUE`); `strict`: the objects whose
        undeclared keys send a payload to the general path; `fmt`: json, json_array or ndjson.
        ValueError when the paths cannot be one Struct (a field that is both a value and an object)."""
        self.paths = list(dict.fromkeys(paths))
        self._children: dict[tuple[str, ...], list[str]] = {(): []}
        for path in self.paths:
            for depth in range(len(path)):
                names = self._children.setdefault(path[:depth], [])
                if path[depth] not in names:
                    names.append(path[depth])
        for path in self.paths:
            if path in self._children:
                raise ValueError(f"{'.'.join(path)} is read both as a value and as an object")
        event = self._struct((), leaf_types, strict)
        self._format = fmt
        self._one = msgspec.json.Decoder(event)
        self._many = msgspec.json.Decoder(list[event])  # type: ignore[valid-type]
        self._order = sorted(self._children, key=len)   # parents before their children
        self._numbers = {path for path in self.paths if leaf_types.get(path) is NUMBER}
        self._labels: dict[tuple[str, ...], dict[Any, Any]] = {
            path: {} for path in self.paths if leaf_types.get(path) is LABEL}

    def _struct(self, prefix: tuple[str, ...], leaf_types: dict[tuple[str, ...], Any],
                strict: set[tuple[str, ...]]) -> Any:
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        rename = {}
        for i, name in enumerate(self._children[prefix]):
            path = (*prefix, name)
            rename[f"f{i}"] = name
            if path in self._children:   # an object on the way: required, so an absent one goes elsewhere
                fields.append((f"f{i}", self._struct(path, leaf_types, strict)))
            else:
                fields.append((f"f{i}", leaf_types.get(path, VALUE), None))
        return msgspec.defstruct("_".join(("Typed", *prefix)) or "Typed", fields, rename=rename, kw_only=True,
                                 forbid_unknown_fields=prefix in strict, gc=False)

    def decode(self, payload: bytes | None) -> tuple[list[Any], bool] | None:
        """The events of one message and whether they are elements of a batch (so carry an index);
        None when this payload takes the general path."""
        if not payload:
            return None
        if not payload.isascii():
            try:   # the parser would let bad UTF-8 through in the fields it skips
                payload.decode("utf-8")
            except UnicodeDecodeError:
                return None
        try:
            if self._format == "json":
                return [self._one.decode(payload)], False
            events = self._one.decode_lines(payload) if self._format == "ndjson" else self._many.decode(payload)
        except (msgspec.DecodeError, ValueError, RecursionError):
            return None
        return (events, True) if events else None

    def decode_each(self, payloads: Iterable[bytes | None]) -> list[Any]:
        """Per-message events (`json`): one Struct per payload, None where the payload takes the
        general path. The per-message hot loop."""
        decode = self._one.decode
        events: list[Any] = []
        add = events.append
        for payload in payloads:
            try:
                add(decode(payload) if payload and payload.isascii() else self._decoded(payload))
            except (msgspec.DecodeError, ValueError, RecursionError):
                add(None)
        return events

    def _decoded(self, payload: bytes | None) -> Any:
        got = self.decode(payload)
        return None if got is None else got[0][0]

    def columns(self, events: list[Any]) -> dict[tuple[str, ...], Sequence[Any] | np.ndarray]:
        """Each path's values over `events`, one C-level pass per object level; a `NUMBER` path's
        as a float64 array (NaN where the value is null or absent); a `LABEL` path's with equal
        labels as one object, so that counting them later reads a few objects still in the cache
        instead of one per event (measured: the count takes a third of the time).

        Call it on a few hundred events just decoded: their values are still in the CPU cache, where
        converting them is several times faster than after a large batch has been decoded."""
        if not events:
            return {path: np.empty(0) if path in self._numbers else () for path in self.paths}
        levels: dict[tuple[str, ...], Sequence[Any]] = {(): events}
        for prefix in self._order:
            names = self._children[prefix]
            for name, column in zip(names, zip(*map(_astuple, levels[prefix]))):
                levels[(*prefix, name)] = column
        out = {path: _floats(levels[path]) if path in self._numbers else levels[path] for path in self.paths}
        for path, seen in self._labels.items():
            if len(seen) > 4096:
                seen.clear()
            out[path] = list(map(seen.setdefault, out[path], out[path]))
        return out


def _floats(values: Sequence[Any]) -> np.ndarray:
    try:
        return np.frombuffer(array("d", values))   # half the time of np.array on floats
    except TypeError:                              # None where a value is missing
        return np.array(values, dtype=np.float64)


def indexes(count: int, batched: bool) -> Iterable[int | None]:
    """The index of each of a message's `count` events: their place in a batch, or none."""
    return range(count) if batched else repeat(None, count)
