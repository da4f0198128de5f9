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

    .venv/bin/python benchmarks/state_size.py --fold-rate 20

folds 100,000 events of 25 features (20 numeric, 5 categorical) over that many stores (`max_segments` left
at its default) in batches of 2,000, best of 3, and prints the events per second: the cost of checking
the cap on the fold path. It uses nothing the code before the cap lacked, so with `PYTHONPATH` pointing
at an export of an older commit (`git archive main | tar -x -C /tmp/main`) it measures that code.
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


def fold_rate(segments: int, events: int = 100_000) -> tuple[float, float | None]:
    """Events per second folding `events` 25-feature events over `segments` stores, best of 3, and the share
    of the folding time spent checking the cap (None for code without it)."""
    from stream_guard.core.decoding.records import RawRecord
    from stream_guard.core.profiles import folding
    from stream_guard.core.profiles.folding import PartitionFolder
    from stream_guard.core.topology.monitor import MonitorSpec

    checking = [0.0]

    def timed(function: Any) -> Any:
        def run(*args: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args)
            finally:
                checking[0] += time.perf_counter() - began
        return run

    capped = hasattr(folding, "enforce")
    if capped:
        folding.enforce, folding.room = timed(folding.enforce), timed(folding.room)  # type: ignore[attr-defined]

    spec = MonitorSpec.model_validate({
        "name": "m", "source": {"topic": "t", "timestamp": "ts"}, "window": {"size": "1m"}, "segment_by": ["store"],
        "features": {**{f"f{i}": {"type": "numeric", "field": f"f.f{i}"} for i in range(20)},
                     **{f"c{i}": {"type": "categorical", "field": f"f.c{i}"} for i in range(5)}}})
    records = [RawRecord(orjson.dumps({"ts": 1_767_225_600_000 + n * 3, "store": f"s{n % segments}",
                                       "f": {**{f"f{i}": ((n * 31 + i) % 977) / 9 for i in range(20)},
                                             **{f"c{i}": f"v{(n + i) % 8}" for i in range(5)}}}), 0, n)
               for n in range(events)]
    best, share = float("inf"), None
    for _ in range(3):
        folder = PartitionFolder(spec, 0)
        checking[0] = 0.0
        began = time.perf_counter()
        for at in range(0, events, 2_000):
            folder.fold(records[at:at + 2_000])
        took = time.perf_counter() - began
        if took < best:
            best, share = took, checking[0] / took if capped else None
    return events / best, share


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--fold-rate":
        rate, share = fold_rate(int(sys.argv[2]))
        checking = f", {share:.1%} of it checking the cap" if share else ""
        print(f"{sys.argv[2]} stores: {rate:,.0f} events/s{checking}")
        return
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
