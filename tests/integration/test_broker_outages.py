"""What a paused (SIGSTOP) or dead broker does to `produce` and to a worker: nothing duplicated or
silently lost, a few clear lines in the log rather than thousands, and a stop that stays short.

Each test runs a broker of its own (beside the session's Redis), since it pauses or kills it.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack, create_topics, free_port, start_broker

from .live import Worker, fresh_topology, topic_records

pytestmark = pytest.mark.integration
START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000


class OwnBroker:
    """A broker for one test, to pause (SIGSTOP), resume and kill; `stack` pairs it with the session's Redis."""

    def __init__(self, session: LocalStack, workdir: Path) -> None:
        port = free_port()
        self.process = start_broker(port, workdir)
        self.stack = LocalStack(f"kafka://127.0.0.1:{port}", session.redis_url, port, session.redis_port, workdir)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()
        self.resume()
        self.process.wait()


@pytest.fixture
def broker(local_stack: LocalStack, tmp_path: Path) -> Iterator[OwnBroker]:
    own = OwnBroker(local_stack, tmp_path)
    yield own
    if own.process.poll() is None:
        own.kill()


def test_produce_through_a_broker_stall_duplicates_nothing_and_counts_only_what_was_acknowledged(
        broker: OwnBroker) -> None:
    create_topics(broker.stack.bootstrap(), {"stalled": 1})
    payloads = [b'{"n": %d}' % i for i in range(3000)]
    result: list[kafka_io.Delivery] = []
    feed = threading.Thread(target=lambda: result.append(kafka_io.produce(
        broker.stack.broker_url, "stalled", payloads, rate=1000, request_timeout_ms=2000)))
    feed.start()
    time.sleep(0.5)
    broker.pause()   # longer than the request timeout: the requests in flight time out
    time.sleep(5)
    broker.resume()
    feed.join(timeout=30)
    on_topic = [r["n"] for r in topic_records(broker.stack, "stalled", idle=2.0)]
    delivery = result[0]
    assert len(on_topic) == len(set(on_topic)), f"{len(on_topic) - len(set(on_topic))} duplicated"
    assert delivery.acknowledged + delivery.failed == len(payloads)
    assert delivery.acknowledged <= len(on_topic) <= len(payloads)


def start_worker(broker: OwnBroker, tmp_path: Path, folded: int = 0) -> Worker:
    """A worker of a fresh topology on the test's broker, once it owns all 3 partitions (and has folded
    `folded` events of the scenario, produced first)."""
    topology = fresh_topology(broker.stack, tmp_path)
    worker = Worker(broker.stack, topology, tmp_path)
    worker.wait_for(lambda s: sum(len(m["partitions"]) for m in s["monitors"].values()) == 3)
    if folded:
        events = [orjson.dumps(e) for e in scenario.stream(folded // 1200 + 1, START, 1200)][:folded]
        kafka_io.produce(broker.stack.broker_url, topology.source, events)
        worker.wait_for(lambda s: sum(p["folded"] for m in s["monitors"].values()
                                      for p in m["partitions"].values()) == folded)
    return worker


def lines_since(worker: Worker, start: int) -> list[str]:
    return worker.log().splitlines()[start:]


def test_a_paused_broker_is_named_once_when_it_stops_answering_and_once_when_it_is_back(
        broker: OwnBroker, tmp_path: Path) -> None:
    worker = start_worker(broker, tmp_path)
    try:
        before = len(worker.log().splitlines())
        broker.pause()
        time.sleep(8)
        broker.resume()
        deadline = time.monotonic() + 10
        while "answers again" not in worker.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        lines = lines_since(worker, before)
        url = broker.stack.broker_url
        assert len([line for line in lines if f"Kafka broker at {url} is unreachable" in line]) == 1, "\n".join(lines)
        assert len([line for line in lines if f"Kafka broker at {url} answers again after" in line]) == 1
        assert len(lines) <= 20, "\n".join(lines)
    finally:
        worker.kill()


@pytest.mark.parametrize("outage", ["paused", "dead"])
def test_sigterm_while_the_broker_is_away_stops_the_worker_within_15_seconds_in_a_few_clear_lines(
        broker: OwnBroker, tmp_path: Path, outage: str) -> None:
    worker = start_worker(broker, tmp_path, folded=2400)
    try:
        before = len(worker.log().splitlines())
        broker.pause() if outage == "paused" else broker.kill()
        time.sleep(6)
        during = lines_since(worker, before)
        took = worker.stop(timeout=30)
    finally:
        if worker.process.poll() is None:
            worker.kill()
    lines = lines_since(worker, before)
    assert took < 15, f"{took:.1f}s\n" + "\n".join(lines[-60:])
    # the Kafka client's connection errors are summarised (a dead broker made ~70 lines a second)
    assert len(during) <= 25, "\n".join(during)
    # a traceback printed to stderr became one WARNING line per token ("^", ".", "CancelledError")
    tokens = [line for line in lines if re.search(r"\[WARNING\] \S{0,20} ?$", line)]
    assert not tokens, "\n".join(lines)
    assert len(lines) <= len(during) + 60, "\n".join(lines)
