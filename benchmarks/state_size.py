"""Stored state against features x segments, with and without `max_window_bytes`: Redis memory and the
engine's resident memory.

    .venv/bin/python -m benchmarks.state_size [--features 10,100,1000] [--segments 1,10,100] [--caps 8MiB,off]

For each combination, a child process folds one partition's events into one one-minute window of a monitor
with that many numeric features and `segment_by: [store]` over that many stores (`max_segments: 1000`, so
every store may have a profile of its own), and flushes the partition to a real `redis-server` after every
batch of 1,000 events, as a worker does every `state.flush_interval`. Each store sends 50 events (at least
2,000 events in all). `off` is a cap of 1 TiB: no cap, as before `max_window_bytes` existed.

Measured: Redis `used_memory` growth (INFO memory, the database flushed between runs), the child's resident
memory growth over the fold (VmRSS after minus before, the events generated a batch at a time) and its peak
(VmHWM), the stored window's bytes, the segments it kept, the events pooled into `other` and the fold rate.
Prints one JSON line per run, then a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis

BATCH = 1_000
PER_STORE = 50


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(features: int, segments: int, cap: str, redis_url: str) -> dict[str, Any]:
    """One run, in a process of its own: fold, flush after every batch, report."""
    from stream_guard.adapters.redis_store import RedisStateStore
    from stream_guard.core.decoding.records import RawRecord
    from stream_guard.core.profiles.capping import estimated_bytes
    from stream_guard.core.profiles.folding import PartitionFolder
    from stream_guard.core.topology.monitor import MonitorSpec

    spec = MonitorSpec.model_validate({
        "name": "m", "source": {"topic": "t", "timestamp": "ts"}, "window": {"size": "1m"},
        "segment_by": ["store"], "max_segments": 1000, "max_window_bytes": "1TiB" if cap == "off" else cap,
        "features": {f"f{i}": {"type": "numeric", "field": f"f.f{i}"} for i in range(features)}})
    events = max(2_000, PER_STORE * segments)
    store = RedisStateStore(redis_url, f"size-{features}-{segments}-{cap}")
    folder = PartitionFolder(spec, 0)

    def batch(first: int) -> list[RawRecord]:
        out = []
        for n in range(first, min(first + BATCH, events)):
            values = {f"f{i}": round(((n * 7919 + i * 104_729) % 10_007) / 100.0, 2) for i in range(features)}
            out.append(RawRecord(orjson.dumps({"ts": 1_767_225_600_000 + n * 10, "store": f"s{n % segments}",
                                               "f": values}), 0, n))
        return out

    async def run() -> float:
        await store.client.ping()
        folding = 0.0
        for first in range(0, events, BATCH):
            records = batch(first)
            began = time.perf_counter()
            folder.fold(records)
            folding += time.perf_counter() - began
            await store.save_partition(spec.name, 0, folder.changes())
        await store.close()
        return folding

    batch(0)   # warm the generator and orjson before the baseline
    before = _status_kib("VmRSS")
    folding = asyncio.run(run())
    (window,) = folder.windows.values()
    return {"features": features, "segments": segments, "cap": cap, "events": events,
            "folded": folder.counts.folded, "rss_growth_mb": round((_status_kib("VmRSS") - before) / 1024, 1),
            "peak_rss_mb": round(_status_kib("VmHWM") / 1024, 1), "window_bytes": len(window.to_bytes()),
            "estimated_bytes": estimated_bytes(window), "kept_segments": len(window.segments),
            "pooled_events": window.pooled_events, "fold_events_per_s": round(events / folding)}


def parent(features: list[int], segments: list[int], caps: list[str]) -> list[dict[str, Any]]:
    from stream_guard.runtime.local_stack import free_port, start_redis

    port = free_port()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        server = start_redis(port, Path(workdir))
        client = redis.Redis(port=port)
        try:
            for f in features:
                for s in segments:
                    for cap in caps:
                        client.flushall()
                        before = int(client.info("memory")["used_memory"])
                        out = subprocess.run([sys.executable, "-m", "benchmarks.state_size", "--child", str(f), str(s),
                                              cap, f"redis://127.0.0.1:{port}/0"], capture_output=True, check=True)
                        result = json.loads(out.stdout)
                        result["redis_used_memory_mb"] = round(
                            (int(client.info("memory")["used_memory"]) - before) / 2**20, 2)
                        print(json.dumps(result), flush=True)
                        results.append(result)
        finally:
            client.close()
            server.terminate()
            server.wait(timeout=10)
    return results


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| features | segments | cap | events | Redis used_memory MB | engine RSS growth MB | peak RSS MB "
            "| stored window KB | segments kept | events pooled | fold events/s |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r['features']:,} | {r['segments']} | {r['cap']} | {r['events']:,} | "
                    f"{r['redis_used_memory_mb']} | {r['rss_growth_mb']} | {r['peak_rss_mb']} | "
                    f"{r['window_bytes'] / 1024:,.0f} | {r['kept_segments']} | {r['pooled_events']:,} | "
                    f"{r['fold_events_per_s']:,} |")
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        features, segments, cap, url = sys.argv[2:6]
        print(json.dumps(child(int(features), int(segments), cap, url)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="10,100,1000")
    parser.add_argument("--segments", default="1,10,100")
    parser.add_argument("--caps", default="8MiB,off", help="max_window_bytes values; `off` for none")
    args = parser.parse_args()
    results = parent([int(f) for f in args.features.split(",")], [int(s) for s in args.segments.split(",")],
                     args.caps.split(","))
    print(table(results))


if __name__ == "__main__":
    main()
