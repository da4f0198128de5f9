"""Per-record rules such as `age >= 0` that a monitor declares (`rules:`): their model and parsing.

Checking them against a batch's values is decoding's work (`core.decoding.schema`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_guard.core.topology.features import FeatureSpec, kind

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "!=": operator.ne}
_RULE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Rule:
    """`feature OP value`: every record's value must satisfy it (missing values are not judged)."""

    feature: str
    op: str
    value: float | str
    text: str

    def holds(self, values: np.ndarray) -> np.ndarray:
        result: np.ndarray = OPERATORS[self.op](values, self.value)
        return result


def parse_rule(text: str, features: Mapping[str, FeatureSpec]) -> Rule:
    """A rule from its text, checked against the monitor's features (by name); ValueError says what is wrong."""
    match = _RULE.match(text)
    if not match:
        raise ValueError(f"rule {text!r} is not `FEATURE OP VALUE` (OP one of >= <= > < == !=), e.g. `age >= 0`")
    name, op, literal = match.groups()
    if name not in features:
        raise ValueError(f"rule {text!r} names {name!r}, which is not a feature of this monitor "
                         f"({', '.join(sorted(features))})")
    if kind(features[name]) == "numeric":
        try:
            value: float | str = float(literal)
        except ValueError:
            raise ValueError(f"rule {text!r} compares numeric feature {name!r} with {literal!r}, "
                             "not a number") from None
    else:
        if op not in ("==", "!="):
            raise ValueError(f"rule {text!r}: a categorical feature can only be compared with == or !=")
        value = literal.strip("'\"")
    return Rule(name, op, value, text.strip())
