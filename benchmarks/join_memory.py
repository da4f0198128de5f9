"""Memory of the prediction-label join per pending prediction: in the worker's process and in Redis.

    .venv/bin/python -m benchmarks.join_memory [--n 200000]

Registers N predictions with ids like `req-0012345` (11 characters) and binary scores, none labelled,
then measures (1) the Python heap the join grew by (tracemalloc) and (2) Redis' `used_memory` growth
after saving them into a real `redis-server` started on a free loopback port, plus the bytes one
saved entry holds (`MEMORY USAGE` of the hash over N). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import redis

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.labels.join import LabelJoin
from stream_guard.runtime.local_stack import free_port, start_redis


def fill(n: int) -> LabelJoin:
    join = LabelJoin("binary", 0.5, 60_000, 7 * 86_400_000, max_pending=n + 1)
    for i in range(n):
        join.predict(f"req-{i:07d}", 1_767_225_600_000 + i * 10, (i % 1000) / 1000)
    return join


def python_bytes(n: int) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    join = fill(n)
    join.changes()   # the dirty set is emptied by a save; what stays is the join itself
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(join.pending) == n
    return grown / n


def redis_bytes(n: int) -> tuple[float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_redis(port, Path(workdir))
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            before = int(client.info("memory")["used_memory"])
            store = RedisStateStore(f"redis://127.0.0.1:{port}/0", "bench")
            changes = fill(n).changes()

            async def save() -> None:
                await store.save_join("m", changes, ttl_ms=7 * 86_400_000)
                await store.close()

            asyncio.run(save())
            after = int(client.info("memory")["used_memory"])
            usage = client.memory_usage("sg:{bench/m}:join:pending", samples=0) or 0
            return (after - before) / n, usage / n
        finally:
            server.terminate()
            server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="pending predictions (default 200,000)")
    n = parser.parse_args().n
    in_redis, per_entry = redis_bytes(n)
    print(json.dumps({"pending": n, "python_bytes_per_pending": round(python_bytes(n), 1),
                      "redis_used_memory_per_pending": round(in_redis, 1),
                      "redis_memory_usage_per_pending": round(per_entry, 1)}))


if __name__ == "__main__":
    main()
