"""The monitor engine: batches of raw records in, dead letters, evaluations and alerts out.

Both `stream-guard replay` and the live worker drive the same engine, which is why a replay of a
stream gives the alert ids the live system gave. The engine holds state in memory; the live worker
persists it (and reads other workers' partition profiles) around the two calls that change it:

    fold(records)                 -> dead letters            (per batch)
    due_windows()                 -> window starts to close  (watermark passed end + grace)
    close_window(start, profiles) -> WindowResult            (once per monitor window)

A window's result holds its alert records and, when anything is firing, its digest.

With several workers, the one evaluating the monitor also knows what the others stored of their
partitions (`remote`: watermark, when they were last heard of, open windows), so that a window
closes only when every partition of the source has passed it, wherever it is folded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.alerting.digest import window_digest
from stream_guard.core.alerting.lifecycle import AlertBook
from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.judging.evaluation import ClosedWindow, evaluate_window, pinned, reference_horizon
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.profiles.profile import WindowProfile, merge_all
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.profiles.windows import closed_before
from stream_guard.core.topology.monitor import MonitorSpec


class RemotePartition(NamedTuple):
    """A partition folded by another worker, as that worker last stored it."""

    watermark: int | None
    active_at: int | None        # when it last counted as active (records came, claimed, or owner unsure)
    windows: frozenset[int]      # starts of the windows it holds open
    heard_at: int | None = None  # when its records last arrived, as far as anyone knows (freshness)


def remote_activity(heard: int | None, alive: int | None, claimed: int | None, now: int,
                    idle_timeout: int) -> tuple[int, int]:
    """When another worker's partition counts as active, and when its records were last heard of.

    `heard` is when its owner last received records of it, `claimed` when the owner claimed it, `alive`
    when the owner last said it was alive and reading it: all three on the owner's clock.

    The partition may stop holding windows open only when its owner said it was alive after the
    partition had been silent for `idle_timeout`: the owner saw the silence. An owner that died just
    after its last records also went silent; its `alive` stops a moment after `heard`, so a test on
    `alive` alone would take the silence of a dead worker for an idle source during that moment and
    close windows past the records waiting for a new owner (they would be dead-lettered as `late`).
    Until the owner confirms, or while it is not heard from for `idle_timeout` (gone: its records wait
    for the next owner), the partition counts as active now.
    """
    last = max(heard or 0, claimed or 0)
    if alive is None or now - alive >= idle_timeout or not last:
        return now, now
    if now - last < idle_timeout or alive - last >= idle_timeout:
        return last, last
    return now, last             # silent for long, and the owner has not said since that it is reading


@dataclass
class WindowResult:
    start: int
    end: int
    events: int
    evaluations: list[Evaluation]
    alerts: list[dict[str, Any]]
    closed: ClosedWindow
    digest: dict[str, Any] | None = None


@dataclass
class MonitorEngine:
    monitor: MonitorSpec
    folders: dict[int, PartitionFolder] = field(default_factory=dict)
    history: dict[int, ClosedWindow] = field(default_factory=dict)
    book: AlertBook = field(init=False)
    last_evaluated: int | None = None     # start of the newest evaluated window
    clock: Callable[[], int] | None = None  # epoch ms; with it, `future` also means ahead of the clock
    snapshot: Snapshot | None = None      # the profile a `snapshot` reference compares with
    preferred_segments: frozenset[str] = frozenset()   # the largest segments of the last closed window
    remote: dict[int, RemotePartition] = field(default_factory=dict)   # partitions other workers fold

    def __post_init__(self) -> None:
        self.book = AlertBook.for_monitor(self.monitor)

    def folder(self, partition: int) -> PartitionFolder:
        if partition not in self.folders:
            closed = self.last_evaluated + self.monitor.window.step if self.last_evaluated is not None else 0
            self.folders[partition] = PartitionFolder(self.monitor, partition, closed_before=closed,
                                                      active_at=self.clock() if self.clock else None,
                                                      preferred_segments=self.preferred_segments)
        return self.folders[partition]

    def fold(self, records: Sequence[RawRecord]) -> list[DeadLetter]:
        """Fold records of any partitions; returns the dead letters in input order per partition."""
        by_partition: dict[int, list[RawRecord]] = defaultdict(list)
        for record in records:
            by_partition[record.partition].append(record)
        now = self.clock() if self.clock is not None else None
        dead: list[DeadLetter] = []
        for partition, batch in by_partition.items():
            dead.extend(self.folder(partition).fold(batch, now))
        return dead

    def watermark(self) -> int | None:
        """The event time every partition seen so far has reached.

        With a clock, a partition that has sent nothing for `source.idle_timeout` no longer holds it
        back: the others' events close windows without it (its late events, if it wakes up, are
        dead-lettered as `late`). When every partition is idle, the furthest one sets it.
        """
        marks = [(f.watermark, f.active_at) for f in self.folders.values() if f.watermark is not None]
        marks += [(r.watermark, r.active_at) for p, r in self.remote.items()
                  if r.watermark is not None and p not in self.folders]
        if not marks:
            return None
        if self.clock is not None:
            now, timeout = self.clock(), self.monitor.source.idle_timeout
            active = [(w, at) for w, at in marks if at is None or now - at < timeout]
            if not active:
                return max(w for w, _ in marks)
            marks = active
        return min(w for w, _ in marks)

    def due_windows(self) -> list[int]:
        mark = self.watermark()
        if mark is None:
            return []
        limit = closed_before(mark, self.monitor.window.size, self.monitor.window.grace, self.monitor.window.step)
        starts = {s for f in self.folders.values() for s in f.windows}
        starts.update(s for p, r in self.remote.items() if p not in self.folders for s in r.windows)
        floor = self.last_evaluated + self.monitor.window.step if self.last_evaluated is not None else None
        return sorted(s for s in starts if s < limit and (floor is None or s >= floor))

    def local_profiles(self, start: int) -> list[WindowProfile]:
        return [f.windows[start] for f in self.folders.values() if start in f.windows]

    def close_window(self, start: int, profiles: Sequence[WindowProfile], emitted_at: int) -> WindowResult:
        """Evaluate window `start` from its partition profiles, then forget its open state."""
        current = merge_all(list(profiles)) if profiles else WindowProfile.empty(self.monitor, start)
        current = current.capped(self.monitor.max_segments)
        evaluations, closed = evaluate_window(self.monitor, current, list(self.history.values()), emitted_at,
                                              self.snapshot)
        alerts = self._fan_out(self.book.apply(evaluations))
        digest = None
        if self.monitor.alerting.digest:
            firing = [f for f in self.book.firing_features() if f["feature"] not in self.monitor.quiet]
            digest = window_digest(self.monitor.name, start, current.end, emitted_at, firing)
        self.remember(closed)
        self.last_evaluated = start
        if current.segments:
            self.preferred_segments = frozenset(current.largest_segments(max(self.monitor.max_segments // 2, 1)))
            for folder in self.folders.values():
                folder.preferred_segments = self.preferred_segments
        for folder in self.folders.values():
            folder.close_through(start + self.monitor.window.step)
        return WindowResult(start, current.end, current.events, evaluations, alerts, closed, digest)

    def _fan_out(self, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Alerts on shared features name every monitor using them; on a source several monitors
        read, only the first of them publishes, so a shared feature breaking pages once."""
        out = []
        for alert in alerts:
            if alert["feature"] in self.monitor.quiet:
                continue
            downstream = self.monitor.fan_out.get(alert["feature"])
            out.append({**alert, "monitors": downstream} if downstream else alert)
        return out

    def remember(self, closed: ClosedWindow) -> None:
        """Keep a closed window as reference material, dropping what no reference can reach."""
        self.history[closed.profile.start] = closed
        keep = self.history_horizon()
        unpinned = sorted(s for s, w in self.history.items() if not pinned(self.monitor, w))
        for start in unpinned[:max(len(unpinned) - keep, 0)]:
            del self.history[start]

    def history_horizon(self) -> int:
        """How many of the newest closed windows references may need (fixed ones are kept besides)."""
        return reference_horizon(self.monitor)
