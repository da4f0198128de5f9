"""Slow drift: `cusum`, a sequential detector over each numeric feature's per-window mean in reference standard
deviations, and `slow_drift`, a rolling reference against its anchor.

A window check sees one window at a time: a drift of 0.05 sd a window never crosses a threshold set for
the noise of one window. A CUSUM accumulates it. With `z` the window's mean minus the baseline's mean, in
the baseline's standard deviations (the baseline: the check's reference, or under a rolling reference its
anchor, which does not follow the data), and `k` the allowance (changes of the mean smaller than `k` sd a
window are not accumulated):

    S⁺ = max(0, S⁺ + z − k)      S⁻ = max(0, S⁻ − z − k)      value = max(S⁺, S⁻)

in sd × windows. Both sums are held at the critical threshold, so a series leaves critical in the first
window whose shift is back within the allowance, instead of working off everything accumulated above it.
The sums are the monitor's state: they persist with the alert book, one pair per segment and feature.

How often clean data crosses a threshold `h` (the average run length, in windows) follows Siegmund's
approximation for normal increments of standard deviation `sigma` (that of `z` on clean windows);
`calibrate` inverts it to set the thresholds for a target run length:

>>> round(run_length(4.0, 0.5, 1.0))     # the textbook two-sided CUSUM, k = 0.5 sd, h = 4 sd: about 170
169
>>> threshold_for(169.0, 0.5, 1.0)
4.0
"""

from __future__ import annotations

import math
from dataclasses import replace

from stream_guard.core.judging.checks import Measure, mean_shift
from stream_guard.core.judging.references import Reference
from stream_guard.core.profiles.profile import FeatureProfile, NumericProfile

State = tuple[float, float]   # S⁺, S⁻


def step(state: State | None, z: float, allowance: float, cap: float | None) -> State:
    """The sums after one window whose standardized mean shift is `z`."""
    high, low = state or (0.0, 0.0)
    high, low = max(0.0, high + z - allowance), max(0.0, low - z - allowance)
    return (min(high, cap), min(low, cap)) if cap is not None else (high, low)


def cusum(baseline: NumericProfile, current: NumericProfile, state: State | None, allowance: float,
          cap: float | None) -> tuple[Measure, State | None, float | None]:
    """The check's measure, the new sums and the window's `z` (None, and the sums unchanged, when the
    baseline has no spread or the window no value)."""
    spread = baseline.std()
    if not spread or not current.summed or not all(math.isfinite(p.total) for p in (baseline, current)):
        return Measure(None, None, "no spread in the baseline or no value in the window"), state, None
    z = (current.mean() - baseline.mean()) / spread
    high, low = step(state, z, allowance, cap)
    side = "above" if high >= low else "below"
    detail = (f"this window's mean {z:+.3f} sd from the baseline's {baseline.mean():.4g}; accumulated "
              f"{max(high, low):.3g} sd × windows {side} it beyond an allowance of {allowance:g} sd a window")
    return Measure(max(high, low), None, detail), (high, low), z


def slow_drift(needed: int, feature: FeatureProfile, anchor: Reference,
               rolling: Reference) -> tuple[Measure, int, int]:
    """`slow_drift`: the rolling reference's mean against its anchor's, in the anchor's standard deviations,
    with the sample sizes (n of the rolling reference, n of the anchor)."""
    if anchor.size < needed or rolling.size < needed or anchor.feature is None or rolling.feature is None:
        return Measure(None, None, f"anchor not ready ({anchor.description})"), feature.n, 0
    assert isinstance(anchor.feature, NumericProfile) and isinstance(rolling.feature, NumericProfile)
    if anchor.feature.n == 0 or rolling.feature.n == 0:
        return Measure(None, None, "no valid values to compare"), rolling.feature.n, anchor.feature.n
    measure = mean_shift(anchor.feature, rolling.feature)
    detail = f"{rolling.description} against {anchor.description}: {measure.detail}"
    return replace(measure, detail=detail), rolling.feature.n, anchor.feature.n


def accumulate(baseline: Reference, feature: FeatureProfile, needed: int, sums: dict[str, list[float]], key: str,
               allowance: float, cap: float | None) -> tuple[Measure, float | None]:
    """The check on one window: its measure and `z`; the sums of series `key` in `sums` move on (they stay as
    they were while the baseline is not ready or the window has no value)."""
    if baseline.size < needed or not isinstance(baseline.feature, NumericProfile):
        return Measure(None, None, f"baseline not ready ({baseline.description or 'none'})"), None
    assert isinstance(feature, NumericProfile)
    state = (sums[key][0], sums[key][1]) if key in sums else None
    measure, state, z = cusum(baseline.feature, feature, state, allowance, cap)
    if state is not None:
        sums[key] = [round(state[0], 9), round(state[1], 9)]
    return replace(measure, detail=f"against {baseline.description}: {measure.detail}"), z


def run_length(threshold: float, allowance: float, sigma: float) -> float:
    """The two-sided CUSUM's average run length, in windows, on clean data (increments N(0, sigma²))."""
    delta, b = -allowance / sigma, threshold / sigma + 1.166
    one_sided = b * b if delta == 0 else (math.exp(-2 * delta * b) + 2 * delta * b - 1) / (2 * delta * delta)
    return one_sided / 2


def threshold_for(target: float, allowance: float, sigma: float) -> float:
    """The smallest threshold whose run length on clean data reaches `target` windows (3 digits, rounded up)."""
    low, high = 0.0, sigma
    while run_length(high, allowance, sigma) < target:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if run_length(middle, allowance, sigma) < target else (low, middle)
    scale = 10 ** (math.floor(math.log10(high)) - 2)
    return float(round(math.ceil(high / scale) * scale, 10))   # rounded up: the run length stays at least `target`
