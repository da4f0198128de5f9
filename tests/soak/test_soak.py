"""A soak under chaos: three workers, two monitors (one event per message, and JSON arrays of events) with
drift injected every few windows, on a Redis Cluster of three masters with a replica each
(`wait_replicas: 1`), while a seeded chaos loop kills -9, pauses (SIGSTOP, sometimes past the session
timeout, so the worker is fenced when it resumes) and restarts (SIGTERM) workers, and kills -9 a Redis
master (its replica takes over, the old master comes back as a replica) about every minute.

At the end an exact verifier checks, per source partition, `consumed == folded + dead_lettered +
filtered ==` the events produced to it (and the next offset equals the log's end); that the alert ids,
deduplicated, are replay's on the same events in the same order (freshness, judged on the wall clock,
is left out: replay never evaluates it); that no worker closed a window twice; and that memory stayed
bounded: the workers' resident memory, and no window the monitor evaluated left in Redis.

`SG_SOAK_SECONDS` (`make soak` runs 1200; 180, the 3-minute version, is what `make test` runs) sets how
long events are produced, `SG_SOAK_SEED` the chaos (a random seed otherwise, printed and named in every
failure). The figures are printed at the end.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from stream_guard.adapters import kafka_io
from stream_guard.cli.main import main
from stream_guard.offline import scenario
from stream_guard.runtime.local_cluster import LocalCluster, local_cluster
from stream_guard.runtime.local_stack import LocalStack, create_topics

from ..integration.live import ALERT, LiveTopology, Worker, topic_records

pytestmark = pytest.mark.integration   # `make test` runs the 3-minute version (about 4 minutes in all)
SECONDS = float(os.environ.get("SG_SOAK_SECONDS", "180"))
SEED = int(os.environ.get("SG_SOAK_SEED", random.randrange(1_000_000)))
START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
PER_WINDOW = 600            # events per one-minute window, per monitor
WINDOW_SECONDS = 2.0        # wall-clock seconds per window of event time: 300 events/s per monitor
PER_ARRAY = 50              # events per message of the batched monitor
PARTITIONS = 3
MONITORS = {"per-message": "json", "batched": "json_array"}
CHAOS_EVERY = (8.0, 20.0)   # seconds between faults
FAILOVER_EVERY = 60.0


def topology_text(app: str, monitors: dict[str, str], redis_url: str, cluster: bool) -> str:
    blocks = "".join(f"""
  - name: {name}
    source: {{topic: {app}-{name}, timestamp: ts, format: {fmt}, partitions: {PARTITIONS}}}
    window: {{size: 1m, grace: 5s}}
    reference: {{kind: rolling, windows: 5, min_windows: 3}}
    min_samples: 200
    features:
      amount: {{type: numeric, field: features.amount, min: 0}}
      age: {{type: numeric, field: features.age, min: 0, max: 130}}
      country: {{type: categorical, field: features.country}}
      device: {{type: categorical, field: features.device}}
    prediction:
      score: {{type: numeric, field: prediction.score, min: 0, max: 1}}
    checks:
      numeric_drift: {{metric: psi, warning: 0.1, critical: 0.25}}
      missing_rate: {{warning: 0.05, critical: 0.2}}
      freshness: {{warning: 2m, critical: 10m}}
""" for name, fmt in monitors.items())
    wait = ", cluster: true, wait_replicas: 1, wait_timeout: 500ms" if cluster else ""
    return f"""version: 1
