"""The Redis state store on a real Redis: round trips, atomic flushes, and a cost that ignores volume."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import redis

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.judging.references import ClosedWindow
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.state import ClosedRecord
from stream_guard.runtime.local_stack import LocalStack

from ..unit.builders import monitor
from ..unit.test_lifecycle import evaluation

pytestmark = pytest.mark.integration
SPEC = monitor()


def folder_with(events: int, partition: int = 0) -> PartitionFolder:
    folder = PartitionFolder(SPEC, partition)
    folder.fold([RawRecord(orjson.dumps({"ts": 1 + i % 100, "f": {"x": i % 7, "c": f"v{i % 3}"}}), partition, i)
                 for i in range(events)])
    return folder


def total_calls(client: Any) -> int:
    return sum(int(v["calls"]) for v in client.info("commandstats").values())


def test_a_flush_costs_the_same_redis_commands_for_a_thousand_or_a_hundred_thousand_events(
        local_stack: LocalStack, redis_client: redis.Redis) -> None:
    async def cost(events: int) -> int:
        store = RedisStateStore(local_stack.redis_url, f"cost-{events}")
        folder = folder_with(events)
        await store.client.ping()   # connect first: the handshake is not part of a flush
        before = total_calls(redis_client)
        await store.save_partition(SPEC.name, 0, folder.changes())
        calls = total_calls(redis_client) - before - 1   # minus the INFO call itself
        await store.close()
        return calls

    costs = [asyncio.run(cost(events)) for events in (1_000, 100_000)]
    assert costs == [4, 4]   # MULTI, HSET windows, HSET meta, EXEC


def test_a_partition_restores_exactly_what_was_flushed(local_stack: LocalStack, redis_client: redis.Redis) -> None:
    folder = folder_with(5_000, partition=2)
    restored = PartitionFolder(SPEC, 2)

    async def round_trip() -> None:
        store = RedisStateStore(local_stack.redis_url, "restore")
        await store.save_partition(SPEC.name, 2, folder.changes())
        restored.restore(await store.load_partition(SPEC.name, 2))
        await store.close()

    asyncio.run(round_trip())
    assert (restored.next_offset, restored.watermark, restored.counts) == (5_000, 100_000, folder.counts)
    assert restored.windows.keys() == folder.windows.keys() == {0, 60_000}
    for start, window in folder.windows.items():
        assert restored.windows[start].to_bytes() == window.to_bytes()


def test_closed_windows_and_the_alert_book_survive_a_restart(local_stack: LocalStack,
                                                               redis_client: redis.Redis) -> None:
    engine = MonitorEngine(SPEC)
    engine.fold([RawRecord(orjson.dumps({"ts": t, "f": {"x": 1.0}}), 0, i)
                 for i, t in enumerate([1, 61, 121, 198, 199, 200])])
    again = MonitorEngine(SPEC)

    async def round_trip() -> None:
        store = RedisStateStore(local_stack.redis_url, "closed")
        for start in engine.due_windows():
            before = set(engine.history)
            result = engine.close_window(start, engine.local_profiles(start), emitted_at=0)
            await store.save_closed(SPEC.name, engine.closing_record(result, before))
        again.restore(await store.load_monitor(SPEC.name))
        await store.close()

    asyncio.run(round_trip())
    assert sorted(again.history) == [0, 60_000, 120_000]
    assert again.last_evaluated == 120_000
    assert again.book.firing == engine.book.firing


def test_pending_cooling_and_source_level_alert_state_survive_a_restart(local_stack: LocalStack,
                                                                       redis_client: redis.Redis) -> None:
    spec = monitor(alerting={"for": 2, "cooldown": 2},
                   features={"x": {"type": "numeric", "source": "etl"}, "c": {"type": "categorical"}})
    engine = MonitorEngine(spec)
    # x fires through its source; c fires, resolves, and breaks again while it cools down
    for w, (x, c) in enumerate(["cc", "cc", "c.", "cc"]):
        engine.book.apply([evaluation("x", x, w), evaluation("c", c, w)])
    again = MonitorEngine(spec)

    async def round_trip() -> None:
        store = RedisStateStore(local_stack.redis_url, "book")
        await store.save_closed(spec.name, ClosedRecord(ClosedWindow(WindowProfile.empty(spec, 0)), (),
                                                        engine.book.to_json()))
        again.restore(await store.load_monitor(spec.name))
        await store.close()

    asyncio.run(round_trip())
    assert again.book == engine.book
    assert {s.feature: (s.severity, s.pending, s.hold) for s in again.book.series.values()} == {
        "x": ("critical", False, 0), "c": (None, True, 1)}
    assert [g.name for g in again.book.groups.values()] == ["etl"]


def test_keys_of_one_partition_share_a_cluster_hash_tag(local_stack: LocalStack, redis_client: redis.Redis) -> None:
    store = RedisStateStore(local_stack.redis_url, "tags")
    asyncio.run(store.save_partition(SPEC.name, 1, folder_with(10, partition=1).changes()))
    keys = sorted(k.decode() for k in redis_client.keys("sg:{tags/m/1}:*"))
    assert keys == ["sg:{tags/m/1}:meta", "sg:{tags/m/1}:windows"]


def test_history_keeps_each_windows_check_values_for_the_retention_and_draws_them(
        local_stack: LocalStack, redis_client: redis.Redis, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from stream_guard.cli.main import main

    spec = monitor(name="hist", min_samples=0)
    engine = MonitorEngine(spec)
    # 8 one-minute windows; x jumps in window 6
    events = [{"ts": w * 60 + i % 50, "f": {"x": (i % 10) + (40 if w == 6 else 0), "c": "a"}}
              for w in range(8) for i in range(50)]
    engine.fold([RawRecord(orjson.dumps(e), 0, i) for i, e in enumerate(events)])

    async def close_all() -> None:
        store = RedisStateStore(local_stack.redis_url, "hist-app")
        for start in engine.due_windows():
            before = set(engine.history)
            result = engine.close_window(start, engine.local_profiles(start), emitted_at=0)
            await store.save_closed(spec.name, engine.closing_record(result, before), retention=5 * 60_000)
        await store.close()

    asyncio.run(close_all())
    stored = redis_client.zrange("sg:{hist-app/hist}:history", 0, -1, withscores=True)
    # 7 windows closed (the 8th is still open); retention keeps windows 1..6 (5 minutes before window 6)
    assert [int(score) for _, score in stored] == [60_000 * w for w in range(1, 7)]

    topology = tmp_path / "t.yaml"
    topology.write_text(f"""version: 1
