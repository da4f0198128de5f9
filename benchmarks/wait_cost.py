"""What `redis.wait_replicas: 1` costs a flush: the same flushes timed with and without WAIT, interleaved,
against a local Redis Cluster (three masters, one replica each, AOF `everysec`).

A flush is one partition's `save_partition` after folding `--events` 25-feature events into one open
window (the changed window's profile, offset and counts in one fenced MULTI/EXEC), as the worker does
every `state.flush_interval`. Flushes alternate between two stores of the same cluster, one waiting for a
replica and one not, so both see the same machine load. Run from the repository root:

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.wait_cost [--flushes 300] [--events 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import workload
from benchmarks.fold_speed import monitor
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.runtime.local_cluster import local_cluster


def folder_with(events: int, offset: int) -> PartitionFolder:
    """A partition folder holding `events` events of one window (a fresh one per flush: all of it is changed)."""
    payloads = workload.messages(workload.events(events, workload.START, 10**9), 1)
    folder = PartitionFolder(monitor("json"), 0)
    folder.fold([RawRecord(p, 0, offset + i) for i, p in enumerate(payloads)])
    return folder


async def measure(url: str, flushes: int, events: int) -> dict[str, list[float]]:
    stores = {"no wait": RedisStateStore(url, "bench-nowait", cluster=True),
              "wait_replicas: 1": RedisStateStore(url, "bench-wait", cluster=True, wait_replicas=1, wait_timeout=1000)}
    epochs = {name: (await s.claim_partition("bench", 0, now=0)).epoch for name, s in stores.items()}
    changes = folder_with(events, 0).changes()
    times: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(flushes):
        for name, store in stores.items():
            began = time.perf_counter()
            await store.save_partition("bench", 0, changes, epochs[name])
            times[name].append(time.perf_counter() - began)
    for store in stores.values():
        await store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=300)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    with local_cluster(Path(tempfile.mkdtemp(prefix="sg-wait-cost-"))) as cluster:
        times = asyncio.run(measure(cluster.url, args.flushes, args.events))
    print(f"{args.flushes} flushes of one window of {args.events} 25-feature events, Redis Cluster, 1 replica each")
    print("| flush | median ms | p90 ms | p99 ms |\n|---|---|---|---|")
    for name, values in times.items():
        q = statistics.quantiles([v * 1000 for v in values], n=100)
        print(f"| {name} | {statistics.median(values) * 1000:.2f} | {q[89]:.2f} | {q[98]:.2f} |")


if __name__ == "__main__":
    main()
