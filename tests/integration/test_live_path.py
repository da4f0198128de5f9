"""The live path on the real broker and Redis: events in, exactly the expected alerts out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.cli.main import main
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack

from .live import ALERT, DIGEST, Worker, fresh_topology, jsonl_lines, topic_records, wait_for_records

pytestmark = pytest.mark.integration

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
BAD_LINES = [b"{broken", b"", b"[1, 2]", b'{"ts": "soon", "features": {}}', b"\xff\xfe not utf-8"]
EXPECTED = [  # (window, status, severity, feature, check) for windows 0..10 of the faulty scenario
    (4, "firing", "critical", "amount", "numeric_drift"),
    (4, "firing", "critical", "amount", "mean_shift"),
    (4, "firing", "warning", "amount", "outside_reference"),     # ×2.5 puts 2% beyond any value seen
    (6, "resolved", "critical", "amount", "numeric_drift"),
    (6, "resolved", "critical", "amount", "mean_shift"),
    (6, "resolved", "warning", "amount", "outside_reference"),
    (6, "firing", "critical", "age", "missing_rate"),
    (8, "resolved", "critical", "age", "missing_rate"),
    (8, "firing", "critical", "country", "categorical_drift"),
    (8, "firing", "critical", "country", "new_category"),          # 'XK' takes a quarter of the events
    (10, "resolved", "critical", "country", "categorical_drift"),
    (10, "resolved", "critical", "country", "new_category"),
]


def window_index(alert: dict[str, object]) -> int:
    from datetime import datetime
    start = datetime.fromisoformat(str(alert["window"]["start"]).replace("Z", "+00:00"))  # type: ignore[index]
    return (int(start.timestamp() * 1000) - START) // 60_000


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    """Twelve one-minute windows of the faulty scenario, with five bad records among them."""
    lines = [orjson.dumps(e) for e in scenario.stream(12, START, 1200)]
    for i, bad in enumerate(BAD_LINES):
        lines.insert(1000 + 2000 * i, bad)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_worker_turns_faulty_events_into_exactly_the_expected_alerts(
        local_stack: LocalStack, tmp_path: Path, events_file: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    kafka_io.produce(local_stack.broker_url, topology.source, jsonl_lines(events_file))
    worker = Worker(local_stack, topology, tmp_path)
    try:
        status = worker.wait_for(consumed_and_closed(12 * 1200 + len(BAD_LINES), window=10))
        alerts = wait_for_records(local_stack, topology.alerts, len(EXPECTED), schema=ALERT)
        dead = wait_for_records(local_stack, topology.dead_letters, len(BAD_LINES))
    finally:
        seconds = worker.stop()

    assert [(window_index(a), a["status"], a["severity"], a["feature"], a["check"]) for a in alerts] == EXPECTED
    assert Counter(d["reason"] for d in dead) == Counter(
        {"invalid_json": 1, "not_utf8": 1, "empty": 1, "not_an_object": 1, "invalid_timestamp": 1})
    partitions = status["monitors"]["fraud-model"]["partitions"]
    assert sum(p["folded"] for p in partitions.values()) == 12 * 1200
    assert sum(p["dead_lettered"] for p in partitions.values()) == len(BAD_LINES)
    assert sum(p["offset"] for p in partitions.values()) == 12 * 1200 + len(BAD_LINES)
    assert seconds < 15

    # parity: the same file through replay gives the same alert and digest ids, in the same order
    replayed, digests = tmp_path / "replayed.jsonl", tmp_path / "digests.jsonl"
    assert main(["replay", str(topology.path), str(events_file), "--alerts-out", str(replayed),
                 "--digests-out", str(digests), "--quiet"]) == 0
    assert [orjson.loads(line)["id"] for line in jsonl_lines(replayed)] == [a["id"] for a in alerts]
    live_digests = topic_records(local_stack, topology.alerts, idle=1.0, schema=DIGEST)
    assert [window_index(d) for d in live_digests] == [4, 5, 6, 7, 8, 9]
    assert [orjson.loads(line)["id"] for line in jsonl_lines(digests)] == [d["id"] for d in live_digests]


def test_a_restarted_worker_resumes_from_redis_without_refolding_or_realerting(
        local_stack: LocalStack, tmp_path: Path, events_file: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    lines = list(jsonl_lines(events_file))
    half = len(lines) // 2
    kafka_io.produce(local_stack.broker_url, topology.source, lines[:half])
    first = Worker(local_stack, topology, tmp_path)
    try:
        first.wait_for(consumed_and_closed(half, window=4))
    finally:
        first.stop()
    kafka_io.produce(local_stack.broker_url, topology.source, lines[half:])
    second = Worker(local_stack, topology, tmp_path)
    try:
        status = second.wait_for(consumed_and_closed(12 * 1200 + len(BAD_LINES), window=10))
    finally:
        second.stop()
    alerts = topic_records(local_stack, topology.alerts, schema=ALERT)
    partitions = status["monitors"]["fraud-model"]["partitions"]
    assert sum(p["folded"] for p in partitions.values()) == 12 * 1200
    assert sum(p["dead_lettered"] for p in partitions.values()) == len(BAD_LINES)
    assert [(window_index(a), a["status"], a["severity"], a["feature"], a["check"]) for a in alerts] == EXPECTED


def test_worker_with_unreachable_redis_names_the_url(local_stack: LocalStack, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    code = main(["worker", str(topology.path), "--broker", local_stack.broker_url,
                 "--redis", "redis://:s3cret@127.0.0.1:1/0"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("stream-guard: cannot reach Redis at redis://:***@127.0.0.1:1/0 (")
    assert "s3cret" not in err


def consumed_and_closed(records: int, window: int) -> Callable[[dict[str, Any]], bool]:
    """A /status predicate: `records` consumed over all partitions and window number `window` evaluated."""
    from stream_guard.core.alerting.alerts import iso

    def met(status: dict[str, Any]) -> bool:
        monitor = status["monitors"]["fraud-model"]
        offsets = sum(p["offset"] for p in monitor["partitions"].values())
        return offsets == records and (monitor["last_evaluated_window"] or {}).get("start") == iso(
            START + window * 60_000)

    return met