app: {app}
kafka: {{broker: "kafka://127.0.0.1:9092", session_timeout: 8s}}
redis: {{url: "{redis_url}"{wait}}}
alerts: {{topic: {app}-alerts, dead_letter_topic: {app}-dead}}
monitors:{blocks}"""


def window_events(window: int) -> list[dict[str, Any]]:
    """Window `window` of the demo's 12-window cycle (warm-up, then amount, age and country incidents),
    drawn afresh every cycle."""
    cycle, place = divmod(window, 12)
    return scenario.window_events(place, START + cycle * 12 * 60_000, PER_WINDOW, seed=1000 + cycle)


class Producer:
    """Both monitors' events, window by window at a steady pace, each message to a chosen partition;
    counts the events sent to every partition and keeps every event for replay."""

    def __init__(self, stack: LocalStack, app: str, windows: int) -> None:
        self.stack, self.app, self.windows = stack, app, windows
        self.events: dict[tuple[str, int], int] = Counter()
        self.ends: dict[tuple[str, int], int] = {}   # (monitor, partition) -> the offset after its last record
        self.lines: list[bytes] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        client = kafka_io.producer(self.stack.broker_url)
        began = time.monotonic()
        try:
            for window in range(self.windows):
                events = window_events(window)
                self.lines.extend(orjson.dumps(e) for e in events)
                sent = [self._send(client, "per-message", i % PARTITIONS, orjson.dumps(event), 1)
                        for i, event in enumerate(events)]
                sent += [self._send(client, "batched", (i // PER_ARRAY) % PARTITIONS,
                                    orjson.dumps(events[i:i + PER_ARRAY]), len(events[i:i + PER_ARRAY]))
                         for i in range(0, len(events), PER_ARRAY)]
                client.flush()
                for future in sent:   # every message acknowledged before the next window: counted exactly
                    stored = future.get(timeout=30)
                    key = (stored.topic.removeprefix(f"{self.app}-"), stored.partition)
                    self.ends[key] = max(self.ends.get(key, 0), stored.offset + 1)
                time.sleep(max(0.0, began + (window + 1) * WINDOW_SECONDS - time.monotonic()))
        finally:
            client.close()
            self.done.set()

    def _send(self, client: Any, monitor: str, partition: int, value: bytes, events: int) -> Any:
        self.events[(monitor, partition)] += events
        return client.send(f"{self.app}-{monitor}", value, partition=partition)


class Chaos:
    """The seeded fault loop over the three workers and the Redis Cluster."""

    def __init__(self, rng: random.Random, stack: LocalStack, topology: LiveTopology, cluster: LocalCluster,
                 log_dir: Path) -> None:
        self.rng, self.stack, self.topology, self.cluster, self.log_dir = rng, stack, topology, cluster, log_dir
        self.workers = [self.start_worker() for _ in range(3)]
        self.every: list[Worker] = list(self.workers)
        self.faults: Counter[str] = Counter()
        self.rss_mb: list[float] = []
        self.last_failover = time.monotonic()

    def start_worker(self) -> Worker:
        live = self.cluster.live()[0].port
        worker = Worker(self.stack, self.topology, self.log_dir, redis_url=f"redis://127.0.0.1:{live}/0")
        return worker

    def step(self) -> None:
        time.sleep(self.rng.uniform(*CHAOS_EVERY))
        self.sample_memory()
        if time.monotonic() - self.last_failover >= FAILOVER_EVERY:
            self.fail_over()
            return
        slot = self.rng.randrange(len(self.workers))
        getattr(self, self.rng.choice(["kill", "pause", "restart"]))(slot)

    def kill(self, slot: int) -> None:
        self.workers[slot].kill()
        time.sleep(self.rng.uniform(1, 10))
        self.replace(slot, "kill -9")

    def restart(self, slot: int) -> None:
        took = self.workers[slot].stop(timeout=30)
        assert took < 20, f"seed {SEED}: a worker took {took:.1f}s to stop on SIGTERM"
        self.replace(slot, "SIGTERM and restart")

    def replace(self, slot: int, fault: str) -> None:
        self.workers[slot] = self.start_worker()
        self.every.append(self.workers[slot])
        self.faults[fault] += 1

    def pause(self, slot: int) -> None:
        seconds = self.rng.uniform(1, 16)   # past the 8 s session timeout about half the time: fenced
        self.workers[slot].pause()
        time.sleep(seconds)
        self.workers[slot].resume()
        self.faults["SIGSTOP past the session timeout" if seconds > 8 else "SIGSTOP"] += 1

    def fail_over(self) -> None:
        master = self.cluster.node(self.rng.choice(sorted(self.cluster.shards())))
        replica = self.cluster.shards()[master.port][0]
        master.kill()
        self.cluster.wait(lambda: replica in self.cluster.shards(), "the replica took over", timeout=60)
        master.start()
        self.cluster.wait(self.cluster.healthy, "the old master is back as a replica", timeout=60)
        self.faults["Redis master kill -9 and failover"] += 1
        self.last_failover = time.monotonic()

    def sample_memory(self) -> None:
        for worker in self.workers:
            try:
                status = Path(f"/proc/{worker.process.pid}/status").read_text()
            except OSError:
                continue
            found = re.search(r"VmRSS:\s+(\d+) kB", status)
            if found:
                self.rss_mb.append(int(found.group(1)) / 1024)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path / "cluster") as started:
        yield started


def soak_topology(stack: LocalStack, cluster: LocalCluster, directory: Path) -> LiveTopology:
    app = f"soak-{SEED}-{int(time.time()) % 100_000}"
    path = directory / "soak.yaml"
    path.write_text(topology_text(app, MONITORS, cluster.url, cluster=True))
    create_topics(stack.bootstrap(), {f"{app}-{m}": PARTITIONS for m in MONITORS} | {f"{app}-alerts": 1,
                                                                                       f"{app}-dead": 1})
    return LiveTopology(path, app, f"{app}-per-message", f"{app}-alerts", f"{app}-dead")


def replay(lines: list[bytes], app: str, monitor: str, directory: Path) -> tuple[list[str], int]:
    """Replay's alert ids for one monitor's events (freshness aside), and the start of its last evaluated window."""
    events, topology = directory / f"{monitor}.jsonl", directory / f"replay-{monitor}.yaml"
    events.write_bytes(b"\n".join(lines) + b"\n")
    topology.write_text(topology_text(app, {monitor: "json"}, "redis://127.0.0.1:1/0", cluster=False))
    alerts, evaluations = directory / f"{monitor}-alerts.jsonl", directory / f"{monitor}-evaluations.jsonl"
    assert main(["replay", str(topology), str(events), "--alerts-out", str(alerts), "--evaluations-out",
                 str(evaluations), "--quiet"]) == 0
    ids = [a["id"] for a in map(orjson.loads, alerts.read_bytes().splitlines()) if a["check"] != "freshness"]
    last = max(datetime.fromisoformat(e["window"]["start"]) for e in map(orjson.loads,
                                                                         evaluations.read_bytes().splitlines()))
    return ids, int(last.timestamp() * 1000)


class Verifier:
    def __init__(self, cluster: LocalCluster, stack: LocalStack, app: str) -> None:
        self.client = redis.RedisCluster.from_url(cluster.url, socket_connect_timeout=1, socket_timeout=5)
        self.stack, self.app = stack, app

    def meta(self, monitor: str, partition: int) -> dict[str, int]:
        raw = self.client.hgetall(f"sg:{{{self.app}/{monitor}/{partition}}}:meta")
        return {k.decode(): int(v) for k, v in raw.items()}

    def last(self, monitor: str) -> int | None:
        value = self.client.get(f"sg:{{{self.app}/{monitor}}}:last")
        return None if value is None else int(value)

    def evaluated_held(self, monitor: str) -> dict[int, list[int]]:
        """Per partition, the windows its store still holds that the monitor has evaluated."""
        last = self.last(monitor)
        held = {p: sorted(s for s in map(int, self.client.hkeys(f"sg:{{{self.app}/{monitor}/{p}}}:windows"))
                          if last is not None and s <= last) for p in range(PARTITIONS)}
        return {p: starts for p, starts in held.items() if starts}

    def caught_up(self, monitor: str, ends: dict[int, int], last_window: int) -> bool:
        """Every partition folded to the offset after its last record, and the last window evaluated.

        The log's end is the offset the broker acknowledged for the last record produced, not a
        ListOffsets answer: Tansu 0.6 answers `latest` with the first offset of the partition's last
        record batch plus one, short of the end when that batch held several records."""
        try:
            return all(self.meta(monitor, p).get("next_offset") == end for p, end in ends.items()) and \
                self.last(monitor) == last_window
        except redis.RedisError:
            return False


def test_soak_under_chaos(local_stack: LocalStack, cluster: LocalCluster, tmp_path: Path) -> None:
    print(f"\nsoak: seed {SEED}, {SECONDS:g} s of events")
    rng = random.Random(SEED)
    topology = soak_topology(local_stack, cluster, tmp_path)
    windows = int(SECONDS / WINDOW_SECONDS)
    chaos = Chaos(rng, local_stack, topology, cluster, tmp_path)
    try:
        time.sleep(15)   # the workers join before the events start
        producer = Producer(local_stack, topology.app, windows)
        while not producer.done.is_set():
            chaos.step()
        for worker in chaos.workers:
            worker.resume()
        verify(chaos, producer, local_stack, cluster, topology, tmp_path)
    finally:
        for worker in chaos.every:
            if worker.process.poll() is None:
                worker.resume()
                worker.kill()


def verify(chaos: Chaos, producer: Producer, stack: LocalStack, cluster: LocalCluster, topology: LiveTopology,
           directory: Path) -> None:
    verifier = Verifier(cluster, stack, topology.app)
    expected = {m: replay(producer.lines, topology.app, m, directory) for m in MONITORS}
    for monitor, (_, last_window) in expected.items():
        ends = {p: producer.ends[(monitor, p)] for p in range(PARTITIONS)}
        deadline = time.monotonic() + 300
        while not verifier.caught_up(monitor, ends, last_window):
            assert time.monotonic() < deadline, (f"seed {SEED}", monitor, verifier.last(monitor), last_window, ends,
                                                 [verifier.meta(monitor, p) for p in range(PARTITIONS)], chaos.faults)
            time.sleep(1)
    deadline = time.monotonic() + 30   # the owners drop what was evaluated at their next tick
    while any(held := {m: verifier.evaluated_held(m) for m in MONITORS}.values()):
        assert time.monotonic() < deadline, f"seed {SEED}: windows evaluated but still stored: {held}"
        time.sleep(1)
    for monitor in MONITORS:
        for partition in range(PARTITIONS):
            meta = verifier.meta(monitor, partition)
            assert meta["consumed"] == meta["folded"] + meta["dead_lettered"] + meta.get("filtered", 0) \
                == producer.events[(monitor, partition)], (f"seed {SEED}", monitor, partition, meta)
    alerts = topic_records(stack, topology.alerts, idle=3.0, schema=ALERT)
    for monitor, (ids, _) in expected.items():
        live = [a["id"] for a in alerts if a["monitor"] == monitor and a["check"] != "freshness"]
        assert list(dict.fromkeys(live)) == ids, f"seed {SEED}: {monitor}'s alert ids differ from replay's"
    closes = Counter(m.groups() for w in chaos.every
                     for m in re.finditer(r"(\S+): window (\S+) closed:", w.log()))
    assert not [c for c, n in closes.items() if n > 1], f"seed {SEED}: windows closed twice"
    peak = max(chaos.rss_mb)
    assert peak < 1024, f"seed {SEED}: a worker's resident memory reached {peak:.0f} MB"
    print(f"soak: seed {SEED}; faults {dict(chaos.faults)}; events {sum(producer.events.values()):,} "
          f"over {len(producer.lines) // PER_WINDOW} windows; alerts {[len(ids) for ids, _ in expected.values()]}; "
          f"worker RSS peak {peak:.0f} MB, median {sorted(chaos.rss_mb)[len(chaos.rss_mb) // 2]:.0f} MB; "
          f"Redis used_memory {redis_memory_mb(cluster):.1f} MB over the masters")


def redis_memory_mb(cluster: LocalCluster) -> float:
    return sum(cluster.node(p).client().info("memory")["used_memory"] for p in cluster.shards()) / 2**20

