"""Small monitors and records for unit tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from stream_guard.core.decoding.records import DecodedBatch, RawRecord
from stream_guard.core.topology.monitor import MonitorSpec


def monitor(**overrides: Any) -> MonitorSpec:
    spec: dict[str, Any] = {
        "name": "m",
        "source": {"topic": "t", "timestamp": "ts"},
        "window": {"size": "1m", "grace": "5s"},
        "reference": {"kind": "rolling", "windows": 3, "min_windows": 2},
        "min_samples": 10,
        "features": {
            "x": {"type": "numeric", "field": "f.x", "min": 0},
            "c": {"type": "categorical", "field": "f.c"},
        },
    }
    spec.update(overrides)
    return MonitorSpec.model_validate(spec)


def record(event: Any, offset: int = 0, partition: int = 0) -> RawRecord:
    value = event if isinstance(event, bytes) else orjson.dumps(event)
    return RawRecord(value, partition, offset, "t")


def records(events: list[Any], partition: int = 0, first_offset: int = 0) -> list[RawRecord]:
    return [record(e, first_offset + i, partition) for i, e in enumerate(events)]


def assert_same_batches(first: DecodedBatch, second: DecodedBatch) -> None:
    """Two decodings of the same records agree on everything a fold and its dead letters use."""
    np.testing.assert_array_equal(first.times, second.times)
    assert (first.records, first.indexes, first.consumed, first.segments) == (
        second.records, second.indexes, second.consumed, second.segments)
    assert [(d.record, d.reason, d.message, d.index) for d in first.dead_letters] == [
        (d.record, d.reason, d.message, d.index) for d in second.dead_letters]
    assert first.unknown.keys() == second.unknown.keys()
    for name, mask in first.unknown.items():
        np.testing.assert_array_equal(mask, second.unknown[name])
    assert first.columns.keys() == second.columns.keys()
    for name, column in first.columns.items():
        other = second.columns[name]
        assert (column.kind, column.labels, column.raw) == (other.kind, other.labels, other.raw)
        for part in ("status", "numbers", "violations"):
            np.testing.assert_array_equal(getattr(column, part), getattr(other, part))
