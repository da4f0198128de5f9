"""Crashes, restarts, rebalances and a Redis outage on the real broker and Redis: afterwards the state
holds every event exactly once and the alerts are those of an undisturbed run.

Each test streams the faulty scenario (12 one-minute windows of 1,200 events, plus 5 bad records)
onto a 3-partition topic at a steady rate while it disturbs the workers, then checks what Redis holds
(folded and dead-lettered counts, next offsets), what the consumer group committed (never more than
Redis stored), the dead letters (each bad record at least once) and the alerts (deduplicated by id:
exactly the ids `replay` gives for the same file, in the same order).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis
from kafka import KafkaConsumer, TopicPartition

from stream_guard.adapters import kafka_io
from stream_guard.cli.main import main
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack, free_port, start_redis

from .live import ALERT, LiveTopology, Worker, fresh_topology, jsonl_lines, topic_records

pytestmark = pytest.mark.integration

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
WINDOWS, PER_WINDOW = 12, 1200
BAD_LINES = [b"{broken", b"", b"[1, 2]", b'{"ts": "soon", "features": {}}', b"\xff\xfe not utf-8"]
GOOD = WINDOWS * PER_WINDOW
TOTAL = GOOD + len(BAD_LINES)
RATE = 2500            # messages per second: the stream lasts about 6 s
MONITOR = "fraud-model"
PARTITIONS = (0, 1, 2)
SEED = random.randrange(1_000_000)


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = [orjson.dumps(e) for e in scenario.stream(WINDOWS, START, PER_WINDOW)]
    for i, bad in enumerate(BAD_LINES):
        lines.insert(1000 + 2000 * i, bad)
    path = tmp_path_factory.mktemp("faults") / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def undisturbed_ids(events_file: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The alert ids of an undisturbed run (replay gives the live worker's ids: test_live_path)."""
    out = tmp_path_factory.mktemp("replay") / "alerts.jsonl"
    topology = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
    assert main(["replay", str(topology), str(events_file), "--alerts-out", str(out), "--quiet"]) == 0
    ids = [orjson.loads(line)["id"] for line in jsonl_lines(out)]
    assert len(ids) == 12   # the demo's alerts, with outside_reference and new_category (test_live_path)
    return ids


class Feed:
    """The events file produced onto the source topic at a steady rate, in a thread."""

    def __init__(self, stack: LocalStack, topic: str, path: Path, rate: float = RATE) -> None:
        self.sent = 0
        self.thread = threading.Thread(target=self._run, args=(stack.broker_url, topic, path, rate), daemon=True)
        self.thread.start()

    def _run(self, broker: str, topic: str, path: Path, rate: float) -> None:
        def progress(n: int) -> None:
            self.sent = n

        self.sent = kafka_io.produce(broker, topic, jsonl_lines(path), rate=rate, on_progress=progress).acknowledged

    def join(self) -> None:
        self.thread.join(timeout=60)
        assert self.sent == TOTAL


class State:
    """What Redis holds for the monitor's partitions."""

    def __init__(self, redis_url: str, app: str) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
        self.app = app

    def meta(self, partition: int) -> dict[str, int]:
        raw = self.client.hgetall(f"sg:{{{self.app}/{MONITOR}/{partition}}}:meta")
        return {k.decode(): int(v) for k, v in raw.items()}

    def total(self, field: str) -> int:
        try:
            return sum(self.meta(p).get(field, 0) for p in PARTITIONS)
        except redis.RedisError:
            return -1

    def last_window(self) -> int | None:
        try:
            last = self.client.get(f"sg:{{{self.app}/{MONITOR}}}:last")
        except redis.RedisError:
            return None
        return None if last is None else (int(last) - START) // 60_000

    def wait(self, condition: Callable[[], bool], what: str, timeout: float, workers: list[Worker]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        logs = "\n".join(w.log()[-2500:] for w in workers)
        raise AssertionError(f"not met in {timeout}s: {what} (seed {SEED}); folded {self.total('folded')}, "
                             f"next offsets {self.total('next_offset')}, last window {self.last_window()}\n{logs}")

    def wait_folded(self, at_least: int, workers: list[Worker], timeout: float = 60) -> None:
        self.wait(lambda: self.total("folded") >= at_least, f"{at_least} folded", timeout, workers)

    def wait_done(self, workers: list[Worker], timeout: float = 120) -> None:
        self.wait(lambda: self.total("next_offset") == TOTAL and self.last_window() == WINDOWS - 2,
                  f"all {TOTAL} records stored and window {WINDOWS - 2} evaluated", timeout, workers)


def committed_offsets(stack: LocalStack, topology: LiveTopology) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap(), group_id=topology.app, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topology.source, p)) for p in PARTITIONS}
    finally:
        consumer.close()


