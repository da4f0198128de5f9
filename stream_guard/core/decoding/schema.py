"""The declared schema of a feature, checked per record: types, required, ranges, allowed values,
patterns, lengths and extra rules such as `age >= 0`.

A feature's column is built as usual (numbers or labels with VALID / MISSING / INVALID status); a
feature that declares any constraint also gets a per-row `violations` mask, counted per window
with a few example values, which the `slo` check grades. Only features that declare something pay
for the extra pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_guard.core.decoding.columns import (
    INVALID,
    MISSING,
    VALID,
    FeatureColumn,
    categorical_column,
    numeric_column,
)
from stream_guard.core.topology.features import FeatureSpec, kind
from stream_guard.core.topology.rules import OPERATORS, Rule
from stream_guard.core.topology.timestamps import parse_event_time

EXAMPLES = 3


def plain_numeric(spec: FeatureSpec) -> bool:
    """Whether `build_column` makes the feature's column with `numeric_column` (and so may `numeric_columns`)."""
    return spec.type != "timestamp" and kind(spec) == "numeric"


def constrained(spec: FeatureSpec, rules: Sequence[Rule] = ()) -> bool:
    """Whether the feature declares anything its records can violate."""
    return bool(spec.required or not spec.nullable or spec.type in ("integer", "boolean", "string", "timestamp")
                or spec.min is not None or spec.max is not None or spec.allowed is not None
                or spec.pattern is not None or spec.max_length is not None or rules)


def build_column(spec: FeatureSpec, values: list[Any], rules: Sequence[Rule] = (),
                 column: FeatureColumn | None = None) -> FeatureColumn:
    """The feature's column from its raw values, with the violations mask when it has a schema.

    `column` is the column of `values` when it was already built (see `plain_numeric`), so that
    only the schema is checked here.
    """
    if column is not None:
        pass
    elif spec.type == "timestamp":
        column = _timestamp_column(values)
    elif kind(spec) == "numeric":
        column = numeric_column(values)
    else:
        column = categorical_column(values)
    if constrained(spec, rules):
        column.violations = _violations(spec, column, values, rules)
        column.raw = values
    return column


def _violations(spec: FeatureSpec, column: FeatureColumn, values: list[Any], rules: Sequence[Rule]) -> np.ndarray:
    status = column.status
    bad: np.ndarray = status == INVALID
    if spec.required or not spec.nullable:
        bad |= status == MISSING
    valid = status == VALID
    if column.numbers is not None:
        numbers = np.where(valid, column.numbers, 0.0)
        if spec.type == "integer":
            bad |= valid & (numbers != np.floor(numbers))
        if spec.min is not None:
            bad |= valid & (numbers < spec.min)
        if spec.max is not None:
            bad |= valid & (numbers > spec.max)
        for rule in rules:
            bad |= valid & ~rule.holds(numbers)
        return bad
    labels = column.labels or []
    if spec.type == "boolean":
        bad |= np.fromiter((v is not None and type(v) is not bool for v in values), bool, len(values))
    elif spec.type == "string":
        bad |= np.fromiter((v is not None and type(v) is not str for v in values), bool, len(values))
    verdict: dict[str, bool] = {}
    for label in {label for label in labels if label is not None}:
        verdict[label] = _label_breaks(spec, rules, label)
    if any(verdict.values()):
        bad |= np.fromiter((verdict.get(v, False) if v is not None else False for v in labels), bool, len(labels))
    return bad


def _label_breaks(spec: FeatureSpec, rules: Sequence[Rule], label: str) -> bool:
    if spec.allowed is not None and label not in spec.allowed:
        return True
    if spec.pattern is not None and not re.fullmatch(spec.pattern, label):
        return True
    if spec.max_length is not None and len(label) > spec.max_length:
        return True
    return any(not OPERATORS[rule.op](label, rule.value) for rule in rules)


def _timestamp_column(values: list[Any]) -> FeatureColumn:
    numbers = np.full(len(values), np.nan)
    status = np.full(len(values), VALID, dtype=np.int8)
    for i, value in enumerate(values):
        if value is None:
            status[i] = MISSING
            continue
        try:
            numbers[i] = parse_event_time(value)
        except ValueError:
            status[i] = INVALID
    return FeatureColumn("numeric", status, numbers=numbers)


def examples(column: FeatureColumn, rows: np.ndarray, limit: int = EXAMPLES) -> list[str]:
    """Up to `limit` distinct violating values among `rows`, as text."""
    if column.violations is None or column.raw is None:
        return []
    out: list[str] = []
    for row in rows[column.violations[rows]][:200].tolist():
        text = "null" if column.raw[row] is None else str(column.raw[row])[:80]
        if text not in out:
            out.append(text)
            if len(out) == limit:
                break
    return out
