"""stream_guard's benchmark: throughput, alert latency, Redis cost and scaling, beside the baselines.

    make bench                 # or: .venv/bin/python benchmarks/run.py [--quick]

Everything runs in one go on the embedded local stack (Tansu broker + real Redis on loopback), so
each stream_guard figure sits next to its baseline measured on the same machine minutes apart:
(a) a raw aiokafka consume + decode loop, (b) a naive Faust agent that only decodes, (c) stream_guard
on per-message events, (d) stream_guard on batched events. Rates are events per second of wall
time from the first event to the last, and events per CPU-second of the process doing the work.

Then, without the broker, the per-message run's events go from a JSON Lines file to stream_guard's
engine in-process (what `stream-guard replay` runs) and, when `make peers-venv` has created
.venv-peers, to the peer tools (`peers.py`: whylogs, River's drift detectors, Evidently's reports).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import workload  # noqa: E402
from benchmarks.peers import peak_rss_bytes  # noqa: E402
from stream_guard.adapters import kafka_io  # noqa: E402
from stream_guard.core.decoding.records import RawRecord  # noqa: E402
from stream_guard.core.engine import MonitorEngine  # noqa: E402
from stream_guard.core.topology.monitor import MonitorSpec  # noqa: E402
from stream_guard.runtime.local_stack import LocalStack, create_topics, free_port, local_stack  # noqa: E402

START = workload.START
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


# (a) the ceiling ---------------------------------------------------------------------------------

def raw_aiokafka(stack: LocalStack, topic: str, events: int, per_message: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer

    async def consume() -> tuple[float, float]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.bootstrap(), auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        seen, first, cpu0 = 0, 0.0, 0.0
        try:
            while seen < events:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for messages in batch.values():
                    if not first:
                        first, cpu0 = time.perf_counter(), time.process_time()
                    for message in messages:
                        decoded = orjson.loads(message.value)
                        seen += len(decoded) if per_message > 1 else 1
        finally:
            await consumer.stop()
        return time.perf_counter() - first, time.process_time() - cpu0

    wall, cpu = asyncio.run(consume())
    return {"events": events, "wall_s": wall, "cpu_s": cpu}


# (b) Faust's ceiling -----------------------------------------------------------------------------

def naive_faust(stack: LocalStack, topic: str, events: int) -> dict[str, float]:
    command = [sys.executable, str(ROOT / "benchmarks" / "naive_faust.py"), stack.broker_url, topic, str(events),
               str(free_port())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        cpu_start = cpu_seconds(process.pid)
        line = ""
        while '{"events"' not in line:   # Faust writes terminal control codes to stdout too
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the naive Faust agent exited without a result")
        cpu = cpu_seconds(process.pid) - cpu_start
    finally:
        process.kill()
        process.wait()
    result = orjson.loads(line[line.index("{"):])
    # CPU here includes start-up and the consumer-group join: report it, but rate on wall time
    return {"events": events, "wall_s": result["seconds"], "cpu_s": cpu}


# (c, d) stream_guard -----------------------------------------------------------------------------

class Worker:
    def __init__(self, stack: LocalStack, topology: Path) -> None:
        self.port = free_port()
        self.log = topology.with_suffix(".log")
        command = [sys.executable, "-m", "stream_guard", "worker", str(topology), "--web-port", str(self.port),
                   "--loglevel", os.environ.get("SG_BENCH_LOGLEVEL", "warn")]
        self.process = subprocess.Popen(command, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)

    def status(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as response:
                return orjson.loads(response.read())["monitors"]["bench"]  # type: ignore[no-any-return]
        except OSError:
            return None

    def consumed(self) -> int:
        status = self.status()
        if not status:
            return 0
        return sum(p["folded"] + p["dead_lettered"] for p in status["partitions"].values())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def stream_guard_rate(stack: LocalStack, workdir: Path, topic: str, events: int, fmt: str) -> dict[str, float]:
    runs = len(list(workdir.glob(f"{topic}-*.yaml")))   # a fresh app (group, Redis keys) for each round
    path = workdir / f"{topic}-{runs}.yaml"
    path.write_text(workload.topology(f"bench-{topic}-{runs}", topic, stack.broker_url, stack.redis_url, fmt=fmt))
    worker = Worker(stack, path)
    try:
        deadline = time.monotonic() + 300
        while worker.consumed() == 0:
            _check_alive(worker, deadline)
            time.sleep(0.02)
        first, cpu0 = time.perf_counter(), cpu_seconds(worker.process.pid)
        while worker.consumed() < events:
            _check_alive(worker, deadline)
            time.sleep(0.05)
        return {"events": events, "wall_s": time.perf_counter() - first,
                "cpu_s": cpu_seconds(worker.process.pid) - cpu0, "peak_rss_bytes": peak_rss_bytes(worker.process.pid)}
    finally:
        worker.stop()


def _check_alive(worker: Worker, deadline: float) -> None:
    if worker.process.poll() is not None or time.monotonic() > deadline:
        raise RuntimeError(f"benchmark worker failed or stalled; see {worker.log}")


# latency -----------------------------------------------------------------------------------------

# the watermark moves past a jump once three events in a row reach it (docs/architecture.md, "Time")
CLOSING_EVENTS = 3


def alert_latency(stack: LocalStack, workdir: Path, windows: int, per_window: int) -> dict[str, float]:
    """Seconds from the events that close a window (three at its end + grace, sent at once) to its alert
    on the topic."""
    topic, alerts = "bench.latency", "bench.latency-alerts"
    create_topics(stack.bootstrap(), {topic: 1, alerts: 1})
    path = workdir / "latency.yaml"
    path.write_text(workload.topology("bench-latency", topic, stack.broker_url, stack.redis_url,
                                      alerts=alerts, grace="1s"))
    warmup = 3
    shifted = {w for w in range(warmup, warmup + windows) if w % 2 == 1}
    stream = workload.events((warmup + windows + 1) * per_window, START, per_window, shifted=shifted)
    arrivals: dict[str, float] = {}
    stop = threading.Event()
    listener = threading.Thread(target=_listen, args=(stack, alerts, arrivals, stop), daemon=True)
    listener.start()
    producer = kafka_io.producer(stack.broker_url)
    worker = Worker(stack, path)
    latencies = []
    try:
        for window in range(warmup + windows):
            for event in stream[window * per_window:(window + 1) * per_window]:
                producer.send(topic, orjson.dumps(event))
            producer.flush()
            _wait_consumed(worker, (window + 1) * (per_window + CLOSING_EVENTS) - CLOSING_EVENTS)
            closing = dict(stream[(window + 1) * per_window])
            closing["ts"] = START + (window + 1) * workload.WINDOW_MS + 1000  # end + grace of `window`
            sent = time.perf_counter()
            for _ in range(CLOSING_EVENTS):
                producer.send(topic, orjson.dumps(closing))
            producer.flush()
            if window >= warmup:
                key = _iso(START + window * workload.WINDOW_MS)
                deadline = time.monotonic() + 30
                while key not in arrivals and time.monotonic() < deadline:
                    time.sleep(0.001)
                latencies.append(arrivals[key] - sent)
    finally:
        stop.set()
        worker.stop()
        producer.close()
    return {"windows": len(latencies), "p50_s": float(np.percentile(latencies, 50)),
            "p99_s": float(np.percentile(latencies, 99)), "max_s": max(latencies)}


def _wait_consumed(worker: Worker, count: int) -> None:
    deadline = time.monotonic() + 120
    while worker.consumed() < count:
        _check_alive(worker, deadline)
        time.sleep(0.02)


def _listen(stack: LocalStack, topic: str, arrivals: dict[str, float], stop: threading.Event) -> None:
    for record in kafka_io.records(stack.broker_url, topic, from_beginning=True, stop=stop):
        arrivals.setdefault(record["window"]["start"], time.perf_counter())


def _iso(ms: int) -> str:
    from stream_guard.core.alerting.alerts import iso
    return iso(ms)


# Redis commands per flush ------------------------------------------------------------------------

def redis_commands_per_flush(stack: LocalStack) -> dict[str, int]:
    import redis

    from stream_guard.core.profiles.folding import PartitionFolder

    monitor = bench_monitor(workload.NUMERIC, workload.CATEGORICAL)
    client = redis.Redis.from_url(stack.redis_url)
    out = {}
    for count in (1_000, 100_000):
        folder = PartitionFolder(monitor, 0)
        folder.fold([RawRecord(orjson.dumps(e), 0, i) for i, e in enumerate(workload.events(count, START, count))])
        out[f"{count}_events"] = asyncio.run(_flush_cost(stack, client, folder, count))
    return out


async def _flush_cost(stack: LocalStack, client: Any, folder: Any, count: int) -> int:
    from stream_guard.adapters.redis_store import RedisStateStore

    store = RedisStateStore(stack.redis_url, f"bench-cmds-{count}")
    await store.client.ping()  # connect first: the connection handshake is not part of a flush
    before = _total_calls(client)
    await store.save_partition(folder.monitor.name, folder.partition, folder.changes())
    calls = _total_calls(client) - before - 1  # the INFO call itself counts once
    await store.close()
    return calls


def _total_calls(client: Any) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


# scaling with features ---------------------------------------------------------------------------

def bench_monitor(numeric: list[str], categorical: list[str]) -> MonitorSpec:
    features = {n: {"type": "numeric", "field": f"features.{n}"} for n in numeric}
    features.update({c: {"type": "categorical", "field": f"features.{c}"} for c in categorical})
    return MonitorSpec.model_validate({"name": "bench", "source": {"topic": "t", "timestamp": "ts"},
                                       "window": {"size": "1m"}, "features": features})


def feature_scaling(total_values: int) -> list[dict[str, float]]:
    rows = []
    for count in (20, 200, 2000):
        names = [f"f{i}" for i in range(count)]
        monitor = bench_monitor(names, [])
        events = max(total_values // count, 200)
        rng = np.random.default_rng(1)
        values = rng.normal(size=(events, count)).round(4)
        raw = [RawRecord(orjson.dumps({"ts": START // 1000, "features": dict(zip(names, row.tolist()))}), 0, i)
               for i, row in enumerate(values)]
        engine = MonitorEngine(monitor)
        rss_before = _rss_bytes()
        elapsed = _fold_seconds(engine, raw)
        window = next(iter(engine.folders[0].windows.values()))
        rows.append({"features": count, "events": events, "events_per_s": events / elapsed,
                     "values_per_s": events * count / elapsed,
                     "stored_bytes_per_feature": len(window.to_bytes()) / count,
                     "rss_growth_bytes_per_feature": (_rss_bytes() - rss_before) / count})
        del engine
    return rows


def _fold_seconds(engine: MonitorEngine, raw: list[RawRecord]) -> float:
    """Seconds to fold `raw` in batches of 1,000 records, as a worker's agent hands them over."""
    began = time.perf_counter()
    for i in range(0, len(raw), 1000):
        engine.fold(raw[i:i + 1000])
    return time.perf_counter() - began


