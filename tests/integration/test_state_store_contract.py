"""One contract for every state store: the in-memory store, a real Redis and a real Redis Cluster.

Claims and epochs, fencing, atomic flushes, what is read back, other workers' presence, the monitor's
evaluated past, and the two failures a worker must never take for a takeover: a write that timed
out (Redis only: the memory store cannot time out) and a store that came back empty.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis

from stream_guard.adapters.memory_store import MemoryStateStore
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.judging.references import ClosedWindow
from stream_guard.core.labels.join import LabelJoin
from stream_guard.core.ports import StateStore
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.state import ClosedRecord, PartitionChanges
from stream_guard.errors import Fenced, ServiceUnreachable, StateLost
from stream_guard.runtime.local_cluster import cluster_port
from stream_guard.runtime.local_stack import LocalStack, start_redis

from ..unit.builders import monitor

pytestmark = pytest.mark.integration
SPEC = monitor()
NAME = SPEC.name
_apps = itertools.count()


@dataclass
class Subject:
    """A store under test, a second client of the same state (another worker), and a way to wipe it."""

    store: StateStore
    other: StateStore
    wipe: Callable[[], None]
    raw: redis.Redis | None = None   # a plain client of the same server, for pausing it


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, redis.Redis]]:
    """A real Redis Cluster of one node owning all 16,384 slots: it enforces the cluster protocol's rule
    that one transaction (and one multi-key command) stays within one hash slot."""
    port = cluster_port()
    server = start_redis(port, tmp_path_factory.mktemp("cluster"), "--cluster-enabled", "yes",
                         "--cluster-config-file", "nodes.conf")
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        client.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


def _redis_subject(url: str, raw: redis.Redis, cluster: bool, timeout: float = 10) -> Subject:
    app = f"contract-{next(_apps)}"
    return Subject(RedisStateStore(url, app, cluster=cluster, timeout=timeout),
                   RedisStateStore(url, app, cluster=cluster), raw.flushall, raw)


@pytest.fixture(params=["memory", "redis", "cluster"])
def subject(request: pytest.FixtureRequest) -> Subject:
    if request.param == "memory":
        store = MemoryStateStore()
        return Subject(store, store, store.clear)
    if request.param == "redis":
        stack: LocalStack = request.getfixturevalue("local_stack")
        return _redis_subject(stack.redis_url, request.getfixturevalue("redis_client"), cluster=False)
    url, raw = request.getfixturevalue("redis_cluster")
    return _redis_subject(url, raw, cluster=True)


def run(subject: Subject, scenario: Callable[[], Awaitable[None]]) -> None:
    async def go() -> None:
        try:
            await scenario()
        finally:
            await subject.store.close()
            await subject.other.close()

    asyncio.run(go())


def folded(events: int, partition: int = 0) -> PartitionFolder:
    folder = PartitionFolder(SPEC, partition)
    folder.fold([RawRecord(orjson.dumps({"ts": 1 + i % 100, "f": {"x": i % 7, "c": f"v{i % 3}"}}), partition, i)
                 for i in range(events)])
    return folder


def test_a_claim_bumps_the_epoch_and_reads_back_exactly_what_was_flushed(subject: Subject) -> None:
    folder = folded(3_000, partition=2)

    async def scenario() -> None:
        first = await subject.store.claim_partition(NAME, 2, now=10)
        assert (first.epoch, first.state.next_offset, dict(first.state.windows)) == (1, 0, {})
        await subject.store.save_partition(NAME, 2, folder.changes(), first.epoch)
        second = await subject.other.claim_partition(NAME, 2, now=20)
        restored = PartitionFolder(SPEC, 2)
        restored.restore(second.state)
        assert second.epoch == 2
        assert (restored.next_offset, restored.watermark, restored.counts) == (3_000, 100_000, folder.counts)
        assert restored.recent_times == folder.recent_times and len(folder.recent_times) == 2
        assert {s: w.to_bytes() for s, w in restored.windows.items()} == {
            s: w.to_bytes() for s, w in folder.windows.items()}

    run(subject, scenario)


def test_a_worker_whose_partition_was_claimed_since_is_fenced_and_writes_nothing(subject: Subject) -> None:
    folder, published = folded(100), []

    async def publish() -> None:
        published.append("dead letters")

    async def scenario() -> None:
        mine = await subject.store.claim_partition(NAME, 0, now=1)
        await subject.store.save_partition(NAME, 0, folder.changes(), mine.epoch)
        await subject.other.claim_partition(NAME, 0, now=2)
        more = folded(200)
        with pytest.raises(Fenced, match=r"partition 0 of monitor m was taken over by another worker "
                                         r"\(epoch 2, this worker's 1\)"):
            await subject.store.save_partition(NAME, 0, more.changes(), mine.epoch, publish)
        assert published == []
        assert (await subject.other.load_partition(NAME, 0)).next_offset == 100

    run(subject, scenario)


def test_a_flush_overwrites_changed_windows_and_drops_evaluated_ones(subject: Subject) -> None:
    folder = folded(500)

    async def scenario() -> None:
        epoch = (await subject.store.claim_partition(NAME, 0, now=1)).epoch
        await subject.store.save_partition(NAME, 0, folder.changes(), epoch)
        assert sorted((await subject.store.load_partition(NAME, 0)).windows) == [0, 60_000]
        folder.close_through(60_000)
        await subject.store.save_partition(NAME, 0, folder.changes(dropped=[0]), epoch)
        state = await subject.store.load_partition(NAME, 0)
        assert (sorted(state.windows), state.closed_before) == ([60_000], 60_000)

    run(subject, scenario)


def test_presence_says_what_other_workers_stored_and_nothing_for_partitions_never_claimed(subject: Subject) -> None:
    folder = folded(100, partition=1)
    folder.active_at = 5_000

    async def scenario() -> None:
        epoch = (await subject.other.claim_partition(NAME, 1, now=4_000)).epoch
        await subject.other.save_partition(NAME, 1, folder.changes(), epoch)
        await subject.other.touch(NAME, [1], now=6_000, since=4_500)
        seen = await subject.store.presence(NAME, [1, 2])
        assert (seen[1].watermark, seen[1].heard_at, seen[1].alive_at, seen[1].claimed_at, seen[1].windows) == (
            100_000, 5_000, 6_000, 4_000, frozenset(folder.windows))
        assert (seen[1].alive_since, seen[2].alive_since) == (4_500, None)
        assert (seen[2].watermark, seen[2].alive_at, seen[2].windows) == (None, None, frozenset())
        profiles = await subject.store.partition_profiles(NAME, [1, 2], 0)
        assert [p.to_bytes() for p in profiles] == [folder.windows[0].to_bytes()]

    run(subject, scenario)


def test_presence_says_how_far_behind_its_log_end_the_owner_last_said_a_partition_was(subject: Subject) -> None:
    async def scenario() -> None:
        await subject.other.claim_partition(NAME, 1, now=4_000)
        await subject.other.touch(NAME, [1], now=6_000, since=4_500, lags={1: 2_378})
        assert (await subject.store.presence(NAME, [1]))[1].lag == 2_378
        await subject.other.touch(NAME, [1], now=7_000, since=4_500, lags={1: 0})
        assert (await subject.store.presence(NAME, [1]))[1].lag == 0
        await subject.other.touch(NAME, [1], now=8_000, since=4_500)   # its consumer does not know the log end
        assert (await subject.store.presence(NAME, [1]))[1].lag is None

    run(subject, scenario)


def _closed(engine: MonitorEngine) -> list[ClosedRecord]:
    records = []
    for start in engine.due_windows():
        before = set(engine.history)
        result = engine.close_window(start, engine.local_profiles(start), emitted_at=0)
        records.append(engine.closing_record(result, before))
    return records


def test_the_evaluated_past_reads_back_and_only_the_evaluator_writes_it(subject: Subject) -> None:
    engine = MonitorEngine(monitor(reference={"kind": "rolling", "windows": 1}))
    engine.fold([RawRecord(orjson.dumps({"ts": 60 * (i // 3) + 1 + i % 3, "f": {"x": i // 3}}), 0, i)
                 for i in range(18)])
    records = _closed(engine)

    async def scenario() -> None:
        epoch = await subject.store.claim_evaluator(NAME)
        for record in records:
            await subject.store.save_closed(NAME, record, retention=2 * 60_000, epoch=epoch)
        again = MonitorEngine(engine.monitor)
        again.restore(await subject.other.load_monitor(NAME))
        # four windows closed; a rolling reference of one window keeps the last three
        assert (sorted(again.history), again.last_evaluated, again.book) == (
            [60_000, 120_000, 180_000], 180_000, engine.book)
        # the check values are kept two minutes back from the newest window
        assert [h["start"] for h in await subject.other.history(NAME, 10)] == [60_000, 120_000, 180_000]
        assert await subject.other.last_evaluated(NAME) == 180_000
        await subject.other.claim_evaluator(NAME)
        with pytest.raises(Fenced, match="the evaluation of monitor m was taken over"):
            await subject.store.save_book(NAME, engine.book.to_json(), epoch)

    run(subject, scenario)


def test_a_store_that_lost_its_data_is_not_taken_for_a_takeover(subject: Subject) -> None:
    """A Redis restarted without persistence: the claim is gone, not another worker's."""
    folder = folded(100)

    async def scenario() -> None:
        epoch = (await subject.store.claim_partition(NAME, 0, now=1)).epoch
        evaluator = await subject.store.claim_evaluator(NAME)
        subject.wipe()
        with pytest.raises(StateLost, match="holds no claim of partition 0 of monitor m"):
            await subject.store.save_partition(NAME, 0, folder.changes(), epoch)
        record = ClosedRecord(ClosedWindow(WindowProfile.empty(SPEC, 0)), (), {})
        with pytest.raises(StateLost, match="holds no claim of the evaluation of monitor m"):
            await subject.store.save_closed(NAME, record, epoch=evaluator)
        again = await subject.store.claim_partition(NAME, 0, now=2)
        await subject.store.save_partition(NAME, 0, PartitionChanges(folder.checkpoint()), again.epoch)
        assert (again.epoch, (await subject.store.load_partition(NAME, 0)).next_offset) == (1, 100)

    run(subject, scenario)


