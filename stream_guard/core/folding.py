"""Folding one source partition's records into its open window profiles.

A `PartitionFolder` is the partition-local state a worker keeps between flushes: open windows,
the next offset to read, the watermark (largest event time seen) and the exact counts that
`/status` reports. It is pure: the caller decides when to persist and when to evaluate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_guard.core.config import MonitorSpec
from stream_guard.core.events import BatchDecoder, DeadLetter, DecodedBatch, RawRecord
from stream_guard.core.profile import WindowProfile
from stream_guard.core.windows import window_starts

LATE_MESSAGE = "its window had closed (event later than the grace period)"


@dataclass
class PartitionCounts:
    folded: int = 0
    dead_lettered: int = 0
    filtered: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"folded": self.folded, "dead_lettered": self.dead_lettered, "filtered": self.filtered}


@dataclass
class PartitionFolder:
    monitor: MonitorSpec
    partition: int
    next_offset: int = 0
    watermark: int | None = None
    closed_before: int = 0                 # windows starting before this were evaluated already
    counts: PartitionCounts = field(default_factory=PartitionCounts)
    windows: dict[int, WindowProfile] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    _decoder: BatchDecoder | None = None

    def fold(self, records: Sequence[RawRecord]) -> list[DeadLetter]:
        """Fold a batch of this partition's records; returns the dead letters to publish.

        Records below `next_offset` were folded before (a redelivery) and are skipped silently.
        An event is late, and dead-lettered, when its window closed before it arrived.
        """
        fresh = [r for r in records if r.offset >= self.next_offset]
        if not fresh:
            return []
        self._decoder = self._decoder or BatchDecoder(self.monitor)
        batch = self._decoder.decode(fresh)
        dead = list(batch.dead_letters)
        if len(batch):
            late = self._late_mask(batch.times)
            dead.extend(DeadLetter(batch.records[i], "late", LATE_MESSAGE, self.monitor.name, batch.indexes[i])
                        for i in np.flatnonzero(late))
            self._fold_on_time(batch, ~late)
            self.watermark = max(self.watermark or 0, int(batch.times.max()))
        self.next_offset = max(r.offset for r in fresh) + 1
        self.counts.dead_lettered += len(dead)
        return dead

    def _late_mask(self, times: np.ndarray) -> np.ndarray:
        size, grace = self.monitor.window.size, self.monitor.window.grace
        seen_before = np.maximum.accumulate(np.concatenate(([self.watermark or 0], times)))[:-1]
        starts = window_starts(times, size)
        return (starts + size + grace <= seen_before) | (starts < self.closed_before)

    def _fold_on_time(self, batch: DecodedBatch, keep: np.ndarray) -> None:
        starts = window_starts(batch.times, self.monitor.window.size)
        for start in np.unique(starts[keep]):
            rows = np.flatnonzero(keep & (starts == start))
            window = self.windows.get(int(start))
            if window is None:
                window = self.windows[int(start)] = WindowProfile.empty(self.monitor, int(start))
            window.fold(batch.columns, rows, self.monitor)
            self.dirty.add(int(start))
            self.counts.folded += len(rows)

    def take_dirty(self) -> dict[int, WindowProfile]:
        """The windows changed since the last call, to persist."""
        out = {start: self.windows[start] for start in sorted(self.dirty) if start in self.windows}
        self.dirty.clear()
        return out

    def close_through(self, before: int) -> list[int]:
        """Forget windows starting before `before` (they were evaluated); returns their starts."""
        self.closed_before = max(self.closed_before, before)
        gone = [start for start in self.windows if start < before]
        for start in gone:
            del self.windows[start]
            self.dirty.discard(start)
        return gone
