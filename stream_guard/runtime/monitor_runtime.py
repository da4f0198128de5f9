"""The async glue between Faust, the engine and the state store for one monitor.

Per batch: claim partitions not seen yet (their state comes from the store), fold, queue dead
letters. Per tick: publish what is queued, store each changed partition (fenced by the epoch of its
claim), then commit the stored offsets to Kafka, so Kafka's committed offset never runs ahead of the
store; then, on the worker that evaluates the monitor, read freshness and the other workers'
partitions and close every window whose time has come. The rules (who evaluates, gaps after a claim,
idle and gone partitions) are `core.ownership`'s; what a store error means is `core.ports`'.

While the store is unreachable the runtime stops (the agent waits, so consuming stops), retrying
with backoff and logging the URL. Every `COUNTS_LOG_INTERVAL` ms, and on the last flush, each
partition whose counts moved logs one line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from operator import attrgetter
from typing import Any

from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.judging.freshness import FreshnessWatch
from stream_guard.core.ownership import (
    EVALUATOR_PARTITION,
    GapWatch,
    Watching,
    evaluates,
    expected_partitions,
    remote_partition,
    waiting_for_partitions,
)
from stream_guard.core.ports import Publisher, Source, StateStore
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.services import StateSpec
from stream_guard.errors import Fenced, StateLost
from stream_guard.runtime.log_restarts import LogRestarts
from stream_guard.runtime.observer import RuntimeExtension, RuntimeObserver
from stream_guard.runtime.retrying import Retrying, StandaloneSource, wall_clock_ms

log = logging.getLogger("stream_guard.worker")
_partition_of = attrgetter("partition")
COUNTS_LOG_INTERVAL = 60_000
FRESHNESS_INTERVAL = 1_000


class MonitorRuntime:
    def __init__(self, monitor: MonitorSpec, state: StateSpec, store: StateStore,
                 publisher: Publisher, source: Source | None = None,
                 clock: Any = wall_clock_ms) -> None:
        self.monitor = monitor
        self.state = state
        self.source = source or StandaloneSource()
        self.engine = MonitorEngine(monitor, clock=clock, log_end=self.source.unread_end, read_from=self._read_from)
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self._logged_counts: dict[int, int] = {}   # partition -> consumed at its last counts line
        self._last_counts_log = 0
        self._lock = asyncio.Lock()
        self.epochs: dict[int, int] = {}          # partition -> epoch of this worker's claim
        self.stored_offsets: dict[int, int] = {}  # partition -> next offset as last written to Redis
        self._evaluator_epoch: int | None = None
        self._lost: set[int] = set()               # claimed by another worker since; not ours until reassigned
        self._dead: dict[int, list[DeadLetter]] = {}   # partition -> dead letters not published yet
        self._log_restarts = LogRestarts(monitor.name, monitor.source.topic, self.source)
        self._gaps = GapWatch()                    # just-claimed partitions whose first records may skip some
        self._last_flush = 0
        self._watching = Watching(state.flush_interval)   # since when this worker said it is alive without a break
        self._ready = asyncio.Event()
        self.freshness = FreshnessWatch(monitor)
        self._last_freshness = 0
        self._retrying = Retrying(monitor.name, store.url, lambda: self.engine.unpaused(self.clock()))
        self.observer = RuntimeObserver()   # the app installs one that feeds /metrics and the status page
        self.extensions: list[RuntimeExtension] = []   # e.g. the label join (runtime/labels.py)
        self.reading_blocked: Callable[[], bool] = lambda: False   # the broker unreachable (runtime/worker.py)

    @property
    def evaluating(self) -> bool:
        return self._evaluator_epoch is not None

    async def start(self) -> None:
        """Restore the monitor's state from Redis; batches wait until this is done."""
        self.engine.restore(await self._retrying(lambda: self.store.load_monitor(self.monitor.name)))
        self._ready.set()

    async def on_records(self, records: Sequence[RawRecord]) -> None:
        partitions = set(map(_partition_of, records))
        self.freshness.received(partitions, self.clock())
        await self._ready.wait()
        async with self._lock:
            # a record of a partition that is no longer ours is left to its owner, who reads it again
            await self._claim(sorted(p for p in partitions - set(self.epochs)
                                     if p not in self._lost and self.source.owns(p)))
            if not partitions <= set(self.epochs):
                records = [r for r in records if r.partition in self.epochs]
            if partitions & self._gaps.resuming:
                records = self._without_gaps(records)
            self._log_restarts.notice(self.engine.folders, records, partitions)
            # dead letters wait for their partition's next flush, published only while it is still ours
            for letter in self.engine.fold(records):
                self._dead.setdefault(letter.record.partition, []).append(letter)
            for extension in self.extensions:
                await extension.folded(records)
            due = self.evaluating and bool(self.engine.due_windows())
        # a window that just became due closes now rather than at the next timer tick
        if due or self.clock() - self._last_flush >= self.state.flush_interval:
            await self.tick()

    def _without_gaps(self, records: Sequence[RawRecord]) -> Sequence[RawRecord]:
        """Leave out records of a just-claimed partition that start past its next offset to fold, for a
        while (`core.ownership.GapWatch`); log a gap accepted after that."""
        kept, accepted = self._gaps.filter(records, lambda p: self.engine.folders[p].next_offset, self.clock())
        for gap in accepted:
            log.warning(f"{self.monitor.name}: partition {gap.partition}: offsets {gap.expected:,} to "
                        f"{gap.first - 1:,} did not arrive within {self._gaps.patience // 1000} s of the claim "
                        f"(deleted by retention or compaction, or transaction markers); folding on from "
                        f"{gap.first:,} (records of the partition that came while waiting were left out and are "
                        f"not counted)")
        return kept

    def _read_from(self, partition: int) -> int | None:
        """Below where no record of the partition comes to be folded in this claim (`core.ownership.unread`)."""
        found = [o for o in (self.source.read_from(partition), self._gaps.left_out(partition, self.clock()))
                 if o is not None]
        return max(found, default=None)

    async def assigned(self, partitions: set[int]) -> None:
        """The consumer group gave this worker `partitions` (all it owns now): store and forget what it
        held before, then claim every one of them afresh from Redis, so no claim older than this
        assignment survives it (a claim another worker made in between would fence its writes)."""
        await self._ready.wait()
        async with self._lock:
            held = set(self.epochs)
            if held:
                await self._flush(only=held)
            for partition in held:
                self._forget(partition)
            await self._claim(sorted(partitions))
            self._lost -= partitions

    async def revoked(self, partitions: set[int]) -> None:
        """Partitions are leaving this worker: store what was folded, then forget them."""
        if not self._ready.is_set():
            return
        async with self._lock:
            await self._flush(only=partitions)
            for partition in partitions & set(self.epochs):
                self._forget(partition)

    async def _claim(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.engine.folders.pop(partition, None)
            folder = self.engine.folder(partition)
            claim = await self._retrying(lambda p=partition: self.store.claim_partition(  # type: ignore[misc]
                self.monitor.name, p, self.clock()))
            folder.restore(claim.state)
            self.epochs[partition] = claim.epoch
            self.stored_offsets[partition] = folder.next_offset
            self._gaps.claimed(partition)
            log.info(f"{self.monitor.name}: partition {partition} claimed (epoch {self.epochs[partition]}), "
                     f"resuming after offset {folder.next_offset - 1:,}" if folder.next_offset else
                     f"{self.monitor.name}: partition {partition} claimed (epoch {self.epochs[partition]}), new")
            if evaluates([partition]):
                await self._become_evaluator()

    async def _become_evaluator(self) -> None:
        """Take over the monitor's evaluation: its closed windows and alert book as last stored."""
        self._evaluator_epoch = await self._retrying(lambda: self.store.claim_evaluator(self.monitor.name))
        # another worker may have evaluated windows since this one last read them
        self.engine.restore(await self._retrying(lambda: self.store.load_monitor(self.monitor.name)))
        log.info(f"{self.monitor.name}: this worker evaluates the monitor's windows "
                 f"(it owns partition {EVALUATOR_PARTITION}; epoch {self._evaluator_epoch})")

    def _forget(self, partition: int) -> None:
        self.epochs.pop(partition, None)
        self._dead.pop(partition, None)   # the next owner reads those records again and dead-letters them
        self._gaps.forget(partition)
        self.stored_offsets.pop(partition, None)
        self.engine.folders.pop(partition, None)
        if evaluates([partition]):
            self._evaluator_epoch = None
            self.engine.remote.clear()

    async def tick(self) -> None:
        """Persist what changed and close every window whose time has come."""
        if not self._ready.is_set():
            return
        async with self._lock:
            await self._flush()
            await self._log_restarts.rewind(self.engine.folders, self.clock())
            if self.clock() - self._last_counts_log >= COUNTS_LOG_INTERVAL:
                self.log_counts()
            if not self.evaluating:
                await self._follow_evaluator()
                return
            if self.clock() - self._last_freshness >= FRESHNESS_INTERVAL:
                await self._read_freshness()
            await self._read_remote()
            if self._waiting_for_partitions():
                return
            for start in self.engine.due_windows():
                if not self.evaluating:
                    return
                await self._close(start)

    async def _follow_evaluator(self) -> None:
        """Forget this worker's windows that the evaluating worker has evaluated."""
        last = await self._retrying(lambda: self.store.last_evaluated(self.monitor.name))
        if last is None or (self.engine.last_evaluated is not None and last <= self.engine.last_evaluated):
            return
        self.engine.last_evaluated = last
        for partition, folder in list(self.engine.folders.items()):
            gone = folder.close_through(last + self.monitor.window.step)
            if gone:
                await self._save(partition, gone)

    async def _read_remote(self) -> None:
        """What the other workers stored of the partitions this worker does not own."""
        count = self.source.partitions()
        others = [p for p in range(count or 0) if p not in self.epochs]
        stored = await self._retrying(lambda: self.store.presence(self.monitor.name, others))
        now, idle = self.clock(), self.monitor.source.idle_timeout
        self.engine.remote = {p: remote for p, presence in stored.items()
                              if (remote := remote_partition(presence, now, idle)) is not None}
        for partition, remote in self.engine.remote.items():
            self.freshness.heard_elsewhere(partition, remote.heard_at)

    def _expected(self) -> set[int]:
        return expected_partitions(self.source.partitions(), self.source.assigned(), self.epochs)

    def _waiting_for_partitions(self) -> bool:
        return waiting_for_partitions(self._expected(), self.engine.local_partitions(), self.engine.remote,
                                      self.clock(), self.monitor.source.idle_timeout)

    async def _read_freshness(self) -> None:
        """Read freshness on the wall clock; publish and persist what it changes in the alert book."""
        now = self._last_freshness = self.clock()
        self.freshness.assigned(self._expected(), now)
        reading = self.freshness.observation(now, self.engine.book)
        if reading is None:
            return
        alerts = self.engine.book.apply([reading])
        await self._guarded(lambda: self.store.save_book(self.monitor.name, self.engine.book.to_json(),
                                                         self._evaluator_epoch, self._publishing(alerts)))
        for alert in alerts:
            log.info(f"{self.monitor.name}: {alert['severity']} freshness {alert['status']}: {alert['summary']}")

    async def flush(self, deadline: float | None = None) -> None:
        """Persist every partition's state now (on shutdown). With `deadline` (seconds), give up on a
        Redis that stays unreachable: what was not stored is read again from Kafka by the next owner."""
        if not self._ready.is_set():
            return
        try:
            async with asyncio.timeout(deadline):
                async with self._lock:
                    await self._flush()
        except TimeoutError:
            log.error(f"{self.monitor.name}: Redis at {redacted(self.store.url)} did not answer within {deadline:g}s "
                      f"of shutdown; what was folded since the last flush is not stored and will be read again "
                      f"from Kafka (from offsets {self.stored_offsets})")
        self.log_counts()

    def log_counts(self) -> None:
        """One log line per partition whose counts moved since its last line."""
        self._last_counts_log = self.clock()
        for partition, folder in sorted(self.engine.folders.items()):
            if self._logged_counts.get(partition) != folder.counts.consumed:
                self._logged_counts[partition] = folder.counts.consumed
                log.info(f"{self.monitor.name}: partition {partition}: {folder.counts.describe()}, "
                         f"next offset {folder.next_offset:,}")

    async def _flush(self, dropped: list[int] | None = None, only: set[int] | None = None) -> None:
        """Publish what is queued, store each changed partition, then commit the stored offsets to Kafka."""
        began = time.perf_counter()
        for extension in self.extensions:   # stored first: a join never holds less than the offsets say
            await extension.before_flush()
        changed = [p for p, f in sorted(self.engine.folders.items())
                   if (only is None or p in only) and p in self.epochs
                   and (f.dirty or f.evaluated or dropped or self.stored_offsets.get(p) != f.next_offset)]
        committed = {}
        for partition in changed:
            if await self._save(partition, dropped or []):
                committed[partition] = self.engine.folders[partition].next_offset
        if committed:
            await self.source.commit(committed)
        if only is None and (watching := self._watching).due(now := self.clock()):
            broken = watching.said(now)   # it read nothing for a while: its partitions' silence says nothing
            if self.reading_blocked():    # nor while the broker does not answer
                watching.restart(now)
            if broken or self.reading_blocked():
                self.engine.unpaused(now)
            await self._retrying(lambda: self.store.touch(self.monitor.name, sorted(self.epochs), now, watching.since,
                                                          self.engine.lags()))   # `core.ownership.behind`
        self._last_flush = self.clock()
        if changed:
            self.observer.flushed(self.monitor.name, time.perf_counter() - began)

    async def _save(self, partition: int, dropped: list[int]) -> bool:
        """Store one partition's state; False when another worker has claimed it since (it is forgotten)."""
        folder, epoch = self.engine.folders[partition], self.epochs[partition]

        async def publish_dead_letters() -> None:
            # the records' dead letters are on the broker before Redis marks the records done
            if self._dead.get(partition):
                await self.publisher.dead_letters(self._dead[partition])
                await self.publisher.flush()
                del self._dead[partition]

        changes = folder.changes(dropped)
        try:
            await self._retrying(lambda: self.store.save_partition(self.monitor.name, partition, changes, epoch,
                                                                   publish_dead_letters))
        except Fenced as exc:
            log.warning(f"{self.monitor.name}: {exc}; forgetting the partition here (its new owner "
                        f"re-reads what this worker had not stored)")
            self._forget(partition)
            self._lost.add(partition)
            return False
        except StateLost as exc:
            await self._claim_again(partition, exc)
            return await self._save(partition, dropped)
        folder.stored(changes)
        self.stored_offsets[partition] = folder.next_offset
        return True

    async def _claim_again(self, partition: int, lost: StateLost) -> None:
        """The store lost the partition's state (a Redis restarted without persistence): claim it again
        and write all this worker holds of it on the next save, so folding goes on where it was."""
        folder = self.engine.folders[partition]
        claim = await self._retrying(lambda: self.store.claim_partition(self.monitor.name, partition, self.clock()))
        self.epochs[partition] = claim.epoch
        folder.dirty = set(folder.windows)
        log.warning(f"{self.monitor.name}: {lost}; claimed partition {partition} again (epoch {claim.epoch}) and "
                    f"writing the {len(folder.windows)} open windows, offset {folder.next_offset:,} and counts "
                    f"this worker holds; folding goes on")

    async def _close(self, start: int) -> None:
        began = time.perf_counter()
        partitions = sorted(self._expected() | set(self.engine.folders) | set(self.engine.remote))
        profiles = await self._retrying(lambda: self.store.partition_profiles(self.monitor.name, partitions, start))
        before = set(self.engine.history)
        result = self.engine.close_window(start, profiles, emitted_at=self.clock())
        record = self.engine.closing_record(result, before)
        published = result.alerts + ([result.digest] if result.digest else [])
        saved = await self._guarded(lambda: self.store.save_closed(
            self.monitor.name, record, self.state.retention, self._evaluator_epoch, self._publishing(published)))
        if not saved:
            return
        await self._flush(dropped=[start])
        self.observer.window_closed(self.engine, result, time.perf_counter() - began)
        log.info(result.describe(self.monitor.name))

    def _publishing(self, records: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        """Publish alert records and wait until they are on the broker: run while Redis watches the
        evaluator epoch, so a worker that lost the evaluation publishes nothing."""

        async def publish() -> None:
            if records:
                await self.publisher.alerts(records)
                await self.publisher.flush()

        return publish

    async def _guarded(self, write: Callable[[], Awaitable[Any]]) -> bool:
        """A monitor-wide write; False (and this worker stops evaluating) if another worker took over."""
        try:
            await self._retrying(write)
        except Fenced as exc:
            log.warning(f"{self.monitor.name}: {exc}; this worker stops evaluating the monitor")
            self._evaluator_epoch = None
            return False
        except StateLost as exc:
            await self._evaluate_again(exc)
            return await self._guarded(write)
        return True

    async def _evaluate_again(self, lost: StateLost) -> None:
        """The store lost the monitor's evaluated past: take the evaluation again and write the closed
        windows, alert book and progress this worker holds."""
        name = self.monitor.name
        self._evaluator_epoch = await self._retrying(lambda: self.store.claim_evaluator(name))
        state = self.engine.checkpoint()
        await self._retrying(lambda: self.store.save_monitor(name, state, self._evaluator_epoch))
        log.warning(f"{name}: {lost}; took the evaluation again (epoch {self._evaluator_epoch}) and wrote the "
                    f"{len(state.closed)} closed windows and the alert book this worker holds")

    @property
    def redis_errors(self) -> int:
        return self._retrying.errors
