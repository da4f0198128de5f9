"""`replay --labels`: the performance check over a file of predictions and a file of labels.

The label file is read once and sorted by label time; before each tick the labels timed before it
are given to the join, as a live worker whose label consumer keeps up would have them. Ticks and
crediting follow `core.labels.tracker`, so the alerts are the live ones, ids included.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.labels.reading import Item
from stream_guard.core.labels.tracker import PerformanceResult, PerformanceTracker
from stream_guard.core.state import JoinCounts
from stream_guard.core.topology.topology import Topology

Sink = Callable[[dict[str, Any]], None]


@dataclass
class _Feed:
    tracker: PerformanceTracker
    labels: list[Item]
    given: int = 0

    def until(self, time: int) -> None:
        """Give the join every label timed before `time` not given yet."""
        while self.given < len(self.labels) and self.labels[self.given][1] < time:
            key, at, value = self.labels[self.given]
            self.tracker.join.label(key, at, value)
            self.given += 1


@dataclass
class LabelReplay:
    """The trackers of the monitors that declare labels, fed from one label file."""

    feeds: dict[str, _Feed] = field(default_factory=dict)
    labels_read: int = 0

    @classmethod
    def from_file(cls, topology: Topology, path: Path) -> LabelReplay:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            records = [RawRecord(line.rstrip(b"\r\n"), 0, n, f"file:{path.name}") for n, line in enumerate(handle)]
        replay = cls(labels_read=len(records))
        for monitor in topology.monitors:
            tracker = PerformanceTracker.for_monitor(monitor)
            if tracker is not None:
                items = sorted(tracker.labels.items(records), key=lambda item: item[1])
                replay.feeds[monitor.name] = _Feed(tracker, items)
        return replay

    def predictions(self, monitor: str, batch: list[RawRecord]) -> None:
        feed = self.feeds.get(monitor)
        if feed is not None:
            feed.tracker.on_predictions(batch)

    def closed(self, monitor: str, start: int) -> PerformanceResult:
        """The performance evaluations and alerts the close of window `start` brings."""
        out = PerformanceResult()
        feed = self.feeds.get(monitor)
        if feed is None:
            return out
        for tick in feed.tracker.due_ticks(start):
            at = feed.tracker.tick_time(tick)
            feed.until(at)
            result = feed.tracker.tick(tick, emitted_at=at)
            out.evaluations += result.evaluations
            out.alerts += result.alerts
        return out

    def counts(self) -> dict[str, JoinCounts]:
        """What the join did not credit, per monitor (with the label events it could not read as invalid)."""
        out = {}
        for name, feed in self.feeds.items():
            counts = feed.tracker.join.counts
            invalid = counts.invalid + feed.tracker.labels.invalid + feed.tracker.predictions.invalid
            out[name] = JoinCounts(**{**counts.__dict__, "invalid": invalid})
        return out
