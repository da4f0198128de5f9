"""`redis.wait_replicas`: a write counts as stored only once replicas acknowledged it (`WAIT` after EXEC).

A master with one replica, both real servers: with the replica reading, every write waits for it and is
on it when the call returns; with the replica stopped (SIGSTOP: what a lagging or cut-off replica looks
like to the master), the write is applied on the master but raises `NotReplicated`, a `ServiceUnreachable`
the worker retries before committing any Kafka offset. Writes without `wait_replicas` never wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.errors import NotReplicated, ServiceUnreachable
from stream_guard.runtime.local_stack import free_port, start_redis

from ..unit.builders import monitor

pytestmark = pytest.mark.integration
SPEC = monitor()


class Pair:
    def __init__(self, master: int, replica: subprocess.Popen[bytes], replica_port: int) -> None:
        self.url = f"redis://127.0.0.1:{master}/0"
        self.replica, self.replica_client = replica, redis.Redis(port=replica_port)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    master_port, replica_port = free_port(), free_port()
    master = start_redis(master_port, tmp_path_factory.mktemp("master"))
    replica = start_redis(replica_port, tmp_path_factory.mktemp("replica"), "--replicaof", "127.0.0.1",
                          str(master_port))
    client = redis.Redis(port=master_port)
    try:
        while client.info("replication")["connected_slaves"] < 1:
            time.sleep(0.05)
        yield Pair(master_port, replica, replica_port)
    finally:
        for process in (master, replica):
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            process.wait(timeout=10)


def folded(events: int) -> PartitionFolder:
    folder = PartitionFolder(SPEC, 0)
    folder.fold([RawRecord(orjson.dumps({"ts": 1 + i % 100, "f": {"x": i % 7}}), 0, i) for i in range(events)])
    return folder


def test_a_write_returns_once_the_replica_has_it(pair: Pair) -> None:
    store = RedisStateStore(pair.url, "replicated-1", wait_replicas=1, wait_timeout=2000)

    async def scenario() -> None:
        claim = await store.claim_partition(SPEC.name, 0, now=1)
        await store.save_partition(SPEC.name, 0, folded(300).changes(), claim.epoch)
        await store.close()

    asyncio.run(scenario())
    assert pair.replica_client.hget("sg:{replicated-1/m/0}:meta", "next_offset") == b"300"


def test_a_write_the_replica_did_not_acknowledge_in_time_is_not_stored_yet(pair: Pair) -> None:
    store = RedisStateStore(pair.url, "replicated-2", wait_replicas=1, wait_timeout=300)
    plain = RedisStateStore(pair.url, "replicated-2")

    async def scenario() -> None:
        claim = await store.claim_partition(SPEC.name, 0, now=1)
        os.kill(pair.replica.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            with pytest.raises(NotReplicated, match=r"but 0 of the 1 replicas wanted \(redis.wait_replicas\) "
                                                    r"acknowledged it within 300 ms; it is written again"):
                await store.save_partition(SPEC.name, 0, folded(200).changes(), claim.epoch)
            assert 0.3 <= time.monotonic() - began < 2
            # on the master all the same, so writing it again is harmless; the worker retries it
            assert (await plain.load_partition(SPEC.name, 0)).next_offset == 200
        finally:
            os.kill(pair.replica.pid, signal.SIGCONT)
        await store.save_partition(SPEC.name, 0, folded(250).changes(), claim.epoch)
        for client in (store, plain):
            await client.close()

    asyncio.run(scenario())
    assert issubclass(NotReplicated, ServiceUnreachable)
    assert pair.replica_client.hget("sg:{replicated-2/m/0}:meta", "next_offset") == b"250"


def test_without_wait_replicas_a_write_does_not_wait_for_a_stopped_replica(pair: Pair, tmp_path: Path) -> None:
    store = RedisStateStore(pair.url, "replicated-3")

    async def scenario() -> float:
        claim = await store.claim_partition(SPEC.name, 0, now=1)
        began = time.monotonic()
        await store.save_partition(SPEC.name, 0, folded(100).changes(), claim.epoch)
        await store.close()
        return time.monotonic() - began

    os.kill(pair.replica.pid, signal.SIGSTOP)
    try:
        assert asyncio.run(scenario()) < 0.2
    finally:
        os.kill(pair.replica.pid, signal.SIGCONT)
