"""Small monitors and records for unit tests."""

from __future__ import annotations

from typing import Any

import orjson

from stream_guard.core.config import MonitorSpec
from stream_guard.core.events import RawRecord


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