app: hist-app
redis: {{url: "{local_stack.redis_url}"}}
monitors:
  - name: hist
    source: {{topic: t, timestamp: ts}}
    window: {{size: 1m}}
    features: {{x: {{type: numeric, field: f.x}}, c: {{type: categorical, field: f.c}}}}
""")
    assert main(["history", str(topology), "--feature", "x", "--check", "mean_shift"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "hist: 6 windows from 1970-01-01T00:01:00Z to 1970-01-01T00:07:00Z"
    # window 1 has no value yet (its reference needs 2 windows), 2-5 are flat, window 6 jumps
    assert out[1] == "x/mean_shift   ▁▁▁▁█  latest 13.9  max 13.9"
    assert main(["history", str(topology), "--feature", "x", "--check", "cardinality"]) == 1
    assert capsys.readouterr().err == (f"stream-guard: no evaluated windows of monitor hist for feature 'x' and "
                                       f"check 'cardinality' in Redis at {local_stack.redis_url}\n")
    assert main(["history", str(topology), "--feature", "nope"]) == 1
    assert capsys.readouterr().err == ("stream-guard: monitor hist has no feature 'nope'; its features: c, x "
                                       "(`*` for the monitor as a whole)\n")


def test_counts_per_dead_letter_reason_survive_a_restart(local_stack: LocalStack, redis_client: redis.Redis) -> None:
    folder = PartitionFolder(SPEC, 0)
    folder.fold([RawRecord(orjson.dumps({"ts": 1, "f": {"x": 1}}), 0, 0), RawRecord(b"{", 0, 1),
                 RawRecord(None, 0, 2), RawRecord(b"\xff", 0, 3), RawRecord(b"{", 0, 4)])
    restored = PartitionFolder(SPEC, 0)

    async def round_trip() -> None:
        store = RedisStateStore(local_stack.redis_url, "reasons")
        await store.save_partition(SPEC.name, 0, folder.changes())
        restored.restore(await store.load_partition(SPEC.name, 0))
        await store.close()

    asyncio.run(round_trip())
    assert restored.counts == folder.counts
    assert restored.counts.as_dict() == {"consumed": 5, "folded": 1, "dead_lettered": 4, "filtered": 0,
                                         "dead_lettered_by_reason": {"empty": 1, "invalid_json": 2, "not_utf8": 1}}


def test_state_written_before_consumed_was_counted_restores_balanced(local_stack: LocalStack,
                                                                      redis_client: redis.Redis) -> None:
    redis_client.hset("sg:{older/m/0}:meta", mapping={"next_offset": 7, "folded": 5, "dead_lettered": 2, "filtered": 0})
    restored = PartitionFolder(SPEC, 0)

    async def load() -> None:
        store = RedisStateStore(local_stack.redis_url, "older")
        restored.restore(await store.load_partition(SPEC.name, 0))
        await store.close()

    asyncio.run(load())
    assert (restored.counts.consumed, restored.counts.balanced(), restored.next_offset) == (7, True, 7)


def test_a_segment_field_with_ten_thousand_values_adds_no_redis_keys_and_stays_within_the_cap(
        local_stack: LocalStack, redis_client: redis.Redis) -> None:
    spec = monitor(name="seg", segment_by=["user"], max_segments=20)
    sizes = {}
    for distinct in (10, 10_000):
        folder = PartitionFolder(spec, 0)
        folder.fold([RawRecord(orjson.dumps({"ts": 1 + i % 50, "user": f"u{i % distinct}", "f": {"x": i % 7}}), 0, i)
                     for i in range(20_000)])

        async def flush(target: PartitionFolder = folder, app: str = f"seg{distinct}") -> None:
            store = RedisStateStore(local_stack.redis_url, app)
            await store.save_partition(spec.name, 0, target.changes())
            await store.close()

        asyncio.run(flush())
        assert sorted(redis_client.keys(f"sg:{{seg{distinct}/*")) == [
            f"sg:{{seg{distinct}/seg/0}}:meta".encode(), f"sg:{{seg{distinct}/seg/0}}:windows".encode()]
        window = WindowProfile.from_bytes(redis_client.hget(f"sg:{{seg{distinct}/seg/0}}:windows", "0"))
        assert len(window.segments) == (10 if distinct == 10 else 21)
        sizes[distinct] = redis_client.hstrlen(f"sg:{{seg{distinct}/seg/0}}:windows", "0")
    # 10,000 users cost about what 21 segments of 10 users' data do, not 1,000 times 10
    assert sizes[10_000] < 3 * sizes[10]


def test_redis_holds_a_window_to_its_cap_however_many_segments_come(local_stack: LocalStack,
                                                                     redis_client: redis.Redis) -> None:
    """What Redis holds of a partition's open windows (MEMORY USAGE of its windows hash) with a 32KiB cap
    stays under the cap per window from 60 to 600 segments; without a cap it grows with the segments."""
    def spec(cap: str) -> Any:
        return monitor(segment_by=["store"], max_segments=1000, max_window_bytes=cap,
                       features={"x": {"type": "numeric", "field": "f.x"}})

    async def stored(cap: str, stores: int) -> tuple[int, int, int]:
        store = RedisStateStore(local_stack.redis_url, f"cap-{cap}-{stores}")
        folder = PartitionFolder(spec(cap), 0)
        events = [{"ts": 1 + w * 60 + (i % 50) * 0.1, "store": f"s{i // 10}", "f": {"x": i % 13}}
                  for w in range(2) for i in range(stores * 10)]
        for at in range(0, len(events), 2_000):
            folder.fold([RawRecord(orjson.dumps(e), 0, at + i) for i, e in enumerate(events[at:at + 2_000])])
            await store.save_partition(spec(cap).name, 0, folder.changes())
        key = store._partition_key(spec(cap).name, 0, "windows")
        usage = int(redis_client.memory_usage(key) or 0)
        await store.close()
        return usage, folder.counts.folded, sum(w.pooled_events for w in folder.windows.values())

    capped = [asyncio.run(stored("32KiB", n)) for n in (60, 600)]
    assert [(folded, pooled > 0) for _, folded, pooled in capped] == [(1_200, True), (12_000, True)]
    assert all(usage <= 2 * (32 * 1024 + 2_048) for usage, _, _ in capped), capped   # two open windows
    free_usage, folded, pooled = asyncio.run(stored("64MiB", 600))
    assert (folded, pooled) == (12_000, 0) and free_usage > 10 * capped[1][0]
