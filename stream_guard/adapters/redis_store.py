"""Monitor state in Redis: partition-local window profiles and offsets, closed windows, the alert book.

Key layout (the `{...}` hash tag keeps one partition's keys, or one monitor's, in one Cluster slot):

    sg:{APP/MONITOR/P}:windows   hash  window start -> WindowProfile bytes (open windows)
    sg:{APP/MONITOR/P}:meta      hash  next_offset, watermark, closed_before, consumed, folded, dead_lettered,
                                       filtered, and dead_lettered:REASON per dead-letter reason
    sg:{APP/MONITOR}:closed      hash  window start -> merged WindowProfile bytes (reference material)
    sg:{APP/MONITOR}:critical    hash  window start -> JSON list of features critical in that window
    sg:{APP/MONITOR}:book        string  alert book JSON (firing, pending and cooling series; version 2)
    sg:{APP/MONITOR}:last        string  start of the newest evaluated window
    sg:{APP/MONITOR}:history     zset    per evaluated window (score: its start), its check values
    sg:{APP/MONITOR}:snapshots   hash    snapshot name -> Snapshot bytes (reference build)

A partition's flush writes its profiles and its next offset in one MULTI/EXEC, so the offset
stored never disagrees with the profiles stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stream_guard.adapters.credentials import redacted, redis_options
from stream_guard.core.alerts import Evaluation, finite
from stream_guard.core.config import Topology
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.evaluation import ClosedWindow
from stream_guard.core.folding import PartitionCounts, PartitionFolder
from stream_guard.core.lifecycle import AlertBook
from stream_guard.core.profile import WindowProfile
from stream_guard.core.snapshot import Snapshot
from stream_guard.errors import ServiceUnreachable

_META_FIELDS = ("next_offset", "watermark", "closed_before", "consumed", "folded", "dead_lettered", "filtered")
_BY_REASON = "dead_lettered:"


def _counts(values: dict[str, int | None], stored: dict[str, int]) -> PartitionCounts:
    """A partition's counts from its meta hash (state written before `consumed` existed balances itself)."""
    folded, dead, filtered = values["folded"] or 0, values["dead_lettered"] or 0, values["filtered"] or 0
    consumed = values["consumed"] if values["consumed"] is not None else folded + dead + filtered
    by_reason = Counter({key.removeprefix(_BY_REASON): n for key, n in stored.items() if key.startswith(_BY_REASON)})
    return PartitionCounts(folded, dead, filtered, consumed, by_reason)


