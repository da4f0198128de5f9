"""Columns from decoded events, built at C speed where the data allows and safely where it does not.

Field values are pulled out one path level at a time with `map(dict.get, ...)`, so a batch of events
costs a few C loops instead of a Python call per event and feature. The declared fields of one
object (`features.*`) are read together, one `itemgetter` call per event, while every event holds
them all; an event lacking one sends that object back to one pass per field. A column whose values
all have the expected types converts in one numpy call (the numeric columns of a batch in a single
call); anything else (a string where a number belongs, a list instead of an object) takes the slow
path for that column only.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np

VALID, MISSING, INVALID = 0, 1, 2
MAX_UNKNOWN_FIELDS = 20  # undeclared field names tracked per object and batch
_EMPTY: dict[str, Any] = {}
_NUMBER_TYPES = {int, float, type(None)}
_NONE = type(None)
_LABEL_TYPES = {str, _NONE}


@dataclass
class FeatureColumn:
    """One feature over the good events of a batch: values plus VALID / MISSING / INVALID status."""

    kind: str
    status: np.ndarray
    numbers: np.ndarray | None = None
    labels: list[str | None] | None = None
    violations: np.ndarray | None = None   # per row, for features that declare a schema (core.schema)
    raw: list[Any] | None = None           # the raw values, kept only alongside `violations`


class FieldReader:
    """Reads dotted paths from a list of events, sharing the work of common prefixes (`features.*`)."""

    def __init__(self, events: list[Any], declared: Iterable[tuple[str, ...]] = ()) -> None:
        """`declared`: the paths that will be read, so that fields of the same object are read together."""
        self._levels: dict[tuple[str, ...], list[Any]] = {(): events}
        self._siblings: dict[tuple[str, ...], list[str]] = {}
        for path in declared:
            names = self._siblings.setdefault(path[:-1], [])
            if path[-1] not in names:
                names.append(path[-1])
        self._together: dict[tuple[str, ...], tuple[Any, ...]] = {}
        self._present: dict[tuple[str, ...], frozenset[str]] = {}

    def values(self, path: tuple[str, ...]) -> list[Any]:
        """The value at `path` for every event; None where it is absent."""
        prefix = path[:-1]
        if len(self._siblings.get(prefix, ())) > 1 and prefix not in self._present:
            self._read_together(prefix)
        if path in self._together:
            return list(self._together[path])
        level = self._level(prefix)
        try:
            return list(map(dict.get, level, repeat(path[-1])))
        except TypeError:  # some parent is not an object: look each event up carefully
            return [node.get(path[-1]) if isinstance(node, dict) else None for node in level]

    def present(self, prefix: tuple[str, ...]) -> frozenset[str]:
        """Declared fields that every event's object at `prefix` is known to hold (of those read so far)."""
        return self._present.get(prefix, frozenset())

    def _read_together(self, prefix: tuple[str, ...]) -> None:
        """One C-level lookup of all declared fields per event; nothing when some event lacks one."""
        names = self._siblings[prefix]
        self._present[prefix] = frozenset()
        try:
            rows = list(map(itemgetter(*names), self._level(prefix)))
        except (KeyError, TypeError):   # a field is absent, or the parent is no object, in some event
            return
        columns = zip(*rows) if rows else repeat((), len(names))
        self._together.update(zip([(*prefix, name) for name in names], columns))
        self._present[prefix] = frozenset(names)

    def level(self, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
        """The object at `prefix` for every event (an empty one where it is absent or not an object)."""
        level = self._level(prefix)
        if set(map(type, level)) <= {dict}:
            return level
        return [node if isinstance(node, dict) else _EMPTY for node in level]

    def _level(self, prefix: tuple[str, ...]) -> list[Any]:
        if prefix not in self._levels:
            parents = self._level(prefix[:-1])
            try:
                level = list(map(dict.get, parents, repeat(prefix[-1]), repeat(_EMPTY)))
            except TypeError:
                level = [node.get(prefix[-1], _EMPTY) if isinstance(node, dict) else _EMPTY for node in parents]
            self._levels[prefix] = [_EMPTY if node is None else node for node in level]
        return self._levels[prefix]


class ChunkedFields:
    """The declared paths' values, and the undeclared fields of the declared objects, over events
    read a chunk at a time: a chunk's events are read while the parser's output is still in the
    CPU cache, then freed (reading a whole large batch at once measured about a quarter slower).

    `containers` maps each object that holds declared fields (`("features",)`) to the keys declared
    in it; only a chunk where some object holds other keys is kept, to find them (schema drift).
    """

    def __init__(self, paths: Iterable[tuple[str, ...]], containers: dict[tuple[str, ...], set[str]],
                 numbers: Iterable[tuple[str, ...]] = ()) -> None:
        """`numbers`: the paths the typed path gives as float arrays (see `numbers`)."""
        self.values: dict[tuple[str, ...], list[Any]] = {path: [] for path in paths}
        self.count = 0
        self.typed = True   # until events come that did not take the typed path (`add`)
        self._parts: dict[tuple[str, ...], list[np.ndarray]] = {path: [] for path in numbers}
        self._containers = containers
        self._odd: dict[tuple[str, ...], list[tuple[int, list[dict[str, Any]]]]] = {p: [] for p in containers}
        self._dropped: list[int] = []

    def add(self, events: list[Any]) -> None:
        """Read one chunk of events (objects); the list may be reused or freed afterwards."""
        if not events:
            return
        if self.typed:   # from now on the typed path's numbers are values like the others
            for path, parts in self._parts.items():
                self.values[path] = _as_values(self.numbers(path))
                parts.clear()
            self.typed = False
        reader = FieldReader(events, self.values)
        for path, values in self.values.items():
            values += reader.values(path)
        for prefix, known in self._containers.items():
            level = reader.level(prefix)
            if level and not (known <= reader.present(prefix) and max(map(len, level)) <= len(known)):
                self._odd[prefix].append((self.count, level))   # some object may hold undeclared keys
        self.count += len(events)

    def add_typed(self, columns: dict[tuple[str, ...], Sequence[Any] | np.ndarray], count: int) -> None:
        """Add `count` events read by the typed path (`core.typed`): each path's values (a float
        array for the `numbers` paths), and no undeclared keys in the declared objects (that path
        leaves those events to `add`)."""
        for path, values in self.values.items():
            column = columns[path]
            if not isinstance(column, np.ndarray):
                values += column
            elif self.typed:
                self._parts[path].append(column)
            else:
                values += _as_values(column)
        self.count += count

    def numbers(self, path: tuple[str, ...]) -> np.ndarray:
        """A `numbers` path's values while every event came through the typed path (NaN: missing)."""
        parts = self._parts[path]
        if len(parts) != 1:
            parts[:] = [np.concatenate(parts) if parts else np.empty(0)]
        return parts[0]

    def drop(self, rows: list[int]) -> None:
        """Forget the events at `rows` (sorted positions among all events added)."""
        if rows:
            gone = set(rows)
            for path, values in self.values.items():
                self.values[path] = [v for i, v in enumerate(values) if i not in gone]
            for path, parts in self._parts.items():
                if parts:
                    parts[:] = [np.delete(self.numbers(path), rows)]
            self._dropped = rows

    def unknown(self) -> dict[str, np.ndarray]:
        """Undeclared field -> which of the events (not dropped) carry it, for the first
        `MAX_UNKNOWN_FIELDS` such fields of each object in name order."""
        out: dict[str, np.ndarray] = {}
        dropped = self._dropped
        for prefix, known in self._containers.items():
            chunks = self._odd[prefix]
            seen: set[str] = set().union(*(node.keys() for _, level in chunks for node in level))
            kept = 0
            for name in sorted(seen - known):
                mask = np.zeros(self.count, dtype=bool)
                for start, level in chunks:
                    mask[start:start + len(level)] = np.fromiter((name in node for node in level), bool, len(level))
                mask = np.delete(mask, dropped) if dropped else mask
                if mask.any():   # not only in dropped events
                    out[".".join((*prefix, name))] = mask
                    kept += 1
                    if kept == MAX_UNKNOWN_FIELDS:
                        break
        return out


def _as_values(numbers: np.ndarray) -> list[float | None]:
    """The typed path's numbers as the general path reads them: None, not NaN, where missing."""
    values = numbers.astype(object)
    values[np.isnan(numbers)] = None
    return values.tolist()  # type: ignore[no-any-return]


def numeric_column(values: list[Any]) -> FeatureColumn:
    if set(map(type, values)) <= _NUMBER_TYPES:
        numbers = np.array(values, dtype=np.float64)  # None becomes NaN; JSON itself cannot hold NaN
        status = np.where(np.isnan(numbers), MISSING, VALID).astype(np.int8)
        return FeatureColumn("numeric", status, numbers=numbers)
    numbers = np.full(len(values), np.nan)
    status = np.full(len(values), INVALID, dtype=np.int8)
    for i, v in enumerate(values):
        if v is None:
            status[i] = MISSING
        elif (type(v) is float or type(v) is int) and math.isfinite(v):
            numbers[i] = v
            status[i] = VALID
    return FeatureColumn("numeric", status, numbers=numbers)


def numeric_columns(columns: Sequence[Sequence[Any]]) -> list[FeatureColumn] | None:
    """`numeric_column` of each of several same-length value lists, in one numpy call; None unless
    every value is a number or None (then each list takes `numeric_column` on its own)."""
    if not set(map(type, chain.from_iterable(columns))) <= _NUMBER_TYPES:
        return None
    numbers = np.empty((len(columns), len(columns[0])))
    for i, values in enumerate(columns):
        try:
            numbers[i] = array("d", values)   # half the time of np.array on a list of floats
        except TypeError:                     # None where a value is missing: NaN
            numbers[i] = np.array(values, dtype=np.float64)
    return number_columns(numbers)


def number_columns(numbers: np.ndarray) -> list[FeatureColumn]:
    """A numeric column from each row of a float array; NaN marks a missing value."""
    status = np.where(np.isnan(numbers), MISSING, VALID).astype(np.int8)
    return [FeatureColumn("numeric", status[i], numbers=numbers[i]) for i in range(len(numbers))]


def categorical_column(values: list[Any], checked: bool = False) -> FeatureColumn:
    """`checked`: the caller knows every value is a string or None (the typed path's columns)."""
    types = ({str, _NONE} if None in values else {str}) if checked else set(map(type, values))
    if types <= _LABEL_TYPES:   # only strings, and None where the value is missing
        missing = np.array([v is None for v in values], dtype=bool) if _NONE in types else np.zeros(len(values), bool)
        status = missing.astype(np.int8) * MISSING
        return FeatureColumn("categorical", status, labels=values)
    labels: list[str | None] = []
    status = np.full(len(values), VALID, dtype=np.int8)
    for i, v in enumerate(values):
        if type(v) is str:
            labels.append(v)
        elif v is None:
            labels.append(None)
            status[i] = MISSING
        elif isinstance(v, bool):
            labels.append("true" if v else "false")
        elif isinstance(v, (int, float)):
            labels.append(str(v))
        else:
            labels.append(None)
            status[i] = INVALID
    return FeatureColumn("categorical", status, labels=labels)
