"""The async glue between Faust, the engine and Redis for one monitor; no business logic lives here.

Per batch: note when each partition was last heard of, claim partitions not seen yet (their state
comes from Redis), fold, publish dead letters. Per tick (and when a flush is due): publish what is
queued, persist dirty partitions, then commit their stored offsets to Kafka — so Kafka's committed
offset never runs ahead of Redis, and after a crash the partition is re-read from an offset at or
before the one stored, whose records below it are skipped. Every write of a partition is fenced by
the epoch taken when it was claimed (see `RedisStateStore`): a worker paused while its partitions
moved elsewhere finds its writes refused and forgets those partitions.

One worker evaluates each monitor: the owner of the source's partition 0. It reads what the other
workers stored of their partitions (watermarks, open windows) to know when a window is due, then
reads every partition's profile of the window from Redis, evaluates, publishes alerts and the
digest, and records the window. Every `FRESHNESS_INTERVAL` ms it also reads freshness. Other workers
only fold and flush, and forget their windows once Redis says they were evaluated.

While Redis is unreachable the runtime stops (the agent waits, so consuming stops), retrying with
backoff and logging the URL, and carries on without loss when Redis answers again. Every
`COUNTS_LOG_INTERVAL` ms, and on the last flush, each partition whose counts moved logs one line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from stream_guard.adapters.credentials import redacted
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.engine import MonitorEngine, WindowResult
from stream_guard.core.judging.freshness import FreshnessWatch
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.services import StateSpec
from stream_guard.errors import Fenced, ServiceUnreachable
from stream_guard.runtime.observer import RuntimeObserver

log = logging.getLogger("stream_guard.worker")
COUNTS_LOG_INTERVAL = 60_000
FRESHNESS_INTERVAL = 1_000
EVALUATOR_PARTITION = 0
GAP_PATIENCE = 5_000
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)   # seconds between attempts while Redis fails; then every 8 s
T = TypeVar("T")


class Publisher(Protocol):
    async def alerts(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...
    async def flush(self) -> None: ...


class Source(Protocol):
    """The worker's view of the monitor's source topic in its consumer group."""

    def assigned(self) -> set[int]: ...
    def owns(self, partition: int) -> bool: ...
    def partitions(self) -> int | None: ...
    async def commit(self, offsets: dict[int, int]) -> None: ...


class StandaloneSource:
    """A source with no consumer group (tests, tools): owns what it is given, commits nowhere."""

    def __init__(self, partitions: set[int] | None = None) -> None:
        self.owned = partitions or set()

    def assigned(self) -> set[int]:
        return self.owned

    def owns(self, partition: int) -> bool:
        return True

    def partitions(self) -> int | None:
        return None

    async def commit(self, offsets: dict[int, int]) -> None:
        return None


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MonitorRuntime:
    def __init__(self, monitor: MonitorSpec, state: StateSpec, store: RedisStateStore,
                 publisher: Publisher, source: Source | None = None,
                 clock: Any = wall_clock_ms) -> None:
        self.monitor = monitor
        self.state = state
        self.engine = MonitorEngine(monitor, clock=clock)
        self.store = store
        self.publisher = publisher
        self.source = source or StandaloneSource()
        self.clock = clock
        self._logged_counts: dict[int, int] = {}   # partition -> consumed at its last counts line
        self._last_counts_log = 0
        self._lock = asyncio.Lock()
        self._epochs: dict[int, int] = {}          # partition -> epoch of this worker's claim
        self._stored_offsets: dict[int, int] = {}  # partition -> next offset as last written to Redis
        self._evaluator_epoch: int | None = None
        self._lost: set[int] = set()               # claimed by another worker since; not ours until reassigned
        self._dead: dict[int, list[DeadLetter]] = {}   # partition -> dead letters not published yet
        self._gaps: dict[int, int] = {}            # partition -> when records past a gap first arrived
        self._resuming: set[int] = set()           # claimed, no records folded since
        self._last_flush = 0
        self._last_touch = 0
        self._ready = asyncio.Event()
        self.freshness = FreshnessWatch(monitor)
        self._last_freshness = 0
        self.redis_errors = 0
        self.observer = RuntimeObserver()   # the app installs one that feeds /metrics and the status page

    @property
    def evaluating(self) -> bool:
        return self._evaluator_epoch is not None

    async def start(self) -> None:
        """Restore the monitor's state from Redis; batches wait until this is done."""
        await self._retrying(lambda: self.store.load_monitor(self.engine))
        self._ready.set()

    async def on_records(self, records: Sequence[RawRecord]) -> None:
        partitions = {r.partition for r in records}
        self.freshness.received(partitions, self.clock())
        await self._ready.wait()
        async with self._lock:
            # a record of a partition that is no longer ours is left to its owner, who reads it again
            await self._claim(sorted(p for p in partitions - set(self._epochs)
                                     if p not in self._lost and self.source.owns(p)))
            if not partitions <= set(self._epochs):
                records = [r for r in records if r.partition in self._epochs]
            if partitions & self._resuming:
                records = self._without_gaps(records)
            # dead letters wait for their partition's next flush, published only while it is still ours
            for letter in self.engine.fold(records):
                self._dead.setdefault(letter.record.partition, []).append(letter)
            due = self.evaluating and bool(self.engine.due_windows())
        # a window that just became due closes now rather than at the next timer tick
        if due or self.clock() - self._last_flush >= self.state.flush_interval:
            await self.tick()

    def _without_gaps(self, records: Sequence[RawRecord]) -> Sequence[RawRecord]:
        """Leave out records of a just-claimed partition that start past its next offset to fold.

        That happens to a batch fetched before a rebalance and handed over after this worker claimed
        the partition again: the records before it were folded in memory, then forgotten unstored, and
        the consumer, sent back to the committed offset, reads them again first. Folding the later batch
        now would skip them for good. A gap that lasts `GAP_PATIENCE` ms is accepted (the records are
        gone from the broker, or the offsets were never records: compaction, transaction markers) and
        logged; the records held back while waiting are then lost, and the log says so. Only the first
        records after a claim are checked.
        """
        first: dict[int, int] = {}
        for record in records:
            first[record.partition] = min(first.get(record.partition, record.offset), record.offset)
        skip = set()
        now = self.clock()
        for partition, offset in first.items():
            expected = self.engine.folders[partition].next_offset
            if partition not in self._resuming or offset <= expected or expected == 0:
                self._resuming.discard(partition)
                self._gaps.pop(partition, None)
                continue
            since = self._gaps.setdefault(partition, now)
            if now - since < GAP_PATIENCE:
                skip.add(partition)
                continue
            log.warning(f"{self.monitor.name}: partition {partition}: offsets {expected:,} to {offset - 1:,} did "
                        f"not arrive within {GAP_PATIENCE // 1000} s of the claim (deleted by retention or "
                        f"compaction, or transaction markers); folding on from {offset:,} (records of the "
                        f"partition that came while waiting were left out and are not counted)")
            self._gaps.pop(partition, None)
            self._resuming.discard(partition)
        return [r for r in records if r.partition not in skip] if skip else records

    async def assigned(self, partitions: set[int]) -> None:
        """The consumer group gave this worker `partitions` (all it owns now): store and forget what it
        held before, then claim every one of them afresh from Redis, so no claim older than this
        assignment survives it (a claim another worker made in between would fence its writes)."""
        await self._ready.wait()
        async with self._lock:
            held = set(self._epochs)
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
            for partition in partitions & set(self._epochs):
                self._forget(partition)

    async def _claim(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.engine.folders.pop(partition, None)
            folder = self.engine.folder(partition)
            self._epochs[partition] = await self._retrying(lambda f=folder: self.store.claim_partition(f, self.clock()))  # type: ignore[misc]
            self._stored_offsets[partition] = folder.next_offset
            self._resuming.add(partition)
            log.info(f"{self.monitor.name}: partition {partition} claimed (epoch {self._epochs[partition]}), "
                     f"resuming after offset {folder.next_offset - 1:,}" if folder.next_offset else
                     f"{self.monitor.name}: partition {partition} claimed (epoch {self._epochs[partition]}), new")
            if partition == EVALUATOR_PARTITION:
                await self._become_evaluator()

    async def _become_evaluator(self) -> None:
        """Take over the monitor's evaluation: its closed windows and alert book as last stored."""
        self._evaluator_epoch = await self._retrying(lambda: self.store.claim_evaluator(self.monitor.name))
        self.engine.history.clear()   # another worker may have evaluated windows since this one last read them
        await self._retrying(lambda: self.store.load_monitor(self.engine))
        log.info(f"{self.monitor.name}: this worker evaluates the monitor's windows "
                 f"(it owns partition {EVALUATOR_PARTITION}; epoch {self._evaluator_epoch})")

    def _forget(self, partition: int) -> None:
        self._epochs.pop(partition, None)
        self._dead.pop(partition, None)   # the next owner reads those records again and dead-letters them
        self._gaps.pop(partition, None)
        self._resuming.discard(partition)
        self._stored_offsets.pop(partition, None)
        self.engine.folders.pop(partition, None)
        if partition == EVALUATOR_PARTITION:
            self._evaluator_epoch = None
            self.engine.remote.clear()

    async def tick(self) -> None:
        """Persist what changed and close every window whose time has come."""
        if not self._ready.is_set():
            return
        async with self._lock:
            await self._flush()
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
        others = [p for p in range(count or 0) if p not in self._epochs]
        now, idle = self.clock(), self.monitor.source.idle_timeout
        self.engine.remote = await self._retrying(
            lambda: self.store.remote_partitions(self.monitor.name, others, now, idle))
        for partition, remote in self.engine.remote.items():
            heard = self.freshness.heard.get(partition)
            if remote.heard_at is not None and (heard is None or heard.at < remote.heard_at):
                self.freshness.received([partition], remote.heard_at)

    def _expected(self) -> set[int]:
        """The partitions whose events the evaluated windows must hold: all of the source's. Until the
        partition count is known (a worker without a consumer group: those it was given)."""
        count = self.source.partitions()
        return set(range(count)) if count else set(self.source.assigned()) | set(self._epochs)

    def _waiting_for_partitions(self) -> bool:
        """True while a partition of the source has sent nothing yet and is not idle for long.

        Without this, a worker catching up could close a window from the partitions it happened to
        read first, before a slower partition's events for that window arrive.
        """
        now = self.clock()
        for p in self._expected():
            folder, remote = self.engine.folders.get(p), self.engine.remote.get(p)
            if folder is not None:
                if folder.watermark is None and now - (folder.active_at or now) < self.monitor.source.idle_timeout:
                    return True     # claimed here, silent since, not for long
            elif remote is None:
                return True         # no worker has claimed it yet (or its claim is being made)
            elif remote.watermark is None and now - (remote.active_at or now) < self.monitor.source.idle_timeout:
                return True         # silent since another worker claimed it, not for long (or owner gone)
        return False

    async def _read_freshness(self) -> None:
        """Read freshness on the wall clock; publish and persist what it changes in the alert book."""
        now = self._last_freshness = self.clock()
        self.freshness.assigned(self._expected(), now)
        reading = self.freshness.observation(now, self.engine.book)
        if reading is None:
            return
        alerts = self.engine.book.apply([reading])
        await self._guarded(lambda: self.store.save_book(self.engine, self._evaluator_epoch, self._publishing(alerts)))
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
                      f"from Kafka (from offsets {self._stored_offsets})")
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
        changed = [p for p, f in sorted(self.engine.folders.items())
                   if (only is None or p in only) and p in self._epochs
                   and (f.dirty or dropped or self._stored_offsets.get(p) != f.next_offset)]
        committed = {}
        for partition in changed:
            if await self._save(partition, dropped or []):
                committed[partition] = self.engine.folders[partition].next_offset
        if committed:
            await self.source.commit(committed)
        if only is None and self.clock() - self._last_touch >= self.state.flush_interval:
            self._last_touch = self.clock()
            await self._retrying(lambda: self.store.touch(self.monitor.name, sorted(self._epochs), self._last_touch))
        self._last_flush = self.clock()
        if changed:
            self.observer.flushed(self.monitor.name, time.perf_counter() - began)

    async def _save(self, partition: int, dropped: list[int]) -> bool:
        """Store one partition's state; False when another worker has claimed it since (it is forgotten)."""
        folder, epoch = self.engine.folders[partition], self._epochs[partition]

        async def publish_dead_letters() -> None:
            # the records' dead letters are on the broker before Redis marks the records done
            if self._dead.get(partition):
                await self.publisher.dead_letters(self._dead[partition])
                await self.publisher.flush()
                del self._dead[partition]

        try:
            await self._retrying(lambda: self.store.save_partition(folder, dropped, epoch, publish_dead_letters))
        except Fenced as exc:
            log.warning(f"{self.monitor.name}: {exc}; forgetting the partition here (its new owner "
                        f"re-reads what this worker had not stored)")
            self._forget(partition)
            self._lost.add(partition)
            return False
        self._stored_offsets[partition] = folder.next_offset
        return True

    async def _close(self, start: int) -> None:
        began = time.perf_counter()
        partitions = sorted(self._expected() | set(self.engine.folders) | set(self.engine.remote))
        profiles = await self._retrying(lambda: self.store.partition_profiles(self.monitor.name, partitions, start))
        before = set(self.engine.history)
        result = self.engine.close_window(start, profiles, emitted_at=self.clock())
        published = result.alerts + ([result.digest] if result.digest else [])
        saved = await self._guarded(lambda: self.store.save_closed(
            self.engine, result.closed, sorted(before - set(self.engine.history)), result.evaluations,
            self.state.retention, self._evaluator_epoch, self._publishing(published)))
        if not saved:
            return
        await self._flush(dropped=[start])
        self.observer.window_closed(self.engine, result, time.perf_counter() - began)
        log.info(describe_window(self.monitor.name, result))

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
        return True

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis call until it succeeds, backing off while Redis is unreachable (consuming stops
        meanwhile, since the agent waits here)."""
        attempt = 0
        while True:
            try:
                result = await call()
            except ServiceUnreachable as exc:
                self.redis_errors += 1
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                if attempt == 0 or delay == RETRY_DELAYS[-1] and attempt % 4 == 0:
                    log.warning(f"{self.monitor.name}: {exc}; consuming is paused, retrying every "
                                f"{delay:g}s or so")
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.info(f"{self.monitor.name}: Redis at {redacted(self.store.url)} answers again after "
                         f"{attempt} failed attempts; carrying on")
                # the partitions were not read meanwhile: their silence says nothing about the source, so
                # it must not make them idle (that would close windows past a partition still behind)
                now = self.clock()
                for folder in self.engine.folders.values():
                    if folder.active_at is not None:
                        folder.active_at = max(folder.active_at, now)
            return result

    def status(self) -> dict[str, Any]:
        """This monitor's part of `GET /status`."""
        last = self.engine.last_evaluated
        silent = self.freshness.seconds_since(self.clock())
        return {
            "watermark": iso(w) if (w := self.engine.watermark()) is not None else None,
            "last_evaluated_window": None if last is None else
            {"start": iso(last), "end": iso(last + self.monitor.window.size)},
            "evaluating": self.evaluating,
            "source_partitions": self.source.partitions(),
            "firing": len(self.engine.book.firing),
            "seconds_since_last_event": max(silent.values(), default=None),
            "redis_errors": self.redis_errors,
            "partitions": {
                str(p): {**f.counts.as_dict(), "offset": f.next_offset,
                         "stored_offset": self._stored_offsets.get(p),
                         "epoch": self._epochs.get(p),
                         "watermark": iso(f.watermark) if f.watermark is not None else None,
                         "seconds_since_last_event": silent.get(p)}
                for p, f in sorted(self.engine.folders.items())
            },
        }


def describe_window(monitor: str, result: WindowResult) -> str:
    """One log line per closed window: its span, volume and what fired."""
    fired = ", ".join(f"{a['severity']} {a['feature']}/{a['check']} {a['status']}" for a in result.alerts)
    firing = len(result.digest["firing"]) if result.digest else 0
    return (f"{monitor}: window {iso(result.start)} closed: {result.events} events, "
            f"{len(result.evaluations)} checks, {len(result.alerts)} alerts" + (f" ({fired})" if fired else "")
            + f", {firing} firing")
