"""Bounded window state: what one window keeps is held under the monitor's `max_window_bytes`.

A window profile grows with features x segments: each segment has a profile of every feature. Its stored
size is estimated from its sketches (no serialisation; within a few percent of `to_bytes()`) and checked
twice per fold. Before: a new segment is created only if its projected size (`segment_cost`) fits in what
the window has left (`room`), so one batch cannot overshoot by many new segments. After: a window still
over the cap (its sketches grew) pools its smallest segments (fewest events) into `other` until it fits.
From the first time either happens no new segment gets a profile of its own in that window
(`WindowProfile.peak_bytes` says it went, or would have gone, over). The events of those segments are
still folded and counted: into the window's own feature profiles and into `other`. They are recorded as
`pooled_events` (with a few names), which the `state_cap` check reports when the window closes. The
window's own feature profiles and `other` are always kept, so a monitor whose features alone pass the
cap keeps them and its windows report it.

>>> from stream_guard.core.topology.monitor import MonitorSpec
>>> spec = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...     "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}}})
>>> window = WindowProfile.empty(spec, 0)
>>> within_cap(window, 4096) is window, window.peak_bytes
(True, 0)
"""

from __future__ import annotations

from collections.abc import Callable

from stream_guard.core.profiles.feature_profiles import KLL_K, FeatureProfile, NumericProfile
from stream_guard.core.profiles.profile import OTHER, Room, WindowProfile, merge_all
from stream_guard.core.profiles.tails import TAIL
from stream_guard.core.topology.features import kind
from stream_guard.core.topology.monitor import MonitorSpec

NUMERIC_HEADER = 205      # a numeric feature's JSON header, its tails and examples aside
CATEGORICAL_HEADER = 120
KLL_PREAMBLE = 44         # a KLL sketch's serialised preamble and level offsets (8 bytes when empty)
WINDOW_HEADER = 110       # a window's own JSON header, features and segments aside
SEGMENT_ENTRY = 30        # a segment's entry in its window's header, its name aside
PROJECTED_TAIL_VALUE = 8  # a tail value in JSON, as projected for a segment not yet created (`12.34,`)
PROJECTED_ITEM = 20       # a frequent item (a value and its counts), likewise


def feature_bytes(name: str, profile: FeatureProfile) -> int:
    """The estimated stored size of one feature profile."""
    notes = len(name) + sum(len(e) + 3 for e in profile.examples)
    if isinstance(profile, NumericProfile):
        retained = int(profile.sketch.num_retained)
        return NUMERIC_HEADER + notes + profile.tail_bytes() + (KLL_PREAMBLE + 8 * retained if retained else 8)
    hll = profile.distinct.get_compact_serialization_bytes() if profile.distinct is not None else 0
    return CATEGORICAL_HEADER + notes + int(profile.sketch.get_serialized_size_bytes()) + int(hll)


def estimated_bytes(window: WindowProfile) -> int:
    """The estimated stored size of `window` (`len(window.to_bytes())`), its segments included."""
    size = WINDOW_HEADER + sum(feature_bytes(name, f) for name, f in window.features.items())
    size += sum(len(name) + 6 for name in window.unknown_fields) + sum(len(n) + 3 for n in window.pooled_names)
    if window.segment_volume is not None:
        size += int(window.segment_volume.get_serialized_size_bytes())
    return size + sum(SEGMENT_ENTRY + len(name) + estimated_bytes(s) for name, s in window.segments.items())


def room(window: WindowProfile, cap: int, cost: Callable[[int], int]) -> Room:
    """Before a fold: what new segments may take of `window` under `cap`."""
    if window.estimate is None:
        window.estimate = estimated_bytes(window)
    return Room(cap, window.estimate, cost)


def enforce(window: WindowProfile, cap: int) -> None:
    """After a fold: a window over `cap` pools its smallest segments into `other` until it fits (in place)."""
    size = window.estimate = estimated_bytes(window)
    if size <= cap:
        return
    window.peak_bytes = max(window.peak_bytes, size)
    window.estimate = _fit(window, size, cap)


def segment_cost(monitor: MonitorSpec) -> Callable[[int], int]:
    """The estimated bytes of a new segment profile of `monitor` once it folded `n` events: what the check
    before creating one counts (a projection: the check after the fold measures)."""
    numeric = [n for n, spec in monitor.all_features().items() if kind(spec) == "numeric"]
    categorical = [n for n in monitor.all_features() if n not in numeric]
    fixed = (WINDOW_HEADER + SEGMENT_ENTRY + sum(NUMERIC_HEADER + len(n) for n in numeric)
             + sum(CATEGORICAL_HEADER + len(n) for n in categorical))

    def cost(n: int) -> int:
        kll = KLL_PREAMBLE + 8 * (n if n <= KLL_K else min(KLL_K + n // 10, 3 * KLL_K))
        items = PROJECTED_ITEM * min(n, 768) + min(8 + 4 * n, 1_064)
        return fixed + len(numeric) * (kll + 2 * min(n, TAIL) * PROJECTED_TAIL_VALUE) + len(categorical) * items

    return cost


def within_cap(window: WindowProfile, cap: int) -> WindowProfile:
    """A closing window merged from its partitions, held under `cap` the same way (a new profile; the
    partitions' profiles are left as they are)."""
    size = estimated_bytes(window)
    if size <= cap:
        return window
    capped = WindowProfile(window.start, window.end, window.events, window.features, window.unknown_fields,
                           dict(window.segments), window.segment_volume, max(window.peak_bytes, size),
                           window.pooled_events, list(window.pooled_names))
    capped.estimate = _fit(capped, size, cap)
    return capped


def _fit(window: WindowProfile, size: int, cap: int) -> int:
    """Pool segments into `other` until the window's estimate is within `cap` or no segment but `other`
    is left (`other` grows as it takes them, so this measures again after each round); returns the estimate."""
    while size > cap and any(s != OTHER for s in window.segments):
        window.segments = _shed(window, size, cap)
        size = estimated_bytes(window)
    return size


def _shed(window: WindowProfile, size: int, cap: int) -> dict[str, WindowProfile]:
    """The window's segments with the smallest pooled into `other` until its estimate is within `cap`;
    records them on `window` as pooled."""
    named = sorted((s for s in window.segments if s != OTHER), key=lambda s: (window.segments[s].events, s))
    pooled: list[str] = []
    for name in named:
        if size <= cap:
            break
        pooled.append(name)
        size -= SEGMENT_ENTRY + len(name) + estimated_bytes(window.segments[name])
    if not pooled:
        return window.segments
    window.note_pooled(pooled, sum(window.segments[s].events for s in pooled))
    parts = [window.segments[s] for s in pooled] + ([window.segments[OTHER]] if OTHER in window.segments else [])
    kept = {s: p for s, p in window.segments.items() if s not in pooled and s != OTHER}
    return kept | {OTHER: merge_all(parts)}
