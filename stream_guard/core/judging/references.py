"""Which closed windows a check compares with, and which closed windows are kept for that.

A feature's reference is chosen by the monitor's `reference` (rolling, seasonal, fixed or snapshot),
leaving out windows where the feature was critical. Besides it:

- volume always has a baseline of recent windows: the monitor's own reference when it is rolling or
  seasonal, else the previous `RECENT_WINDOWS` windows (a snapshot or a fixed range says nothing of
  how many events the stream carries now);
- under a rolling reference, `slow_drift` compares that reference with an *anchored* one: the
  windows just before the newest 2 × `windows`, which a slow drift has not reached yet.

Incidents never become the reference: however long a feature stays critical, the newest windows from
before it are kept (`kept_starts`), and a rolling or seasonal reference reaches back to them; the
reference then says it is older than usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stream_guard.core.profiles.profile import FeatureProfile, WindowProfile
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.monitor import MonitorSpec, ReferenceSpec

RECENT_WINDOWS = 10   # the volume baseline beside a snapshot or fixed reference
SEASONAL_SPARE = 4    # periods further back a seasonal reference may reach past critical windows
ANCHOR_LAG = 2        # the anchored reference ends this many rolling references before the window


@dataclass(frozen=True)
class ClosedWindow:
    """A merged, evaluated window kept as reference material; `critical` names its critical features."""

    profile: WindowProfile
    critical: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reference:
    windows: tuple[ClosedWindow, ...]
    feature: FeatureProfile | None
    events: int
    missing: int
    description: str = ""            # "the previous 5 windows", "snapshot 'train' (50,000 rows)"
    snapshot: Snapshot | None = None

    @property
    def start(self) -> int | None:
        return min(w.profile.start for w in self.windows) if self.windows else None

    @property
    def end(self) -> int | None:
        return max(w.profile.end for w in self.windows) if self.windows else None

    @property
    def size(self) -> int:
        """How many windows it merges (a snapshot counts as one)."""
        return 1 if self.snapshot is not None else len(self.windows)


def resolve_reference(monitor: MonitorSpec, feature: str, current_start: int,
                      history: Sequence[ClosedWindow], snapshot: Snapshot | None = None) -> Reference:
    """The reference of `feature` for the window starting at `current_start`, by the monitor's kind."""
    spec = monitor.reference
    if spec.kind == "snapshot":
        if snapshot is None:
            return Reference((), None, 0, 0, f"snapshot {spec.name or spec.file!r} (not loaded)")
        profile = snapshot.profile.features.get(feature)
        if profile is None:
            return Reference((), None, 0, 0, f"snapshot {snapshot.name!r} (no {feature!r} in it)", snapshot)
        description = f"snapshot {snapshot.name!r} ({snapshot.rows:,} rows)"
        return Reference((), profile, snapshot.rows, profile.missing, description, snapshot)
    return merged_reference(feature, *reference_windows(monitor, feature, current_start, history))


def merged_reference(feature: str, chosen: tuple[ClosedWindow, ...], description: str) -> Reference:
    """The feature's profiles of `chosen` merged into one reference."""
    if not chosen:
        return Reference((), None, 0, 0, description)
    merged = chosen[0].profile.features[feature]
    for window in chosen[1:]:
        merged = merged.merged(window.profile.features[feature])  # type: ignore[arg-type]
    return Reference(chosen, merged, sum(w.profile.events for w in chosen), merged.missing, description)


def _usable(spec: ReferenceSpec, feature: str, history: Sequence[ClosedWindow]) -> list[ClosedWindow]:
    return [w for w in history if spec.kind == "fixed" or not (spec.exclude_critical and feature in w.critical)]


def reference_windows(monitor: MonitorSpec, feature: str, current_start: int,
                      history: Sequence[ClosedWindow]) -> tuple[tuple[ClosedWindow, ...], str]:
    """The closed windows of `feature`'s reference, and how to describe them."""
    spec = monitor.reference
    usable = _usable(spec, feature, history)
    if spec.kind == "seasonal":
        return _seasonal(monitor, current_start, usable)
    if spec.kind == "fixed":
        low, high = spec.range()
        chosen = tuple(w for w in usable if low <= w.profile.start and w.profile.end <= high)
        return chosen, f"the fixed range {spec.start} to {spec.end} ({len(chosen)} windows)"
    return _previous(monitor, current_start, usable, spec.window_count())


