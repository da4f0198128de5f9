"""Tumbling event-time windows in integer milliseconds; windows are half-open `[start, start + size)`.

    time ──►  |  w0  |  w1  |  w2  |
                     ^ w0 closes once the watermark reaches w0.end + grace

>>> window_start(125_000, 60_000)
120000
>>> closed_before(watermark=185_000, size=60_000, grace=5_000)   # [120s, 180s) closed at 185s
180000
>>> closed_before(watermark=184_999, size=60_000, grace=5_000)
120000
"""

from __future__ import annotations

import numpy as np


def window_start(time_ms: int, size: int) -> int:
    return time_ms - time_ms % size


def window_starts(times: np.ndarray, size: int) -> np.ndarray:
    starts: np.ndarray = times - times % size
    return starts


def closed_before(watermark: int, size: int, grace: int, step: int | None = None) -> int:
    """Every window starting before the returned time has closed (its end + grace <= watermark).

    Windows start every `step` (the size for tumbling windows, the hop for hopping ones).

    >>> closed_before(watermark=185_000, size=60_000, grace=5_000, step=30_000)   # [120s, 180s) is the last
    150000
    """
    step = step or size
    return window_start(watermark - grace - size, step) + step if watermark - grace >= size else 0


def hop_starts(times: np.ndarray, size: int, step: int) -> list[np.ndarray]:
    """The starts of every window each event belongs to: newest first, `size // step` arrays.

    >>> [a.tolist() for a in hop_starts(np.array([125_000]), 60_000, 30_000)]
    [[120000], [90000]]
    """
    newest = times - times % step
    return [newest - k * step for k in range(size // step)]
