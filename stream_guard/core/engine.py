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
from typing import Any

from stream_guard.core.alerting.alerts import Evaluation, iso
from stream_guard.core.alerting.digest import window_digest
from stream_guard.core.alerting.lifecycle import AlertBook
from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.decoding.writer_schemas import WriterSchemas
from stream_guard.core.judging.evaluation import evaluate_window
from stream_guard.core.judging.log_resets import CHECK as RESET_CHECK
from stream_guard.core.judging.log_resets import ResetWatch
from stream_guard.core.judging.references import ClosedWindow, kept_starts, reference_horizon
from stream_guard.core.judging.state_cap import CHECK as STATE_CAP_CHECK
from stream_guard.core.judging.state_cap import state_cap_evaluation
from stream_guard.core.ownership import LocalPartition, RemotePartition, local_activity, unread
from stream_guard.core.profiles.capping import within_cap
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.profiles.multivariate import ReconstructionModel, active_model
from stream_guard.core.profiles.profile import WindowProfile, merge_all
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.profiles.windows import closed_before
from stream_guard.core.state import ClosedRecord, MonitorState
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.schema_registry import REGISTRY_FORMATS


@dataclass
class WindowResult:
    start: int
    end: int
    events: int
    evaluations: list[Evaluation]
    alerts: list[dict[str, Any]]
    closed: ClosedWindow
    digest: dict[str, Any] | None = None

    def describe(self, monitor: str) -> str:
        """One log line per closed window: its span, volume and what fired."""
        fired = ", ".join(f"{a['severity']} {a['feature']}/{a['check']} {a['status']}" for a in self.alerts)
        firing = len(self.digest["firing"]) if self.digest else 0
        return (f"{monitor}: window {iso(self.start)} closed: {self.events} events, "
                f"{len(self.evaluations)} checks, {len(self.alerts)} alerts" + (f" ({fired})" if fired else "")
                + f", {firing} firing")


