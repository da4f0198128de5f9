"""The worker's rules around its state store, on the in-memory store, in milliseconds: claims and
takeovers, fencing, gaps after a claim, a store that fails for a while and one that lost its data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from stream_guard.adapters.memory_store import MemoryStateStore
from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.state import PartitionChanges, PartitionState
from stream_guard.core.topology.services import StateSpec
from stream_guard.errors import ServiceUnreachable
from stream_guard.runtime.monitor_runtime import MonitorRuntime
from stream_guard.runtime.web import runtime_status

from .builders import monitor, records

SPEC = monitor()
T0 = 1_800_000_000_000


class Sink:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.dead: list[DeadLetter] = []

    async def alerts(self, records: Sequence[dict[str, Any]]) -> None:
        self.sent.extend(records)

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.dead.extend(letters)

    async def flush(self) -> None:
        return None


class Group:
    """A consumer group's view: the partitions this worker was given, of a topic of `count`."""

    def __init__(self, owned: set[int], count: int) -> None:
        self.owned, self.count = owned, count
        self.committed: dict[int, int] = {}
        self.ends: dict[int, int] = {}   # partition -> high watermark of the last fetch
        self.rewound: list[int] = []     # partitions sought back to offset 0, in order
        self.starts: dict[int, int] = {}   # partition -> where the consumer began reading it since the claim

    def assigned(self) -> set[int]:
        return self.owned

    def owns(self, partition: int) -> bool:
        return partition in self.owned

    def partitions(self) -> int | None:
        return self.count

    def high_watermark(self, partition: int) -> int | None:
        return self.ends.get(partition)

    async def rewind(self, partition: int) -> None:
        self.rewound.append(partition)

    def unread_end(self, partition: int) -> int | None:
        return self.ends.get(partition)

    def read_from(self, partition: int) -> int | None:
        return self.starts.get(partition)

    async def commit(self, offsets: dict[int, int]) -> None:
        self.committed.update(offsets)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def worker(store: MemoryStateStore, owned: set[int], count: int = 2,
           clock: Clock | None = None) -> tuple[MonitorRuntime, Group, Sink]:
    group, sink = Group(owned, count), Sink()
    runtime = MonitorRuntime(SPEC, StateSpec(), store, sink, group, clock=clock or Clock())
    runtime._retrying.delays = (0.0,)
    return runtime, group, sink


