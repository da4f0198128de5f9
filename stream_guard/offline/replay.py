"""`stream-guard replay`: run the engine over a JSON Lines or Avro file with no Kafka and no Redis.

Event time comes from the events; a window is evaluated when the file's events pass its end plus
grace, exactly as the live worker would; alerts are emitted at that event time, so a replay is
reproducible run after run. Window digests go to their own sink, so the alert output holds alert
records only. The wall clock plays one part, as in the worker: an event is `future` only when it
is ahead of the clock as well as of the file's own time, so a historical file is judged by its own
time alone.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.engine import MonitorEngine, WindowResult
from stream_guard.core.labels.tracker import PerformanceResult
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.state import JoinCounts
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.schema_registry import REGISTRY_FORMATS
from stream_guard.core.topology.topology import Topology
from stream_guard.offline.avro_files import FILE_SCHEMA_ID, avro_records, file_schema, is_avro_file
from stream_guard.offline.label_replay import LabelReplay

CHUNK = 5000
Sink = Callable[[dict[str, Any]], None]


@dataclass
class ReplaySummary:
    """What a replay did, summed over monitors: `consumed == folded + sum(dead_letters.values())`."""

    lines: int = 0
    consumed: int = 0
    folded: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)          # reason -> count
    windows: int = 0
    evaluations: int = 0
    evaluated_events: int = 0       # events in the windows evaluated
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)   # (status, severity) -> count
    digests: int = 0
    open_windows: int = 0
    open_events: int = 0            # events in windows still open at the end of the file
    labels: int = 0                 # label lines read (`--labels`)
    join: dict[str, JoinCounts] = field(default_factory=dict)   # per monitor: what the join did not credit
    thin: dict[str, ThinWindows] = field(default_factory=dict)          # monitor -> its windows below min_samples
    over_cap: dict[str, OverCap] = field(default_factory=dict)          # monitor -> its windows over max_window_bytes


@dataclass
class OverCap:
    """A monitor's evaluated windows that went over its `max_window_bytes`, and what they pooled."""

    cap: int
    windows: int = 0
    pooled_events: int = 0
    peak_bytes: int = 0


