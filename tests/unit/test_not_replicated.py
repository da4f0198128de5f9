"""A flush that Redis applied but too few replicas acknowledged (`redis.wait_replicas`): the worker writes
it again, with backoff, and commits no Kafka offset past what the replicas acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

from stream_guard.adapters.memory_store import MemoryStateStore
from stream_guard.core.state import PartitionChanges
from stream_guard.errors import NotReplicated

from .test_worker_rules import SPEC, Group, events, worker


class LaggingReplicas(MemoryStateStore):
    """Applies every write (the master has it) but answers the next `unacknowledged` ones with NotReplicated;
    `replicated` is the highest offset a replica acknowledged."""

    unacknowledged = 0
    replicated = 0

    async def save_partition(self, monitor: str, partition: int, changes: PartitionChanges,
                             epoch: int | None = None, before: Any = None) -> None:
        await super().save_partition(monitor, partition, changes, epoch, before)
        if self.unacknowledged:
            self.unacknowledged -= 1
            raise NotReplicated("Redis at memory:// stored a write but 0 of the 1 replicas wanted acknowledged it")
        self.replicated = changes.state.next_offset


class WatchedGroup(Group):
    def __init__(self, store: LaggingReplicas) -> None:
        super().__init__({0}, 1)
        self.store, self.ahead = store, False

    async def commit(self, offsets: dict[int, int]) -> None:
        self.ahead |= offsets[0] > self.store.replicated
        await super().commit(offsets)


def test_a_flush_the_replicas_did_not_acknowledge_is_written_again_before_its_offset_is_committed() -> None:
    store = LaggingReplicas()
    runtime, _, _ = worker(store, {0}, count=1)
    group = runtime.source = WatchedGroup(store)

    async def scenario() -> None:
        await runtime.start()
        await runtime.assigned({0})
        await runtime.on_records(events(100, partition=0))
        await runtime.tick()
        store.unacknowledged = 4
        await runtime.on_records(events(100, partition=0, first=100))
        await runtime.tick()

    asyncio.run(scenario())
    assert runtime.redis_errors == 4 and not group.ahead
    assert group.committed == {0: 200} and store.replicated == 200
    assert asyncio.run(store.load_partition(SPEC.name, 0)).counts.consumed == 200
