"""Freshness on the real broker and Redis: a source that goes silent raises it within its delay."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack

from .live import ALERT, Broker, LiveTopology, Worker, fresh_topology, wait_for_records

pytestmark = pytest.mark.integration

EVENTS = 90   # spread over the source's 3 partitions: every one of them hears from the source
SLACK = 3.0   # seconds: one reading per second, publishing, and the test's own polling


def events_now() -> list[bytes]:
    now = int(time.time() * 1000)
    return [orjson.dumps(e) for e in scenario.stream(1, now - now % 60_000, EVENTS, faults=False)]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def consumed(records: int) -> Any:
    def met(status: dict[str, Any]) -> bool:
        partitions = status["monitors"]["fraud-model"]["partitions"]
        return sum(p["offset"] for p in partitions.values()) == records
    return met


def quick_freshness(stack: LocalStack, directory: Path) -> LiveTopology:
    """The demo topology under fresh names, with freshness thresholds of seconds instead of minutes."""
    topology = fresh_topology(stack, directory)
    demo = "freshness:         {warning: 2m, critical: 10m}"
    text = topology.path.read_text()
    assert demo in text
    topology.path.write_text(text.replace(demo, "freshness:         {warning: 3s, critical: 6s}"))
    return topology


def test_a_source_that_goes_silent_raises_warning_then_critical_and_resolves_when_events_return(
        local_stack: LocalStack, tmp_path: Path) -> None:
    topology = quick_freshness(local_stack, tmp_path)
    kafka_io.produce(local_stack.broker_url, topology.source, events_now())
    worker = Worker(local_stack, topology, tmp_path)
    try:
        worker.wait_for(consumed(EVENTS), timeout=60)
        silent_from = time.time()   # the last record arrived before this
        fired = wait_for_records(local_stack, topology.alerts, 2, timeout=6 + 2 * SLACK, schema=ALERT)
        status = worker.status()
        kafka_io.produce(local_stack.broker_url, topology.source, events_now())
        alerts = wait_for_records(local_stack, topology.alerts, 3, timeout=15, schema=ALERT)
    finally:
        worker.stop()

    assert [(a["status"], a["severity"], a["monitor"], a["feature"], a["check"]) for a in alerts] == [
        ("firing", "warning", "fraud-model", "*", "freshness"),
        ("firing", "critical", "fraud-model", "*", "freshness"),
        ("resolved", "critical", "fraud-model", "*", "freshness"),
    ]
    warning, critical, resolved = alerts
    assert fired == [warning, critical]
    assert 3 <= warning["value"] < 6 and warning["threshold"] == 3
    assert critical["value"] >= 6 and critical["threshold"] == 6
    assert epoch(warning["emitted_at"]) - silent_from <= 3 + SLACK
    assert epoch(critical["emitted_at"]) - silent_from <= 6 + SLACK
    assert resolved["summary"].startswith("Resolved. events: ")
    assert len({a["id"] for a in alerts}) == 3
    assert status is not None
    monitor = status["monitors"]["fraud-model"]
    assert monitor["seconds_since_last_event"] >= 6 and monitor["firing"] == 1
    assert len(monitor["partitions"]) == 3
    assert all(p["seconds_since_last_event"] >= 6 for p in monitor["partitions"].values())


def test_a_worker_whose_source_never_sends_anything_still_raises_freshness(
        local_stack: LocalStack, tmp_path: Path) -> None:
    topology = quick_freshness(local_stack, tmp_path)
    worker = Worker(local_stack, topology, tmp_path)
    try:
        worker.wait_for(lambda status: status["monitors"]["fraud-model"]["seconds_since_last_event"] is not None)
        assigned_by = time.time()
        alerts = wait_for_records(local_stack, topology.alerts, 2, timeout=6 + 2 * SLACK, schema=ALERT)
    finally:
        worker.stop()

    assert [(a["status"], a["severity"], a["check"]) for a in alerts] == [
        ("firing", "warning", "freshness"), ("firing", "critical", "freshness")]
    assert alerts[0]["summary"].startswith("events: none in the 3s since ")   # the partitions' assignment
    assert alerts[0]["summary"].endswith(" assigned; reaches warning (threshold 3s).")
    assert epoch(alerts[1]["emitted_at"]) - assigned_by <= 6 + SLACK


def test_freshness_is_judged_while_the_broker_hangs(local_stack: LocalStack, tmp_path: Path) -> None:
    """A broker frozen (SIGSTOP) in the middle of a steady stream: the worker's own clock still judges
    freshness, on /status and in the log, although the alert reaches the alert topic only once the
    broker is back (offsets folded just before the freeze wait to be committed meanwhile)."""
    broker = Broker(tmp_path)
    broker.start()
    stack = replace(local_stack, broker_url=f"kafka://127.0.0.1:{broker.port}", broker_port=broker.port)
    topology = quick_freshness(stack, tmp_path)
    kafka_io.produce(stack.broker_url, topology.source, events_now())
    worker = Worker(stack, topology, tmp_path)
    stop = threading.Event()

    def steady() -> None:
        def until_stopped() -> Iterator[bytes]:
            while not stop.is_set():
                yield events_now()[0]

        with contextlib.suppress(Exception):   # the producer gives up while the broker is frozen
            kafka_io.produce(stack.broker_url, topology.source, until_stopped(), rate=200)

    feeder = threading.Thread(target=steady, daemon=True)
    try:
        worker.wait_for(consumed(EVENTS), timeout=60)
        worker.wait_for(lambda s: s["monitors"]["fraud-model"]["evaluating"], timeout=30)
        feeder.start()
        worker.wait_for(consumed_more_than(EVENTS + 200), timeout=30)
        broker.pause()
        frozen_at = time.time()
        status = worker.wait_for(lambda s: s["monitors"]["fraud-model"]["firing"] >= 1, timeout=6 + 2 * SLACK)
        judged_after = time.time() - frozen_at
    finally:
        stop.set()
        broker.resume()
        feeder.join(timeout=30)
        worker.stop()
        broker.kill()
    assert judged_after <= 6 + 2 * SLACK and status["monitors"]["fraud-model"]["firing"] == 1
    assert "freshness firing" in worker.log()


def consumed_more_than(records: int) -> Any:
    def met(status: dict[str, Any]) -> bool:
        return sum(p["offset"] for p in status["monitors"]["fraud-model"]["partitions"].values()) > records
    return met
