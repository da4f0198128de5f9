"""Durations written the way people write them (`500ms`, `30s`, `5m`, `1h`, `1d`) as integer milliseconds.

>>> parse_duration("1m")
60000
>>> parse_duration("1h30m")
5400000
>>> format_duration(90_000)
'1m30s'
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def parse_duration(text: str | int) -> int:
    """Parse `30s`, `5m`, `1h30m`... into milliseconds; a bare integer is taken as milliseconds."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return text
    compact = str(text).strip().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration; write it like 500ms, 30s, 5m, 1h or 1d")
    return sum(int(n) * _UNIT_MS[u] for n, u in parts)


def format_duration(ms: int) -> str:
    """The shortest spelling of `ms` in the units `parse_duration` reads."""
    if ms == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNIT_MS[unit]
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


Duration = Annotated[int, BeforeValidator(parse_duration)]