CAPPED = monitor(segment_by=["store"], max_segments=1000, max_window_bytes="32KiB",
                 features={"x": {"type": "numeric", "field": "f.x"}})


def test_a_window_over_its_cap_reads_back_capped_and_stays_capped_after_a_claim(subject: Subject) -> None:
    """The cap's record (how far over, what was pooled) is part of the stored window: a worker that takes
    the partition over keeps the window to the cap, and the closed window keeps it for the state_cap check."""
    events = [{"ts": 1 + k * 0.001, "store": f"s{i:02d}", "f": {"x": (k * 7) % 11}}
              for i in range(60) for k in range((i + 1) * 5)]
    folder = PartitionFolder(CAPPED, 0)
    folder.fold([RawRecord(orjson.dumps(e), 0, i) for i, e in enumerate(events)])
    window = folder.windows[0]
    late = [RawRecord(orjson.dumps({"ts": 30, "store": "new", "f": {"x": 1}}), 0, 9_150 + i) for i in range(17)]

    async def scenario() -> None:
        epoch = (await subject.store.claim_partition(CAPPED.name, 0, now=1)).epoch
        await subject.store.save_partition(CAPPED.name, 0, folder.changes(), epoch)
        claim = await subject.other.claim_partition(CAPPED.name, 0, now=2)
        taken = PartitionFolder(CAPPED, 0)
        taken.restore(claim.state)
        stored = taken.windows[0]
        assert ({n: p.events for n, p in stored.segments.items()}, stored.events) == (
            {n: p.events for n, p in window.segments.items()}, 9_150)
        assert len(stored.to_bytes()) <= 32 * 1024
        assert (stored.peak_bytes, stored.pooled_events, stored.pooled_names) == (
            window.peak_bytes, 8_150, [f"store=s{i:02d}" for i in range(20, 25)])
        taken.fold(late)
        assert (stored.pooled_events, len(stored.segments), taken.counts.folded) == (8_167, 17, 9_167)
        await subject.other.save_partition(CAPPED.name, 0, taken.changes(), claim.epoch)
        engine = MonitorEngine(CAPPED)
        result = engine.close_window(0, await subject.other.partition_profiles(CAPPED.name, [0], 0), emitted_at=0)
        evaluator = await subject.other.claim_evaluator(CAPPED.name)
        await subject.other.save_closed(CAPPED.name, engine.closing_record(result, set()), retention=60_000,
                                        epoch=evaluator)
        (closed,) = (await subject.store.load_monitor(CAPPED.name)).closed
        assert (closed.profile.pooled_events, closed.profile.events) == (8_167, 9_167)
        assert [(e.check, e.severity) for e in result.evaluations if e.check == "state_cap"] == [
            ("state_cap", "warning")]

    run(subject, scenario)


