"""Dead letters as the worker publishes them: always small enough for one Kafka message."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.topology.file import load_topology
from stream_guard.runtime.app import DEAD_LETTER_MAX_BYTES, KafkaPublisher

from .test_topology_file import REPO


class RecordingTopic:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append(value)


class AppWithRecordingTopics:
    def __init__(self) -> None:
        self.topics: dict[str, RecordingTopic] = {}

    def topic(self, name: str, **_: Any) -> RecordingTopic:
        return self.topics.setdefault(name, RecordingTopic())


def publish(payload: bytes) -> dict[str, Any]:
    topology = load_topology(REPO / "topologies" / "demo.yaml")
    app = AppWithRecordingTopics()
    letter = DeadLetter(RawRecord(payload, 0, 7, "src"), "invalid_json", "not valid JSON", "fraud-model")
    asyncio.run(KafkaPublisher(app, topology).dead_letters([letter]))  # type: ignore[arg-type]
    [sent] = app.topics[topology.alerts.dead_letter_topic].sent
    assert len(sent) <= DEAD_LETTER_MAX_BYTES
    return orjson.loads(sent)  # type: ignore[no-any-return]


def test_a_dead_letter_carries_its_whole_payload_when_it_fits() -> None:
    letter = publish(b"{" * 200_000)
    assert letter["payload"] == "{" * 200_000 and "truncated" not in letter


def test_a_payload_that_outgrows_the_limit_once_escaped_is_cut_short() -> None:
    letter = publish(b"\x00" * 200_000)   # 6 bytes each once escaped as \u0000
    assert (letter["payload"], letter["truncated"], letter["payload_size"]) == ("\x00" * 4096, True, 200_000)
