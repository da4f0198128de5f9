"""What decoding takes and gives: a raw Kafka record, a dead letter (a record that could not be used,
with its reason) and a decoded batch (event times and one column per feature)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from stream_guard.core.decoding.columns import FeatureColumn

PAYLOAD_LIMIT = 256 * 1024        # a dead letter carries at most this much payload whole...
PAYLOAD_PREFIX = 4096             # ...and only this much of a longer one


class RawRecord(NamedTuple):
    """One Kafka record as the core sees it (a tuple: a third of a frozen dataclass's cost to make,
    and the per-message path makes one per message)."""

    value: bytes | None
    partition: int = 0
    offset: int = 0
    topic: str = ""


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be used, with a machine reason code and a human message."""

    record: RawRecord
    reason: str
    message: str
    monitor: str
    index: int | None = None   # position of the event inside a batched message

    def to_json(self, payload_limit: int = PAYLOAD_LIMIT) -> dict[str, Any]:
        """The `stream_guard.dead_letter/v1` record; a payload longer than `payload_limit` is cut short.

        A cut payload keeps its first `PAYLOAD_PREFIX` bytes and says so (`truncated`, `payload_size`),
        so a dead letter always fits in a Kafka message even when its record did not.
        """
        payload = self.record.value or b""
        cut: dict[str, Any] = {}
        if len(payload) > payload_limit:
            cut = {"truncated": True, "payload_size": len(payload)}
            payload = payload[:min(PAYLOAD_PREFIX, payload_limit)]
        try:
            text: dict[str, Any] = {"payload": payload.decode("utf-8")}
        except UnicodeDecodeError:
            text = {"payload_base64": base64.b64encode(payload).decode("ascii")}
        return {
            "schema": "stream_guard.dead_letter/v1",
            "monitor": self.monitor,
            "topic": self.record.topic,
            "partition": self.record.partition,
            "offset": self.record.offset,
            **({"index": self.index} if self.index is not None else {}),
            "reason": self.reason,
            "message": self.message,
            **text,
            **cut,
        }


@dataclass
class DecodedBatch:
    times: np.ndarray                       # int64 event times in ms, one per good event
    columns: dict[str, FeatureColumn]
    records: list[RawRecord] = field(default_factory=list)   # the good events' records, aligned with times
    dead_letters: list[DeadLetter] = field(default_factory=list)
    indexes: list[int | None] = field(default_factory=list)  # each good event's place in a batched message
    consumed: int = 0   # events read: one per message, or per element or line of a batched message
    unknown: dict[str, np.ndarray] = field(default_factory=dict)  # undeclared field -> events carrying it
    segments: list[str] | None = None   # each event's segment (`country=DE`), when the monitor has segment_by

    def __len__(self) -> int:
        return len(self.times)
