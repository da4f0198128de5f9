"""Monitor state in Redis: partition-local window profiles and offsets, closed windows, the alert book.

Key layout (the `{...}` hash tag keeps one partition's keys, or one monitor's, in one Cluster slot):

    sg:{APP/MONITOR/P}:windows   hash  window start -> WindowProfile bytes (open windows)
    sg:{APP/MONITOR/P}:meta      hash  next_offset, watermark, closed_before, consumed, folded, dead_lettered,
                                       filtered, dead_lettered:REASON per dead-letter reason, recent_time:0
                                       and recent_time:1 (the last event times the watermark counted), heard_at (the
                                       owner's clock when records last came), alive_at (the owner's clock,
                                       refreshed every flush interval) and alive_since (since when it was
                                       refreshed without a break), claimed_at and epoch (the
                                       owner's claim), log_resets (times its log restarted), lag
                                       (records of it past those folded, as its owner last said)
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

Only a changed epoch is a takeover. redis-py reports a connection lost or timed out while a key is
watched as `WatchError`, the error it uses for a watched key that changed; the store then reads the
epoch again and raises `ServiceUnreachable` (retry) while it is still this worker's, `Fenced` when it
is another's, and `StateLost` when there is none (a Redis that restarted without its data).

With `wait_replicas` (the topology's `redis.wait_replicas`), every transaction counts as stored only once
that many replicas acknowledged it within `wait_timeout` ms (`WAIT`, `adapters.redis_replication`);
fewer raise `NotReplicated`, a `ServiceUnreachable`: the worker writes it again and commits no Kafka
offset meanwhile.

The store reads and writes the values of `core.state` and nothing else of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, WatchError

from stream_guard.adapters.credentials import redacted, redis_options
from stream_guard.adapters.redis_join import join_from, read_join, write_join
from stream_guard.adapters.redis_replication import replicated_transaction
from stream_guard.core.alerting.alerts import finite
from stream_guard.core.judging.references import ClosedWindow
from stream_guard.core.ports import Before
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.state import (
    Claim,
    ClosedRecord,
    Counts,
    JoinChanges,
    JoinState,
    MonitorState,
    PartitionChanges,
    PartitionState,
    Presence,
)
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import Fenced, NotReplicated, ServiceUnreachable, StateLost

_META_FIELDS = ("next_offset", "watermark", "closed_before", "consumed", "folded", "dead_lettered", "filtered",
                "heard_at", "epoch", "log_resets")
_BY_REASON = "dead_lettered:"
_RECENT = "recent_time:"    # recent_time:0, recent_time:1: the last event times the watermark counted
Guard = tuple[str, str | None, int, str]   # key, hash field (None: a string key), epoch, what it protects


def _counts(values: dict[str, int | None], stored: dict[str, int]) -> Counts:
    """A partition's counts from its meta hash (state written before `consumed` existed balances itself)."""
    folded, dead, filtered = values["folded"] or 0, values["dead_lettered"] or 0, values["filtered"] or 0
    consumed = values["consumed"] if values["consumed"] is not None else folded + dead + filtered
    by_reason = sorted((key.removeprefix(_BY_REASON), n) for key, n in stored.items() if key.startswith(_BY_REASON))
    return Counts(folded, dead, filtered, consumed, tuple(by_reason))


def _partition_state(meta: dict[bytes, bytes], windows: dict[bytes, bytes]) -> PartitionState:
    stored = {key.decode(): int(value) for key, value in meta.items()}
    values = {name: stored.get(name) for name in _META_FIELDS}
    return PartitionState(values["next_offset"] or 0, values["watermark"], values["closed_before"] or 0,
                          _counts(values, stored), values["heard_at"],
                          {int(s): WindowProfile.from_bytes(b) for s, b in windows.items()}, _recent_times(stored),
                          values["log_resets"] or 0)


def _recent_times(stored: dict[str, int]) -> tuple[int, ...]:
    """The recent event times in order (state stored before they were kept has none)."""
    return tuple(stored[key] for key in sorted((k for k in stored if k.startswith(_RECENT)),
                                               key=lambda k: int(k.removeprefix(_RECENT))))