@pytest.mark.parametrize("where", ["redis", "cluster"])
def test_a_write_that_times_out_is_retried_not_taken_for_a_takeover(where: str, request: pytest.FixtureRequest,
                                                                      tmp_path: Path) -> None:
    """What a failover does: writes stall past the socket timeout (`CLIENT PAUSE ... WRITE`). redis-py
    reports that as a WatchError; the epoch is still ours, so it is a failure to retry, not `Fenced`."""
    if where == "redis":
        stack: LocalStack = request.getfixturevalue("local_stack")
        subject = _redis_subject(stack.redis_url, request.getfixturevalue("redis_client"), False, timeout=0.3)
    else:
        url, raw = request.getfixturevalue("redis_cluster")
        subject = _redis_subject(url, raw, True, timeout=0.3)
    assert subject.raw is not None
    folder = folded(100)

    async def scenario() -> None:
        epoch = (await subject.store.claim_partition(NAME, 0, now=1)).epoch
        subject.raw.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        with pytest.raises(ServiceUnreachable, match="dropped the write of partition 0 of monitor m .the connection "
                                                     "failed or timed out while the epoch was watched"):
            await subject.store.save_partition(NAME, 0, folder.changes(), epoch)
        await asyncio.sleep(1.5)
        await subject.store.save_partition(NAME, 0, folder.changes(), epoch)
        assert (await subject.other.load_partition(NAME, 0)).next_offset == 100

    run(subject, scenario)


