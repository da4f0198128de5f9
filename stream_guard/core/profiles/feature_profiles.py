"""The profile of one feature in one window: exact counters plus DataSketches (KLL for numbers,
frequent items and HLL for categories), folded from whole columns and merged without mutating inputs.

`WindowProfile` (`core/profiles/profile.py`) holds one per feature and writes them in its envelope.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from datasketches import frequent_items_error_type, frequent_strings_sketch, hll_sketch, hll_union, kll_doubles_sketch

from stream_guard.core.decoding.columns import INVALID, MISSING, VALID, FeatureColumn
from stream_guard.core.decoding.schema import EXAMPLES, examples
from stream_guard.core.profiles.tails import merged_tails, read_tail, tail
from stream_guard.core.topology.features import FeatureSpec, kind

KLL_K = 200
FREQ_LG_MAX = 10  # 1024-slot map: counts are exact up to 768 distinct values per window
HLL_LG_K = 10     # 1024 registers: distinct counts within about 3% (1.04 / sqrt(1024))
EXTREME = 1e150    # a valid value this large in magnitude is counted as extreme and kept out of the sums

@dataclass
class NumericProfile:
    k: int = KLL_K
    missing: int = 0
    invalid: int = 0
    out_of_range: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    sketch: kll_doubles_sketch = field(default=None)
    violations: int = 0                                  # records breaking the declared schema or rules
    examples: list[str] = field(default_factory=list)    # a few of their values
    extreme: int = 0                                     # valid values beyond ±EXTREME, kept out of the sums
    fractional: int | None = 0                           # valid values that are not whole numbers (None: stored
                                                         # before they were counted)
    low_tail: list[float] | None = field(default_factory=list)    # the TAIL smallest values, ascending
    high_tail: list[float] | None = field(default_factory=list)   # the TAIL largest values, ascending (None: stored
                                                                  # before they were kept)
    _tail_json: int | None = field(default=None, init=False, repr=False, compare=False)   # see tail_bytes()

    def __post_init__(self) -> None:
        if self.sketch is None:
            self.sketch = kll_doubles_sketch(self.k)

    @property
    def n(self) -> int:
        """How many valid values were folded."""
        return int(self.sketch.n)

    @property
    def summed(self) -> int:
        """How many valid values the sums hold: all but the extreme ones."""
        return self.n - self.extreme

    def mean(self) -> float:
        """Exact mean of the valid values but the extreme ones (0 when there are none)."""
        return self.total / self.summed if self.summed else 0.0

    def std(self) -> float:
        """Population standard deviation of the valid values but the extreme ones, from the exact sums."""
        if not self.summed:
            return 0.0
        mean = self.total / self.summed
        return math.sqrt(max(self.total_sq / self.summed - mean * mean, 0.0))

    def fold(self, column: FeatureColumn, rows: np.ndarray, spec: FeatureSpec) -> None:
        _note_violations(self, column, rows)
        status = column.status[rows]
        values = column.numbers[rows][status == VALID]  # type: ignore[index]
        self.missing += int(np.count_nonzero(status == MISSING))
        self.invalid += int(np.count_nonzero(status == INVALID))
        if spec.min is not None:
            self.out_of_range += int(np.count_nonzero(values < spec.min))
        if spec.max is not None:
            self.out_of_range += int(np.count_nonzero(values > spec.max))
        if len(values):
            self.sketch.update(values)
            if self.fractional is not None:
                self.fractional += int(np.count_nonzero(values != np.floor(values)))
            self._keep_tails(values)
            if values.min() <= -EXTREME or values.max() >= EXTREME:
                # valid numbers, but one near 1e308 would make the sums infinite and every mean check void
                summed = values[np.abs(values) < EXTREME]
                self.extreme += len(values) - len(summed)
                values = summed
            self.total += float(values.sum())
            self.total_sq += float(np.dot(values, values))

    def tail_bytes(self) -> int:
        """The bytes both tails take in the stored header (kept until the next fold changes them)."""
        if self._tail_json is None:
            self._tail_json = sum(len(orjson.dumps(t)) for t in (self.low_tail, self.high_tail) if t is not None)
        return self._tail_json

    def _keep_tails(self, values: np.ndarray) -> None:
        if self.low_tail is None or self.high_tail is None:
            return
        low = tail(np.concatenate((self.low_tail, values)), low=True)
        high = tail(np.concatenate((self.high_tail, values)), low=False)
        if low != self.low_tail or high != self.high_tail:   # once full, most batches leave both as they were
            self.low_tail, self.high_tail, self._tail_json = low, high, None

    def merged(self, other: NumericProfile) -> NumericProfile:
        sketch = kll_doubles_sketch(self.k)
        sketch.merge(self.sketch)
        sketch.merge(other.sketch)
        return NumericProfile(
            self.k, self.missing + other.missing, self.invalid + other.invalid,
            self.out_of_range + other.out_of_range, self.total + other.total,
            self.total_sq + other.total_sq, sketch, self.violations + other.violations,
            _merged_examples(self.examples, other.examples), self.extreme + other.extreme,
            None if self.fractional is None or other.fractional is None else self.fractional + other.fractional,
            *merged_tails((self.low_tail, self.high_tail), (other.low_tail, other.high_tail)),
        )

    def header(self) -> dict[str, Any]:
        return {"kind": "numeric", "k": self.k, "missing": self.missing, "invalid": self.invalid,
                "out_of_range": self.out_of_range, "total": _json_float(self.total),
                "total_sq": _json_float(self.total_sq), "violations": self.violations, "examples": self.examples,
                "extreme": self.extreme, **({} if self.fractional is None else {"fractional": self.fractional}),
                **({} if self.low_tail is None or self.high_tail is None else
                   {"low_tail": [_json_float(v) for v in self.low_tail],
                    "high_tail": [_json_float(v) for v in self.high_tail]})}

    def sketch_bytes(self) -> bytes:
        return bytes(self.sketch.serialize())

    @classmethod
    def restore(cls, header: dict[str, Any], blob: bytes) -> NumericProfile:
        return cls(header["k"], header["missing"], header["invalid"], header["out_of_range"],
                   _read_float(header["total"]), _read_float(header["total_sq"]), kll_doubles_sketch.deserialize(blob),
                   header.get("violations", 0), list(header.get("examples", [])), header.get("extreme", 0),
                   header.get("fractional"), read_tail(header.get("low_tail")), read_tail(header.get("high_tail")))


def _json_float(value: float) -> float | str:
    """JSON has no infinity: a sum that overflowed (stored before extreme values were kept out of the
    sums) is stored as the text `inf` or `-inf`."""
    return value if math.isfinite(value) else str(value)


def _read_float(value: float | str | None) -> float:
    return math.nan if value is None else float(value)   # None: written before infinities were kept


@dataclass
class CategoricalProfile:
    lg_max: int = FREQ_LG_MAX
    missing: int = 0
    invalid: int = 0
    sketch: frequent_strings_sketch = field(default=None)
    distinct: hll_sketch | None = field(default=None)   # None only in profiles stored by version 1
    violations: int = 0
    examples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.sketch is None:
            self.sketch = frequent_strings_sketch(self.lg_max)
            self.distinct = hll_sketch(HLL_LG_K)

    @property
    def n(self) -> int:
        return int(self.sketch.total_weight)

    def fold(self, column: FeatureColumn, rows: np.ndarray, spec: FeatureSpec) -> None:
        _note_violations(self, column, rows)
        status = column.status[rows]
        self.missing += int(np.count_nonzero(status == MISSING))
        self.invalid += int(np.count_nonzero(status == INVALID))
        labels = column.labels
        assert labels is not None
        # count first, then one sketch update per distinct value; None marks missing and invalid values
        counts = Counter(labels) if len(rows) == len(labels) else Counter(map(labels.__getitem__, rows.tolist()))
        counts.pop(None, None)
        for label, weight in counts.items():
            self.sketch.update(label, weight)
            if self.distinct is not None:
                self.distinct.update(label)

    def frequencies(self) -> dict[str, int]:
        """Estimated count per value; exact while the window has fewer distinct values than the map holds."""
        items = self.sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        return {item: int(estimate) for item, estimate, _lower, _upper in items}

    @property
    def saturated(self) -> bool:
        """True once the window had more distinct values than the map holds: counts are estimates."""
        return sum(self.frequencies().values()) < self.n

    def distinct_count(self) -> float | None:
        """Estimated number of distinct values (HLL), None for a profile stored without one."""
        return None if self.distinct is None else float(self.distinct.get_estimate())

    def merged(self, other: CategoricalProfile) -> CategoricalProfile:
        sketch = frequent_strings_sketch(self.lg_max)
        sketch.merge(self.sketch)
        sketch.merge(other.sketch)
        distinct = None
        if self.distinct is not None and other.distinct is not None:
            union = hll_union(HLL_LG_K)
            union.update(self.distinct)
            union.update(other.distinct)
            distinct = union.get_result()
        return CategoricalProfile(self.lg_max, self.missing + other.missing,
                                  self.invalid + other.invalid, sketch, distinct, self.violations + other.violations,
                                  _merged_examples(self.examples, other.examples))

    def header(self) -> dict[str, Any]:
        return {"kind": "categorical", "lg_max": self.lg_max, "missing": self.missing, "invalid": self.invalid,
                "hll_len": len(self._hll_bytes()), "violations": self.violations, "examples": self.examples}

    def sketch_bytes(self) -> bytes:
        return bytes(self.sketch.serialize()) + self._hll_bytes()

    def _hll_bytes(self) -> bytes:
        return b"" if self.distinct is None else bytes(self.distinct.serialize_compact())

    @classmethod
    def restore(cls, header: dict[str, Any], blob: bytes) -> CategoricalProfile:
        cut = len(blob) - header.get("hll_len", 0)
        distinct = hll_sketch.deserialize(blob[cut:]) if header.get("hll_len") else None
        return cls(header["lg_max"], header["missing"], header["invalid"],
                   frequent_strings_sketch.deserialize(blob[:cut]), distinct, header.get("violations", 0),
                   list(header.get("examples", [])))


FeatureProfile = NumericProfile | CategoricalProfile


def _note_violations(profile: FeatureProfile, column: FeatureColumn, rows: np.ndarray) -> None:
    if column.violations is None:
        return
    broken = int(np.count_nonzero(column.violations[rows]))
    if broken:
        profile.violations += broken
        if len(profile.examples) < EXAMPLES:
            profile.examples = _merged_examples(profile.examples, examples(column, rows))


def _merged_examples(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys(first + second))[:EXAMPLES]


KINDS: dict[str, Any] = {"numeric": NumericProfile, "categorical": CategoricalProfile}


def empty_feature_profile(spec: FeatureSpec) -> FeatureProfile:
    return NumericProfile() if kind(spec) == "numeric" else CategoricalProfile()


