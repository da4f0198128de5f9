"""The async glue between Faust, the engine and Redis for one monitor; no business logic lives here.

Per batch: note when each partition was last heard of, restore unseen partitions from Redis, fold,
publish dead letters. Per tick (and when a flush is due): persist dirty partitions; every
`FRESHNESS_INTERVAL` ms read the monitor's freshness on the wall clock and publish what it changes in
the alert book; then close every due window — read its partition profiles back from Redis, evaluate,
publish alerts and the window digest, record the closed window. Every `COUNTS_LOG_INTERVAL` ms, and on
the last flush, each partition whose counts moved logs one line of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.alerts import iso
from stream_guard.core.config import MonitorSpec, StateSpec
from stream_guard.core.engine import MonitorEngine, WindowResult
from stream_guard.core.events import DeadLetter, RawRecord
from stream_guard.core.freshness import FreshnessWatch

log = logging.getLogger("stream_guard.worker")
COUNTS_LOG_INTERVAL = 60_000
FRESHNESS_INTERVAL = 1_000


class Publisher(Protocol):
    async def alerts(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MonitorRuntime:
    def __init__(self, monitor: MonitorSpec, state: StateSpec, store: RedisStateStore,
                 publisher: Publisher, assigned: Callable[[], set[int]] = set,
                 clock: Any = wall_clock_ms) -> None:
        self.monitor = monitor
        self.state = state
        self.engine = MonitorEngine(monitor, clock=clock)
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self._logged_counts: dict[int, int] = {}   # partition -> consumed at its last counts line
        self._last_counts_log = 0
        self._lock = asyncio.Lock()
        self._restored: set[int] = set()
        self._last_flush = 0
        self._ready = asyncio.Event()
        self._assigned = assigned
        self._silent_since: dict[int, int] = {}
        self.freshness = FreshnessWatch(monitor)
        self._last_freshness = 0

    async def start(self) -> None:
        """Restore the monitor's state from Redis; batches wait until this is done."""
        await self.store.load_monitor(self.engine)
        self._ready.set()

    async def on_records(self, records: Sequence[RawRecord]) -> None:
        self.freshness.received({r.partition for r in records}, self.clock())
        await self._ready.wait()
        async with self._lock:
            for partition in sorted({r.partition for r in records} - self._restored):
                await self.store.load_partition(self.engine.folder(partition))
                self._restored.add(partition)
            dead = self.engine.fold(records)
            if dead:
                await self.publisher.dead_letters(dead)
            due = bool(self.engine.due_windows())
        # a window that just became due closes now rather than at the next timer tick
        if due or self.clock() - self._last_flush >= self.state.flush_interval:
            await self.tick()

    async def tick(self) -> None:
        """Persist what changed and close every window whose time has come."""
        if not self._ready.is_set():
            return
        async with self._lock:
            await self._flush()
            if self.clock() - self._last_counts_log >= COUNTS_LOG_INTERVAL:
                self.log_counts()
            if self.clock() - self._last_freshness >= FRESHNESS_INTERVAL:
                await self._read_freshness()
            if self._waiting_for_partitions():
                return
            for start in self.engine.due_windows():
                await self._close(start)

    def _waiting_for_partitions(self) -> bool:
        """True while an assigned partition has sent nothing yet and is not idle for long.

        Without this, a worker catching up could close a window from the partitions it happened to
        read first, before a slower partition's events for that window arrive.
        """
        now = self.clock()
        silent = {p for p in self._assigned()
                  if p not in self.engine.folders or self.engine.folders[p].watermark is None}
        self._silent_since = {p: self._silent_since.get(p, now) for p in silent}
        return any(now - since < self.monitor.source.idle_timeout for since in self._silent_since.values())

    async def _read_freshness(self) -> None:
        """Read freshness on the wall clock; publish and persist what it changes in the alert book."""
        now = self._last_freshness = self.clock()
        self.freshness.assigned(self._assigned(), now)
        reading = self.freshness.observation(now, self.engine.book)
        if reading is None:
            return
        alerts = self.engine.book.apply([reading])
        if alerts:
            await self.publisher.alerts(alerts)
        await self.store.save_book(self.engine)
        for alert in alerts:
            log.info(f"{self.monitor.name}: {alert['severity']} freshness {alert['status']}: {alert['summary']}")

    async def flush(self) -> None:
        """Persist every partition's state now (on shutdown and before partitions are revoked)."""
        if self._ready.is_set():
            async with self._lock:
                await self._flush()
                self.log_counts()

    def log_counts(self) -> None:
        """One log line per partition whose counts moved since its last line."""
        self._last_counts_log = self.clock()
        for partition, folder in sorted(self.engine.folders.items()):
            if self._logged_counts.get(partition) != folder.counts.consumed:
                self._logged_counts[partition] = folder.counts.consumed
                log.info(f"{self.monitor.name}: partition {partition}: {folder.counts.describe()}, "
                         f"next offset {folder.next_offset:,}")

    async def _flush(self, dropped: list[int] | None = None) -> None:
        for folder in self.engine.folders.values():
            if folder.dirty or dropped or self._last_flush == 0:
                await self.store.save_partition(folder, dropped or [])
        self._last_flush = self.clock()

    async def _close(self, start: int) -> None:
        profiles = await self.store.partition_profiles(self.monitor.name, sorted(self.engine.folders), start)
        before = set(self.engine.history)
        result = self.engine.close_window(start, profiles, emitted_at=self.clock())
        published = result.alerts + ([result.digest] if result.digest else [])
        if published:
            await self.publisher.alerts(published)
        await self.store.save_closed(self.engine, result.closed, sorted(before - set(self.engine.history)),
                                     result.evaluations, self.state.retention)
        await self._flush(dropped=[start])
        log.info(describe_window(self.monitor.name, result))

    def status(self) -> dict[str, Any]:
        """This monitor's part of `GET /status`."""
        last = self.engine.last_evaluated
        silent = self.freshness.seconds_since(self.clock())
        return {
            "watermark": iso(w) if (w := self.engine.watermark()) is not None else None,
            "last_evaluated_window": None if last is None else
            {"start": iso(last), "end": iso(last + self.monitor.window.size)},
            "firing": len(self.engine.book.firing),
            "seconds_since_last_event": max(silent.values(), default=None),
            "partitions": {
                str(p): {**f.counts.as_dict(), "offset": f.next_offset,
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