def _previous(monitor: MonitorSpec, current_start: int, usable: Sequence[ClosedWindow],
              count: int) -> tuple[tuple[ClosedWindow, ...], str]:
    earlier = sorted((w for w in usable if w.profile.end <= current_start or
                      (w.profile.start < current_start and monitor.window.hop is None)),
                     key=lambda w: w.profile.start, reverse=True)
    chosen = tuple(earlier[:count])
    description = f"the previous {len(chosen)} windows"
    if chosen and (lag := (current_start - chosen[0].profile.end) // monitor.window.step) >= count:
        description += (f" from before a critical stretch (older than usual: the newest ended {lag} windows "
                        f"before this one)")
    return chosen, description


def _seasonal(monitor: MonitorSpec, current_start: int,
              usable: Sequence[ClosedWindow]) -> tuple[tuple[ClosedWindow, ...], str]:
    spec = monitor.reference
    assert spec.period is not None
    seasons = spec.window_count()
    by_start = {w.profile.start: w for w in usable}
    found = [(k, by_start[s]) for k in range(1, seasons + SEASONAL_SPARE + 1)
             if (s := current_start - k * spec.period) in by_start]
    chosen = tuple(w for _, w in found[:seasons])
    back = format_duration(spec.period)
    description = (f"the same window {back} earlier" if seasons == 1
                   else f"the same window 1 to {seasons} × {back} earlier ({len(chosen)} found)")
    reach = max((k for k, _ in found[:seasons]), default=0)
    if reach > seasons:
        description = (f"the same window {reach} × {back} earlier (older than usual: the later ones were "
                       f"critical)" if seasons == 1 else description + f", reaching back {reach} × {back} "
                       f"past critical windows (older than usual)")
    return chosen, description


def recent_windows(monitor: MonitorSpec, feature: str, current_start: int,
                   history: Sequence[ClosedWindow]) -> tuple[tuple[ClosedWindow, ...], str]:
    """The baseline of checks that need windows of the stream's own recent past (volume)."""
    if monitor.reference.kind in ("rolling", "seasonal"):
        return reference_windows(monitor, feature, current_start, history)
    usable = [w for w in history if feature not in w.critical]
    return _previous(monitor, current_start, usable, RECENT_WINDOWS)


def anchored_windows(monitor: MonitorSpec, feature: str, current_start: int,
                     history: Sequence[ClosedWindow]) -> tuple[tuple[ClosedWindow, ...], str]:
    """The rolling reference's anchor: as many windows, ending `ANCHOR_LAG` rolling references earlier;
    while the history is shorter than that, the oldest windows before the rolling reference's span."""
    count, step = monitor.reference.window_count(), monitor.window.step
    usable = _usable(monitor.reference, feature, history)
    before = current_start - ANCHOR_LAG * count * step
    chosen, _ = _previous(monitor, before, [w for w in usable if w.profile.end <= before], count)
    if len(chosen) < monitor.reference.needed_windows():
        older = sorted((w for w in usable if w.profile.end <= current_start - count * step),
                       key=lambda w: w.profile.start)
        chosen = tuple(reversed(older[:count]))
    lags = [(current_start - w.profile.start) // step for w in chosen]
    return chosen, (f"the {len(chosen)} windows {min(lags)} to {max(lags)} windows earlier" if chosen
                    else "no windows old enough yet")


def reference_horizon(monitor: MonitorSpec) -> int:
    """How many of the newest closed windows some future window's reference may still need (the most
    any of the monitor's references needs)."""
    return max(_horizon(monitor.judged_against(name)) for name in monitor.reference_specs())


def _horizon(monitor: MonitorSpec) -> int:
    spec = monitor.reference
    if spec.kind == "seasonal":
        assert spec.period is not None
        return spec.window_count() * spec.period // monitor.window.step
    if spec.kind == "rolling":
        return spec.window_count() * (ANCHOR_LAG + 1)   # the anchor; extra ones stand in for critical windows
    return RECENT_WINDOWS * 3   # the volume baseline; fixed windows are pinned by their range


def pinned(monitor: MonitorSpec, closed: ClosedWindow) -> bool:
    """True for windows a fixed reference consists of: they are kept however old."""
    spec = monitor.reference
    if spec.kind != "fixed":
        return False
    low, high = spec.range()
    return low <= closed.profile.start and closed.profile.end <= high


def kept_starts(monitor: MonitorSpec, history: Mapping[int, ClosedWindow]) -> set[int]:
    """The closed windows to keep: for each of the monitor's references, the newest `reference_horizon`,
    a fixed reference's, and for every feature critical somewhere in them, the windows from before its
    critical stretch that its reference reaches back to (bounded: a reference's worth per feature).
    Applied until nothing more goes, so keeping the result again keeps all of it (a restart rebuilds
    the same history)."""
    views = [monitor.judged_against(name) for name in monitor.reference_specs()]
    keep = set(history)
    while True:
        kept = {s: history[s] for s in keep}
        now = set().union(*(_kept_once(view, kept) for view in views))
        if now == keep:
            return keep
        keep = now


def _kept_once(monitor: MonitorSpec, history: Mapping[int, ClosedWindow]) -> set[int]:
    starts = sorted(history, reverse=True)
    keep = {s for s in starts if pinned(monitor, history[s])}
    keep.update([s for s in starts if s not in keep][:_horizon(monitor)])
    names = set().union(*(w.critical for w in history.values()))
    spec = monitor.reference
    if spec.kind == "seasonal":
        assert spec.period is not None
        reach = range(1, spec.window_count() + SEASONAL_SPARE + 1)
        keep.update(s - k * spec.period for s, w in history.items() if w.critical for k in reach)
        return keep & set(history)
    count = spec.window_count() if spec.kind == "rolling" else RECENT_WINDOWS
    for name in names:
        keep.update([s for s in starts if name not in history[s].critical][:count])
    return keep