def assert_exactly_once(stack: LocalStack, topology: LiveTopology, state: State, undisturbed: list[str],
                        workers: list[Worker]) -> None:
    """Exact counts in Redis, commits never ahead of Redis, every dead letter, the undisturbed alerts."""
    metas = [str(state.meta(p)) for p in PARTITIONS]
    assert state.total("folded") == GOOD, "\n".join(metas + [w.log()[-6000:] for w in workers])
    assert state.total("dead_lettered") == len(BAD_LINES)
    assert state.total("consumed") == TOTAL
    stored = {p: state.meta(p)["next_offset"] for p in PARTITIONS}
    committed = committed_offsets(stack, topology)
    assert all(committed[p] is None or committed[p] <= stored[p] for p in PARTITIONS), (committed, stored)

    ids = wait_for_ids(stack, topology, set(undisturbed))
    first_seen = list(dict.fromkeys(ids))
    assert first_seen == undisturbed, f"seed {SEED}\n" + "\n".join(w.log()[-3000:] for w in workers)
    letters = topic_records(stack, topology.dead_letters, idle=1.0)
    assert len({(d["partition"], d["offset"]) for d in letters}) == len(BAD_LINES)


def wait_for_ids(stack: LocalStack, topology: LiveTopology, expected: set[str], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    ids: list[str] = []
    while time.monotonic() < deadline and not expected <= set(ids):
        ids = [a["id"] for a in topic_records(stack, topology.alerts, idle=1.0, schema=ALERT)]
    return ids


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.resume()
            worker.kill()


def test_kill_9_at_random_points_then_restart(local_stack: LocalStack, tmp_path: Path, events_file: Path,
                                              undisturbed_ids: list[str], workers: list[Worker]) -> None:
    rng = random.Random(SEED)
    topology = fresh_topology(local_stack, tmp_path)
    state = State(local_stack.redis_url, topology.app)
    feed = Feed(local_stack, topology.source, events_file)
    for threshold in sorted(rng.sample(range(1500, GOOD - 3000), 2)):
        workers.append(worker := Worker(local_stack, topology, tmp_path))
        state.wait_folded(threshold, workers)
        worker.kill()
    workers.append(Worker(local_stack, topology, tmp_path))
    feed.join()
    state.wait_done(workers)
    assert_exactly_once(local_stack, topology, state, undisturbed_ids, workers)


def two_workers(stack: LocalStack, topology: LiveTopology, state: State, log_dir: Path,
                workers: list[Worker]) -> tuple[Worker, Worker]:
    """Two workers in the topology's group, once the source partitions are split between them."""
    workers.extend([Worker(stack, topology, log_dir), Worker(stack, topology, log_dir)])
    first, second = workers[-2:]
    state.wait(lambda: bool(first.partitions()) and bool(second.partitions())
               and first.partitions() | second.partitions() == set(PARTITIONS), "partitions split over both workers",
               60, workers)
    return first, second


def test_two_workers_one_killed_and_its_partitions_taken_over(
        local_stack: LocalStack, tmp_path: Path, events_file: Path, undisturbed_ids: list[str],
        workers: list[Worker]) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    state = State(local_stack.redis_url, topology.app)
    first, second = two_workers(local_stack, topology, state, tmp_path, workers)
    feed = Feed(local_stack, topology.source, events_file)
    state.wait_folded(random.Random(SEED).randrange(2000, 6000), workers)
    first.kill()
    feed.join()
    state.wait_done(workers)
    assert second.partitions() == set(PARTITIONS)
    assert_exactly_once(local_stack, topology, state, undisturbed_ids, workers)


def test_scaling_from_one_worker_to_two_and_back(local_stack: LocalStack, tmp_path: Path, events_file: Path,
                                                 undisturbed_ids: list[str], workers: list[Worker]) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    state = State(local_stack.redis_url, topology.app)
    workers.append(first := Worker(local_stack, topology, tmp_path))
    feed = Feed(local_stack, topology.source, events_file, rate=RATE / 4)   # about 23 s: time to join and leave
    state.wait_folded(2000, workers)
    workers.append(second := Worker(local_stack, topology, tmp_path))
    state.wait(lambda: bool(second.partitions()), "the second worker owns a partition", 60, workers)
    state.wait_folded(state.total("folded") + 2000, workers)
    assert second.stop() < 15
    feed.join()
    state.wait_done(workers)
    # its /status answers within 2 s or counts as owning nothing: asked until it does, on a loaded machine
    state.wait(lambda: first.partitions() == set(PARTITIONS), "the first worker owns every partition again", 30,
               workers)
    assert_exactly_once(local_stack, topology, state, undisturbed_ids, workers)


def test_a_paused_worker_resumed_after_takeover_is_fenced_out(
        local_stack: LocalStack, tmp_path: Path, events_file: Path, undisturbed_ids: list[str],
        workers: list[Worker]) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    state = State(local_stack.redis_url, topology.app)
    first, second = two_workers(local_stack, topology, state, tmp_path, workers)
    paused = first.partitions()
    epochs = {p: state.meta(p)["epoch"] for p in paused}
    feed = Feed(local_stack, topology.source, events_file)
    state.wait_folded(3000, workers)
    first.pause()
    # the other worker claims the paused worker's partitions once its session has expired
    state.wait(lambda: all(state.meta(p)["epoch"] > epochs[p] for p in paused)
               and second.partitions() == set(PARTITIONS), "takeover of the paused worker's partitions", 60, workers)
    first.resume()
    feed.join()
    state.wait_done(workers)
    assert_exactly_once(local_stack, topology, state, undisturbed_ids, workers)


def test_redis_stopped_for_30_seconds_then_restarted(local_stack: LocalStack, tmp_path: Path, events_file: Path,
                                                     undisturbed_ids: list[str], workers: list[Worker]) -> None:
    port, data = free_port(), tmp_path / "redis-data"
    data.mkdir()
    options = ("--appendonly", "yes", "--appendfsync", "always")   # every write on disk before it is answered
    server = start_redis(port, data, *options)
    redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        topology = fresh_topology(local_stack, tmp_path)
        state = State(redis_url, topology.app)
        workers.append(worker := Worker(local_stack, topology, tmp_path, redis_url=redis_url))
        feed = Feed(local_stack, topology.source, events_file)
        state.wait_folded(4000, workers)
        server.terminate()
        server.wait(timeout=10)
        time.sleep(30)
        assert worker.process.poll() is None, worker.log()[-3000:]
        server = start_redis(port, data, *options)
        feed.join()
        state.wait_done(workers)
        assert_exactly_once(local_stack, topology, state, undisturbed_ids, workers)
        # the worker may have stored everything before the stop; its next attempt (at most 8 s after Redis
        # is back) is the one that says so
        state.wait(lambda: f"Redis at {redis_url} answers again" in worker.log(), "the worker says Redis is back",
                   15, workers)
        log = worker.log()
        assert f"Redis at {redis_url} failed" in log
        assert "consuming is paused" in log
    finally:
        server.terminate()
        server.wait(timeout=10)
