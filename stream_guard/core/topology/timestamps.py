"""Event times as sources write them (epoch seconds, epoch milliseconds or ISO-8601), as epoch ms.

Both the topology (a fixed reference's `start` and `end`) and decoding (each event's timestamp, and
`timestamp` features) read times this way.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

SECONDS_LIMIT = 100_000_000_000  # below this an epoch number is seconds (year 5138), above it ms
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: later ones are no time (epoch µs or ns?)


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
        return _in_range(int(parsed.timestamp() * 1000), value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a valid epoch time")
        return _in_range(int(value * 1000) if value < SECONDS_LIMIT else int(value), value)
    raise ValueError(f"a {type(value).__name__} is not a time")


def _in_range(ms: int, given: Any) -> int:
    if ms < 0:
        raise ValueError(f"{given!r} is before 1970, which epoch times cannot express")
    if ms > LATEST_MS:
        raise ValueError(f"{given!r} is after the year 9999 (epoch microseconds or nanoseconds are not read; "
                         "send seconds or milliseconds)")
    return ms
