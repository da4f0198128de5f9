"""Mergeable per-feature window profiles: exact counters plus DataSketches, in a versioned envelope.

A profile is folded from whole columns (one sketch update per batch and window, not per event),
merges without mutating its inputs, and serialises as `MAGIC | version | header | sketch bytes`
so stored bytes always say what they are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson
from datasketches import frequent_items_error_type, frequent_strings_sketch

from stream_guard.core.decoding.columns import MAX_UNKNOWN_FIELDS, FeatureColumn
from stream_guard.core.profiles.feature_profiles import EXTREME as EXTREME
from stream_guard.core.profiles.feature_profiles import KINDS, empty_feature_profile
from stream_guard.core.profiles.feature_profiles import CategoricalProfile as CategoricalProfile
from stream_guard.core.profiles.feature_profiles import FeatureProfile as FeatureProfile
from stream_guard.core.profiles.feature_profiles import NumericProfile as NumericProfile
from stream_guard.core.topology.monitor import MonitorSpec

MAGIC = b"SGWP"
FORMAT_VERSION = 2      # 2 added the HLL sketch of categorical features; version 1 is still read
READABLE_VERSIONS = (1, 2)
OTHER = "other"   # the segment that pools every segment beyond `max_segments`
POOLED_NAMES = 5    # segment names a window keeps of those `max_window_bytes` pooled into `other`
SEGMENT_VOLUME_LG = 6   # 64-slot map of events per segment name: the largest are found among any number


class ProfileFormatError(ValueError):
    """Stored bytes are not a window profile this version can read."""


@dataclass
class Room:
    """What new segments may still take of a window's `cap` in one fold (`core/profiles/capping.py`)."""

    cap: int
    used: int                       # the window's estimated bytes, new segments of this fold included
    cost: Callable[[int], int]      # the estimated bytes of a new segment folding that many events

    def takes(self, events: int) -> bool:
        """Whether a new segment of `events` events fits; if so it is counted in."""
        need = self.cost(events)
        if self.used + need > self.cap:
            return False
        self.used += need
        return True


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
    # `max_window_bytes` (core/profiles/capping.py): the most bytes the window was estimated at over it (0: never,
    # else no new segment gets a profile of its own), the events of segments whose own profile it did not keep
    # (they are in `other`) and a few of those segments' names
    peak_bytes: int = 0
    pooled_events: int = 0
    pooled_names: list[str] = field(default_factory=list)
    estimate: int | None = field(default=None, compare=False, repr=False)   # bytes, as of the last check of the cap

    @classmethod
    def empty(cls, monitor: MonitorSpec, start: int) -> WindowProfile:
        return cls(start, start + monitor.window.size, 0,
                   {name: empty_feature_profile(spec) for name, spec in monitor.all_features().items()})

    def fold(self, columns: dict[str, FeatureColumn], rows: np.ndarray, monitor: MonitorSpec,
             segments: list[str] | None = None, preferred: frozenset[str] = frozenset(),
             room: Room | None = None) -> None:
        """Fold the batch rows `rows` (indices into the columns) into this window, and into each
        row's segment when `segments` names them (see `segment_for` for the caps; `room`: the bytes
        new segments may take, from `max_window_bytes`)."""
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
            profile = self.segment_for(name, monitor, preferred, len(members), room)
            targets.setdefault(id(profile), (profile, []))[1].extend(members)
        for profile, members in targets.values():
            profile.fold(columns, np.sort(np.asarray(members)), monitor)

    def largest_segments(self, count: int) -> list[str]:
        """The `count` segment names with the most events in this window (estimated past ~48 names)."""
        if self.segment_volume is None:
            return []
        items = self.segment_volume.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        return [name for name, *_ in sorted(items, key=lambda item: (-item[1], item[0]))[:count]]

    def segment_for(self, name: str, monitor: MonitorSpec, preferred: frozenset[str] = frozenset(),
                    events: int = 0, room: Room | None = None) -> WindowProfile:
        """The profile of segment `name`, or of `other` once `max_segments` are taken or the window went
        (or with this segment's `events` would go) over `max_window_bytes`: then its events count as pooled.

        `preferred` (the largest segments of the last closed window) always get a place, so a big
        segment is not crowded out by small ones that happened to arrive first.
        """
        if name not in self.segments:
            taken = [s for s in self.segments if s != OTHER and s not in preferred]
            places = monitor.max_segments - len(preferred)
            if name not in preferred and len(taken) >= places:
                name = OTHER
            elif name != OTHER and not self._fits(name in preferred, events, room):
                self.note_pooled([name], events)
                name = OTHER
            if name not in self.segments:
                self.segments[name] = WindowProfile.empty(monitor, self.start)
        return self.segments[name]

    def _fits(self, preferred: bool, events: int, room: Room | None) -> bool:
        """Whether a new segment of `events` events may have a profile of its own under `max_window_bytes`:
        only if it fits in what the window has left, and not at all once the window went (or would have
        gone) over the cap, unless it is among the largest of the last window and fits."""
        if self.peak_bytes and not preferred:
            return False
        if room is None or room.takes(events):
            return True
        self.peak_bytes = max(self.peak_bytes, room.used + room.cost(events))
        return False

    def note_pooled(self, names: list[str], events: int) -> None:
        """`events` of the segments `names` are kept in `other` only, because of `max_window_bytes`."""
        self.pooled_events += events
        if len(self.pooled_names) < POOLED_NAMES:
            self.pooled_names = list(dict.fromkeys(self.pooled_names + names))[:POOLED_NAMES]

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
        return WindowProfile(self.start, self.end, self.events + other.events, features, unknown, segments, volume,
                             max(self.peak_bytes, other.peak_bytes), self.pooled_events + other.pooled_events,
                             list(dict.fromkeys(self.pooled_names + other.pooled_names))[:POOLED_NAMES])

    def capped(self, limit: int) -> WindowProfile:
        """The same window with at most `limit` segments of its own: the smallest pool into `other`."""
        named = sorted((s for s in self.segments if s != OTHER), key=lambda s: (-self.segments[s].events, s))
        if len(named) <= limit:
            return self
        keep = {s: self.segments[s] for s in named[:limit]}
        pooled = [self.segments[s] for s in named[limit:]] + ([self.segments[OTHER]] if OTHER in self.segments else [])
        keep[OTHER] = merge_all(pooled)
        return WindowProfile(self.start, self.end, self.events, self.features, self.unknown_fields, keep,
                             self.segment_volume, self.peak_bytes, self.pooled_events, self.pooled_names)

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
            **({"cap": {"peak_bytes": self.peak_bytes, "pooled_events": self.pooled_events,
                        "pooled_names": self.pooled_names}} if self.peak_bytes else {}),
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
            features[entry["name"]] = KINDS[entry["kind"]].restore(entry, blob)
        segments = {}
        for entry in header.get("segments", []):
            segments[entry["name"]] = cls.from_bytes(data[pos:pos + entry["len"]])
            pos += entry["len"]
        length = header.get("segment_volume_len", 0)
        volume = frequent_strings_sketch.deserialize(data[pos:pos + length]) if length else None
        cap = header.get("cap", {})
        return cls(header["start"], header["end"], header["events"], features,
                   dict(header.get("unknown_fields", {})), segments, volume,
                   cap.get("peak_bytes", 0), cap.get("pooled_events", 0), list(cap.get("pooled_names", [])))


def merge_all(profiles: list[WindowProfile]) -> WindowProfile:
    """Merge profiles of the same window (for example one per source partition)."""
    result = profiles[0]
    for profile in profiles[1:]:
        result = result.merged(profile)
    return result
