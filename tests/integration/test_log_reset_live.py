"""A broker that loses its log while Redis keeps the state (a restart with memory storage): the new
log is folded from its start, not skipped below the stored offsets, and a `log_reset` alert fires."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack, create_topics

from .live import ALERT, Broker, Worker, fresh_topology, wait_for_records

pytestmark = pytest.mark.integration

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
PER_WINDOW = 600


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.kill()


def lines(windows: range) -> list[bytes]:
    return [orjson.dumps(e) for w in windows
            for e in scenario.window_events(w, START, PER_WINDOW, faults=False)]


def test_a_broker_that_lost_its_log_has_the_new_log_folded_from_its_start(
        local_stack: LocalStack, broker: Broker, tmp_path: Path) -> None:
    stack = replace(local_stack, broker_url=f"kafka://127.0.0.1:{broker.port}", broker_port=broker.port)
    topology = fresh_topology(stack, tmp_path)
    before, after = lines(range(0, 4)), lines(range(4, 8))
    kafka_io.produce(stack.broker_url, topology.source, iter(before))
    worker = Worker(stack, topology, tmp_path)
    try:
        worker.wait_for(lambda s: total(s, "consumed") == len(before))
        broker.kill()                       # the log, the topics and the committed offsets are gone
        broker.start()
        create_topics(stack.bootstrap(), {topology.source: 3, topology.alerts: 1, topology.dead_letters: 1})
        kafka_io.produce(stack.broker_url, topology.source, iter(after[:30]))   # traffic resumes
        worker.wait_for(lambda s: total(s, "log_resets") >= 1, timeout=120)
        kafka_io.produce(stack.broker_url, topology.source, iter(after[30:]))
        status = worker.wait_for(lambda s: total(s, "consumed") == len(before) + len(after), timeout=120)
        resets = total(status, "log_resets")
        alerts = wait_for_records(stack, topology.alerts, 1, schema=ALERT, timeout=60)
    finally:
        worker.stop()
    assert total(status, "folded") == len(before) + len(after) - total(status, "dead_lettered")
    assert resets == sum(1 for p in status["monitors"]["fraud-model"]["partitions"].values() if p["log_resets"])
    assert [(a["check"], a["severity"], a["status"]) for a in alerts if a["check"] == "log_reset"][:1] == [
        ("log_reset", "critical", "firing")]
    assert "the log restarted or was truncated" in worker.log()


def total(status: dict[str, object], key: str) -> int:
    partitions = status["monitors"]["fraud-model"]["partitions"]  # type: ignore[index]
    return sum(int(p[key]) for p in partitions.values())  # type: ignore[union-attr]
