"""Constraints learned from the reference, for features that declare none: what normal values look like.

- `outside_reference` (numeric): the share of the window's values outside the range the reference
  held (widened by a margin), on the wrong side of zero when the reference never crossed it, or not
  whole numbers when the reference held only whole numbers. Declared `min` / `max` replace the
  learned side they name (`invalid_rate` and `slo` grade those), and `type: integer` replaces the
  learned integrality.
- `new_category` (categorical): the share of the window taken by values the reference never held.

The margin: the reference's extremes are those of its sample, and a further value from the same
distribution lands beyond the largest of n values with probability 1 / (n + 1) (beyond either extreme
2 / (n + 1)). So the range is widened by half the reference's standard deviation (exact, from its
sums, so the bounds do not move with the sketch's randomness: normal data's 10,000 values reach about
3.9 sd, the bound then lies at 4.4 sd, beyond which 1 value in 200,000 falls), never across zero
when the reference did not cross it; and the p-value asks whether the count outside is more
than those 2 / (n + 1) (3 / (n + 1) with integrality) explain, so one stray value in a thin window
never grades above info.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtrc

from stream_guard.core.judging.checks import Measure
from stream_guard.core.judging.references import Reference
from stream_guard.core.profiles.profile import CategoricalProfile, FeatureProfile, NumericProfile
from stream_guard.core.profiles.tails import TAIL, count_beyond
from stream_guard.core.topology.features import FeatureSpec

MARGIN = 0.5          # reference standard deviations added beyond each extreme
OPEN_SET = 0.005      # Good-Turing: a value set whose values seen once hold more of it is open (ids, free text)
EXAMPLES = 3


@dataclass(frozen=True)
class LearnedBounds:
    """What the reference says a value may be: within [low, high], and whole when `integral`."""

    low: float
    high: float
    integral: bool
    held: tuple[float, float]     # the reference's own extremes

    def describe(self) -> str:
        """The held and learned range in words; a side the feature declares (an infinite bound here) is
        named as declared rather than printed as `-inf` / `inf`."""
        whole = ", whole numbers" if self.integral else ""
        return f"the reference held {_g(self.held[0])} to {_g(self.held[1])}; {self._learned_range()}{whole}"

    def _learned_range(self) -> str:
        low, high = math.isfinite(self.low), math.isfinite(self.high)
        if low and high:
            return f"learned {_g(self.low)} to {_g(self.high)}"
        if high:
            return f"learned at most {_g(self.high)} (the declared min holds below)"
        if low:
            return f"learned at least {_g(self.low)} (the declared max holds above)"
        return "no range learned (min and max are declared)"


def learned_bounds(reference: NumericProfile, spec: FeatureSpec) -> LearnedBounds:
    """The range, sign and integrality the reference shows, where the feature declares none."""
    low, high = float(reference.sketch.get_min_value()), float(reference.sketch.get_max_value())
    margin = MARGIN * reference.std()
    learned_low = (max(low - margin, 0.0) if low >= 0 else low - margin) if spec.min is None else -math.inf
    learned_high = (min(high + margin, 0.0) if high <= 0 else high + margin) if spec.max is None else math.inf
    integral = spec.type != "integer" and reference.fractional == 0
    return LearnedBounds(learned_low, learned_high, integral, (low, high))


def outside_reference(reference: NumericProfile, current: NumericProfile, spec: FeatureSpec) -> Measure:
    """Share of the window's values outside the learned bounds, with a binomial p-value against the
    share a sample of the reference's own distribution would put there.

    The count is exact while fewer than `TAIL` values lie beyond either bound (the profile keeps its
    extreme values); past that it is the sketch's estimate, and the p-value counts only the values the
    sketch still holds there (each one a real value)."""
    bounds = learned_bounds(reference, spec)
    share, held = _outside(current, bounds.low, bounds.high)
    fractional = (current.fractional or 0) if bounds.integral else 0
    share = min(share + fractional / current.n, 1.0)
    certain = held + fractional
    chance = (3.0 if bounds.integral else 2.0) / (reference.n + 1)
    p_value = float(bdtrc(certain - 1, current.n, chance)) if certain else 1.0
    examples = _outside_examples(current, bounds, fractional)
    detail = f"about {round(share * current.n):,} of {current.n:,} values outside what the reference held " \
             f"({bounds.describe()})"
    if examples:
        detail += f"; e.g. {', '.join(examples)}"
    return Measure(share, p_value, detail, examples)


def _outside(profile: NumericProfile, low: float, high: float) -> tuple[float, int]:
    """The share of values outside [low, high] and how many are certainly there: exact from the
    profile's tails while few lie beyond, else the sketch's estimate and the values it holds there."""
    sketch = profile.sketch
    if sketch.get_min_value() >= low and sketch.get_max_value() <= high:
        return 0.0, 0
    below = count_beyond(profile.low_tail, low, True, profile.n)
    above = count_beyond(profile.high_tail, high, False, profile.n)
    if below is not None and above is not None:
        return (below + above) / profile.n, below + above
    items = np.array([item for item, _ in sketch])
    held = int(np.count_nonzero((items < low) | (items > high)))
    share = (float(sketch.get_rank(low, False)) if math.isfinite(low) else 0.0) + \
            (1.0 - float(sketch.get_rank(high, True)) if math.isfinite(high) else 0.0)
    return max(share, TAIL / profile.n), max(held, TAIL)


def _outside_examples(current: NumericProfile, bounds: LearnedBounds, fractional: int) -> tuple[str, ...]:
    out = []
    if current.sketch.get_min_value() < bounds.low:
        out.append(f"{_g(current.sketch.get_min_value())} (lowest)")
    if current.sketch.get_max_value() > bounds.high:
        out.append(f"{_g(current.sketch.get_max_value())} (highest)")
    if fractional:
        out.append(f"{fractional:,} values not whole")
    return tuple(out)


def value_set_open(reference: CategoricalProfile) -> bool:
    """True when the reference's values look like an open set: the values it saw once hold more than
    `OPEN_SET` of it (Good-Turing's estimate of the share of values it has not seen yet)."""
    once = sum(1 for n in reference.frequencies().values() if n == 1)
    return once / max(reference.n, 1) > OPEN_SET


def new_category(reference: CategoricalProfile, current: CategoricalProfile,
                 anchor: CategoricalProfile | None = None) -> Measure:
    """Share of the window taken by values the reference never held: all of them when the reference's
    value set is closed, the largest one when it is open (a long tail of one-off values is its normal).

    With an `anchor` (a rolling reference's older windows), a value counts as new until both have
    held it: a new value that only grades warning enters the rolling reference at once, but stays new
    until it reaches the anchor, so its next windows can still grade it critical.

    The p-value is the chance that every occurrence of the largest new value fell in this window
    rather than in the reference, were both samples of one distribution: (n / (n + N)) ** count.
    """
    if reference.saturated or (anchor is not None and anchor.saturated):
        return Measure(None, None, "the reference has more distinct values than its sketch tracks")
    seen = reference.frequencies()
    held = anchor.frequencies() if anchor is not None else seen
    fresh = sorted(((n, v) for v, n in current.frequencies().items() if v not in seen or v not in held),
                   reverse=True)
    total = max(current.n, 1)
    if not fresh:
        return Measure(0.0, 1.0)
    open_set = value_set_open(reference)
    share = fresh[0][0] / total if open_set else sum(n for n, _ in fresh) / total
    p_value = (current.n / (current.n + reference.n)) ** fresh[0][0]
    named = tuple(v for _, v in fresh[:EXAMPLES])
    listed = ", ".join(f"{v!r} ({n / total:.1%})" for n, v in fresh[:EXAMPLES])
    scope = "the largest new value (the reference's value set is open)" if open_set else "values never seen"
    return Measure(share, p_value, f"{scope}: {listed}" + (f" and {len(fresh) - EXAMPLES} more"
                                                          if len(fresh) > EXAMPLES else ""), named)


def _g(value: float) -> str:
    return f"{value:.4g}"


def new_category_against(needed: int, feature: FeatureProfile, reference: Reference,
                         anchor: Reference) -> tuple[Measure, int, int]:
    """`new_category` of a window against its reference (values the anchor of a rolling reference held count
    as seen), with the sample sizes; not computed while the reference has fewer than `needed` windows."""
    if reference.size < needed or reference.feature is None:
        return Measure(None, None, f"reference not ready ({reference.size} of {needed} windows)"), feature.n, 0
    ref = reference.feature
    assert isinstance(ref, CategoricalProfile) and isinstance(feature, CategoricalProfile)
    if feature.n == 0 or ref.n == 0:
        return Measure(None, None, "no valid values to compare"), feature.n, ref.n
    held = anchor.feature if anchor is not reference and anchor.size >= needed else None
    assert held is None or isinstance(held, CategoricalProfile)
    return new_category(ref, feature, held), feature.n, ref.n
