"""The label join on a live worker: a second agent per monitor on its label topic (on the fetch path, as
the source's), and the glue that gives the join the folded predictions, applies labels at their ticks
and stores the join.

The join is the evaluating worker's (the owner of the source's partition 0): with several workers in
the group, label partitions assigned to another worker are not read by it, which a warning says (the
limit in docs/checks.md). It is stored fenced by its evaluator epoch with the offsets of every
partition it holds everything before, and stored before the runtime stores its partitions' offsets:
after a crash or a takeover the next evaluator reads it back and skips the records it already holds,
so no join is lost or doubled. A tick waits until every assigned label partition has passed it (its
newest label time minus grace) or has been silent for `source.idle_timeout` (counted from when this
worker read the join back) with nothing left unread (`core.labels.progress`). The rules are
`core.labels`'; this module only moves records and awaits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import faust

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.labels.progress import LabelProgress
from stream_guard.core.labels.tracker import PerformanceTracker
from stream_guard.core.ports import Publisher, Source, StateStore
from stream_guard.core.topology.topology import Topology
from stream_guard.runtime.fetch_path import FetchTransport, add_fetch_agent
from stream_guard.runtime.monitor_runtime import MonitorRuntime

log = logging.getLogger("stream_guard.worker")
TICK_SECONDS = 0.25
LABEL_BATCH = 2000     # label records per slice of a fetch


class LabelRuntime:
    def __init__(self, runtime: MonitorRuntime, tracker: PerformanceTracker, store: StateStore,
                 publisher: Publisher, labels: Source) -> None:
        self.runtime, self.tracker, self.store, self.publisher, self.labels = runtime, tracker, store, publisher, labels
        self.name = runtime.monitor.name
        window, source = runtime.monitor.window, runtime.monitor.source
        self.progress = LabelProgress(window.grace, source.idle_timeout, since=runtime.clock())
        self._restored = False
        self._lock = asyncio.Lock()
        self._unjoined: list[int] = []   # label partitions no join reads, as last said

    async def _ready(self) -> bool:
        """Whether this worker holds the join (it evaluates the monitor, or owns partition 0 and is about to)."""
        if not (self.runtime.evaluating or self.runtime.source.owns(0)):
            self._restored = False
            return False
        if not self._restored:
            self.tracker.restore(await self.runtime._retrying(lambda: self.store.load_join(self.name)))
            self._restored = True
            self.progress.restart(self.runtime.clock())   # silence counts from here, not from the process start
            log.info(f"{self.name}: label join read back: {len(self.tracker.join.pending):,} predictions and "
                     f"{len(self.tracker.join.labels):,} labels waiting")
        return True

    async def folded(self, records: Sequence[RawRecord]) -> None:
        async with self._lock:
            if await self._ready():
                self.tracker.on_predictions(records)

    async def on_labels(self, records: Sequence[RawRecord]) -> None:
        by_partition: dict[int, list[RawRecord]] = {}
        for record in records:
            by_partition.setdefault(record.partition, []).append(record)
        # the join is read back under the lock: read back twice at once, the second read would replace
        # the predictions folded since the first
        async with self._lock:
            if not await self._ready():
                # not this worker's join: the records are left (nothing of them is committed), and the
                # rebalance that would make this worker evaluate seeks back to the committed offsets; the
                # agent does not sit on a slice meanwhile
                return
            for partition, batch in by_partition.items():
                self.progress.heard(partition, self.runtime.clock(), self.tracker.on_labels(batch))

    def _labels_passed(self, time: int) -> bool:
        return self.progress.passed(time, self.runtime.clock(), self.labels.assigned(), self._unread)

    def _unread(self, partition: int) -> bool:
        """Whether the label partition holds records past those the join has read, as its last fetch said
        (a partition the join has read nothing of yet counts as read: it may hold only what an earlier
        join, since expired, read)."""
        topic = self.runtime.monitor.labels.topic if self.runtime.monitor.labels else ""
        held, end = self.tracker.offsets.get(f"{topic}/{partition}"), self.labels.high_watermark(partition)
        return held is not None and end is not None and end > held

    async def tick(self) -> None:
        """Apply the due ticks whose labels have come, publish what they fire, store the join."""
        self._say_unjoined()
        last = self.runtime.engine.last_evaluated
        async with self._lock:
            if last is None or not self.runtime.evaluating or not await self._ready():
                return
            alerts = []
            for start in self.tracker.due_ticks(last):
                if not self._labels_passed(self.tracker.tick_time(start)):
                    break
                alerts += self.tracker.tick(start, emitted_at=self.runtime.clock()).alerts
            if alerts:
                await self.publisher.alerts(alerts)
                await self.publisher.flush()
            await self._save()

    def _say_unjoined(self) -> None:
        """Say which label partitions no join reads, once and again when that changes: with several workers
        in the group, those assigned to a worker that does not evaluate the monitor."""
        topic = self.runtime.monitor.labels.topic if self.runtime.monitor.labels else ""
        if self.runtime.evaluating:
            unjoined = sorted(set(range(self.labels.partitions() or 0)) - self.labels.assigned())
            where = "are assigned to other workers of the group, which do not join them"
        else:   # the owner of partition 0 is about to evaluate: it will read them
            unjoined = [] if self.runtime.source.owns(0) else sorted(self.labels.assigned())
            where = "are assigned to this worker, which does not evaluate the monitor: it leaves them"
        if unjoined != self._unjoined:
            self._unjoined = unjoined
            if unjoined:
                log.warning(f"{self.name}: label partitions {', '.join(map(str, unjoined))} of {topic} {where}; "
                            f"their labels are not credited: run a monitor with labels on one worker "
                            f"(docs/checks.md, the join's limit)")

    async def before_flush(self) -> None:
        async with self._lock:
            if self._restored and self.runtime.evaluating:
                await self._save()

    async def _save(self) -> None:
        changes = self.tracker.changes()
        saved = await self.runtime._guarded(lambda: self.store.save_join(
            self.name, changes, self.tracker.retention(), self.runtime._evaluator_epoch))
        if not saved:
            self._restored = False   # another worker evaluates now; it reads the join back
            return
        topic = self.runtime.monitor.labels.topic if self.runtime.monitor.labels else ""
        held = {int(k.rsplit("/", 1)[1]): v for k, v in self.tracker.offsets.items() if k.startswith(f"{topic}/")}
        if held:
            await self.labels.commit(held)

    def status(self) -> dict[str, Any]:
        """The `labels` part of the monitor's `/status`: per-window label coverage and what the join holds."""
        join = self.tracker.join
        return {"labels": {"holding": self._restored, "pending_predictions": len(join.pending),
                           "waiting_labels": len(join.labels), "counts": join.counts.__dict__,
                           "windows": self.tracker.coverage()}}


def add_label_agents(app: faust.App, topology: Topology, runtimes: dict[str, MonitorRuntime], store: StateStore,
                     publisher: Publisher, source: Callable[[str], Source], transport: FetchTransport) -> None:
    """For each monitor that declares labels: its label agent on the fetch path, its join's hooks and a
    timer for ticks (`source` gives a topic's offset committer)."""
    joins = []
    for monitor in topology.monitors:
        tracker = PerformanceTracker.for_monitor(monitor)
        if tracker is None or monitor.labels is None:
            continue
        runtime = runtimes[monitor.name]
        join = LabelRuntime(runtime, tracker, store, publisher, source(monitor.labels.topic))
        runtime.extensions.append(join)
        joins.append(join)
        add_fetch_agent(app, transport, monitor.labels.topic, LABEL_BATCH, f"stream_guard.labels.{monitor.name}",
                        join.on_labels)
    if joins:
        async def label_ticks() -> None:
            for join in joins:
                await join.tick()

        app.timer(TICK_SECONDS)(label_ticks)