@dataclass
class ThinWindows:
    """How many of a monitor's evaluated windows held fewer events than its `min_samples`."""

    min_samples: int
    window_ms: int
    windows: int = 0
    thin: int = 0
    events: int = 0

    def mostly_thin(self) -> bool:
        return self.windows > 0 and self.thin * 2 > self.windows

    def window_reaching(self) -> int | None:
        """The window size, in ms, whose events would reach `min_samples` at the mean rate seen."""
        if not self.events:
            return None
        exact = -(-self.min_samples * self.window_ms * self.windows // self.events)
        return -(-exact // 1000) * 1000   # whole seconds


def open_events(path: Path) -> IO[bytes]:
    """A binary reader for `.jsonl` or `.jsonl.gz`."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_records(path: Path, chunk: int = CHUNK) -> Iterator[list[RawRecord]]:
    """The file as batches of records; the line (or Avro record) number from 0 stands in for the offset."""
    if is_avro_file(path):
        yield from avro_records(path, chunk)
        return
    batch: list[RawRecord] = []
    with open_events(path) as handle:
        for number, line in enumerate(handle):
            batch.append(RawRecord(line.rstrip(b"\r\n"), 0, number, f"file:{path.name}"))
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def replay(topology: Topology, path: Path, on_alert: Sink, on_evaluation: Sink,
           on_dead_letter: Sink, progress: Callable[[int], None] | None = None,
           on_digest: Sink | None = None, snapshots: dict[str, Snapshot] | None = None,
           on_window: Callable[[MonitorEngine, WindowResult], None] | None = None,
           labels: Path | None = None) -> ReplaySummary:
    """Feed every monitor of `topology` the events of `path`; report records through the sinks.

    `snapshots` holds, by monitor name, the profile of each monitor whose reference is a snapshot;
    `labels`, a JSON Lines file of label events for the monitors that declare `labels:`.
    """
    joins = LabelReplay.from_file(topology, labels) if labels is not None else LabelReplay()
    engines = [MonitorEngine(_reading(m, path), clock=_wall_clock_ms, snapshot=(snapshots or {}).get(m.name))
               for m in topology.monitors]
    for engine in engines:
        if engine.schemas is not None:
            engine.schemas.learn({FILE_SCHEMA_ID: file_schema(path)})
    summary = ReplaySummary(labels=joins.labels_read)
    sinks = _Sinks(on_alert, on_evaluation, on_dead_letter, on_digest or (lambda record: None),
                   on_window or (lambda engine, result: None), joins)
    for batch in read_records(path):
        summary.lines += len(batch)
        for engine in engines:
            _feed(engine, batch, summary, sinks)
        if progress:
            progress(summary.lines)
    folders = [f for e in engines for f in e.folders.values()]
    summary.consumed = sum(f.counts.consumed for f in folders)
    summary.folded = sum(f.counts.folded for f in folders)
    summary.open_windows = sum(len(f.windows) for f in folders)
    summary.open_events = sum(w.events for f in folders for w in f.windows.values())
    summary.join = joins.counts()
    return summary


def _reading(monitor: MonitorSpec, path: Path) -> MonitorSpec:
    """The monitor as it reads the file: Avro records from `.avro`, JSON events from JSON Lines (a
    registry-format source's events in their JSON form)."""
    fmt = "avro" if is_avro_file(path) else "json" if monitor.source.format in REGISTRY_FORMATS else None
    if fmt is None or fmt == monitor.source.format:
        return monitor
    return monitor.model_copy(update={"source": monitor.source.model_copy(update={"format": fmt})})


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class _Sinks:
    alert: Sink
    evaluation: Sink
    dead_letter: Sink
    digest: Sink
    window: Callable[[MonitorEngine, WindowResult], None]
    labels: LabelReplay


def _feed(engine: MonitorEngine, batch: list[RawRecord], summary: ReplaySummary, sinks: _Sinks) -> None:
    for letter in engine.fold(batch):
        _dead(letter, summary, sinks.dead_letter)
    sinks.labels.predictions(engine.monitor.name, batch)
    grace = engine.monitor.window.grace
    for start in engine.due_windows():
        result = engine.close_window(start, engine.local_profiles(start),
                                     emitted_at=start + engine.monitor.window.size + grace)
        summary.windows += 1
        _count_thin(engine, result.events, summary)
        _count_over_cap(engine, result, summary)
        summary.evaluations += len(result.evaluations)
        summary.evaluated_events += result.events
        for evaluation in result.evaluations:
            sinks.evaluation(evaluation.to_json())
        for alert in result.alerts:
            summary.alerts[(alert["status"], alert["severity"])] += 1
            sinks.alert(alert)
        if result.digest is not None:
            summary.digests += 1
            sinks.digest(result.digest)
        sinks.window(engine, result)
        _performance(sinks.labels.closed(engine.monitor.name, start), summary, sinks)


def _performance(result: PerformanceResult, summary: ReplaySummary, sinks: _Sinks) -> None:
    summary.evaluations += len(result.evaluations)
    for evaluation in result.evaluations:
        sinks.evaluation(evaluation.to_json())
    for alert in result.alerts:
        summary.alerts[(alert["status"], alert["severity"])] += 1
        sinks.alert(alert)


def _count_thin(engine: MonitorEngine, events: int, summary: ReplaySummary) -> None:
    monitor = engine.monitor
    thin = summary.thin.setdefault(monitor.name, ThinWindows(monitor.min_samples, monitor.window.size))
    thin.windows += 1
    thin.events += events
    thin.thin += events < monitor.min_samples


def _count_over_cap(engine: MonitorEngine, result: WindowResult, summary: ReplaySummary) -> None:
    window = result.closed.profile
    if window.peak_bytes:
        over = summary.over_cap.setdefault(engine.monitor.name, OverCap(engine.monitor.window_cap()))
        over.windows += 1
        over.pooled_events += window.pooled_events
        over.peak_bytes = max(over.peak_bytes, window.peak_bytes)


def _dead(letter: DeadLetter, summary: ReplaySummary, sink: Sink) -> None:
    summary.dead_letters[letter.reason] += 1
    sink(letter.to_json())
