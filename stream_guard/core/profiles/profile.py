"""Mergeable per-feature window profiles: exact counters plus DataSketches, in a versioned envelope.

A profile is folded from whole columns (one sketch update per batch and window, not per event),
merges without mutating its inputs, and serialises as `MAGIC | version | header | sketch bytes`
so stored bytes always say what they are.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from datasketches import frequent_items_error_type, frequent_strings_sketch, hll_sketch, hll_union, kll_doubles_sketch

from stream_guard.core.decoding.columns import INVALID, MAX_UNKNOWN_FIELDS, MISSING, VALID, FeatureColumn
from stream_guard.core.decoding.schema import EXAMPLES, examples
from stream_guard.core.profiles.tails import merged_tails, read_tail, tail
from stream_guard.core.topology.features import FeatureSpec, kind
from stream_guard.core.topology.monitor import MonitorSpec

MAGIC = b"SGWP"
FORMAT_VERSION = 2      # 2 added the HLL sketch of categorical features; version 1 is still read
READABLE_VERSIONS = (1, 2)
KLL_K = 200
FREQ_LG_MAX = 10  # 1024-slot map: counts are exact up to 768 distinct values per window
OTHER = "other"   # the segment that pools every segment beyond `max_segments`
SEGMENT_VOLUME_LG = 6   # 64-slot map of events per segment name: the largest are found among any number
HLL_LG_K = 10     # 1024 registers: distinct counts within about 3% (1.04 / sqrt(1024))
EXTREME = 1e150    # a valid value this large in magnitude is counted as extreme and kept out of the sums


class ProfileFormatError(ValueError):
    """Stored bytes are not a window profile this version can read."""


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

    def _keep_tails(self, values: np.ndarray) -> None:
        if self.low_tail is None or self.high_tail is None:
            return
        self.low_tail = tail(np.concatenate((self.low_tail, values)), low=True)
        self.high_tail = tail(np.concatenate((self.high_tail, values)), low=False)

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


_KINDS: dict[str, Any] = {"numeric": NumericProfile, "categorical": CategoricalProfile}


def empty_feature_profile(spec: FeatureSpec) -> FeatureProfile:
    return NumericProfile() if kind(spec) == "numeric" else CategoricalProfile()


@dataclass
class WindowProfile:
    """Everything known about one event-time window `[start, end)` of one monitor."""

    start: int
    end: int
    events: int = 0
    features: dict[str, FeatureProfile] = field(default_factory=dict)
    unknown_fields: dict[str, int] = field(default_factory=dict)   # undeclared field -> events carrying it
    segments: dict[str, WindowProfile] = field(default_factory=dict)   # segment name -> its own profile
    segment_volume: frequent_strings_sketch | None = None   # events per segment name, beyond the cap too

    @classmethod
    def empty(cls, monitor: MonitorSpec, start: int) -> WindowProfile:
        return cls(start, start + monitor.window.size, 0,
                   {name: empty_feature_profile(spec) for name, spec in monitor.all_features().items()})

    def fold(self, columns: dict[str, FeatureColumn], rows: np.ndarray, monitor: MonitorSpec,
             segments: list[str] | None = None, preferred: frozenset[str] = frozenset()) -> None:
        """Fold the batch rows `rows` (indices into the columns) into this window, and into each
        row's segment when `segments` names them (see `segment_for` for the cap)."""
        self.events += len(rows)
        for name, spec in monitor.all_features().items():
            self.features[name].fold(columns[name], rows, spec)
        if segments is None:
            return
        groups: dict[str, list[int]] = {}
        for row in rows.tolist():
            groups.setdefault(segments[row], []).append(row)
        if self.segment_volume is None:
            self.segment_volume = frequent_strings_sketch(SEGMENT_VOLUME_LG)
        # segments past the cap share `other`: fold each profile once, not once per segment name
        targets: dict[int, tuple[WindowProfile, list[int]]] = {}
        for name, members in groups.items():
            self.segment_volume.update(name, len(members))
            profile = self.segment_for(name, monitor, preferred)
            targets.setdefault(id(profile), (profile, []))[1].extend(members)
        for profile, members in targets.values():
            profile.fold(columns, np.sort(np.asarray(members)), monitor)

    def largest_segments(self, count: int) -> list[str]:
        """The `count` segment names with the most events in this window (estimated past ~48 names)."""
        if self.segment_volume is None:
            return []
        items = self.segment_volume.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        return [name for name, *_ in sorted(items, key=lambda item: (-item[1], item[0]))[:count]]

    def segment_for(self, name: str, monitor: MonitorSpec, preferred: frozenset[str] = frozenset()) -> WindowProfile:
        """The profile of segment `name`, or of `other` once `max_segments` are taken.

        `preferred` (the largest segments of the last closed window) always get a place, so a big
        segment is not crowded out by small ones that happened to arrive first.
        """
        if name not in self.segments:
            taken = [s for s in self.segments if s != OTHER and s not in preferred]
            room = monitor.max_segments - len(preferred)
            if name not in preferred and len(taken) >= room:
                name = OTHER
            if name not in self.segments:
                self.segments[name] = WindowProfile.empty(monitor, self.start)
        return self.segments[name]

    def merged(self, other: WindowProfile) -> WindowProfile:
        if (self.start, self.end) != (other.start, other.end):
            raise ValueError(f"cannot merge window {self.start} with window {other.start}")
        mine = {name: f.merged(other.features[name]) if name in other.features else f  # type: ignore[arg-type]
                for name, f in self.features.items()}
        features = {**other.features, **mine}   # a feature only one side folded (the multivariate error's) stays
        unknown = dict(self.unknown_fields)
        for name, count in other.unknown_fields.items():
            unknown[name] = unknown.get(name, 0) + count
        segments = dict(self.segments)
        for name, profile in other.segments.items():
            segments[name] = segments[name].merged(profile) if name in segments else profile
        volume = None
        for sketch in (self.segment_volume, other.segment_volume):
            if sketch is not None:
                volume = volume or frequent_strings_sketch(SEGMENT_VOLUME_LG)
                volume.merge(sketch)
        return WindowProfile(self.start, self.end, self.events + other.events, features, unknown, segments, volume)

    def capped(self, limit: int) -> WindowProfile:
        """The same window with at most `limit` segments of its own: the smallest pool into `other`."""
        named = sorted((s for s in self.segments if s != OTHER), key=lambda s: (-self.segments[s].events, s))
        if len(named) <= limit:
            return self
        keep = {s: self.segments[s] for s in named[:limit]}
        pooled = [self.segments[s] for s in named[limit:]] + ([self.segments[OTHER]] if OTHER in self.segments else [])
        keep[OTHER] = merge_all(pooled)
        return WindowProfile(self.start, self.end, self.events, self.features, self.unknown_fields, keep,
                             self.segment_volume)

    def count_unknown(self, name: str, events: int) -> None:
        if events and (name in self.unknown_fields or len(self.unknown_fields) < MAX_UNKNOWN_FIELDS):
            self.unknown_fields[name] = self.unknown_fields.get(name, 0) + events

    def to_bytes(self) -> bytes:
        blobs = [(name, f.header(), f.sketch_bytes()) for name, f in self.features.items()]
        segments = [(name, profile.to_bytes()) for name, profile in self.segments.items()]
        volume = bytes(self.segment_volume.serialize()) if self.segment_volume is not None else b""
        header = orjson.dumps({
            "start": self.start, "end": self.end, "events": self.events, "unknown_fields": self.unknown_fields,
            "features": [{"name": name, **h, "len": len(blob)} for name, h, blob in blobs],
            "segments": [{"name": name, "len": len(blob)} for name, blob in segments],
            "segment_volume_len": len(volume),
        })
        return b"".join([MAGIC, struct.pack(">HI", FORMAT_VERSION, len(header)), header,
                         *(blob for _, _, blob in blobs), *(blob for _, blob in segments), volume])

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowProfile:
        if data[:4] != MAGIC:
            raise ProfileFormatError("not a stream_guard window profile (bad magic)")
        version, header_len = struct.unpack(">HI", data[4:10])
        if version not in READABLE_VERSIONS:
            raise ProfileFormatError(f"window profile format v{version}; this version reads "
                                     f"v{READABLE_VERSIONS[0]} to v{READABLE_VERSIONS[-1]}")
        header = orjson.loads(data[10:10 + header_len])
        pos = 10 + header_len
        features: dict[str, FeatureProfile] = {}
        for entry in header["features"]:
            blob = data[pos:pos + entry["len"]]
            pos += entry["len"]
            features[entry["name"]] = _KINDS[entry["kind"]].restore(entry, blob)
        segments = {}
        for entry in header.get("segments", []):
            segments[entry["name"]] = cls.from_bytes(data[pos:pos + entry["len"]])
            pos += entry["len"]
        length = header.get("segment_volume_len", 0)
        volume = frequent_strings_sketch.deserialize(data[pos:pos + length]) if length else None
        return cls(header["start"], header["end"], header["events"], features,
                   dict(header.get("unknown_fields", {})), segments, volume)


def merge_all(profiles: list[WindowProfile]) -> WindowProfile:
    """Merge profiles of the same window (for example one per source partition)."""
    result = profiles[0]
    for profile in profiles[1:]:
        result = result.merged(profile)
    return result
