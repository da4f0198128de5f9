"""Each event's time, read from its timestamp field for a whole batch at once; an event without one,
or with one that is no time, gets the reason it is dead-lettered (`missing_timestamp`,
`invalid_timestamp`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_guard.core.topology.timestamps import LATEST_MS, SECONDS_LIMIT, parse_event_time


def event_times(values: list[Any]) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    """Event times in ms for each value, and (reason, message) for the values that are no time."""
    if values and set(map(type, values)) <= {int, float}:
        raw = np.array(values, dtype=np.float64)
        if np.isfinite(raw).all() and (raw >= 0).all() and (raw <= LATEST_MS).all():
            return np.where(raw < SECONDS_LIMIT, raw * 1000, raw).astype(np.int64), {}
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
