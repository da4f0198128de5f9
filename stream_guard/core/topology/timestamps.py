"""Event times as sources write them (epoch seconds, epoch milliseconds or ISO-8601), as epoch ms.

Both the topology (a fixed reference's `start` and `end`) and decoding (each event's timestamp, and
`timestamp` features) read times this way. A number is epoch seconds below `SECONDS_LIMIT`, else
epoch milliseconds. Text is read as:

- ASCII digits with an optional fraction (`1796468735`, `1796468735.25`): epoch seconds or ms, as a
  number; except exactly 8 digits, which are an ISO basic date (`20261205`), since as epoch seconds
  they would be 1970. Signs, exponents, spaces, `_` and other scripts' digits are no time.
- ISO-8601 as Python's `datetime.fromisoformat` reads it (`2026-12-05T11:05:35Z`, offsets, fractions,
  basic `20261205T110535Z`, week dates), with `T`, `t` or a space between date and time and `Z` or
  `z` for UTC (RFC 3339); no time zone means UTC. Ordinal dates (`2026-339`) are not read.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

SECONDS_LIMIT = 100_000_000_000  # below this an epoch number is seconds (year 5138), above it ms
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: later ones are no time (epoch µs or ns?)
_DATE_CHARS = "0123456789-W"     # what an ISO date is written with, up to the date-time separator
_SEPARATORS = ("", "T", "t", " ")
_EXPECTED = ("epoch seconds or milliseconds (ASCII digits, optionally with a fraction) nor an ISO-8601 "
             "time such as 2026-12-05T11:05:35Z")


def parse_event_time(value: Any) -> int:
    """Epoch seconds, epoch milliseconds or ISO-8601 to epoch ms; ValueError when it is none of them.

    >>> parse_event_time(1700000000), parse_event_time(1700000000123)
    (1700000000000, 1700000000123)
    >>> parse_event_time("2023-11-14T22:13:20Z"), parse_event_time("20231114")
    (1700000000000, 1699920000000)
    """
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return _epoch(value, value)
    raise ValueError(f"a {type(value).__name__} is not a time")


def _epoch(number: float, given: Any) -> int:
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{given!r} is not a valid epoch time")
    return _in_range(int(number * 1000) if number < SECONDS_LIMIT else int(number), given)


def _parse_text(text: str) -> int:
    if text.isdigit() and text.isascii():
        # YYYYMMDD when 8 digits: as epoch seconds it would be 1970
        return _parse_iso(text) if len(text) == 8 else _epoch(float(text), text)
    whole, dot, fraction = text.partition(".")
    if dot and whole.isdigit() and fraction.isdigit() and text.isascii():
        return _epoch(float(text), text)
    return _parse_iso(text)


def _parse_iso(text: str) -> int:
    if not text.isascii() or text.lstrip(_DATE_CHARS)[:1] not in _SEPARATORS:
        raise ValueError(f"{text!r} is neither {_EXPECTED}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _lowercase_utc(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _in_range(int(parsed.timestamp() * 1000), text)


def _lowercase_utc(text: str) -> datetime:
    """RFC 3339's lowercase `z` for UTC, which fromisoformat does not read."""
    try:
        if text.endswith("z"):
            return datetime.fromisoformat(text[:-1] + "Z")
    except ValueError:
        pass
    raise ValueError(f"{text!r} is neither {_EXPECTED}") from None


def _in_range(ms: int, given: Any) -> int:
    if ms < 0:
        raise ValueError(f"{given!r} is before 1970, which epoch times cannot express")
    if ms > LATEST_MS:
        raise ValueError(f"{given!r} is after the year 9999 (epoch microseconds or nanoseconds are not read; "
                         "send seconds or milliseconds)")
    return ms
