"""Raw records in, columns out: one decode per batch, bad records become dead letters with a reason.

A record is `RawRecord(value, partition, offset)`; decoding a batch gives the event times, one column
per feature, and the dead letters. Per-value problems (a string where a number belongs) are counted
in the feature's profile, not dead-lettered: the rest of the event is still good.
"""

from __future__ import annotations

import base64
import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from stream_guard.core.columns import (
    INVALID,
    MISSING,
    VALID,
    FeatureColumn,
    FieldReader,
    categorical_column,
    numeric_column,
)
from stream_guard.core.config import MonitorSpec

__all__ = ["INVALID", "MISSING", "VALID", "BatchDecoder", "DeadLetter", "DecodedBatch", "FeatureColumn",
           "RawRecord", "event_times", "parse_event_time"]
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
    index: int | None = None   # position of the event inside a batched message

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
            **({"index": self.index} if self.index is not None else {}),
            "reason": self.reason,
            "message": self.message,
            **text,
        }


@dataclass
class DecodedBatch:
    times: np.ndarray                       # int64 event times in ms, one per good event
    columns: dict[str, FeatureColumn]
    records: list[RawRecord] = field(default_factory=list)   # the good events' records, aligned with times
    dead_letters: list[DeadLetter] = field(default_factory=list)
    indexes: list[int | None] = field(default_factory=list)  # each good event's place in a batched message

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
    """Decodes batches for one monitor: parse every payload, then build each column in one pass."""

    def __init__(self, monitor: MonitorSpec) -> None:
        self.monitor = monitor
        self._format = monitor.source.format
        self._time_path = tuple(monitor.source.timestamp.split("."))
        self._features = [(name, spec, tuple((spec.field or name).split(".")))
                          for name, spec in monitor.all_features().items()]

    def decode(self, records: Sequence[RawRecord]) -> DecodedBatch:
        # Parsing allocates a dict per event and the cyclic collector would scan them again and
        # again (measured: it halves orjson's rate); they hold no cycles, so pause it meanwhile.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._decode(records)
        finally:
            if collecting:
                gc.enable()

    def _decode(self, records: Sequence[RawRecord]) -> DecodedBatch:
        events: list[dict[str, Any]] = []
        origins: list[tuple[RawRecord, int | None]] = []
        dead: list[DeadLetter] = []
        if self._format == "json":
            self._parse_messages(records, events, origins, dead)
        else:
            for record in records:
                self._parse(record, events, origins, dead)
        times, problems = event_times(FieldReader(events).values(self._time_path))
        if problems:
            bad = set(problems)
            dead.extend(self._dead(*origins[i], *problems[i]) for i in sorted(bad))
            events = [e for i, e in enumerate(events) if i not in bad]
            origins = [o for i, o in enumerate(origins) if i not in bad]
            times = np.delete(times, sorted(bad))
            dead.sort(key=lambda d: (d.record.partition, d.record.offset, d.index or 0))
        reader = FieldReader(events)
        columns = {name: (numeric_column if spec.type == "numeric" else categorical_column)(reader.values(path))
                   for name, spec, path in self._features}
        return DecodedBatch(times, columns, [r for r, _ in origins], dead, [i for _, i in origins])

    def _parse_messages(self, records: Sequence[RawRecord], events: list[dict[str, Any]],
                        origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter]) -> None:
        """The per-message hot loop: one event per record, as little Python as possible per event."""
        loads, add_event, add_origin = orjson.loads, events.append, origins.append
        for record in records:
            try:
                payload = loads(record.value)  # type: ignore[arg-type]
            except orjson.JSONDecodeError as exc:
                reason = "invalid_json" if record.value else "empty"
                dead.append(self._dead(record, None, reason, _empty_or_json_message(record.value, exc)))
                continue
            except TypeError:  # a tombstone: no value at all
                dead.append(self._dead(record, None, "empty", _EMPTY_MESSAGE))
                continue
            if type(payload) is dict:
                add_event(payload)
                add_origin((record, None))
            else:
                dead.append(self._dead(record, None, "not_an_object", f"expected a JSON object, got {_kind(payload)}"))

    def _parse(self, record: RawRecord, events: list[dict[str, Any]],
               origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter]) -> None:
        if not record.value:
            dead.append(self._dead(record, None, "empty", _EMPTY_MESSAGE))
            return
        if self._format == "ndjson":
            items: list[Any] = []
            for line in record.value.split(b"\n"):
                if line.strip():
                    items.append(_loads_or_error(line))
            self._collect(record, items, events, origins, dead, indexed=True)
            return
        payload = _loads_or_error(record.value)
        if self._format == "json_array" and isinstance(payload, list):
            self._collect(record, payload, events, origins, dead, indexed=True)
        elif self._format == "json_array" and not isinstance(payload, _JsonError):
            dead.append(self._dead(record, None, "not_an_array",
                                   f"a batched source expects a JSON array, got {_kind(payload)}"))
        else:
            self._collect(record, [payload], events, origins, dead, indexed=False)

    def _collect(self, record: RawRecord, items: list[Any], events: list[dict[str, Any]],
                 origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter], indexed: bool) -> None:
        if items and set(map(type, items)) == {dict}:   # the usual case: no per-item checks
            events.extend(items)
            origins.extend(zip(repeat(record), range(len(items)) if indexed else repeat(None, len(items))))
            return
        for i, item in enumerate(items):
            index = i if indexed else None
            if isinstance(item, dict):
                events.append(item)
                origins.append((record, index))
            elif isinstance(item, _JsonError):
                dead.append(self._dead(record, index, "invalid_json", f"not valid JSON: {item.message}"))
            else:
                dead.append(self._dead(record, index, "not_an_object", f"expected a JSON object, got {_kind(item)}"))

    def _dead(self, record: RawRecord, index: int | None, reason: str, message: str) -> DeadLetter:
        return DeadLetter(record, reason, message, self.monitor.name, index)


_EMPTY_MESSAGE = "the message has no payload (tombstone or empty)"


def _empty_or_json_message(value: bytes | None, exc: Exception) -> str:
    return _EMPTY_MESSAGE if not value else f"not valid JSON: {exc}"


@dataclass(frozen=True)
class _JsonError:
    message: str


def _loads_or_error(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return _JsonError(str(exc))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def event_times(values: list[Any]) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    """Event times in ms for each value, and (reason, message) for the values that are no time."""
    if values and set(map(type, values)) <= {int, float}:
        raw = np.array(values, dtype=np.float64)
        if np.isfinite(raw).all() and (raw >= 0).all():
            return np.where(raw < _SECONDS_LIMIT, raw * 1000, raw).astype(np.int64), {}
    times = np.zeros(len(values), dtype=np.int64)
    problems: dict[int, tuple[str, str]] = {}
    for i, value in enumerate(values):
        if value is None:
            problems[i] = ("missing_timestamp", "the event has no timestamp (absent or null)")
            continue
        try:
            times[i] = parse_event_time(value)
        except ValueError as exc:
            problems[i] = ("invalid_timestamp", str(exc))
    return times, problems