def events(n: int, partition: int, first: int = 0, start_s: int = T0 // 1000, x: float = 1.0) -> list[RawRecord]:
    return records([{"ts": start_s + i % 50, "f": {"x": x + i % 5, "c": "a"}} for i in range(n)], partition, first)


def test_a_partition_taken_over_fences_its_old_owner_which_forgets_it() -> None:
    store = MemoryStateStore()
    a, a_group, _ = worker(store, {0, 1})
    b, _, _ = worker(store, {1})

    async def scenario() -> None:
        await a.start()
        await a.assigned({0, 1})
        await a.on_records(events(100, partition=1))
        await a.tick()
        await b.start()
        await b.assigned({1})                                   # the group moved partition 1 to b
        await a.on_records(events(50, partition=1, first=100))  # a, paused meanwhile, still had a batch
        await a.tick()

    asyncio.run(scenario())
    stored = asyncio.run(store.load_partition(SPEC.name, 1))
    assert (stored.next_offset, stored.counts.consumed) == (100, 100)       # a's late flush was refused
    assert (b.engine.folders[1].next_offset, b.epochs[1]) == (100, 2)
    assert (sorted(a.engine.folders), a_group.committed) == ([0], {1: 100})  # never committed past what was stored
    assert 1 in a._lost and "1" not in runtime_status(a)["partitions"]


def stored_up_to(offset: int) -> MemoryStateStore:
    """A store in which partition 0 was folded up to `offset` by an earlier owner."""
    store = MemoryStateStore()
    claim = asyncio.run(store.claim_partition(SPEC.name, 0, now=T0))
    asyncio.run(store.save_partition(SPEC.name, 0, PartitionChanges(PartitionState(next_offset=offset)), claim.epoch))
    return store


def test_records_past_a_gap_after_a_claim_wait_for_the_missing_ones() -> None:
    store, clock = stored_up_to(100), Clock()
    runtime, _, _ = worker(store, {0}, count=1, clock=clock)

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        await runtime.on_records(events(20, partition=0, first=150))   # fetched before the rebalance
        assert runtime.engine.folders[0].next_offset == 100             # held back
        await runtime.on_records(events(70, partition=0, first=100))   # the records before the gap come
        assert runtime.engine.folders[0].next_offset == 170

    asyncio.run(scenario())
    assert runtime.engine.folders[0].counts.consumed == 70


def test_a_gap_that_lasts_is_accepted_after_five_seconds_and_said(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = stored_up_to(100), Clock()
    runtime, _, _ = worker(store, {0}, count=1, clock=clock)

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        await runtime.on_records(events(20, partition=0, first=150))
        clock.now += 5_000
        with caplog.at_level(logging.WARNING, "stream_guard.worker"):
            await runtime.on_records(events(20, partition=0, first=170))

    asyncio.run(scenario())
    assert (runtime.engine.folders[0].next_offset, runtime.engine.folders[0].counts.consumed) == (190, 20)
    assert "m: partition 0: offsets 100 to 169 did not arrive within 5 s of the claim" in caplog.text


class FailingStore(MemoryStateStore):
    """Fails the next `failures` partition writes as a timed-out Redis does."""

    failures = 0

    async def save_partition(self, monitor: str, partition: int, changes: PartitionChanges,
                             epoch: int | None = None, before: Any = None) -> None:
        if self.failures:
            self.failures -= 1
            raise ServiceUnreachable("Redis at memory:// failed: Timeout reading from socket")
        await super().save_partition(monitor, partition, changes, epoch, before)


def test_a_write_that_fails_is_retried_and_the_partition_kept() -> None:
    store = FailingStore()
    runtime, group, _ = worker(store, {0}, count=1)

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        await runtime.on_records(events(100, partition=0))
        store.failures = 3
        await runtime.tick()
        await runtime.on_records(events(100, partition=0, first=100))
        await runtime.tick()

    asyncio.run(scenario())
    assert (runtime.redis_errors, sorted(runtime.engine.folders), runtime._lost) == (3, [0], set())
    assert asyncio.run(store.load_partition(SPEC.name, 0)).counts.consumed == 200
    assert group.committed == {0: 200}


def test_a_store_that_lost_its_data_is_claimed_again_and_folding_and_evaluation_go_on(
        caplog: pytest.LogCaptureFixture) -> None:
    """Redis restarted without persistence while the worker ran: nothing is taken for a takeover."""
    store, clock = MemoryStateStore(), Clock()
    runtime, group, sink = worker(store, {0}, count=1, clock=clock)
    minute = 60

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        for w in range(4):   # four one-minute windows, 100 events each; x jumps in the fourth
            await runtime.on_records(events(100, 0, 100 * w, T0 // 1000 + w * minute, x=1.0 if w < 3 else 50.0))
            clock.now += 60_000
            await runtime.tick()
        store.clear()
        with caplog.at_level(logging.WARNING, "stream_guard.worker"):
            await runtime.on_records(events(100, 0, 400, T0 // 1000 + 4 * minute, x=50.0))
            clock.now += 60_000
            await runtime.tick()

    asyncio.run(scenario())
    state = asyncio.run(store.load_partition(SPEC.name, 0))
    assert (state.next_offset, state.counts.consumed, state.counts.folded) == (500, 500, 500)
    assert runtime.evaluating and runtime.epochs == {0: 1} and group.committed == {0: 500}
    assert runtime.engine.last_evaluated == T0 + 3 * 60_000
    assert asyncio.run(store.last_evaluated(SPEC.name)) == T0 + 3 * 60_000
    assert [(a["feature"], a["check"], a["status"]) for a in sink.sent if a.get("schema", "").endswith("alert/v1")
            ] == [("x", "numeric_drift", "firing"), ("x", "mean_shift", "firing"), ("x", "outside_reference", "firing")]
    assert [c.profile.start for c in asyncio.run(store.load_monitor(SPEC.name)).closed] == [
        T0 + w * 60_000 for w in range(4)]   # the closed windows the worker held, written back
    assert "holds no claim of partition 0 of monitor m" in caplog.text
    assert "claimed partition 0 again (epoch 1) and writing the 2 open windows, offset 500" in caplog.text


def test_a_log_that_restarted_below_the_folded_offsets_is_folded_again_from_its_start_and_alerted(
        caplog: pytest.LogCaptureFixture) -> None:
    """The broker lost partition 0's log (D1): its new records come at offsets already folded."""
    store, clock = MemoryStateStore(), Clock()
    runtime, group, sink = worker(store, {0}, count=1, clock=clock)
    minute = 60

    async def window(w: int, first: int, restarted_log_end: int | None = None) -> None:
        group.ends[0] = restarted_log_end if restarted_log_end is not None else first + 100
        await runtime.on_records(events(100, 0, first, T0 // 1000 + w * minute))
        clock.now += 60_000
        await runtime.tick()

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        for w in range(3):
            await window(w, 100 * w)
        with caplog.at_level(logging.WARNING, "stream_guard.worker"):
            await window(3, 0, restarted_log_end=100)     # the new log: offsets 0-99, it ends at 100
        await window(4, 100)
        await window(5, 200)

    asyncio.run(scenario())
    state = asyncio.run(store.load_partition(SPEC.name, 0))
    assert (state.next_offset, state.counts.consumed, state.counts.folded, state.log_resets) == (300, 600, 600, 1)
    assert ("m: partition 0 of t: the broker's log ends at offset 100, below the 300 already folded from it: the "
            "log restarted or was truncated") in caplog.text
    assert [(a["check"], a["severity"], a["status"], a["window"]["start"]) for a in sink.sent
            if a.get("check") == "log_reset"] == [      # on the first window closed after it was noticed
        ("log_reset", "critical", "firing", "2027-01-15T08:02:00Z"),
        ("log_reset", "critical", "resolved", "2027-01-15T08:03:00Z")]


def test_a_log_that_ends_below_the_stored_offset_with_no_records_coming_is_read_again_from_its_start(
        caplog: pytest.LogCaptureFixture) -> None:
    """A broker that answers a fetch past the log's end with nothing (no out-of-range error) would keep
    the consumer waiting at the stored offset for ever: the fetch's log end makes the worker seek to 0."""
    store, clock = stored_up_to(789), Clock()
    runtime, group, _ = worker(store, {0, 1}, count=2, clock=clock)

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0, 1})
        await runtime.tick()                            # no fetch yet: no log end known
        group.ends.update({0: 500, 1: 0})               # a new leader's high watermark, for a moment
        await runtime.tick()
        clock.now += 9_000
        group.ends[0] = 10                              # partition 0's new log holds 10 records
        await runtime.tick()
        clock.now += 9_999
        await runtime.tick()
        assert group.rewound == []                      # not yet 10 s at that log end
        with caplog.at_level(logging.WARNING, "stream_guard.worker"):
            clock.now += 1
            await runtime.tick()
            clock.now += 5_000
            await runtime.tick()                        # the same log end: not sought again
        assert group.rewound == [0]
        await runtime.on_records(events(10, partition=0, first=0))
        group.ends[0] = 30
        await runtime.tick()

    asyncio.run(scenario())
    folder = runtime.engine.folders[0]
    assert (group.rewound, folder.next_offset, folder.counts.consumed, folder.log_resets) == ([0], 10, 10, 1)
    assert ("m: partition 0 of t: the broker says the log ends at offset 10, below the 789 already folded from "
            "it, and sends nothing past it; reading the partition again from its start") in caplog.text


def test_records_read_again_after_a_crash_are_not_taken_for_a_restarted_log() -> None:
    store = stored_up_to(300)
    runtime, group, _ = worker(store, {0}, count=1)
    group.ends[0] = 350

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        await runtime.on_records(events(50, partition=0, first=250))   # committed offset 250, stored 300
        await runtime.on_records(events(50, partition=0, first=300))

    asyncio.run(scenario())
    folder = runtime.engine.folders[0]
    assert (folder.next_offset, folder.counts.consumed, folder.log_resets) == (350, 50, 0)


async def first_records(a: MonitorRuntime, b: MonitorRuntime, clock: Clock) -> None:
    """a (the evaluator) given partition 0, b partition 1; a second later each folds 100 events of its own."""
    for w, owned in ((a, {0}), (b, {1})):
        await w.start()
        await w.assigned(owned)
    clock.now += 1_000
    await a.on_records(events(100, 0, start_s=T0 // 1000))
    await b.on_records(events(100, 1, start_s=T0 // 1000))


def test_a_worker_paused_past_the_idle_timeout_does_not_make_its_partition_look_idle_when_it_wakes() -> None:
    """The owner of partition 1 is paused (SIGSTOP) for longer than the idle timeout while its records
    keep coming; on waking, its timer says it is alive before it has read them. That is no owner having
    watched the partition stay silent: the evaluator must not close windows past the records waiting."""
    store, clock = MemoryStateStore(), Clock()
    a, _, _ = worker(store, {0}, clock=clock)       # evaluates
    b, _, b_sink = worker(store, {1}, clock=clock)
    s, minute = T0 // 1000, 60

    async def scenario() -> None:
        await first_records(a, b, clock)
        await a.tick()
        await b.tick()
        for second in range(2, 12):                 # b is paused; partition 0 goes on through three windows
            clock.now = T0 + second * 1_000
            if second < 5:
                await a.on_records(events(100, 0, first=100 * (second - 1), start_s=s + (second - 1) * minute))
            await a.tick()
            assert a.engine.last_evaluated is None
        clock.now = T0 + 11_500                     # b wakes: its timer ticks before its consumer reads
        await b.tick()
        clock.now += 100
        await a.tick()
        assert a.engine.last_evaluated is None      # partition 1 has not passed the first window yet
        await b.on_records(events(100, 1, first=100, start_s=s + minute))   # what came while b was paused
        await b.tick()

    asyncio.run(scenario())
    assert b_sink.dead == [] and b.engine.folders[1].counts.folded == 200


def test_a_partition_silent_while_the_broker_did_not_answer_is_not_idle_when_it_comes_back() -> None:
    """The broker paused for 30 s: both workers go on saying they are alive, but read nothing. When it
    answers again the evaluator reads partition 0's backlog first; partition 1's owner has not read its
    own yet. Its silence was the broker's, not the source's: no window closes past partition 1."""
    store, clock = MemoryStateStore(), Clock()
    a, _, _ = worker(store, {0}, clock=clock)       # evaluates
    b, _, b_sink = worker(store, {1}, clock=clock)
    away = [False]
    for w in (a, b):
        w.reading_blocked = lambda: away[0]
    s, minute = T0 // 1000, 60

    async def scenario() -> None:
        await first_records(a, b, clock)
        away[0] = True                              # the broker stops answering for 30 s
        for second in range(2, 33):
            clock.now = T0 + second * 1_000
            await a.tick()
            await b.tick()
        away[0] = False                             # it answers again; a reads its backlog first
        clock.now += 500
        for i in range(1, 4):
            await a.on_records(events(100, 0, first=100 * i, start_s=s + i * minute))
            await a.tick()
        assert a.engine.last_evaluated is None      # partition 1 has not passed the first window yet
        await b.on_records(events(100, 1, first=100, start_s=s + minute))
        await b.tick()

    asyncio.run(scenario())
    assert b_sink.dead == [] and b.engine.folders[1].counts.folded == 200


def test_the_evaluator_paused_past_the_idle_timeout_does_not_take_its_own_partition_for_idle_when_it_wakes() -> None:
    store, clock = MemoryStateStore(), Clock()
    a, _, a_sink = worker(store, {0}, clock=clock)   # evaluates
    b, _, _ = worker(store, {1}, clock=clock)
    s, minute = T0 // 1000, 60

    async def scenario() -> None:
        await first_records(a, b, clock)
        await a.tick()
        for second in range(2, 12):                 # a is paused; partition 1 goes on through three windows
            clock.now = T0 + second * 1_000
            if second < 5:
                await b.on_records(events(100, 1, first=100 * (second - 1), start_s=s + (second - 1) * minute))
            await b.tick()
        clock.now = T0 + 12_000                     # a wakes: its timer ticks before its consumer reads
        await a.tick()
        assert a.engine.last_evaluated is None      # partition 0 has not passed the first window yet
        await a.on_records(events(100, 0, first=100, start_s=s + minute))   # what came while a was paused
        await a.tick()

    asyncio.run(scenario())
    assert a_sink.dead == [] and a.engine.folders[0].counts.folded == 200
    assert a.engine.last_evaluated == T0       # the first window, once both partitions passed it


def test_windows_evaluated_while_their_partition_changed_hands_are_dropped_from_the_store() -> None:
    """The owner of partition 1 stored three open windows, then stalled; the evaluator closed the first two
    meanwhile. The partition's next owner claims it after those closes: it leaves them out of what it
    folds, and must drop them from the store too, else they stay there for good (a store growing with
    every takeover, and windows the evaluator reads as open)."""
    store, clock = MemoryStateStore(), Clock()
    a, _, _ = worker(store, {0}, clock=clock)   # evaluates
    b, _, _ = worker(store, {1}, clock=clock)
    s, minute = T0 // 1000, 60

    async def scenario() -> None:
        for w, owned in ((a, {0}), (b, {1})):
            await w.start()
            await w.assigned(owned)
        clock.now += 1_000
        for window in range(3):
            await b.on_records(events(100, 1, first=100 * window, start_s=s + window * minute))
        await b.tick()                              # b stores windows 0, 1 and 2, then stalls
        for window in range(3):
            await a.on_records(events(100, 0, first=100 * window, start_s=s + window * minute))
        await a.tick()                              # windows 0 and 1 close
        assert a.engine.last_evaluated == T0 + minute * 1_000
        assert sorted((await store.load_partition(SPEC.name, 1)).windows) == [T0, T0 + 60_000, T0 + 120_000]
        c, _, _ = worker(store, {1}, clock=clock)   # the group gives partition 1 to a new worker
        await c.start()
        await c.assigned({1})
        await c.on_records(events(100, 1, first=300, start_s=s + 3 * minute))
        await c.tick()

    asyncio.run(scenario())
    stored = asyncio.run(store.load_partition(SPEC.name, 1))
    assert sorted(stored.windows) == [T0 + 120_000, T0 + 180_000]
    assert asyncio.run(store.presence(SPEC.name, [1]))[1].windows == {T0 + 120_000, T0 + 180_000}


def burst(partition: int, start_s: int) -> list[RawRecord]:
    """120 events of one partition, one every 2 s from `start_s`: 30 in each of four one-minute windows."""
    return records([{"ts": start_s + 2 * i, "f": {"x": 1.0 + i % 5, "c": "a"}} for i in range(120)], partition)


def closed_events(runtime: MonitorRuntime) -> dict[int, int]:
    return {start: w.profile.events for start, w in sorted(runtime.engine.history.items())}


def test_a_partition_silent_since_its_claim_with_records_unread_is_not_idle() -> None:
    """A worker claims both partitions, nothing comes for 45 s (past the 10 s idle timeout), then a burst
    lands on both. The consumer hands over partition 0's records first: partition 1, whose log the last
    fetch said holds 120 records not folded yet, must hold the windows open rather than count as idle
    (its events would be dead-lettered as `late` and the windows closed with half their events)."""
    store, clock = MemoryStateStore(), Clock()
    runtime, group, sink = worker(store, {0, 1}, clock=clock)
    s = T0 // 1000 - 600                            # event times in the past: none is `future`

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0, 1})
        group.ends = {0: 0, 1: 0}
        for second in range(1, 46):                 # silence: both partitions read to their (empty) ends
            clock.now = T0 + second * 1_000
            await runtime.tick()
        group.ends = {0: 120, 1: 120}               # the burst is in the log
        await runtime.on_records(burst(0, s))
        await runtime.tick()
        assert runtime.engine.last_evaluated is None   # partition 1 has records unread
        clock.now += 1_000
        await runtime.on_records(burst(1, s))
        await runtime.tick()

    asyncio.run(scenario())
    assert sink.dead == []
    assert closed_events(runtime) == {(s + 60 * k) * 1000: 60 for k in range(3)}


def test_another_workers_partition_with_records_unread_is_not_idle() -> None:
    """The same burst after 45 s of silence, partition 1 owned by another worker: its owner says how many
    records of it the log holds past what it folded, and the evaluator waits for them."""
    store, clock = MemoryStateStore(), Clock()
    a, a_group, a_sink = worker(store, {0}, clock=clock)       # evaluates
    b, b_group, b_sink = worker(store, {1}, clock=clock)
    s = T0 // 1000 - 600

    async def scenario() -> None:
        for w, owned in ((a, {0}), (b, {1})):
            await w.start()
            await w.assigned(owned)
        a_group.ends, b_group.ends = {0: 0}, {1: 0}
        for second in range(1, 46):
            clock.now = T0 + second * 1_000
            await b.tick()
            await a.tick()
        a_group.ends, b_group.ends = {0: 120}, {1: 120}
        clock.now += 1_000
        await b.tick()                              # b's last fetch saw the burst; it has not folded it yet
        await a.on_records(burst(0, s))
        await a.tick()
        assert a.engine.last_evaluated is None
        clock.now += 1_000
        await b.on_records(burst(1, s))
        await b.tick()
        clock.now += 1_000
        await a.tick()

    asyncio.run(scenario())
    assert a_sink.dead == b_sink.dead == []
    assert closed_events(a) == {(s + 60 * k) * 1000: 60 for k in range(3)}


def test_a_partition_stored_behind_where_its_consumer_began_is_idle_once_silent() -> None:
    """After a Redis failover without WAIT, partition 0's stored next offset is 1,981 while Kafka's committed
    one, where the consumer starts, is 2,400, the log's end: offsets 1,981 to 2,399 never come to this worker.
    Silent past the idle timeout, partition 0 is idle (not behind for ever) and partition 1's windows close."""
    store, clock = stored_up_to(1_981), Clock()
    runtime, group, sink = worker(store, {0, 1}, clock=clock)
    s = T0 // 1000 - 600

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0, 1})
        group.ends, group.starts = {0: 2_400, 1: 120}, {0: 2_400}
        await runtime.on_records(burst(1, s))
        for second in range(1, 10):                 # within the 10 s idle timeout partition 0 holds them
            clock.now = T0 + second * 1_000
            await runtime.tick()
            assert runtime.engine.last_evaluated is None
        for second in range(10, 16):
            clock.now = T0 + second * 1_000
            await runtime.tick()

    asyncio.run(scenario())
    assert (runtime.engine.lag(0), runtime.engine.folders[0].next_offset, sink.dead) == (0, 1_981, [])
    assert closed_events(runtime) == {(s + 60 * k) * 1000: 30 for k in range(3)}


def test_records_held_back_past_a_gap_that_lasts_are_not_waited_for() -> None:
    """The same failover, the consumer having handed over offsets 2,400 to 2,519 (past the gap, held back)
    and none since: after the gap's 5 s patience they count as left out, not as records still to fold."""
    store, clock = stored_up_to(1_981), Clock()
    runtime, group, sink = worker(store, {0, 1}, clock=clock)
    s = T0 // 1000 - 600

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0, 1})
        group.ends, group.starts = {0: 2_520, 1: 120}, {0: 1_981}    # the fake says it began at the stored offset
        await runtime.on_records(records([{"ts": s + i, "f": {"x": 1.0, "c": "a"}} for i in range(120)], 0, 2_400))
        await runtime.on_records(burst(1, s))
        assert runtime.engine.lag(0) == 539          # held back, within the patience: waited for
        for second in range(1, 16):
            clock.now = T0 + second * 1_000
            await runtime.tick()

    asyncio.run(scenario())
    assert (runtime.engine.lag(0), runtime.engine.folders[0].next_offset, sink.dead) == (0, 1_981, [])
    assert closed_events(runtime) == {(s + 60 * k) * 1000: 30 for k in range(3)}
