"""A monitor's realized performance over time: the join, the ticks that apply labels, and the alerts
that name the window a performance drop belongs to.

Ticks are in event time: the tick of window `s` is `s + size + grace`, the moment the engine closes
`s`. Each window the engine closes brings the ticks of every window start up to it, in order; at a
tick the labels timed before it are applied, and every closed window whose labelled or predicted
count changed is evaluated again (`performance.evaluate`). A window's performance series is its own:
it fires when the window's grade reaches a severity, fires again when the grade changes, and resolves
when more labels bring it back to ok. Its alert ids name the window, the status and the severity, so
the same labels give the same ids live and in `replay --labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from stream_guard.core.alerting.alerts import Evaluation, iso, record_id
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.labels.join import LabelJoin
from stream_guard.core.labels.performance import evaluate, feature_of
from stream_guard.core.labels.reading import EventReader, label_reader, prediction_reader
from stream_guard.core.state import JoinChanges, JoinState
from stream_guard.core.topology.monitor import MonitorSpec


@dataclass
class PerformanceResult:
    evaluations: list[Evaluation] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PerformanceTracker:
    monitor: MonitorSpec
    join: LabelJoin
    predictions: EventReader
    labels: EventReader
    announced: dict[int, str] = field(default_factory=dict)     # window start -> severity announced
    evaluated: dict[int, tuple[int, int]] = field(default_factory=dict)   # start -> (labelled, predicted)
    offsets: dict[str, int] = field(default_factory=dict)       # "topic/partition" -> next offset held
    stale: set[int] = field(default_factory=set)   # window starts whose buckets changed since last evaluated

    @classmethod
    def for_monitor(cls, monitor: MonitorSpec) -> PerformanceTracker | None:
        """The tracker of a monitor that declares labels, else None."""
        if monitor.labels is None or monitor.model is None:
            return None
        labels = monitor.labels
        join = LabelJoin(monitor.model.task, monitor.model.threshold, monitor.window.step, labels.max_delay,
                         labels.max_pending, labels.sample)
        return cls(monitor, join, prediction_reader(monitor, feature_of(monitor)), label_reader(monitor))

    def on_predictions(self, records: Sequence[RawRecord]) -> None:
        for key, time, value in self.predictions.items(self._new(records)):
            self.join.predict(key, time, value)

    def on_labels(self, records: Sequence[RawRecord]) -> int | None:
        """Take label records; the newest label time among them (None: no usable label)."""
        newest = None
        for key, time, value in self.labels.items(self._new(records)):
            self.join.label(key, time, value)
            newest = time if newest is None else max(newest, time)
        return newest

    def _new(self, records: Sequence[RawRecord]) -> list[RawRecord]:
        """Records past what the join holds (after a crash, records before its stored offsets come again)."""
        fresh = [r for r in records if r.offset >= self.offsets.get(f"{r.topic}/{r.partition}", 0)]
        for r in fresh:
            self.offsets[f"{r.topic}/{r.partition}"] = r.offset + 1
        return fresh

    def tick_time(self, start: int) -> int:
        """The event time of window `start`'s tick: when the engine closes it."""
        return start + self.monitor.window.size + self.monitor.window.grace

    def due_ticks(self, closed_through: int) -> list[int]:
        """The window starts whose ticks are due once windows up to `closed_through` (a start) closed."""
        size, step = self.monitor.window.size, self.monitor.window.step
        if self.join.ticked is not None:
            first = self.join.ticked - size - self.monitor.window.grace + step
        elif self.join.buckets:   # the first tick: from the first window holding a prediction, as a replay
            first = min(self.join.buckets) - size + step   # closes them one by one, however many closed at once
        else:
            return [closed_through]
        return list(range(first, closed_through + 1, step))

    def tick(self, start: int, emitted_at: int) -> PerformanceResult:
        """Apply the labels timed before window `start`'s tick; evaluate the windows whose labels changed."""
        until = self.tick_time(start)
        self.join.advance(until)
        result = PerformanceResult()
        for window in self._changed(start):
            evaluation = evaluate(self.monitor, window, self._window, self.announced, emitted_at)
            result.evaluations.append(evaluation)
            result.alerts.extend(self._announce(evaluation))
        self._forget(until)
        return result

    def _window(self, start: int) -> Any:
        return self.join.window(start, self.monitor.window.size)

    def _changed(self, closed_through: int) -> list[int]:
        """The closed windows whose labelled or predicted count changed since they were last evaluated: only
        windows holding a bucket that changed are read (a tick costs what changed, not what is kept)."""
        size, step = self.monitor.window.size, self.monitor.window.step
        self.stale |= {b - k for b in self.join.take_touched() for k in range(0, size, step)}
        due = sorted(s for s in self.stale if s <= closed_through)
        self.stale.difference_update(due)
        out = []
        for start in due:
            if not any(b in self.join.buckets for b in range(start, start + size, step)):
                continue   # forgotten since
            state = self._window(start)
            counts = (state.labelled, state.predicted)
            if self.evaluated.get(start) != counts:
                self.evaluated[start] = counts
                out.append(start)
        return out

    def _announce(self, e: Evaluation) -> list[dict[str, Any]]:
        if e.value is None:
            return []   # no evidence either way
        old, new = self.announced.get(e.window_start), (None if e.severity == "ok" else e.severity)
        if new == old:
            return []
        if new is None:
            assert old is not None
            del self.announced[e.window_start]
            return [self._record(e, "resolved", old, f"Resolved. {e.summary}")]
        self.announced[e.window_start] = new
        return [self._record(e, "firing", new, e.summary)]

    def _record(self, e: Evaluation, status: str, severity: str, summary: str) -> dict[str, Any]:
        record = e.alert(status, severity, summary)
        # a window is graded again as its labels come: the severity names the record too
        record["id"] = record_id(e.fingerprint, e.window_start, f"{status}\x1f{severity}")
        state = self._window(e.window_start)
        record["coverage"] = {"predicted": state.predicted, "labelled": state.labelled}
        return record

    def retention(self) -> int:
        """How long after a window's start its metric state may still be needed, ms: `max_delay` of labels,
        then as long as a reference of a later window can reach back (the stored join's TTL)."""
        spec = self.monitor.reference
        reach = {"rolling": spec.window_count() * 3 * self.monitor.window.size,
                 "seasonal": spec.window_count() * (spec.period or 0)}.get(spec.kind, 0)
        return self.join.max_delay + self.monitor.window.size + reach

    def _forget(self, until: int) -> None:
        """Drop what neither a window still taking labels nor a reference of one can need."""
        spec = self.monitor.reference
        before = until - self.retention()
        pinned = spec.range() if spec.kind == "fixed" else None
        self.join.forget_buckets(before, pinned)
        for book in (self.announced, self.evaluated):
            for start in [s for s in book if s < before and not (pinned and pinned[0] <= s < pinned[1])]:
                del book[start]

    def coverage(self, last: int = 30) -> list[dict[str, Any]]:
        """The newest windows' label coverage and performance grade, newest first (for /status)."""
        out = []
        for start in sorted(self.evaluated, reverse=True)[:last]:
            state = self._window(start)
            out.append({"start": iso(start), "end": iso(start + self.monitor.window.size),
                        "predicted": state.predicted, "labelled": state.labelled,
                        "coverage": round(state.coverage, 4) if state.coverage is not None else None,
                        "severity": self.announced.get(start, "ok")})
        return out

    def checkpoint(self) -> JoinState:
        return replace(self.join.checkpoint(), announced=dict(self.announced), evaluated=dict(self.evaluated),
                       offsets=dict(self.offsets))

    def changes(self) -> JoinChanges:
        changes = self.join.changes()
        state = replace(changes.state, announced=dict(self.announced), evaluated=dict(self.evaluated),
                        offsets=dict(self.offsets))
        return replace(changes, state=state)

    def restore(self, state: JoinState) -> None:
        self.join.restore(state)
        self.announced, self.evaluated = dict(state.announced), dict(state.evaluated)
        self.offsets = dict(state.offsets)
        self.stale = set()   # the restored join counts every bucket as changed: the next tick reads them all
