"""Raw records in, columns out: one decode per batch, bad records become dead letters with a reason.

A record is `RawRecord(value, partition, offset)`; decoding a batch gives the event times, one column
per feature, and the dead letters. Per-value problems (a string where a number belongs) are counted
in the feature's profile, not dead-lettered: the rest of the event is still good.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from stream_guard.core.config import FeatureSpec, MonitorSpec

VALID, MISSING, INVALID = 0, 1, 2
_SECONDS_LIMIT = 100_000_000_000  # below this an epoch number is seconds (year 5138), above it ms


@dataclass(frozen=True)
class RawRecord:
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

    def to_json(self) -> dict[str, Any]:
        payload = self.record.value or b""
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
            "reason": self.reason,
            "message": self.message,
            **text,
        }


@dataclass
class FeatureColumn:
    """One feature over the good events of a batch: values plus VALID / MISSING / INVALID status."""

    kind: str
    status: np.ndarray
    numbers: np.ndarray | None = None
    labels: list[str | None] | None = None


@dataclass
class DecodedBatch:
    times: np.ndarray                       # int64 event times in ms, one per good event
    columns: dict[str, FeatureColumn]
    records: list[RawRecord] = field(default_factory=list)   # the good records, aligned with times
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)


def parse_event_time(value: Any) -> int:
    """Epoch seconds, epoch milliseconds or ISO-8601 to epoch ms; ValueError when it is none of them.

    >>> parse_event_time(1700000000), parse_event_time(1700000000123)
    (1700000000000, 1700000000123)
    >>> parse_event_time("2023-11-14T22:13:20Z")
    1700000000000
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, str):
        try:
            return parse_event_time(float(value))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is neither epoch seconds, epoch ms nor ISO-8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a valid epoch time")
        return int(value * 1000) if value < _SECONDS_LIMIT else int(value)
    raise ValueError(f"a {type(value).__name__} is not a time")


class BatchDecoder:
    """Decodes batches for one monitor; field paths are split once, not per event."""

    def __init__(self, monitor: MonitorSpec) -> None:
        self.monitor = monitor
        self._time_path = tuple(monitor.source.timestamp.split("."))
        self._features = {
            name: (spec, tuple((spec.field or name).split(".")))
            for name, spec in monitor.all_features().items()
        }

    def decode(self, records: Sequence[RawRecord]) -> DecodedBatch:
        times: list[int] = []
        good: list[RawRecord] = []
        raw: dict[str, list[Any]] = {name: [] for name in self._features}
        dead: list[DeadLetter] = []
        for record in records:
            event = self._event_or_dead_letter(record, dead)
            if event is None:
                continue
            try:
                times.append(parse_event_time(_lookup(event, self._time_path)))
            except KeyError:
                dead.append(self._dead(record, "missing_timestamp", f"no {self.monitor.source.timestamp!r} field"))
                continue
            except ValueError as exc:
                dead.append(self._dead(record, "invalid_timestamp", str(exc)))
                continue
            good.append(record)
            for name, (_, path) in self._features.items():
                raw[name].append(_lookup(event, path, default=None))
        columns = {name: _column(spec, raw[name]) for name, (spec, _) in self._features.items()}
        return DecodedBatch(np.asarray(times, dtype=np.int64), columns, good, dead)

    def _event_or_dead_letter(self, record: RawRecord, dead: list[DeadLetter]) -> dict[str, Any] | None:
        if not record.value:
            dead.append(self._dead(record, "empty", "the message has no payload (tombstone or empty)"))
            return None
        try:
            event = orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            dead.append(self._dead(record, "invalid_json", f"not valid JSON: {exc}"))
            return None
        if not isinstance(event, dict):
            dead.append(self._dead(record, "not_an_object", f"expected a JSON object, got {type(event).__name__}"))
            return None
        return event

    def _dead(self, record: RawRecord, reason: str, message: str) -> DeadLetter:
        return DeadLetter(record, reason, message, self.monitor.name)


_ABSENT = object()


def _lookup(event: dict[str, Any], path: tuple[str, ...], default: Any = _ABSENT) -> Any:
    node: Any = event
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif default is _ABSENT:
            raise KeyError(part)
        else:
            return default
    return node


def _column(spec: FeatureSpec, values: list[Any]) -> FeatureColumn:
    if spec.type == "numeric":
        return _numeric_column(values)
    return _categorical_column(values)


def _numeric_column(values: list[Any]) -> FeatureColumn:
    numbers = np.full(len(values), np.nan)
    status = np.full(len(values), INVALID, dtype=np.int8)
    for i, v in enumerate(values):
        if v is None:
            status[i] = MISSING
        elif (type(v) is float or type(v) is int) and math.isfinite(v):  # orjson ints fit 64 bits
            numbers[i] = v
            status[i] = VALID
    return FeatureColumn("numeric", status, numbers=numbers)


def _categorical_column(values: list[Any]) -> FeatureColumn:
    labels: list[str | None] = []
    status = np.full(len(values), VALID, dtype=np.int8)
    for i, v in enumerate(values):
        if type(v) is str:
            labels.append(v)
        elif v is None:
            labels.append(None)
            status[i] = MISSING
        elif isinstance(v, bool):
            labels.append("true" if v else "false")
        elif isinstance(v, (int, float)):
            labels.append(str(v))
        else:
            labels.append(None)
            status[i] = INVALID
    return FeatureColumn("categorical", status, labels=labels)
