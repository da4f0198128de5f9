"""A state store in process memory, with the contract of the Redis store: epochs, fencing, atomic writes.

`replay` could keep its state here, and the worker's ownership rules (claims, fencing, gaps,
takeovers, a store that restarted empty) are tested on it in milliseconds. It is a second
implementation of `core.ports.StateStore`, not a stand-in for Redis: the integration tests run on a
real Redis, and one contract suite (tests/integration/test_state_store_contract.py) holds both to
the same behaviour.

Profiles are kept as their stored bytes, so what comes back is a copy, as from Redis.

>>> import asyncio
>>> from stream_guard.core.state import PartitionChanges, PartitionState
>>> store = MemoryStateStore()
>>> claim = asyncio.run(store.claim_partition("m", 0, now=1))
>>> asyncio.run(store.save_partition("m", 0, PartitionChanges(PartitionState(next_offset=7)), claim.epoch))
>>> asyncio.run(store.load_partition("m", 0)).next_offset
7
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from stream_guard.core.alerting.alerts import finite
from stream_guard.core.judging.references import ClosedWindow
from stream_guard.core.labels.codec import decode_state, encode_bucket, encode_entry, encode_meta
from stream_guard.core.ports import Before
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.state import (
    Claim,
    ClosedRecord,
    JoinChanges,
    JoinState,
    MonitorState,
    PartitionChanges,
    PartitionState,
    Presence,
)
from stream_guard.errors import Fenced, StateLost


@dataclass
class _Partition:
    state: PartitionState = field(default_factory=PartitionState)
    windows: dict[int, bytes] = field(default_factory=dict)
    epoch: int | None = None
    claimed_at: int | None = None
    alive_at: int | None = None
    alive_since: int | None = None
    lag: int | None = None   # as its owner last said (`touch`)
    written: bool = False   # anything stored besides a claim


@dataclass
class _Monitor:
    closed: dict[int, tuple[bytes, frozenset[str]]] = field(default_factory=dict)
    book: Any = None
    last: int | None = None
    evaluator: int | None = None
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    join: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"pending": {}, "labels": {}, "buckets": {}})
    join_meta: bytes | None = None


class MemoryStateStore:
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._monitors: dict[str, _Monitor] = {}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def clear(self) -> None:
        """Forget everything, as a Redis restarted without persistence does."""
        self._partitions.clear()
        self._monitors.clear()

    def _partition(self, monitor: str, partition: int) -> _Partition:
        return self._partitions.setdefault((monitor, partition), _Partition())

    def _monitor(self, monitor: str) -> _Monitor:
        return self._monitors.setdefault(monitor, _Monitor())

    async def claim_partition(self, monitor: str, partition: int, now: int) -> Claim:
        held = self._partition(monitor, partition)
        held.epoch, held.claimed_at, held.alive_at = (held.epoch or 0) + 1, now, now
        return Claim(held.epoch, self._state(held))

    async def load_partition(self, monitor: str, partition: int) -> PartitionState:
        return self._state(self._partition(monitor, partition))

    @staticmethod
    def _state(held: _Partition) -> PartitionState:
        return replace(held.state, windows={s: WindowProfile.from_bytes(b) for s, b in held.windows.items()})

    async def save_partition(self, monitor: str, partition: int, changes: PartitionChanges,
                             epoch: int | None = None, before: Before | None = None) -> None:
        held = self._partition(monitor, partition)
        what = f"partition {partition} of monitor {monitor}"
        dirty = {s: w.to_bytes() for s, w in changes.state.windows.items()}
        await self._guarded(held.epoch, epoch, what, before)
        held = self._partition(monitor, partition)   # `before` may have let a claim in: read it again
        _check(held.epoch, epoch, what)
        held.windows.update(dirty)
        for start in changes.dropped:
            held.windows.pop(start, None)
        held.state, held.written = replace(changes.state, windows={}), True

    async def touch(self, monitor: str, partitions: Sequence[int], now: int, since: int | None = None,
                    lags: Mapping[int, int] | None = None) -> None:
        for partition in partitions:
            held = self._partition(monitor, partition)
            held.alive_at, held.alive_since, held.lag = now, since, (lags or {}).get(partition)

    async def presence(self, monitor: str, partitions: Sequence[int]) -> dict[int, Presence]:
        out = {}
        for p in partitions:
            held = self._partitions.get((monitor, p)) or _Partition()
            out[p] = Presence(held.state.watermark, held.state.heard_at, held.alive_at, held.claimed_at,
                              frozenset(held.windows), held.state.log_resets, held.alive_since, held.lag)
        return out

    async def partition_profiles(self, monitor: str, partitions: Sequence[int], start: int) -> list[WindowProfile]:
        blobs = [self._partitions[(monitor, p)].windows.get(start) for p in partitions
                 if (monitor, p) in self._partitions]
        return [WindowProfile.from_bytes(b) for b in blobs if b is not None]

    async def claim_evaluator(self, monitor: str) -> int:
        held = self._monitor(monitor)
        held.evaluator = (held.evaluator or 0) + 1
        return held.evaluator

    async def last_evaluated(self, monitor: str) -> int | None:
        return self._monitor(monitor).last

    async def load_monitor(self, monitor: str) -> MonitorState:
        held = self._monitor(monitor)
        closed = tuple(ClosedWindow(WindowProfile.from_bytes(blob), critical)
                       for _, (blob, critical) in sorted(held.closed.items()))
        return MonitorState(closed, orjson.loads(orjson.dumps(held.book)) if held.book is not None else None, held.last)

    async def save_monitor(self, monitor: str, state: MonitorState, epoch: int | None = None) -> None:
        held = self._monitor(monitor)
        _check(held.evaluator, epoch, f"the evaluation of monitor {monitor}")
        for closed in state.closed:
            held.closed[closed.profile.start] = (closed.profile.to_bytes(), closed.critical)
        held.book = state.book if state.book is not None else held.book
        held.last = state.last_evaluated if state.last_evaluated is not None else held.last

    async def save_closed(self, monitor: str, record: ClosedRecord, retention: int | None = None,
                          epoch: int | None = None, before: Before | None = None) -> None:
        what = f"the evaluation of monitor {monitor}"
        await self._guarded(self._monitor(monitor).evaluator, epoch, what, before)
        held = self._monitor(monitor)
        _check(held.evaluator, epoch, what)
        start = record.closed.profile.start
        held.closed[start] = (record.closed.profile.to_bytes(), record.closed.critical)
        for gone in record.forgotten:
            held.closed.pop(gone, None)
        held.book, held.last = orjson.loads(orjson.dumps(record.book)), start
        if record.checks:
            held.history[start] = {"start": start, "checks": [[f, c, s, finite(v)] for f, c, s, v in record.checks]}
            if retention:
                held.history = {s: h for s, h in held.history.items() if s >= start - retention}

    async def save_book(self, monitor: str, book: Any, epoch: int | None = None, before: Before | None = None) -> None:
        what = f"the evaluation of monitor {monitor}"
        await self._guarded(self._monitor(monitor).evaluator, epoch, what, before)
        held = self._monitor(monitor)
        _check(held.evaluator, epoch, what)
        held.book = orjson.loads(orjson.dumps(book))

    async def load_join(self, monitor: str) -> JoinState:
        held = self._monitor(monitor)
        return decode_state(held.join_meta, held.join["pending"], held.join["labels"], held.join["buckets"])

    async def save_join(self, monitor: str, changes: JoinChanges, ttl_ms: int, epoch: int | None = None) -> None:
        """As the Redis store, encoded the same way; nothing expires here (a process lives shorter than a TTL)."""
        held = self._monitor(monitor)
        _check(held.evaluator, epoch, f"the evaluation of monitor {monitor}")
        state = changes.state
        for part, written, dropped in (
                ("pending", {k: encode_entry(*v) for k, v in state.pending.items()}, changes.dropped_pending),
                ("labels", {k: encode_entry(*v) for k, v in state.labels.items()}, changes.dropped_labels),
                ("buckets", {str(b): encode_bucket(v) for b, v in state.buckets.items()},
                 tuple(map(str, changes.dropped_buckets)))):
            for key in dropped:
                held.join[part].pop(key, None)
            held.join[part].update(written)
        held.join_meta = encode_meta(state)

    async def history(self, monitor: str, last: int) -> list[dict[str, Any]]:
        held = self._monitor(monitor).history
        return [held[s] for s in sorted(held)[-last:]] if last > 0 else []

    @staticmethod
    async def _guarded(held: int | None, epoch: int | None, what: str, before: Before | None) -> None:
        _check(held, epoch, what)
        if before is not None:
            await before()


def _check(held: int | None, epoch: int | None, what: str) -> None:
    """The rule both stores follow: only a changed epoch is a takeover; no epoch at all is lost state."""
    if epoch is None:
        return
    if held is None:
        raise StateLost(f"the store holds no claim of {what} (this worker's epoch is {epoch}): it lost its data")
    if held != epoch:
        raise Fenced(f"{what} was taken over by another worker (epoch {held}, this worker's {epoch})")
