"""Columns from decoded events, built at C speed where the data allows and safely where it does not.

Field values are pulled out one path level at a time with `map(dict.get, ...)`, so a batch of events
costs a few C loops per feature instead of a Python call per event and feature. A column whose
values all have the expected types converts in one numpy call; anything else (a string where a
number belongs, a list instead of an object) takes the slow path for that column only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

VALID, MISSING, INVALID = 0, 1, 2
_EMPTY: dict[str, Any] = {}
_NUMBER_TYPES = {int, float, type(None)}
_LABEL_TYPES = {str, type(None)}


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

    def __init__(self, events: list[Any]) -> None:
        self._levels: dict[tuple[str, ...], list[Any]] = {(): events}

    def values(self, path: tuple[str, ...]) -> list[Any]:
        """The value at `path` for every event; None where it is absent."""
        level = self._level(path[:-1])
        try:
            return list(map(dict.get, level, repeat(path[-1])))
        except TypeError:  # some parent is not an object: look each event up carefully
            return [node.get(path[-1]) if isinstance(node, dict) else None for node in level]

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


def categorical_column(values: list[Any]) -> FeatureColumn:
    if set(map(type, values)) <= _LABEL_TYPES:
        missing = np.array([v is None for v in values], dtype=bool) if None in values else np.zeros(len(values), bool)
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
