"""The join of predictions with labels that come late: each label is credited to the bucket (a window
step) its prediction fell in, however late it arrives within `max_delay`.

Labels take effect at ticks, in event time: `advance(t)` applies every label timed before `t`. A label
that comes before its tick waits, so what a window holds at a tick depends only on which predictions
and labels exist, not on the order or the batches they arrived in: a replay and a live worker credit
the same labels at the same ticks. A label whose prediction has not come waits for it (up to
`max_delay`); a prediction that comes to a waiting, applied label is credited at once.

Only what the metrics need is held: per waiting prediction its bucket and prediction, per waiting
label its time and value (`docs/checks.md` gives the bytes). At most `max_pending` of them wait; more
are refused and counted (`overflow`). With `sample` below 1 only ids whose hash falls under it join.

>>> join = LabelJoin("binary", threshold=0.5, step=60_000, max_delay=3_600_000)
>>> join.predict("a", 1_000, 0.9); join.predict("b", 2_000, 0.2)
>>> join.label("a", 70_000, 1); join.label("b", 200_000, 1)
>>> sorted(join.advance(120_000)), join.buckets[0].labelled, join.buckets[0].predicted
([0], 1, 2)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.state import JoinChanges, JoinCounts, JoinState

Value = float | str


@dataclass
class LabelJoin:
    task: str                       # binary | multiclass | regression
    threshold: float
    step: int                       # bucket width: the window step, ms
    max_delay: int
    max_pending: int = 1_000_000
    sample: float = 1.0
    pending: dict[str, tuple[int, Value]] = field(default_factory=dict)
    labels: dict[str, tuple[int, Value]] = field(default_factory=dict)
    buckets: dict[int, PerformanceState] = field(default_factory=dict)
    counts: JoinCounts = field(default_factory=JoinCounts)
    ticked: int | None = None
    touched: set[int] = field(default_factory=set)    # buckets whose counts changed since `take_touched`
    _dirty: tuple[set[str], set[str], set[int]] = field(default_factory=lambda: (set(), set(), set()))
    _dropped: tuple[set[str], set[str], set[int]] = field(default_factory=lambda: (set(), set(), set()))

    def joins(self, key: str) -> bool:
        """Whether `key` is in the sample (always with `sample` 1); the same answer in every process."""
        if self.sample >= 1:
            return True
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < self.sample * 2**64

    def predict(self, key: str, time: int, prediction: Value) -> None:
        """One prediction made at `time`: credited at once if its label was applied already, else waits."""
        if not self.joins(key):
            return
        if key in self.pending:
            self._count(duplicates=1)
            return
        bucket = time - time % self.step
        waiting = self.labels.get(key)
        if waiting is not None and self.ticked is not None and waiting[0] < self.ticked:
            self._bucket(bucket).predicted += 1
            self._forget_label(key)
            self._credit(bucket, prediction, waiting[1])
        elif self._room():
            self._bucket(bucket).predicted += 1
            self.pending[key] = (bucket, prediction)
            self._mark(pending=key)

    def label(self, key: str, time: int, value: Value) -> None:
        """One label timed `time`; it takes effect at the first tick after `time`."""
        if not self.joins(key):
            return
        if key in self.labels:
            self._count(duplicates=1)
            return
        if self._room():
            if self.ticked is not None and time < self.ticked:
                self._count(late_labels=1)
            self.labels[key] = (time, value)
            self._mark(label=key)

    def advance(self, until: int) -> set[int]:
        """Apply the labels timed before `until` (and those late for an earlier tick), drop what waited
        longer than `max_delay`; the buckets whose metrics changed."""
        changed: set[int] = set()
        for key, (time, value) in list(self.labels.items()):
            if time < until and key in self.pending:
                bucket, prediction = self.pending.pop(key)
                self._forget_label(key)
                self._dropped[0].add(key)
                self._credit(bucket, prediction, value)
                changed.add(bucket)
        self.ticked = until if self.ticked is None else max(self.ticked, until)
        self._expire(until)
        return changed

    def forget_buckets(self, before: int, pinned: tuple[int, int] | None = None) -> None:
        """Drop the metric state of buckets starting before `before` (no window or reference needs them),
        except those in `pinned` (a fixed reference's range)."""
        for start in [s for s in self.buckets if s < before and not (pinned and pinned[0] <= s < pinned[1])]:
            del self.buckets[start]
            self._dropped[2].add(start)

    def window(self, start: int, size: int) -> PerformanceState:
        """The merged state of the buckets of window [start, start + size)."""
        merged = PerformanceState()
        for bucket in range(start, start + size, self.step):
            if bucket in self.buckets:
                merged = merged.merged(self.buckets[bucket])
        return merged

    def take_touched(self) -> set[int]:
        """The buckets whose counts changed since the last call (every bucket after a restore)."""
        touched, self.touched = self.touched, set()
        return touched

    def checkpoint(self) -> JoinState:
        return JoinState(dict(self.pending), dict(self.labels), dict(self.buckets), ticked=self.ticked,
                         counts=self.counts)

    def restore(self, state: JoinState) -> None:
        self.pending, self.labels = dict(state.pending), dict(state.labels)
        self.buckets = {s: PerformanceState().merged(b) for s, b in state.buckets.items()}
        self.ticked, self.counts = state.ticked, state.counts
        self.touched = set(self.buckets)
        self._dirty = (set(), set(), set())
        self._dropped = (set(), set(), set())

    def changes(self) -> JoinChanges:
        """What changed since the last call: entries to write and entries to remove."""
        pending, labels, buckets = self._dirty
        state = JoinState({k: self.pending[k] for k in pending if k in self.pending},
                          {k: self.labels[k] for k in labels if k in self.labels},
                          {b: self.buckets[b] for b in buckets if b in self.buckets},
                          ticked=self.ticked, counts=self.counts)
        out = JoinChanges(state, tuple(sorted(self._dropped[0])), tuple(sorted(self._dropped[1])),
                          tuple(sorted(self._dropped[2])))
        self._dirty = (set(), set(), set())
        self._dropped = (set(), set(), set())
        return out

    def _credit(self, bucket: int, prediction: Value, label: Value) -> None:
        state = self._bucket(bucket)
        if self.task == "binary":
            state.add_binary(float(prediction), int(label), self.threshold)
        elif self.task == "multiclass":
            state.add_class(str(prediction), str(label))
        else:
            state.add_value(float(prediction), float(label))

    def _bucket(self, start: int) -> PerformanceState:
        self._mark(bucket=start)
        self.touched.add(start)
        if start not in self.buckets:
            self.buckets[start] = PerformanceState()
        return self.buckets[start]

    def _expire(self, until: int) -> None:
        old = [k for k, (bucket, _) in self.pending.items() if bucket + self.step + self.max_delay <= until]
        for key in old:
            del self.pending[key]
            self._dropped[0].add(key)
        unmatched = [k for k, (time, _) in self.labels.items() if time + self.max_delay <= until]
        for key in unmatched:
            self._forget_label(key)
        self._count(expired=len(old), unmatched=len(unmatched))

    def _forget_label(self, key: str) -> None:
        del self.labels[key]
        self._dropped[1].add(key)

    def _room(self) -> bool:
        if len(self.pending) + len(self.labels) < self.max_pending:
            return True
        self._count(overflow=1)
        return False

    def _mark(self, pending: str | None = None, label: str | None = None, bucket: int | None = None) -> None:
        if pending is not None:
            self._dirty[0].add(pending)
            self._dropped[0].discard(pending)
        if label is not None:
            self._dirty[1].add(label)
            self._dropped[1].discard(label)
        if bucket is not None:
            self._dirty[2].add(bucket)
            self._dropped[2].discard(bucket)

    def _count(self, **more: int) -> None:
        if any(more.values()):
            now = self.counts
            self.counts = JoinCounts(**{k: getattr(now, k) + more.get(k, 0) for k in now.__dataclass_fields__})
