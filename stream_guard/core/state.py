"""What a partition and a monitor persist, as values: the only things a state store reads or writes.

A store (Redis, or the in-memory one) turns these into bytes and back and knows nothing else of the
engine: `PartitionFolder.checkpoint()` / `restore()` and `MonitorEngine.checkpoint()` / `restore()` are the
one place where the engine's fields meet their stored form. A new field of partition state is added
here, in the folder's `checkpoint` / `restore`, and in each store's encoding of `PartitionState`.

>>> state = PartitionState(next_offset=10, watermark=5_000, counts=Counts(folded=9, dead_lettered=1,
...                        consumed=10, dead_by_reason=(("late", 1),)))
>>> state.counts.balanced(), state.counts.by_reason()
(True, {'late': 1})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.judging.references import ClosedWindow
from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.profiles.profile import WindowProfile


@dataclass(frozen=True)
class Counts:
    """Events of one partition since its state began: `folded + dead_lettered + filtered == consumed`."""

    folded: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    consumed: int = 0
    dead_by_reason: tuple[tuple[str, int], ...] = ()   # (reason, count), sorted by reason

    def balanced(self) -> bool:
        return self.folded + self.dead_lettered + self.filtered == self.consumed

    def by_reason(self) -> dict[str, int]:
        return dict(self.dead_by_reason)


@dataclass(frozen=True)
class PartitionState:
    """One source partition as its owner stores it.

    `windows` holds the open windows a flush writes: all of them after `checkpoint()`, only the changed
    ones in `PartitionChanges.state`. `heard_at` is the owner's clock when records last came. The
    watermark moves past a jump only once a few events in a row made it, so `recent_times` keeps the
    last events' times the watermark counted (see `PartitionFolder`).
    """

    next_offset: int = 0
    watermark: int | None = None
    closed_before: int = 0
    counts: Counts = field(default_factory=Counts)
    heard_at: int | None = None
    windows: Mapping[int, WindowProfile] = field(default_factory=dict)
    recent_times: tuple[int, ...] = ()     # the last event times the watermark counted (state before: none)
    log_resets: int = 0   # times the partition's log was found restarted or truncated below `next_offset`


@dataclass(frozen=True)
class PartitionChanges:
    """One flush of a partition: its counters and offset, the windows that changed, the windows to drop."""

    state: PartitionState
    dropped: tuple[int, ...] = ()


@dataclass(frozen=True)
class Claim:
    """A partition taken over: the epoch fencing every later write, and the state as last stored."""

    epoch: int
    state: PartitionState


@dataclass(frozen=True)
class Presence:
    """What a store holds of another worker's partition, as that worker wrote it (its own clock)."""

    watermark: int | None
    heard_at: int | None
    alive_at: int | None
    claimed_at: int | None
    windows: frozenset[int]
    log_resets: int = 0
    alive_since: int | None = None   # since when its owner has said it is alive without a break
    lag: int | None = None   # records of it in the log its owner had not folded when it last said so


@dataclass(frozen=True)
class MonitorState:
    """A monitor's evaluated past: closed windows (reference material), the alert book, progress."""

    closed: tuple[ClosedWindow, ...] = ()
    book: Mapping[str, Any] | None = None          # `AlertBook.to_json()`
    last_evaluated: int | None = None              # start of the newest evaluated window


@dataclass(frozen=True)
class ClosedRecord:
    """One window close to store: the window, the closed windows no reference needs any more, the book."""

    closed: ClosedWindow
    forgotten: tuple[int, ...]
    book: Mapping[str, Any]
    checks: tuple[tuple[str, str, str, float | None], ...] = ()   # (feature, check, severity, value)


@dataclass(frozen=True)
class JoinCounts:
    """What became of predictions and labels that were not joined (totals since the join state began)."""

    overflow: int = 0         # refused: `labels.max_pending` predictions and labels were waiting already
    expired: int = 0          # predictions whose label did not come within `labels.max_delay`
    unmatched: int = 0        # labels whose prediction did not come within `labels.max_delay`
    duplicates: int = 0       # a second prediction (or label) for an id still waiting
    invalid: int = 0          # no id, no time, or a value the task cannot use (a score outside [0, 1])
    late_labels: int = 0      # labels timed before a tick already evaluated: credited at the next one


@dataclass(frozen=True)
class JoinState:
    """A monitor's prediction-label join as it persists: what waits, per-bucket metric state, progress.

    `pending`: prediction id -> (bucket start, prediction); `labels`: id -> (label time, label) for labels
    whose prediction has not come (or whose tick has not come); `buckets`: bucket start (a window
    step) -> its metric state; `announced`: window start -> the performance severity last announced;
    `evaluated`: window start -> (labelled, predicted) at its last evaluation; `offsets`: next offset
    per `topic/partition` the join holds everything before (predictions and labels alike).
    """

    pending: Mapping[str, tuple[int, float | str]] = field(default_factory=dict)
    labels: Mapping[str, tuple[int, float | str]] = field(default_factory=dict)
    buckets: Mapping[int, PerformanceState] = field(default_factory=dict)
    announced: Mapping[int, str] = field(default_factory=dict)
    evaluated: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    offsets: Mapping[str, int] = field(default_factory=dict)
    ticked: int | None = None     # labels timed before this have been applied
    counts: JoinCounts = field(default_factory=JoinCounts)


@dataclass(frozen=True)
class JoinChanges:
    """One save of the join: entries written and removed since the last save, and the small parts whole."""

    state: JoinState                       # pending, labels and buckets: only those written
    dropped_pending: tuple[str, ...] = ()
    dropped_labels: tuple[str, ...] = ()
    dropped_buckets: tuple[int, ...] = ()