def segment_scaling(events: int) -> list[dict[str, float]]:
    """20 numeric features folded with `segment_by` over a field of 1 (no segments), 10, 100 and 10,000
    distinct values (`max_segments` 20: the rest pool into `other`)."""
    names = [f"f{i}" for i in range(20)]
    rng = np.random.default_rng(2)
    values = rng.normal(size=(events, 20)).round(4)
    rows = []
    for distinct in (1, 10, 100, 10_000):
        features: dict[str, Any] = {n: {"type": "numeric", "field": f"features.{n}"} for n in names}
        monitor = MonitorSpec.model_validate({"name": "bench", "source": {"topic": "t", "timestamp": "ts"},
                                              "window": {"size": "1m"}, "features": features,
                                              **({"segment_by": ["region"]} if distinct > 1 else {})})
        raw = [RawRecord(orjson.dumps({"ts": START // 1000, "region": f"r{i % distinct}",
                                       "features": dict(zip(names, row.tolist()))}), 0, i)
               for i, row in enumerate(values)]
        engine = MonitorEngine(monitor)
        elapsed = _fold_seconds(engine, raw)
        window = next(iter(engine.folders[0].windows.values()))
        rows.append({"distinct_segments": distinct, "events": events, "events_per_s": events / elapsed,
                     "stored_bytes": len(window.to_bytes())})
    return rows


