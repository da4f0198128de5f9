"""Bad input on the real broker: every bad record reaches the dead-letter topic with its reason, the
worker stays up, and each partition's counts balance in `/status` and in the worker's log."""

from __future__ import annotations

import base64
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stream_guard.adapters import kafka_io
from stream_guard.runtime.local_stack import LocalStack

from ..bad_input import MixedStream, mixed_stream, topology_text
from .live import Worker, fresh_topology, wait_for_records

pytestmark = pytest.mark.integration


def produce_with_a_tombstone(broker_url: str, topic: str, stream: MixedStream) -> int:
    """The stream's lines as raw message values, with a tombstone (a key and no value) half-way."""
    client = kafka_io.producer(broker_url)
    half = len(stream.lines) // 2
    try:
        for line in stream.lines[:half]:
            client.send(topic, line)
        client.send(topic, key=b"deleted-entity", value=None)
        for line in stream.lines[half:]:
            client.send(topic, line)
        client.flush()
    finally:
        client.close()
    return len(stream.lines) + 1


def payload_of(letter: dict[str, Any]) -> bytes:
    if "payload_base64" in letter:
        return base64.b64decode(letter["payload_base64"])
    return str(letter["payload"]).encode()


def consumed(status: dict[str, Any]) -> int:
    return sum(p["consumed"] for p in status["monitors"]["fraud-model"]["partitions"].values())


def test_every_bad_record_is_dead_lettered_with_its_reason_and_the_worker_stays_up(
        local_stack: LocalStack, tmp_path: Path) -> None:
    stream = mixed_stream()
    topology = fresh_topology(local_stack, tmp_path)
    topology.path.write_text(topology_text(topology.path.read_text()))
    sent = produce_with_a_tombstone(local_stack.broker_url, topology.source, stream)
    expected = stream.dead + Counter({"empty": 1})
    worker = Worker(local_stack, topology, tmp_path)
    try:
        status = worker.wait_for(lambda s: consumed(s) == sent)
        dead = wait_for_records(local_stack, topology.dead_letters, sum(expected.values()))
        status = worker.wait_for(lambda s: True)   # still up, still answering, after all of it
    finally:
        worker.stop()

    assert len(dead) == sum(expected.values())
    assert Counter(letter["reason"] for letter in dead) == expected
    assert all(stream.reasons[payload_of(letter)] == letter["reason"] for letter in dead)
    partitions = status["monitors"]["fraud-model"]["partitions"]
    for counts in partitions.values():
        assert counts["folded"] + counts["dead_lettered"] + counts["filtered"] == counts["consumed"]
        assert counts["consumed"] == counts["offset"]   # one event per message, from offset 0
        assert sum(counts["dead_lettered_by_reason"].values()) == counts["dead_lettered"]
    assert sum(p["folded"] for p in partitions.values()) == stream.good
    assert sum((Counter(p["dead_lettered_by_reason"]) for p in partitions.values()), Counter()) == expected

    logged = {int(m[1]): (int(m[2].replace(",", "")), int(m[3].replace(",", "")))
              for m in re.finditer(r"fraud-model: partition (\d+): consumed ([\d,]+) = folded [\d,]+ "
                                   r"\+ dead-lettered ([\d,]+)", worker.log())}
    assert {p: (c["consumed"], c["dead_lettered"]) for p, c in partitions.items()} == {
        str(p): counts for p, counts in logged.items()}
