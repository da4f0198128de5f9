"""Folding one source partition's records into its open window profiles.

A `PartitionFolder` is the partition-local state a worker keeps between flushes: open windows,
the next offset to read, the watermark (largest event time seen) and the exact counts that
`/status` reports. It is pure: the caller decides when to persist and when to evaluate.

Event time is judged against the partition's own stream, never against the wall clock alone, so a
replay of last year's file behaves as the live stream did. Before each event, the stream's time is
the largest event time its partition has seen (the watermark, then the batch's events in order).
An event is

- `future` when it is more than `source.max_future` ahead of both the stream's time and the clock
  (`now`, when the caller gives one). One producer with a wrong clock can then not drag the
  watermark ahead and make every later event late, while a stream that resumes after a long pause
  is ahead of the stream but not of the clock. A partition's first batch has no watermark yet: its
  median time stands in, so one odd event cannot set the partition's clock.
- `too_old` when it is more than the monitor's `max_event_age()` behind the stream's time: a late
  event so late that it is a producer bug (a 1970 or last-year timestamp), not a slow producer.
- `late` when its window's end plus grace is at or below the stream's time, or its window was
  already evaluated.

Neither a `future` nor a `too_old` event moves the watermark. These checks are a few numpy passes
over the batch's times; only a batch holding a `future` event takes another pass or two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.records import DeadLetter, DecodedBatch, RawRecord
from stream_guard.core.decoding.writer_schemas import WriterSchemas
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.profiles.windows import hop_starts, window_starts
from stream_guard.core.state import Counts, PartitionChanges, PartitionState
from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.monitor import MonitorSpec

LATE_MESSAGE = "its window had closed (event later than the grace period)"
_offset_of = attrgetter("offset")


@dataclass
class PartitionCounts:
    """Events of one partition since its state began: `folded + dead_lettered + filtered == consumed`.

    `consumed` counts one per message, or one per element (line) of a batched message, or one for
    a batched message with no usable elements. `filtered` counts events left out on purpose; no
    source option does that yet, so it stays 0.
    """

    folded: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    consumed: int = 0
    dead_by_reason: Counter[str] = field(default_factory=Counter)

    def totals(self) -> dict[str, int]:
        return {"consumed": self.consumed, "folded": self.folded, "dead_lettered": self.dead_lettered,
                "filtered": self.filtered}

    def as_dict(self) -> dict[str, object]:
        return {**self.totals(), "dead_lettered_by_reason": dict(sorted(self.dead_by_reason.items()))}

    def balanced(self) -> bool:
        return self.folded + self.dead_lettered + self.filtered == self.consumed

    def frozen(self) -> Counts:
        return Counts(self.folded, self.dead_lettered, self.filtered, self.consumed,
                      tuple(sorted(self.dead_by_reason.items())))

    @classmethod
    def of(cls, counts: Counts) -> PartitionCounts:
        return cls(counts.folded, counts.dead_lettered, counts.filtered, counts.consumed,
                   Counter(counts.by_reason()))

    def describe(self) -> str:
        """`consumed 1,205 = folded 1,200 + dead-lettered 5 (empty 1, invalid_json 4) + filtered 0`."""
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.dead_by_reason.items()))
        return (f"consumed {self.consumed:,} = folded {self.folded:,} + dead-lettered {self.dead_lettered:,}"
                + (f" ({reasons})" if reasons else "") + f" + filtered {self.filtered:,}")


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
    active_at: int | None = None           # clock reading when records last arrived (or it was assigned)
    preferred_segments: frozenset[str] = frozenset()   # the largest segments of the last closed window
    schemas: WriterSchemas | None = None   # the writers' schemas of a registry-format source
    _decoder: BatchDecoder | None = None

    def fold(self, records: Sequence[RawRecord], now: int | None = None) -> list[DeadLetter]:
        """Fold a batch of this partition's records; returns the dead letters to publish, in input order.

        Records below `next_offset` were folded before (a redelivery) and are skipped silently.
        `now` (epoch ms) is the clock that, with the stream's own time, bounds `future` events;
        without it only the stream's time does.
        """
        if records and now is not None:
            self.active_at = now
        if not records:
            return []
        offsets = list(map(_offset_of, records))
        fresh = records if min(offsets) >= self.next_offset else [r for r in records if r.offset >= self.next_offset]
        if not fresh:
            return []
        self._decoder = self._decoder or BatchDecoder(self.monitor, self.schemas)
        batch = self._decoder.decode(fresh)
        dead = list(batch.dead_letters)
        if len(batch):
            dead.extend(self._judge_times(batch, now))
            if len(dead) > 1:
                dead.sort(key=lambda d: (d.record.offset, d.index or 0))
        self.next_offset = max(offsets) + 1
        self.counts.consumed += batch.consumed
        self.counts.dead_lettered += len(dead)
        self.counts.dead_by_reason.update(d.reason for d in dead)
        return dead

    def _judge_times(self, batch: DecodedBatch, now: int | None) -> list[DeadLetter]:
        """Fold the events on time; the others become `future`, `too_old` or `late` dead letters."""
        times = batch.times
        top, bottom, base = int(times.max()), int(times.min()), self.watermark or 0
        floor = self._anchor(times) if now is None else max(self._anchor(times), now)
        if top > floor + self.monitor.source.max_future or bottom < max(base, top) - self.monitor.max_event_age():
            return self._judge_odd_times(batch, now)
        # the usual batch, where no event can be future or too old: only lateness to decide
        seen = np.maximum.accumulate(np.concatenate(([base], times)))[:-1]
        late = self._late_mask(times, seen)
        self._fold_on_time(batch, ~late, seen)
        self.watermark = max(base, top)
        return [self._letter(batch, i, "late", LATE_MESSAGE) for i in np.flatnonzero(late).tolist()]

    def _judge_odd_times(self, batch: DecodedBatch, now: int | None) -> list[DeadLetter]:
        times = batch.times
        future, stream_time = self._future_mask(times, now)
        seen = np.maximum.accumulate(np.concatenate(([self.watermark or 0], np.where(future, 0, times))))[:-1]
        too_old = ~future & (times < seen - self.monitor.max_event_age())
        in_range = ~(future | too_old)
        late = in_range & self._late_mask(times, seen)
        self._fold_on_time(batch, in_range & ~late, seen)
        if in_range.any():
            self.watermark = max(self.watermark or 0, int(times[in_range].max()))
        ahead_of = stream_time if now is None else np.maximum(stream_time, now)
        letters = [self._letter(batch, i, "future", self._future_message(int(times[i]), int(ahead_of[i])))
                   for i in np.flatnonzero(future).tolist()]
        letters += [self._letter(batch, i, "too_old", self._too_old_message(int(times[i]), int(seen[i])))
                    for i in np.flatnonzero(too_old).tolist()]
        letters += [self._letter(batch, i, "late", LATE_MESSAGE) for i in np.flatnonzero(late).tolist()]
        return letters

    def _late_mask(self, times: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Events whose newest window had closed (for hopping windows, older ones may have too)."""
        size, grace = self.monitor.window.size, self.monitor.window.grace
        starts = window_starts(times, self.monitor.window.step)
        return (starts + size + grace <= seen) | (starts < self.closed_before)

    def _anchor(self, times: np.ndarray) -> int:
        """The stream's time before the batch: the watermark, or in a partition's first batch its median."""
        return self.watermark if self.watermark is not None else int(np.median(times))

    def _letter(self, batch: DecodedBatch, i: int, reason: str, message: str) -> DeadLetter:
        return DeadLetter(batch.records[i], reason, message, self.monitor.name, batch.indexes[i])

    def _future_mask(self, times: np.ndarray, now: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Which events are `future`, and the stream's time before each event (future ones left out).

        Leaving a future event out lowers the stream's time for the events after it, which may make
        another one future, so this repeats until nothing changes (the set only grows; usually one pass).
        """
        anchor = self._anchor(times)
        future = np.zeros(len(times), dtype=bool)
        while True:
            kept = np.where(future, anchor, times)
            stream_time = np.maximum.accumulate(np.concatenate(([anchor], kept)))[:-1]
            reference = stream_time if now is None else np.maximum(stream_time, now)
            ahead = times > reference + self.monitor.source.max_future
            if (ahead == future).all():
                return future, stream_time
            future = ahead

    def _future_message(self, time: int, reference: int) -> str:
        return (f"its time {iso(time)} is {_roughly(time - reference)} ahead of the stream's time and "
                f"the clock ({iso(reference)}); source.max_future is {format_duration(self.monitor.source.max_future)}")

    def _too_old_message(self, time: int, reference: int) -> str:
        return (f"its time {iso(time)} is {_roughly(reference - time)} behind the stream's time "
                f"({iso(reference)}); the limit (source.max_age) is {format_duration(self.monitor.max_event_age())}")

    def _fold_on_time(self, batch: DecodedBatch, keep: np.ndarray, seen: np.ndarray) -> None:
        """Fold the kept events into their windows; with hopping windows into every one still open."""
        spec = self.monitor.window
        for k, starts in enumerate(hop_starts(batch.times, spec.size, spec.step)):
            # the newest window of a kept event is open; an older one may have closed before it came
            ok = keep if k == 0 else keep & (starts + spec.size + spec.grace > seen) & (starts >= self.closed_before)
            for start in np.unique(starts[ok]):
                rows = np.flatnonzero(ok & (starts == start))
                window = self.windows.get(int(start))
                if window is None:
                    window = self.windows[int(start)] = WindowProfile.empty(self.monitor, int(start))
                window.fold(batch.columns, rows, self.monitor, batch.segments, self.preferred_segments)
                for name, mask in batch.unknown.items():
                    window.count_unknown(name, int(np.count_nonzero(mask[rows])))
                self.dirty.add(int(start))
        self.counts.folded += int(np.count_nonzero(keep))

    def checkpoint(self) -> PartitionState:
        """Everything the partition persists, every open window included."""
        return self._state(dict(self.windows))

    def changes(self, dropped: Sequence[int] = ()) -> PartitionChanges:
        """What a flush writes: offset, counts and watermark, the windows changed since the last
        stored flush, and the evaluated windows to drop."""
        return PartitionChanges(self._state({s: self.windows[s] for s in sorted(self.dirty) if s in self.windows}),
                                tuple(dropped))

    def stored(self, changes: PartitionChanges) -> None:
        """The store has `changes`: their windows are clean until folded into again."""
        self.dirty.difference_update(changes.state.windows)

    def restore(self, state: PartitionState) -> None:
        """Take the stored state of the partition (a fresh claim); windows already evaluated are left out."""
        self.next_offset = state.next_offset
        self.watermark = state.watermark
        self.closed_before = max(self.closed_before, state.closed_before)
        self.counts = PartitionCounts.of(state.counts)
        self.windows = {s: w for s, w in state.windows.items() if s >= self.closed_before}
        self.dirty = set()

    def _state(self, windows: dict[int, WindowProfile]) -> PartitionState:
        return PartitionState(self.next_offset, self.watermark, self.closed_before, self.counts.frozen(),
                              self.active_at, windows)

    def close_through(self, before: int) -> list[int]:
        """Forget windows starting before `before` (they were evaluated); returns their starts."""
        self.closed_before = max(self.closed_before, before)
        gone = [start for start in self.windows if start < before]
        for start in gone:
            del self.windows[start]
            self.dirty.discard(start)
        return gone


def _roughly(ms: int) -> str:
    """A gap to the hour when it is days long, else to the second: `63172d15h`, `2h5m`."""
    unit = 3_600_000 if ms >= 86_400_000 else 1000 if ms >= 60_000 else 1
    return format_duration(ms - ms % unit)