def test_one_partitions_flush_stays_in_one_cluster_slot(redis_cluster: tuple[str, redis.Redis]) -> None:
    _, plain = redis_cluster
    with pytest.raises(redis.ResponseError, match="hash to the same slot"):   # the rule the key layout must respect
        plain.pipeline(transaction=True).set("sg:{a/m/0}:meta", 1).set("sg:{a/m/1}:meta", 1).execute()


def test_the_label_join_reads_back_as_saved_in_increments_and_only_the_evaluator_writes_it(
        subject: Subject) -> None:
    join = LabelJoin("binary", 0.5, 60_000, 600_000)
    join.predict("a", 1_000, 0.75)
    join.predict("b", 2_000, 0.25)
    join.label("c", 3_000, 1)            # its prediction has not come
    first = join.changes()
    join.label("a", 5_000, 1)
    join.advance(60_000)                 # "a" is credited: gone from pending and labels
    second = join.changes()

    async def scenario() -> None:
        epoch = await subject.store.claim_evaluator(NAME)
        await subject.store.save_join(NAME, first, ttl_ms=600_000, epoch=epoch)
        await subject.store.save_join(NAME, second, ttl_ms=600_000, epoch=epoch)
        stored = await subject.other.load_join(NAME)
        assert (stored.pending, stored.labels, stored.ticked) == ({"b": (0, 0.25)}, {"c": (3_000, 1.0)}, 60_000)
        assert stored.buckets[0] == join.buckets[0]
        await subject.other.claim_evaluator(NAME)
        with pytest.raises(Fenced, match="the evaluation of monitor m was taken over"):
            await subject.store.save_join(NAME, join.changes(), ttl_ms=600_000, epoch=epoch)

    run(subject, scenario)


def test_the_join_keys_expire_after_max_delay(local_stack: LocalStack, redis_client: redis.Redis) -> None:
    subject = _redis_subject(local_stack.redis_url, redis_client, cluster=False)
    join = LabelJoin("binary", 0.5, 60_000, 600_000)
    join.predict("a", 1_000, 0.75)

    async def scenario() -> None:
        await subject.store.save_join(NAME, join.changes(), ttl_ms=600_000)

    run(subject, scenario)
    keys = redis_client.keys("sg:*join:*")
    assert keys and all(0 < redis_client.pttl(k) <= 600_000 for k in keys)