def _rss_bytes() -> int:
    """Resident memory of this process (DataSketches allocates in C++, which tracemalloc cannot see)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# the peers' events: stream_guard in-process, then the peer tools ------------------------------------

def stream_guard_in_process(path: Path) -> dict[str, Any]:
    """The engine over the events file in a process of its own, as `stream-guard replay` runs it."""
    command = [sys.executable, str(Path(__file__).resolve()), "--replay", str(path)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return orjson.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def replay_events(path: Path) -> dict[str, Any]:
    """Decode, fold, close windows, compare each with its reference and grade: everything but Kafka and Redis."""
    from stream_guard.core.topology.file import load_topology
    from stream_guard.offline.replay import replay

    topology_file = path.with_suffix(".yaml")
    topology_file.write_text(workload.topology("bench-replay", "bench.replay", "kafka://127.0.0.1:9092",
                                               "redis://127.0.0.1:6379/0"))
    topology = load_topology(topology_file)
    began = time.perf_counter()
    summary = replay(topology, path, lambda alert: None, lambda evaluation: None, lambda letter: None)
    seconds = time.perf_counter() - began
    firing = sum(count for (status, _), count in summary.alerts.items() if status == "firing")
    return {"events": summary.lines, "seconds": seconds, "windows_evaluated": summary.windows,
            "evaluations": summary.evaluations, "alerts_firing": firing, "peak_rss_bytes": peak_rss_bytes()}


def peers(path: Path, quick: bool) -> dict[str, Any] | None:
    if not PEERS_PYTHON.exists():
        print("peers not measured: `make peers-venv` creates .venv-peers with whylogs, River and Evidently",
              flush=True)
        return None
    command = [str(PEERS_PYTHON), str(ROOT / "benchmarks" / "peers.py"), str(path)] + (["--quick"] if quick else [])
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return orjson.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# report ------------------------------------------------------------------------------------------

def rate(result: dict[str, float]) -> tuple[float, float]:
    return result["events"] / result["wall_s"], result["events"] / max(result["cpu_s"], 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute in all)")
    parser.add_argument("--repeat", type=int, help="rounds of the throughput runs, the fastest kept "
                        "(default 3, with --quick 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)   # the in-process run's own process
    args = parser.parse_args()
    args.repeat = args.repeat or (2 if args.quick else 3)
    if args.replay:
        print(orjson.dumps(replay_events(args.replay)).decode(), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as scratch:
        run_all(args, Path(scratch) / "per-message.jsonl")


def run_all(args: argparse.Namespace, events_file: Path) -> None:
    per_message = 40_000 if args.quick else 200_000
    batched = 400_000 if args.quick else 1_000_000
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
                               "date": time.strftime("%Y-%m-%d")}
    with local_stack() as stack:
        workdir = stack.workdir
        print(f"local stack: {stack.broker_url} {stack.redis_url}", flush=True)
        stream = workload.events(per_message, START, workload.PER_MESSAGE_WINDOW)
        _prepare(stack, "bench.per-message", stream, 1)
        events_file.write_bytes(b"".join(line + b"\n" for line in workload.messages(stream, 1)))
        del stream
        _prepare(stack, "bench.batched", workload.events(batched, START, 50_000), 500)
        steps = [
            ("a_raw_aiokafka_per_message", lambda: raw_aiokafka(stack, "bench.per-message", per_message, 1)),
            ("b_naive_faust_per_message", lambda: naive_faust(stack, "bench.per-message", per_message)),
            ("c_stream_guard_per_message",
             lambda: stream_guard_rate(stack, workdir, "bench.per-message", per_message, "json")),
            ("a_raw_aiokafka_batched", lambda: raw_aiokafka(stack, "bench.batched", batched, 500)),
            ("d_stream_guard_batched", lambda: stream_guard_rate(stack, workdir, "bench.batched", batched,
                                                                 "json_array")),
        ]
        # The machine is shared and a run's rate drops when a neighbour is busy, never rises: each
        # run is repeated, the rounds interleaved so that a busy minute hits every run alike, and
        # the fastest round of each is kept (all rounds are recorded).
        for round_ in range(1, args.repeat + 1):
            for name, step in steps:
                print(f"running {name} (round {round_} of {args.repeat})…", flush=True)
                result = step()
                wall, cpu = rate(result)
                print(f"  {wall:,.0f} events/s wall, {cpu:,.0f} events per CPU-second", flush=True)
                rounds = [*results.get(name, {}).get("rounds_events_per_s", []), round(wall)]
                if name not in results or wall > rate(results[name])[0]:
                    results[name] = result
                results[name]["rounds_events_per_s"] = rounds
        print("running alert latency…", flush=True)
        results["latency"] = alert_latency(stack, workdir, windows=10 if args.quick else 30, per_window=500)
        print(f"  {results['latency']}", flush=True)
        results["redis_commands_per_flush"] = redis_commands_per_flush(stack)
        print(f"  redis commands per flush: {results['redis_commands_per_flush']}", flush=True)
    print("running feature scaling…", flush=True)
    results["feature_scaling"] = feature_scaling(400_000 if args.quick else 2_000_000)
    print("running segment scaling…", flush=True)
    results["segment_scaling"] = segment_scaling(20_000 if args.quick else 100_000)
    print("running stream_guard in-process on the per-message events…", flush=True)
    results["stream_guard_in_process"] = stream_guard_in_process(events_file)
    print(f"  {_events_per_s(results['stream_guard_in_process']):,.0f} events/s", flush=True)
    print("running the peers on the same events…", flush=True)
    found = peers(events_file, args.quick)
    if found:
        results["peers"] = found
    args.out.write_text(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    print(report(results))


def _prepare(stack: LocalStack, topic: str, events: list[dict[str, Any]], per_message: int) -> None:
    create_topics(stack.bootstrap(), {topic: 1})
    delivery = kafka_io.produce(stack.broker_url, topic, workload.messages(events, per_message))
    if delivery.failed or delivery.stopped_at is not None:
        raise RuntimeError(delivery.describe(topic))
    print(f"produced {len(events):,} events in {delivery.acknowledged:,} messages to {topic}", flush=True)


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0))


# what each run of the peers' table does per one-minute window
PEER_RUNS = {
    "whylogs": "whylogs `why.log(frame)` profile, the previous 5 profiles merged",
    "river_adwin": "River ADWIN per numeric feature, `update` per value",
    "river_kswin": "River KSWIN per numeric feature, `update` per value",
    "river_page_hinkley": "River PageHinkley per numeric feature, `update` per value",
    "evidently_preset": "Evidently `Report([DataDriftPreset()])` against the previous window",
    "evidently_drift_count": "Evidently `Report([DriftedColumnsCount()])` against the previous window",
}


def _events_per_s(result: dict[str, Any]) -> float:
    return float(result["events"] / result["seconds"])


def peers_report(results: dict[str, Any]) -> list[str]:
    own = results["stream_guard_in_process"]
    in_process, worker = _events_per_s(own), rate(results["d_stream_guard_batched"])[0]
    lines = ["", "Peers on the same events (the per-message run's, from a JSON Lines file; no Kafka, no Redis):", "",
             "| run | events | events/s | tool alone, events/s | ÷ stream_guard in-process | "
             "÷ stream_guard worker, batched | peak resident MB |", "|---|---:|---:|---:|---:|---:|---:|",
             f"| stream_guard in-process: decode, fold, close, compare with 5 windows, grade | {own['events']:,} | "
             f"{in_process:,.0f} | | 1.00 | {in_process / worker:.2f} | {own['peak_rss_bytes'] / 2**20:,.0f} |",
             f"| stream_guard worker, batched (d): the same and Kafka, Redis | "
             f"{results['d_stream_guard_batched']['events']:,} | {worker:,.0f} | | {worker / in_process:.2f} | 1.00 | "
             f"{results['d_stream_guard_batched']['peak_rss_bytes'] / 2**20:,.0f} |"]
    if "peers" not in results:
        return [*lines, "", "peers not measured: `make peers-venv` creates .venv-peers"]
    found = results["peers"]
    for name, what in PEER_RUNS.items():
        peer = found[name]
        speed = _events_per_s(peer)
        lines.append(f"| {what} | {peer['events']:,} | {speed:,.0f} | {peer['events'] / peer['tool_s']:,.0f} | "
                     f"{speed / in_process:.3f} | {speed / worker:.3f} | {peer['peak_rss_bytes'] / 2**20:,.0f} |")
    signals = ", ".join(f"{name.removeprefix('river_')} {found[name]['drift_signals']:,}"
                        for name in ("river_adwin", "river_kswin", "river_page_hinkley"))
    drifted = max(found["evidently_preset"]["drifted_columns"], default=0)
    lines += ["", "Signals on these events, which carry no drift: stream_guard "
              f"{own['alerts_firing']} alerts over {own['windows_evaluated']} windows; River {signals} drift signals; "
              f"Evidently at most {drifted:.0f} drifted columns per window",
              f"peer versions: {', '.join(f'{k} {v}' for k, v in found['versions'].items())}"]
    return lines


def report(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}; {results['date']}", "",
             "| run | events | events/s (wall) | events per CPU-second | every round, events/s | peak resident MB |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in ("a_raw_aiokafka_per_message", "b_naive_faust_per_message", "c_stream_guard_per_message",
                 "a_raw_aiokafka_batched", "d_stream_guard_batched"):
        wall, cpu = rate(results[name])
        rounds = ", ".join(f"{r:,}" for r in results[name].get("rounds_events_per_s", []))
        rss = results[name].get("peak_rss_bytes")
        lines.append(f"| {name} | {results[name]['events']:,} | {wall:,.0f} | {cpu:,.0f} | {rounds} | "
                     f"{'' if rss is None else f'{rss / 2**20:,.0f}'} |")
    c, b = rate(results["c_stream_guard_per_message"])[0], rate(results["b_naive_faust_per_message"])[0]
    d, a = rate(results["d_stream_guard_batched"])[0], rate(results["a_raw_aiokafka_batched"])[0]
    raw = rate(results["a_raw_aiokafka_per_message"])[0]
    lat = results["latency"]
    lines += ["", f"per-message: stream_guard / raw aiokafka decode = {c / raw:.2f}, / naive Faust = {c / b:.2f}",
              f"batched: stream_guard / raw aiokafka decode = {d / a:.2f}",
              f"alert latency after window close ({lat['windows']} windows): p50 {lat['p50_s'] * 1000:.0f} ms, "
              f"p99 {lat['p99_s'] * 1000:.0f} ms, max {lat['max_s'] * 1000:.0f} ms",
              f"Redis commands per flush: {results['redis_commands_per_flush']}", "",
              "| features | events | events/s | feature values/s | stored bytes per feature-window "
              "| resident memory growth per feature |", "|---:|---:|---:|---:|---:|---:|"]
    for row in results["feature_scaling"]:
        lines.append(f"| {row['features']:,} | {row['events']:,} | {row['events_per_s']:,.0f} | "
                     f"{row['values_per_s']:,.0f} | {row['stored_bytes_per_feature']:,.0f} | "
                     f"{row['rss_growth_bytes_per_feature']:,.0f} |")
    if "segment_scaling" in results:
        lines += ["", "| distinct segment values | events | events/s | stored bytes per window |",
                  "|---:|---:|---:|---:|"]
        lines += [f"| {r['distinct_segments']:,} | {r['events']:,} | {r['events_per_s']:,.0f} | {r['stored_bytes']:,} |"
                  for r in results["segment_scaling"]]
    lines += peers_report(results)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
