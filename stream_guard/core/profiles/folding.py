"""Folding one source partition's records into its open window profiles.

A `PartitionFolder` is the partition-local state a worker keeps between flushes: open windows,
the next offset to read, the watermark and the exact counts that `/status` reports. It is pure:
the caller decides when to persist and when to evaluate.

Event time is judged against the partition's own stream, never against the wall clock alone, so a
replay of last year's file behaves as the live stream did. The stream's time is the partition's
watermark: each event moves it to its own time, but at most `grace` past the earliest of the two
events counted before it, so a jump further ahead takes effect once three events in a row have
reached it, and one event from a producer with a fast clock cannot close windows early. Each time
counts once, in order (the last two are kept in `recent_times`), so batching changes nothing.
An event is

- `future` when it is more than `source.max_future` ahead of both the stream's time and the clock
  (`now`, when the caller gives one), while a stream that resumes after a long pause is ahead of
  the stream but not of the clock. A partition's first batch has no watermark yet: its median time
  stands in, so one odd event cannot set the partition's clock.
- `too_old` when it is more than the monitor's `max_event_age()` behind the stream's time: a late
  event so late that it is a producer bug (a 1970 or last-year timestamp), not a slow producer.
- `late` when its window's end plus grace is at or below the stream's time, or its window was
  already evaluated; its message names the window.

Neither a `future` nor a `too_old` event moves the watermark; an event ahead of the stream but
inside `max_future` is folded into its own window. These checks are a few numpy passes over the
batch's times; only a batch that may hold a `future` or `too_old` event takes another pass or two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.records import DeadLetter, DecodedBatch, RawRecord
from stream_guard.core.decoding.writer_schemas import WriterSchemas
from stream_guard.core.profiles.capping import enforce, room, segment_cost
from stream_guard.core.profiles.multivariate import ERROR_SPEC, RECONSTRUCTION, ReconstructionModel
from stream_guard.core.profiles.profile import NumericProfile, WindowProfile
from stream_guard.core.profiles.windows import hop_starts, window_start, window_starts
from stream_guard.core.state import Counts, PartitionChanges, PartitionState
from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.monitor import MonitorSpec

CONFIRMING_EVENTS = 3   # a jump of the watermark past `grace` takes effect once this many events in a row made it
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
    recent_times: tuple[int, ...] = ()     # the last events' times the watermark counted, oldest first
    closed_before: int = 0                 # windows starting before this were evaluated already
    counts: PartitionCounts = field(default_factory=PartitionCounts)
    windows: dict[int, WindowProfile] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    evaluated: set[int] = field(default_factory=set)   # stored windows found evaluated, to drop from the store
    active_at: int | None = None           # clock reading when records last arrived (or it was assigned)
    preferred_segments: frozenset[str] = frozenset()   # the largest segments of the last closed window
    log_resets: int = 0                    # times the log was found restarted below `next_offset`
    schemas: WriterSchemas | None = None   # the writers' schemas of a registry-format source
    reconstruction: ReconstructionModel | None = None   # the multivariate check's PCA (None: the check is off)
    _decoder: BatchDecoder | None = None
    _cost: Callable[[int], int] | None = None   # a new segment's projected bytes (`capping.segment_cost`)

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
        seen = self._advance(times, None)
        late = self._late_mask(times, seen)
        self._fold_on_time(batch, ~late, seen)
        return self._late_letters(batch, late, seen)

    def _judge_odd_times(self, batch: DecodedBatch, now: int | None) -> list[DeadLetter]:
        times = batch.times
        future, too_old, stream_time = self._out_of_range(times, now)
        in_range = ~(future | too_old)
        seen = self._advance(times, in_range)
        late = in_range & self._late_mask(times, seen)
        self._fold_on_time(batch, in_range & ~late, seen)
        ahead_of = np.maximum(stream_time, self._anchor(times)) if now is None else np.maximum(stream_time, now)
        letters = [self._letter(batch, i, "future", self._future_message(int(times[i]), int(ahead_of[i])))
                   for i in np.flatnonzero(future).tolist()]
        letters += [self._letter(batch, i, "too_old", self._too_old_message(int(times[i]), int(stream_time[i])))
                    for i in np.flatnonzero(too_old).tolist()]
        return letters + self._late_letters(batch, late, seen)

    def _stream_times(self, times: np.ndarray, kept: np.ndarray | None) -> tuple[np.ndarray, int | None, np.ndarray]:
        """The watermark before each event and after the batch, counting only `kept` events (None: all),
        and the times it counts in order, the partition's recent times first (see `_capped_reach`)."""
        counted = times if kept is None else times[kept]
        sequence = np.concatenate((np.asarray(self.recent_times, dtype=np.int64), counted))
        reach = _capped_reach(sequence, self.monitor.window.grace)[len(self.recent_times):]
        after = np.maximum.accumulate(np.concatenate(([self.watermark or 0], reach)))
        before = after[:-1] if kept is None else after[np.cumsum(kept) - kept]
        return before, int(after[-1]) if len(reach) else self.watermark, sequence

    def _advance(self, times: np.ndarray, kept: np.ndarray | None) -> np.ndarray:
        """The watermark before each event; moves the partition's watermark and recent times past the batch."""
        seen, self.watermark, sequence = self._stream_times(times, kept)
        self.recent_times = tuple(sequence[-(CONFIRMING_EVENTS - 1):].tolist())
        return seen

    def _late_letters(self, batch: DecodedBatch, late: np.ndarray, seen: np.ndarray) -> list[DeadLetter]:
        return [self._letter(batch, i, "late", self._late_message(int(batch.times[i]), int(seen[i])))
                for i in np.flatnonzero(late).tolist()]

    def _late_message(self, time: int, seen: int) -> str:
        """`its window 12:00:00–12:01:00 had closed ...`, naming the event's newest window."""
        spec = self.monitor.window
        start = window_start(time, spec.step)
        window = f"its window {iso(start)}–{iso(start + spec.size)}"
        if start < self.closed_before:
            return f"{window} was evaluated already"
        return (f"{window} had closed: its end plus the grace period ({format_duration(spec.grace)}) "
                f"is at or before the stream's time {iso(seen)}")

    def _out_of_range(self, times: np.ndarray, now: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which events are `future` and which `too_old`, and the stream's time before each event
        (future events left out).

        Leaving a future event out lowers the stream's time for the events after it, which may make
        another one future, so this repeats until nothing changes (the set only grows; usually one pass).
        """
        anchor = self._anchor(times)
        future = np.zeros(len(times), dtype=bool)
        while True:
            stream_time = self._stream_times(times, ~future)[0]
            reference = np.maximum(stream_time, anchor if now is None else max(anchor, now))
            ahead = future | (times > reference + self.monitor.source.max_future)
            if (ahead == future).all():
                return future, ~future & (times < stream_time - self.monitor.max_event_age()), stream_time
            future = ahead

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

    def _future_message(self, time: int, reference: int) -> str:
        return (f"its time {iso(time)} is {_roughly(time - reference)} ahead of the stream's time and "
                f"the clock ({iso(reference)}); source.max_future is {format_duration(self.monitor.source.max_future)}")

    def _too_old_message(self, time: int, reference: int) -> str:
        return (f"its time {iso(time)} is {_roughly(reference - time)} behind the stream's time "
                f"({iso(reference)}); the limit (source.max_age) is {format_duration(self.monitor.max_event_age())}")

    def _fold_on_time(self, batch: DecodedBatch, keep: np.ndarray, seen: np.ndarray) -> None:
        """Fold the kept events into their windows; with hopping windows into every one still open."""
        spec = self.monitor.window
        errors = self.reconstruction.batch_errors(batch.columns) if self.reconstruction is not None else None
        for k, starts in enumerate(hop_starts(batch.times, spec.size, spec.step)):
            # the newest window of a kept event is open; an older one may have closed before it came
            ok = keep if k == 0 else keep & (starts + spec.size + spec.grace > seen) & (starts >= self.closed_before)
            for start in np.unique(starts[ok]):
                rows = np.flatnonzero(ok & (starts == start))
                window = self.windows.get(int(start))
                if window is None:
                    window = self.windows[int(start)] = WindowProfile.empty(self.monitor, int(start))
                cap = self.monitor.window_cap()
                self._cost = self._cost or segment_cost(self.monitor)
                space = room(window, cap, self._cost) if batch.segments is not None else None
                window.fold(batch.columns, rows, self.monitor, batch.segments, self.preferred_segments, space)
                if errors is not None:   # the multivariate check's errors, folded like a feature's values
                    if RECONSTRUCTION not in window.features:
                        window.features[RECONSTRUCTION] = NumericProfile()
                    window.features[RECONSTRUCTION].fold(errors, rows, ERROR_SPEC)
                for name, mask in batch.unknown.items():
                    window.count_unknown(name, int(np.count_nonzero(mask[rows])))
                enforce(window, cap)
                self.dirty.add(int(start))
        self.counts.folded += int(np.count_nonzero(keep))

    def checkpoint(self) -> PartitionState:
        """Everything the partition persists, every open window included."""
        return self._state(dict(self.windows))

    def changes(self, dropped: Sequence[int] = ()) -> PartitionChanges:
        """What a flush writes: offset, counts and watermark, the windows changed since the last
        stored flush, and the evaluated windows to drop (with those a claim found stored but evaluated)."""
        return PartitionChanges(self._state({s: self.windows[s] for s in sorted(self.dirty) if s in self.windows}),
                                tuple(sorted(set(dropped) | self.evaluated)) if self.evaluated else tuple(dropped))

    def stored(self, changes: PartitionChanges) -> None:
        """The store has `changes`: their windows are clean until folded into again."""
        self.dirty.difference_update(changes.state.windows)
        self.evaluated.difference_update(changes.dropped)

    def restore(self, state: PartitionState) -> None:
        """Take the stored state of the partition (a fresh claim); windows already evaluated are left out."""
        self.next_offset = state.next_offset
        self.watermark = state.watermark
        self.recent_times = state.recent_times
        self.closed_before = max(self.closed_before, state.closed_before)
        self.counts = PartitionCounts.of(state.counts)
        self.windows = {s: w for s, w in state.windows.items() if s >= self.closed_before}
        self.dirty = set()
        # evaluated while the partition had no owner watching the evaluator: dropped from the store next flush
        self.evaluated = {s for s in state.windows if s < self.closed_before}
        self.log_resets = state.log_resets

    def restart_log(self, first: int) -> None:
        """The partition's log restarted (or was truncated) below the next offset to fold: fold the new
        log from `first`, its first record here. Open windows stay open and take its records; the counts
        go on from what they were (the new log holds only records written after the restart)."""
        self.next_offset = first
        self.log_resets += 1

    def _state(self, windows: dict[int, WindowProfile]) -> PartitionState:
        return PartitionState(self.next_offset, self.watermark, self.closed_before, self.counts.frozen(),
                              self.active_at, windows, self.recent_times, self.log_resets)

    def close_through(self, before: int) -> list[int]:
        """Forget windows starting before `before` (they were evaluated); returns their starts."""
        self.closed_before = max(self.closed_before, before)
        gone = [start for start in self.windows if start < before]
        for start in gone:
            del self.windows[start]
            self.dirty.discard(start)
        return gone


def _capped_reach(sequence: np.ndarray, grace: int) -> np.ndarray:
    """How far each time in `sequence` may move the watermark: its own time, or at most `grace` past the
    earliest of the `CONFIRMING_EVENTS - 1` times before it (the first time has none before it: its own).

    >>> _capped_reach(np.array([100, 101, 1_000, 102, 1_001, 1_002, 1_003]), 5).tolist()
    [100, 101, 105, 102, 107, 107, 1003]
    """
    padded = np.concatenate((np.repeat(sequence[:1], CONFIRMING_EVENTS - 1), sequence))
    earliest = padded[:len(sequence)]
    for k in range(1, CONFIRMING_EVENTS - 1):
        earliest = np.minimum(earliest, padded[k:k + len(sequence)])
    reach: np.ndarray = np.minimum(sequence, earliest + grace)
    return reach


def _roughly(ms: int) -> str:
    """A gap to the hour when it is days long, else to the second: `63172d15h`, `2h5m`."""
    unit = 3_600_000 if ms >= 86_400_000 else 1000 if ms >= 60_000 else 1
    return format_duration(ms - ms % unit)