def _meta(state: PartitionState) -> dict[str, int]:
    counts = state.counts
    meta = {"next_offset": state.next_offset, "closed_before": state.closed_before, "consumed": counts.consumed,
            "folded": counts.folded, "dead_lettered": counts.dead_lettered, "filtered": counts.filtered,
            **{_BY_REASON + reason: n for reason, n in counts.dead_by_reason},
            **{f"{_RECENT}{i}": t for i, t in enumerate(state.recent_times)}}
    if state.watermark is not None:
        meta["watermark"] = state.watermark
    if state.heard_at is not None:
        meta["heard_at"] = state.heard_at
    if state.log_resets:
        meta["log_resets"] = state.log_resets
    return meta


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class RedisStateStore:
    def __init__(self, url: str, app: str, cluster: bool = False, timeout: float = 10, wait_replicas: int = 0,
                 wait_timeout: int = 500, **options: Any) -> None:
        """`options` go to redis-py beside the URL: `password`, `ssl_ca_certs` (see `for_topology`).
        With `cluster`, the URL names any node of a Redis Cluster. `timeout` (seconds) bounds each call.
        With `wait_replicas`, a write is stored once that many replicas have it (`wait_timeout` ms at most)."""
        self.url = url
        self.app = app
        self.wait_replicas, self.wait_timeout = wait_replicas, wait_timeout
        self.client: Any = (RedisCluster.from_url(url, socket_connect_timeout=3, socket_timeout=timeout, **options)
                            if cluster else
                            aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=timeout, **options))

    @classmethod
    def for_topology(cls, topology: Topology, url: str | None = None) -> RedisStateStore:
        """The store of a topology's app, with the password and CA file its `redis:` section names."""
        spec = topology.redis if url is None else topology.redis.model_copy(update={"url": url})
        return cls(spec.url, topology.app, spec.cluster, wait_replicas=spec.wait_replicas,
                   wait_timeout=spec.wait_timeout, **redis_options(spec))

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

    async def claim_partition(self, monitor: str, partition: int, now: int) -> Claim:
        """Take ownership of a partition at `now` (epoch ms): bump its epoch and read its state, in one
        transaction. The epoch fences every later write."""
        meta_key = self._partition_key(monitor, partition, "meta")
        epoch, _, meta, windows = await self._write(
            lambda pipe: (pipe.hincrby(meta_key, "epoch", 1),
                          pipe.hset(meta_key, mapping={"claimed_at": now, "alive_at": now}),
                          pipe.hgetall(meta_key), pipe.hgetall(self._partition_key(monitor, partition, "windows"))))
        return Claim(int(epoch), _partition_state(meta, windows))

    async def load_partition(self, monitor: str, partition: int) -> PartitionState:
        """A partition's state as stored (read only)."""
        meta, windows = await self._read(
            lambda pipe: (pipe.hgetall(self._partition_key(monitor, partition, "meta")),
                          pipe.hgetall(self._partition_key(monitor, partition, "windows"))))
        return _partition_state(meta, windows)

    async def save_partition(self, monitor: str, partition: int, changes: PartitionChanges,
                             epoch: int | None = None, before: Before | None = None) -> None:
        """Write changed windows, drop evaluated ones and store offset and counts, atomically.

        With `epoch`, the write happens only while the partition's epoch is still that one; `before`
        runs once that is checked and before the write, while Redis watches the epoch (publishing the
        partition's dead letters there means a fenced worker publishes none).
        """
        windows_key = self._partition_key(monitor, partition, "windows")
        meta_key = self._partition_key(monitor, partition, "meta")
        dirty = {str(s): w.to_bytes() for s, w in changes.state.windows.items()}
        meta = _meta(changes.state)

        def write(pipe: Any) -> None:
            if dirty:
                pipe.hset(windows_key, mapping=dirty)
            if changes.dropped:
                pipe.hdel(windows_key, *map(str, changes.dropped))
            pipe.hset(meta_key, mapping=meta)

        guard = None if epoch is None else (meta_key, "epoch", epoch, f"partition {partition} of monitor {monitor}")
        await self._write(write, guard, before)

    async def touch(self, monitor: str, partitions: Sequence[int], now: int, since: int | None = None,
                    lags: Mapping[int, int] | None = None) -> None:
        """Say this worker is alive and reading these partitions, since when without a break, and how many
        records of each its log holds past what was folded (`lags`; an idle partition of a live owner stops
        holding windows open once caught up; one whose owner is gone keeps holding them until it is taken over)."""
        alive = {"alive_at": now} | ({"alive_since": since} if since is not None else {})
        known = lags or {}

        def write(pipe: Any) -> None:
            for p in partitions:
                key = self._partition_key(monitor, p, "meta")
                pipe.hset(key, mapping=alive | ({"lag": known[p]} if p in known else {}))
                if p not in known:
                    pipe.hdel(key, "lag")   # not known now: an older figure would hold the partition for nothing

        if partitions:
            await self._read(write)

    async def presence(self, monitor: str, partitions: Sequence[int]) -> dict[int, Presence]:
        """What other workers stored of these partitions: watermark, their owner's `heard_at`,
        `alive_at` and `claimed_at`, and the windows each holds open."""
        if not partitions:
            return {}
        replies = await self._read(lambda pipe: [
            (pipe.hmget(self._partition_key(monitor, p, "meta"), "watermark", "heard_at", "alive_at", "claimed_at",
                        "log_resets", "alive_since", "lag"),
             pipe.hkeys(self._partition_key(monitor, p, "windows"))) for p in partitions])
        return {p: Presence(_int(watermark), _int(heard), _int(alive), _int(claimed), frozenset(int(k) for k in keys),
                            _int(resets) or 0, _int(since), _int(lag))
                for p, (watermark, heard, alive, claimed, resets, since, lag), keys in zip(partitions, replies[0::2],
                                                                                           replies[1::2], strict=True)}

    async def partition_profiles(self, monitor: str, partitions: Sequence[int], start: int) -> list[WindowProfile]:
        """Window `start` as stored by each of the given partitions (absent ones are skipped)."""
        blobs = await self._read(lambda pipe: [pipe.hget(self._partition_key(monitor, p, "windows"), str(start))
                                               for p in partitions])
        return [WindowProfile.from_bytes(b) for b in blobs if b is not None]

    async def claim_evaluator(self, monitor: str) -> int:
        """Become the worker that evaluates `monitor`'s windows; returns the epoch fencing its writes."""
        (epoch,) = await self._write(lambda pipe: [pipe.incr(self._monitor_key(monitor, "evaluator"))])
        return int(epoch)

    async def last_evaluated(self, monitor: str) -> int | None:
        """Start of the newest window evaluated by whichever worker evaluates `monitor`."""
        (last,) = await self._read(lambda pipe: [pipe.get(self._monitor_key(monitor, "last"))])
        return int(last) if last is not None else None

    async def load_monitor(self, monitor: str) -> MonitorState:
        """Closed windows, the alert book and the last evaluated window, as stored."""
        closed, critical, book, last = await self._read(lambda pipe: (
            pipe.hgetall(self._monitor_key(monitor, "closed")), pipe.hgetall(self._monitor_key(monitor, "critical")),
            pipe.get(self._monitor_key(monitor, "book")), pipe.get(self._monitor_key(monitor, "last"))))
        windows = tuple(ClosedWindow(WindowProfile.from_bytes(blob), frozenset(orjson.loads(critical.get(s, b"[]"))))
                        for s, blob in sorted(closed.items(), key=lambda kv: int(kv[0])))
        return MonitorState(windows, orjson.loads(book) if book else None, _int(last))

    async def save_monitor(self, monitor: str, state: MonitorState, epoch: int | None = None) -> None:
        """Write a monitor's whole evaluated past (after Redis lost it): closed windows, book, progress."""
        def write(pipe: Any) -> None:
            for closed in state.closed:
                self._closed_window(pipe, monitor, closed)
            if state.book is not None:
                pipe.set(self._monitor_key(monitor, "book"), orjson.dumps(state.book))
            if state.last_evaluated is not None:
                pipe.set(self._monitor_key(monitor, "last"), str(state.last_evaluated))

        await self._write(write, self._evaluator_guard(monitor, epoch))

    def _closed_window(self, pipe: Any, monitor: str, closed: ClosedWindow) -> None:
        start = str(closed.profile.start)
        pipe.hset(self._monitor_key(monitor, "closed"), start, closed.profile.to_bytes())
        pipe.hset(self._monitor_key(monitor, "critical"), start, orjson.dumps(sorted(closed.critical)))

    async def save_closed(self, monitor: str, record: ClosedRecord, retention: int | None = None,
                          epoch: int | None = None, before: Before | None = None) -> None:
        """Record an evaluated window, the alert book, the progress marker and the window's check
        values (kept `retention` ms for `stream-guard history`), atomically."""
        start, history = record.closed.profile.start, self._monitor_key(monitor, "history")
        values = orjson.dumps({"start": start, "checks": [[f, c, s, finite(v)] for f, c, s, v in record.checks]})

        def write(pipe: Any) -> None:
            self._closed_window(pipe, monitor, record.closed)
            if record.forgotten:
                pipe.hdel(self._monitor_key(monitor, "closed"), *map(str, record.forgotten))
                pipe.hdel(self._monitor_key(monitor, "critical"), *map(str, record.forgotten))
            pipe.set(self._monitor_key(monitor, "book"), orjson.dumps(record.book))
            pipe.set(self._monitor_key(monitor, "last"), str(start))
            if record.checks:
                pipe.zremrangebyscore(history, start, start)
                pipe.zadd(history, {values: start})
                if retention:
                    pipe.zremrangebyscore(history, "-inf", f"({start - retention}")

        await self._write(write, self._evaluator_guard(monitor, epoch), before)

    async def save_book(self, monitor: str, book: Any, epoch: int | None = None, before: Before | None = None) -> None:
        """Store the alert book alone (after freshness, which changes it between window closes)."""
        blob = orjson.dumps(book)
        await self._write(lambda pipe: pipe.set(self._monitor_key(monitor, "book"), blob),
                          self._evaluator_guard(monitor, epoch), before)

    async def load_join(self, monitor: str) -> JoinState:
        """The monitor's prediction-label join (`adapters.redis_join`), empty if none is stored."""
        return join_from(await self._read(lambda pipe: read_join(pipe, self._join_key(monitor))))

    async def save_join(self, monitor: str, changes: JoinChanges, ttl_ms: int, epoch: int | None = None) -> None:
        """Store what changed in the join, fenced by the evaluator's epoch; its keys expire after `ttl_ms`."""
        await self._write(lambda pipe: write_join(pipe, self._join_key(monitor), changes, ttl_ms),
                          self._evaluator_guard(monitor, epoch))

    def _join_key(self, monitor: str) -> Callable[[str], str]:
        return lambda part: self._monitor_key(monitor, f"join:{part}")

    def _evaluator_guard(self, monitor: str, epoch: int | None) -> Guard | None:
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

    async def _write(self, build: Any, guard: Guard | None = None, before: Before | None = None) -> Any:
        """Run `build`'s commands in one MULTI/EXEC. With a guard, only while its key still holds the
        epoch (else `Fenced`, or `StateLost` when it holds none). `before` runs after the guard was
        checked, before the commands are sent. With `wait_replicas`, raise `NotReplicated` when fewer
        replicas than that acknowledged the transaction in time (it is on the master: writing it again is
        harmless)."""
        pipe, replication = self._transaction()
        try:
            async with pipe:
                if guard is not None:
                    await pipe.watch(guard[0])
                    _check_epoch(guard, await (pipe.hget(guard[0], guard[1]) if guard[1] else pipe.get(guard[0])))
                if before is not None:
                    await before()
                if guard is not None:
                    pipe.multi()
                build(pipe)
                result = await pipe.execute()
        except WatchError:
            assert guard is not None   # only a watched write can raise it
            await self._after_interrupted_write(guard)
            raise Fenced(f"{guard[3]} was taken over by another worker while this worker wrote it") from None
        except (RedisError, OSError) as exc:
            raise ServiceUnreachable(f"Redis at {redacted(self.url)} failed: {exc}") from None
        if replication is not None and replication.replicas < self.wait_replicas:
            acked = "none (WAIT failed)" if replication.replicas < 0 else replication.replicas
            raise NotReplicated(f"Redis at {redacted(self.url)} stored a write but {acked} of the {self.wait_replicas} "
                                f"replicas wanted (redis.wait_replicas) acknowledged it within {self.wait_timeout} ms; "
                                f"it is written again before the Kafka offsets it covers are committed")
        return result

    def _transaction(self) -> tuple[Any, Any]:
        """A MULTI/EXEC pipeline, and what says how many replicas acknowledged it (None: not asked)."""
        if not self.wait_replicas:
            return self.client.pipeline(transaction=True), None
        return replicated_transaction(self.client, self.wait_replicas, self.wait_timeout)

    async def _after_interrupted_write(self, guard: Guard) -> None:
        """A watched write did not go through: read the epoch again to tell a takeover from a failure."""
        key, field, epoch, what = guard
        try:
            held = await (self.client.hget(key, field) if field else self.client.get(key))
        except (RedisError, OSError) as exc:
            raise ServiceUnreachable(f"Redis at {redacted(self.url)} failed while writing {what}: {exc}") from None
        _check_epoch(guard, held)
        raise ServiceUnreachable(f"Redis at {redacted(self.url)} dropped the write of {what} (the connection "
                                 f"failed or timed out while the epoch was watched); the epoch is still this "
                                 f"worker's, so the write is retried")


def _check_epoch(guard: Guard, held: bytes | None) -> None:
    key, _, epoch, what = guard
    if held is None:
        raise StateLost(f"Redis holds no claim of {what} (this worker's epoch is {epoch}): it lost its data")
    if int(held) != epoch:
        raise Fenced(f"{what} was taken over by another worker (epoch {int(held)}, this worker's {epoch})")
