"""The smallest and largest values of a numeric profile, kept exactly.

A KLL sketch estimates how many values lie beyond a bound to within about 1% of the window, which
is the size of what `outside_reference` grades; the `TAIL` values at each end give the exact count
while fewer than `TAIL` values lie beyond, and merge exactly (the smallest of a union are among the
smallest of each part).

>>> tail(np.array([5.0, 1.0, 3.0]), low=True)
[1.0, 3.0, 5.0]
"""

from __future__ import annotations

import numpy as np

TAIL = 64          # values kept at each end
Tails = tuple[list[float] | None, list[float] | None]   # (low, high), None: stored before they were kept


def tail(values: np.ndarray, low: bool) -> list[float]:
    """The TAIL smallest (or largest) of `values`, ascending."""
    if len(values) > TAIL:
        values = np.partition(values, TAIL - 1)[:TAIL] if low else np.partition(values, len(values) - TAIL)[-TAIL:]
    return [float(v) for v in np.sort(values)]


def merged_tails(first: Tails, second: Tails) -> Tails:
    """The tails of two profiles merged; unknown when either is."""
    if None in first or None in second:
        return None, None
    return (tail(np.array((first[0] or []) + (second[0] or [])), low=True),
            tail(np.array((first[1] or []) + (second[1] or [])), low=False))


def read_tail(values: list[float | str] | None) -> list[float] | None:
    """A tail as stored (infinities as text), or None."""
    return None if values is None else [float(v) for v in values]


def count_beyond(values: list[float] | None, bound: float, low: bool, n: int) -> int | None:
    """How many of the profile's `n` values lie below (`low`) or above `bound`, when its tail says
    exactly: fewer than the whole tail beyond, or the tail holds every value. None otherwise."""
    if values is None:
        return None
    beyond = sum(1 for v in values if (v < bound if low else v > bound))
    return beyond if beyond < len(values) or len(values) >= n else None
