"""Monitor state in Redis: partition-local window profiles and offsets, closed windows, the alert book.

Key layout (the `{...}` hash tag keeps one partition's keys, or one monitor's, in one Cluster slot):

    sg:{APP/MONITOR/P}:windows   hash  window start -> WindowProfile bytes (open windows)
    sg:{APP/MONITOR/P}:meta      hash  next_offset, watermark, closed_before, consumed, folded, dead_lettered,
                                       filtered, dead_lettered:REASON per dead-letter reason, heard_at (the
                                       owner's clock when records last came), alive_at (the owner's clock,
                                       refreshed every flush interval), claimed_at and epoch (the
                                       owner's claim)
    sg:{APP/MONITOR}:closed      hash  window start -> merged WindowProfile bytes (reference material)
    sg:{APP/MONITOR}:critical    hash  window start -> JSON list of features critical in that window
    sg:{APP/MONITOR}:book        string  alert book JSON (firing, pending and cooling series; version 2)
    sg:{APP/MONITOR}:last        string  start of the newest evaluated window
    sg:{APP/MONITOR}:evaluator   string  epoch of the worker evaluating the monitor's windows
    sg:{APP/MONITOR}:history     zset    per evaluated window (score: its start), its check values
    sg:{APP/MONITOR}:snapshots   hash    snapshot name -> Snapshot bytes (reference build)

A partition's flush writes its profiles and its next offset in one MULTI/EXEC, so the offset
stored never disagrees with the profiles stored.

Fencing: a worker claims a partition by incrementing its `epoch` (and reading its state in the same
transaction); every later write of that partition WATCHes the meta hash and goes through only while
the epoch is still the one claimed. A worker that was paused while its partitions moved to another
worker therefore cannot overwrite the new owner's state: its write raises `Fenced`. The monitor-wide
keys (closed windows, book, progress marker) are fenced the same way by the `evaluator` epoch, taken by
whichever worker owns the source's partition 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, WatchError

from stream_guard.adapters.credentials import redacted, redis_options
from stream_guard.core.alerting.alerts import Evaluation, finite
from stream_guard.core.alerting.lifecycle import AlertBook
from stream_guard.core.engine import MonitorEngine, RemotePartition, remote_activity
from stream_guard.core.judging.evaluation import ClosedWindow
from stream_guard.core.profiles.folding import PartitionCounts, PartitionFolder
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import Fenced, ServiceUnreachable

_META_FIELDS = ("next_offset", "watermark", "closed_before", "consumed", "folded", "dead_lettered", "filtered",
                "heard_at", "epoch")
_BY_REASON = "dead_lettered:"
Before = Callable[[], Awaitable[None]]


def _counts(values: dict[str, int | None], stored: dict[str, int]) -> PartitionCounts:
    """A partition's counts from its meta hash (state written before `consumed` existed balances itself)."""
    folded, dead, filtered = values["folded"] or 0, values["dead_lettered"] or 0, values["filtered"] or 0
    consumed = values["consumed"] if values["consumed"] is not None else folded + dead + filtered
    by_reason = Counter({key.removeprefix(_BY_REASON): n for key, n in stored.items() if key.startswith(_BY_REASON)})
    return PartitionCounts(folded, dead, filtered, consumed, by_reason)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class RedisStateStore:
    def __init__(self, url: str, app: str, cluster: bool = False, **options: Any) -> None:
        """`options` go to redis-py beside the URL: `password`, `ssl_ca_certs` (see `for_topology`).
        With `cluster`, the URL names any node of a Redis Cluster."""
        self.url = url
        self.app = app
        self.client: Any = (RedisCluster.from_url(url, socket_connect_timeout=3, socket_timeout=10, **options)
                            if cluster else
                            aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, **options))

    @classmethod
    def for_topology(cls, topology: Topology, url: str | None = None) -> RedisStateStore:
        """The store of a topology's app, with the password and CA file its `redis:` section names."""
        spec = topology.redis if url is None else topology.redis.model_copy(update={"url": url})
        return cls(spec.url, topology.app, spec.cluster, **redis_options(spec))

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

    async def claim_partition(self, folder: PartitionFolder, now: int) -> int:
        """Take ownership of a partition at `now` (epoch ms): bump its epoch and restore its open windows,
        offset and counts into a fresh folder, in one transaction. Returns the epoch that fences every
        later write."""
        name, p = folder.monitor.name, folder.partition
        meta_key = self._partition_key(name, p, "meta")
        epoch, _, meta, windows = await self._write(
            lambda pipe: (pipe.hincrby(meta_key, "epoch", 1),
                          pipe.hset(meta_key, mapping={"claimed_at": now, "alive_at": now}),
                          pipe.hgetall(meta_key), pipe.hgetall(self._partition_key(name, p, "windows"))))
        self._restore(folder, meta, windows)
        return int(epoch)

    async def load_partition(self, folder: PartitionFolder) -> None:
        """Restore a partition's open windows, offset and counts into a fresh folder (read only)."""
        name, p = folder.monitor.name, folder.partition
        meta, windows = await self._read(
            lambda pipe: (pipe.hgetall(self._partition_key(name, p, "meta")),
                          pipe.hgetall(self._partition_key(name, p, "windows"))))
        self._restore(folder, meta, windows)

    @staticmethod
    def _restore(folder: PartitionFolder, meta: dict[bytes, bytes], windows: dict[bytes, bytes]) -> None:
        stored = {key.decode(): int(value) for key, value in meta.items()}
        values = {name: stored.get(name) for name in _META_FIELDS}
        folder.next_offset = values["next_offset"] or 0
        folder.watermark = values["watermark"]
        folder.closed_before = max(folder.closed_before, values["closed_before"] or 0)
        folder.counts = _counts(values, stored)
        folder.windows = {int(s): WindowProfile.from_bytes(b) for s, b in windows.items()
                          if int(s) >= folder.closed_before}

    async def save_partition(self, folder: PartitionFolder, dropped: Sequence[int] = (),
                             epoch: int | None = None, before: Before | None = None) -> None:
        """Write changed windows, drop evaluated ones and store offset and counts, atomically.

        With `epoch`, the write happens only while the partition's epoch is still that one (else
        `Fenced`); `before` runs once that is checked and before the write, while Redis watches the
        epoch (publishing the partition's dead letters there means a fenced worker publishes none).
        The folder's changed windows are marked clean only once the write went through, so a failed
        write can be retried as it is.
        """
        name, p = folder.monitor.name, folder.partition
        dirty = {start: folder.windows[start] for start in sorted(folder.dirty) if start in folder.windows}
        meta: dict[str, int] = {"next_offset": folder.next_offset, "closed_before": folder.closed_before,
                                **folder.counts.totals(),
                                **{_BY_REASON + reason: n for reason, n in folder.counts.dead_by_reason.items()}}
        if folder.watermark is not None:
            meta["watermark"] = folder.watermark
        if folder.active_at is not None:
            meta["heard_at"] = folder.active_at
        windows_key = self._partition_key(name, p, "windows")

        def write(pipe: Any) -> None:
            if dirty:
                pipe.hset(windows_key, mapping={str(s): w.to_bytes() for s, w in dirty.items()})
            if dropped:
                pipe.hdel(windows_key, *map(str, dropped))
            pipe.hset(self._partition_key(name, p, "meta"), mapping=meta)

        guard = None if epoch is None else (self._partition_key(name, p, "meta"), "epoch", epoch,
                                             f"partition {p} of monitor {name}")
        await self._write(write, guard, before)
        folder.dirty.difference_update(dirty)

    async def touch(self, monitor: str, partitions: Sequence[int], now: int) -> None:
        """Say this worker is alive and reading these partitions (an idle partition of a live owner
        stops holding windows open; one whose owner is gone keeps holding them until it is taken over)."""
        if partitions:
            await self._read(lambda pipe: [pipe.hset(self._partition_key(monitor, p, "meta"), "alive_at", now)
                                           for p in partitions])

    async def remote_partitions(self, monitor: str, partitions: Sequence[int],
                                now: int, idle_timeout: int) -> dict[int, RemotePartition]:
        """What other workers stored of these partitions: watermark, when the partition last counted as
        active and when its records were last heard of (`remote_activity` decides both from the owner's
        `heard_at`, `claimed_at` and `alive_at`) and which windows it holds open. Partitions never
        claimed are left out."""
        if not partitions:
            return {}
        replies = await self._read(lambda pipe: [
            (pipe.hmget(self._partition_key(monitor, p, "meta"), "watermark", "heard_at", "alive_at", "claimed_at"),
             pipe.hkeys(self._partition_key(monitor, p, "windows"))) for p in partitions])
        out = {}
        for p, (watermark, heard, alive, claimed), keys in zip(partitions, replies[0::2], replies[1::2], strict=True):
            if alive is None and watermark is None and not keys:
                continue
            active_at, heard_at = remote_activity(_int(heard), _int(alive), _int(claimed), now, idle_timeout)
            out[p] = RemotePartition(int(watermark) if watermark is not None else None, active_at,
                                     frozenset(int(k) for k in keys), heard_at)
        return out

    async def claim_evaluator(self, monitor: str) -> int:
        """Become the worker that evaluates `monitor`'s windows; returns the epoch fencing its writes."""
        (epoch,) = await self._write(lambda pipe: [pipe.incr(self._monitor_key(monitor, "evaluator"))])
        return int(epoch)

    async def last_evaluated(self, monitor: str) -> int | None:
        """Start of the newest window evaluated by whichever worker evaluates `monitor`."""
        (last,) = await self._read(lambda pipe: [pipe.get(self._monitor_key(monitor, "last"))])
        return int(last) if last is not None else None

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
                          evaluations: Sequence[Evaluation] = (), retention: int | None = None,
                          epoch: int | None = None, before: Before | None = None) -> None:
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

        await self._write(write, self._evaluator_guard(name, epoch), before)

    async def save_book(self, engine: MonitorEngine, epoch: int | None = None, before: Before | None = None) -> None:
        """Store the alert book alone (after freshness, which changes it between window closes)."""
        book = orjson.dumps(engine.book.to_json())
        await self._write(lambda pipe: pipe.set(self._monitor_key(engine.monitor.name, "book"), book),
                          self._evaluator_guard(engine.monitor.name, epoch), before)

    def _evaluator_guard(self, monitor: str, epoch: int | None) -> tuple[str, None, int, str] | None:
        return None if epoch is None else (self._monitor_key(monitor, "evaluator"), None, epoch,
                                           f"the evaluation of monitor {monitor}")

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

    async def _write(self, build: Any, guard: tuple[str, str | None, int, str] | None = None,
                     before: Before | None = None) -> Any:
        """Run `build`'s commands in one MULTI/EXEC. With a guard (key, hash field or None for a string,
        epoch, what it protects), only while that key still holds the epoch; else raise `Fenced`.
        `before` runs after the guard was checked, before the commands are sent."""
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                if guard is not None:
                    key, field, epoch, what = guard
                    await pipe.watch(key)
                    held = await (pipe.hget(key, field) if field else pipe.get(key))
                    if held is None or int(held) != epoch:
                        raise Fenced(f"{what} was taken over by another worker (epoch {int(held or 0)}, "
                                     f"this worker's {epoch})")
                if before is not None:
                    await before()
                if guard is not None:
                    pipe.multi()
                build(pipe)
                return await pipe.execute()
        except WatchError:
            raise Fenced(f"{guard[3] if guard else 'a write'} was taken over by another worker "
                         f"while this worker wrote it") from None
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