@dataclass
class MonitorEngine:
    monitor: MonitorSpec
    folders: dict[int, PartitionFolder] = field(default_factory=dict)
    history: dict[int, ClosedWindow] = field(default_factory=dict)
    book: AlertBook = field(init=False)
    last_evaluated: int | None = None     # start of the newest evaluated window
    clock: Callable[[], int] | None = None  # epoch ms; with it, `future` also means ahead of the clock
    log_end: Callable[[int], int | None] | None = None   # a partition's log end as last fetched (None: unknown)
    read_from: Callable[[int], int | None] | None = None  # below it no record of a partition comes (`unread`)
    snapshot: Snapshot | None = None      # the profile a `snapshot` reference compares with
    snapshots: dict[str, Snapshot] = field(default_factory=dict)   # named snapshot references, by name
    preferred_segments: frozenset[str] = frozenset()   # the largest segments of the last closed window
    remote: dict[int, RemotePartition] = field(default_factory=dict)   # partitions other workers fold
    resets: ResetWatch = field(default_factory=ResetWatch)
    # the writers' schemas of a registry-format source: the caller fills them before `fold` (`wanted`)
    schemas: WriterSchemas | None = None

    def __post_init__(self) -> None:
        self.book = AlertBook.for_monitor(self.monitor)
        if self.schemas is None and self.monitor.source.format in REGISTRY_FORMATS:
            self.schemas = WriterSchemas.for_monitor(self.monitor)

    def use_snapshots(self, found: dict[str, Snapshot]) -> None:
        """Take the snapshot references found for the monitor, by reference name (`reference_specs`)."""
        self.snapshots = dict(found)
        self.snapshot = found.get(self.monitor.default_reference())

    def folder(self, partition: int) -> PartitionFolder:
        if partition not in self.folders:
            closed = self.last_evaluated + self.monitor.window.step if self.last_evaluated is not None else 0
            self.folders[partition] = PartitionFolder(self.monitor, partition, closed_before=closed,
                                                      active_at=self.clock() if self.clock else None,
                                                      preferred_segments=self.preferred_segments,
                                                      schemas=self.schemas,
                                                      reconstruction=self._reconstruction())
        return self.folders[partition]

    def _reconstruction(self) -> ReconstructionModel | None:
        """The multivariate check's PCA, when the monitor folds its errors (see core.profiles.multivariate)."""
        return active_model(self.monitor, self.snapshot.multivariate if self.snapshot is not None else None)

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

    def unpaused(self, now: int) -> None:
        """The worker could not read for a while (its store failed): the partitions' silence meanwhile says
        nothing of the source, so they count as active from `now` (else windows would close past a
        partition still behind)."""
        for folder in self.folders.values():
            if folder.active_at is not None:
                folder.active_at = max(folder.active_at, now)

    def log_resets(self) -> dict[int, int]:
        """How often each partition's log was found restarted, wherever it is folded."""
        resets = {p: r.log_resets for p, r in self.remote.items()}
        return resets | {p: f.log_resets for p, f in self.folders.items()}

    def watermark(self) -> int | None:
        """The event time every partition seen so far has reached.

        With a clock, a partition that has sent nothing for `source.idle_timeout` no longer holds it
        back: the others' events close windows without it (its late events, if it wakes up, are
        dead-lettered as `late`); unless its log holds records not folded yet (`core.ownership.behind`).
        When every partition is idle, the furthest one sets it.
        """
        now = self.clock() if self.clock is not None else 0
        marks = [(f.watermark, local_activity(f.active_at, self.lag(p), now))
                 for p, f in self.folders.items() if f.watermark is not None]
        marks += [(r.watermark, r.active_at) for p, r in self.remote.items()
                  if r.watermark is not None and p not in self.folders]
        if not marks:
            return None
        if self.clock is not None:
            timeout = self.monitor.source.idle_timeout
            active = [(w, at) for w, at in marks if at is None or now - at < timeout]
            if not active:
                return max(w for w, _ in marks)
            marks = active
        return min(w for w, _ in marks)

    def lag(self, partition: int) -> int | None:
        """Records of a partition folded here still to come and be folded, as last fetched (None: unknown;
        `core.ownership.unread`)."""
        folder = self.folders.get(partition)
        if folder is None or self.log_end is None:
            return None
        return unread(self.log_end(partition), folder.next_offset,
                      self.read_from(partition) if self.read_from is not None else None)

    def lags(self) -> dict[int, int]:
        """Each partition folded here whose lag is known: its lag."""
        return {p: lag for p in self.folders if (lag := self.lag(p)) is not None}

    def local_partitions(self) -> dict[int, LocalPartition]:
        """The partitions folded here as `core.ownership.waiting_for_partitions` judges them."""
        return {p: LocalPartition(f.watermark, f.active_at, self.lag(p)) for p, f in self.folders.items()}

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
        current = within_cap(current.capped(self.monitor.max_segments), self.monitor.window_cap())
        evaluations, closed = evaluate_window(self.monitor, current, list(self.history.values()), emitted_at,
                                              self.snapshot, self.snapshots, self.book.sequential)
        reset = self.resets.evaluation(self.monitor, self.log_resets(), start, emitted_at, self._firing(RESET_CHECK))
        capped = state_cap_evaluation(self.monitor, current, emitted_at, self._firing(STATE_CAP_CHECK))
        evaluations += [e for e in (reset, capped) if e is not None]
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

    def _firing(self, check: str) -> bool:
        return any(s.check == check and (s.severity or s.pending) for s in self.book.series.values())

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

    def checkpoint(self) -> MonitorState:
        """The monitor's evaluated past as it persists: closed windows, alert book, progress."""
        return MonitorState(tuple(self.history[s] for s in sorted(self.history)), self.book.to_json(),
                            self.last_evaluated)

    def restore(self, state: MonitorState) -> None:
        """Take the stored past of the monitor in place of what this engine held of it."""
        self.history = {closed.profile.start: closed for closed in state.closed}
        self._forget()
        self.book = AlertBook.for_monitor(self.monitor, state.book)
        self.last_evaluated = state.last_evaluated

    def closing_record(self, result: WindowResult, before: set[int]) -> ClosedRecord:
        """What storing `result` writes: the window, the closed windows that `before` (the history's
        starts before the close) held and no reference needs any more, the book, the check values."""
        return ClosedRecord(result.closed, tuple(sorted(before - set(self.history))), self.book.to_json(),
                            tuple((e.feature, e.check, e.severity, e.value) for e in result.evaluations))

    def remember(self, closed: ClosedWindow) -> None:
        """Keep a closed window as reference material, dropping what no reference can reach."""
        self.history[closed.profile.start] = closed
        self._forget()

    def _forget(self) -> None:
        """Drop the closed windows no reference can reach (windows from before an incident stay)."""
        keep = kept_starts(self.monitor, self.history)
        self.history = {s: self.history[s] for s in sorted(self.history) if s in keep}

    def history_horizon(self) -> int:
        """How many of the newest closed windows references may need (fixed ones are kept besides)."""
        return reference_horizon(self.monitor)