class RedisStateStore:
    def __init__(self, url: str, app: str, **options: Any) -> None:
        """`options` go to redis-py beside the URL: `password`, `ssl_ca_certs` (see `for_topology`)."""
        self.url = url
        self.app = app
        self.client = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, **options)

    @classmethod
    def for_topology(cls, topology: Topology, url: str | None = None) -> RedisStateStore:
        """The store of a topology's app, with the password and CA file its `redis:` section names."""
        spec = topology.redis if url is None else topology.redis.model_copy(update={"url": url})
        return cls(spec.url, topology.app, **redis_options(spec))

    async def ping(self) -> None:
        """Raise ServiceUnreachable naming the URL when Redis does not answer."""
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise ServiceUnreachable(
                f"cannot reach Redis at {redacted(self.url)} ({exc}); start one with "
                f"`stream-guard local up` or pass --redis URL / set SG_REDIS"
            ) from None

    async def close(self) -> None:
        await self.client.aclose()

    def _partition_key(self, monitor: str, partition: int, name: str) -> str:
        return f"sg:{{{self.app}/{monitor}/{partition}}}:{name}"

    def _monitor_key(self, monitor: str, name: str) -> str:
        return f"sg:{{{self.app}/{monitor}}}:{name}"

    async def load_partition(self, folder: PartitionFolder) -> None:
        """Restore a partition's open windows, offset and counts into a fresh folder."""
        name, p = folder.monitor.name, folder.partition
        meta, windows = await self._read(
            lambda pipe: (pipe.hgetall(self._partition_key(name, p, "meta")),
                          pipe.hgetall(self._partition_key(name, p, "windows"))))
        stored = {key.decode(): int(value) for key, value in meta.items()}
        values = {name: stored.get(name) for name in _META_FIELDS}
        folder.next_offset = values["next_offset"] or 0
        folder.watermark = values["watermark"]
        folder.closed_before = max(folder.closed_before, values["closed_before"] or 0)
        folder.counts = _counts(values, stored)
        folder.windows = {int(s): WindowProfile.from_bytes(b) for s, b in windows.items()
                          if int(s) >= folder.closed_before}

    async def save_partition(self, folder: PartitionFolder, dropped: list[int]) -> None:
        """Write changed windows, drop evaluated ones and store offset and counts, atomically."""
        name, p = folder.monitor.name, folder.partition
        dirty = folder.take_dirty()
        meta: dict[str, int] = {"next_offset": folder.next_offset, "closed_before": folder.closed_before,
                                **folder.counts.totals(),
                                **{_BY_REASON + reason: n for reason, n in folder.counts.dead_by_reason.items()}}
        if folder.watermark is not None:
            meta["watermark"] = folder.watermark
        windows_key = self._partition_key(name, p, "windows")

        def write(pipe: Any) -> None:
            if dirty:
                pipe.hset(windows_key, mapping={str(s): w.to_bytes() for s, w in dirty.items()})
            if dropped:
                pipe.hdel(windows_key, *map(str, dropped))
            pipe.hset(self._partition_key(name, p, "meta"), mapping=meta)

        await self._write(write)

    async def partition_profiles(self, monitor: str, partitions: list[int], start: int) -> list[WindowProfile]:
        """Window `start` as stored by each of the given partitions (absent ones are skipped)."""
        blobs = await self._read(lambda pipe: [pipe.hget(self._partition_key(monitor, p, "windows"), str(start))
                                               for p in partitions])
        return [WindowProfile.from_bytes(b) for b in blobs if b is not None]

    async def load_monitor(self, engine: MonitorEngine) -> None:
        """Restore closed windows, the alert book and the last evaluated window."""
        name = engine.monitor.name
        closed, critical, book, last = await self._read(lambda pipe: (
            pipe.hgetall(self._monitor_key(name, "closed")), pipe.hgetall(self._monitor_key(name, "critical")),
            pipe.get(self._monitor_key(name, "book")), pipe.get(self._monitor_key(name, "last"))))
        for start, blob in sorted(closed.items(), key=lambda kv: int(kv[0])):
            flagged = frozenset(orjson.loads(critical.get(start, b"[]")))
            engine.remember(ClosedWindow(WindowProfile.from_bytes(blob), flagged))
        engine.book = AlertBook.for_monitor(engine.monitor, orjson.loads(book) if book else None)
        engine.last_evaluated = int(last) if last is not None else None

    async def save_closed(self, engine: MonitorEngine, closed: ClosedWindow, forgotten: list[int],
                          evaluations: Sequence[Evaluation] = (), retention: int | None = None) -> None:
        """Record an evaluated window, the alert book, the progress marker and the window's check
        values (kept `retention` ms for `stream-guard history`), atomically."""
        name, start = engine.monitor.name, closed.profile.start
        history = self._monitor_key(name, "history")
        values = orjson.dumps({"start": start, "checks": [
            [e.feature, e.check, e.severity, finite(e.value)] for e in evaluations]})

        def write(pipe: Any) -> None:
            pipe.hset(self._monitor_key(name, "closed"), str(start), closed.profile.to_bytes())
            pipe.hset(self._monitor_key(name, "critical"), str(start), orjson.dumps(sorted(closed.critical)))
            if forgotten:
                pipe.hdel(self._monitor_key(name, "closed"), *map(str, forgotten))
                pipe.hdel(self._monitor_key(name, "critical"), *map(str, forgotten))
            pipe.set(self._monitor_key(name, "book"), orjson.dumps(engine.book.to_json()))
            pipe.set(self._monitor_key(name, "last"), str(start))
            if evaluations:
                pipe.zremrangebyscore(history, start, start)
                pipe.zadd(history, {values: start})
                if retention:
                    pipe.zremrangebyscore(history, "-inf", f"({start - retention}")

        await self._write(write)

    async def save_book(self, engine: MonitorEngine) -> None:
        """Store the alert book alone (after freshness, which changes it between window closes)."""
        book = orjson.dumps(engine.book.to_json())
        await self._write(lambda pipe: pipe.set(self._monitor_key(engine.monitor.name, "book"), book))

    async def history(self, monitor: str, last: int) -> list[dict[str, Any]]:
        """The check values of the newest `last` evaluated windows, oldest first."""
        (members,) = await self._read(lambda pipe: [pipe.zrange(self._monitor_key(monitor, "history"), -last, -1)])
        return [orjson.loads(m) for m in members]

    async def _read(self, build: Any) -> Any:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                build(pipe)
                return await pipe.execute()
        except (RedisError, OSError) as exc:
            raise ServiceUnreachable(f"Redis at {redacted(self.url)} failed: {exc}") from None

    async def _write(self, build: Any) -> None:
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                build(pipe)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise ServiceUnreachable(f"Redis at {redacted(self.url)} failed: {exc}") from None


class SnapshotStore:
    """Snapshot references in Redis: one hash per monitor, `sg:{APP/MONITOR}:snapshots`, name -> bytes."""

    def __init__(self, state: RedisStateStore) -> None:
        self.state = state

    def _key(self, monitor: str) -> str:
        return self.state._monitor_key(monitor, "snapshots")

    async def save(self, monitor: str, snapshot: Snapshot) -> bool:
        """Store a new snapshot; False (and nothing written) when the name is taken: snapshots never change."""
        created = await self.state._read(lambda pipe: [pipe.hsetnx(self._key(monitor), snapshot.name,
                                                                   snapshot.to_bytes())])
        return bool(created[0])

    async def load(self, monitor: str, name: str) -> Snapshot | None:
        (blob,) = await self.state._read(lambda pipe: [pipe.hget(self._key(monitor), name)])
        return Snapshot.from_bytes(blob) if blob is not None else None

    async def all(self, monitor: str) -> list[Snapshot]:
        (blobs,) = await self.state._read(lambda pipe: [pipe.hgetall(self._key(monitor))])
        return sorted((Snapshot.from_bytes(b) for b in blobs.values()), key=lambda s: s.name)

    async def delete(self, monitor: str, name: str) -> bool:
        (removed,) = await self.state._read(lambda pipe: [pipe.hdel(self._key(monitor), name)])
        return bool(removed)
