"""Drift and quality metrics computed from profiles (never from raw events).

Every metric returns a `Measure`: its value (an effect size that grows with the change, 0 for none)
and, where a test statistic is meaningful, a p-value for "no change". docs/checks.md says what each
metric measures, its scale, and how far the sketch can move it.

Numeric metrics bin both KLL sketches on the reference's quantiles, so every bin holds about the
same reference mass; categorical metrics use the frequent-items estimates, with the mass outside
the listed items pooled in one `other` bin. Sketch error is accounted for twice over: KS subtracts
both sketches' rank-error bounds before its p-value, and binned metrics cap each side's sample
size at what the sketch resolves (1 / rank error squared), so a p-value never claims more
certainty than the sketch has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc, kolmogorov

from stream_guard.core.profiles.profile import EXTREME, CategoricalProfile, NumericProfile

SMOOTHING = 1e-4   # keeps log ratios finite when a bin is empty on one side
GRID = 200         # quantile points read from each sketch for KS and Wasserstein
TAIL = 0.01        # share of each tail the Wasserstein distance leaves out
RELATIVE_FLOOR = 0.01  # a relative rate change is measured against at least this base rate


@dataclass(frozen=True)
class Measure:
    value: float | None
    p_value: float | None = None
    detail: str = ""
    examples: tuple[str, ...] = ()    # values that show the problem, carried into the alert


# numeric ------------------------------------------------------------------------------------------

def quantile_edges(reference: NumericProfile, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles; ties (discrete data) collapse to one edge."""
    ranks = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.asarray(reference.sketch.get_quantiles(ranks.tolist()), dtype=float))


def binned(profile: NumericProfile, edges: np.ndarray) -> np.ndarray:
    """Share of the profile's values in each bin `(-inf, e0], (e0, e1], ..., (e_last, inf)`."""
    cdf = np.asarray(profile.sketch.get_cdf(edges.tolist(), True), dtype=float)
    return np.diff(np.concatenate(([0.0], cdf)))


def rank_error(profile: NumericProfile) -> float:
    """The sketch's bound on the error of any rank it reports (0 while it still holds every value)."""
    if not profile.sketch.is_estimation_mode():
        return 0.0
    return float(profile.sketch.normalized_rank_error(False))


def resolved_n(profile: NumericProfile) -> float:
    """The sample size a binned comparison can rely on: the count, capped at 1 / rank error squared."""
    error = rank_error(profile)
    return profile.n if error == 0 else min(profile.n, 1.0 / error**2)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum of (a - e) * ln(a / e) over bins.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
    """
    e = _smoothed(expected)
    a = _smoothed(actual)
    return float(np.sum((a - e) * np.log(a / e)))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance with base-2 logarithms: 0 for equal, 1 for disjoint distributions.

    >>> jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    1.0
    """
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2
    divergence = (_kl(p, m) + _kl(q, m)) / 2
    return float(math.sqrt(max(divergence, 0.0)))


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger distance: 0 for equal, 1 for disjoint distributions.

    >>> hellinger(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    1.0
    """
    p = p / p.sum()
    q = q / q.sum()
    return float(math.sqrt(max(1.0 - float(np.sum(np.sqrt(p * q))), 0.0)))


def share_test(metric: str, value: float, expected: np.ndarray, actual: np.ndarray,
               n_reference: float, n_current: float) -> float | None:
    """Approximate p-value of a binned distance under "same distribution".

    For small differences each of these distances is a multiple of Pearson's chi-square statistic
    of the 2 x bins table (PSI ~ X²/n, JS divergence ~ X²/(8n) in nats, Hellinger² ~ X²/(8n)), so
    the statistic is rebuilt from the distance and read on chi-square with bins - 1 degrees of freedom.
    """
    bins = int(np.count_nonzero((expected + actual) > 0))
    if bins < 2 or n_reference <= 0 or n_current <= 0:
        return None
    n = n_reference * n_current / (n_reference + n_current)
    if metric == "psi":
        statistic = n * value
    elif metric == "jensen_shannon":
        statistic = 8 * n * value**2 * math.log(2)
    elif metric == "hellinger":
        statistic = 8 * n * value**2
    else:
        return None
    return float(chdtrc(bins - 1, statistic))


def kolmogorov_smirnov(reference: NumericProfile, current: NumericProfile, points: int = GRID) -> Measure:
    """Largest gap between the two CDFs, read on the union of both sketches' quantile grids.

    The p-value is for the gap less both sketches' rank-error bounds: the smallest gap the raw
    samples can have had, so sketch error never makes two samples of one distribution look different.
    """
    ranks = np.linspace(0.0, 1.0, points + 1).tolist()
    grid = np.unique(np.concatenate([reference.sketch.get_quantiles(ranks), current.sketch.get_quantiles(ranks)]))
    ref_cdf = np.asarray(reference.sketch.get_cdf(grid.tolist(), True))[:-1]
    cur_cdf = np.asarray(current.sketch.get_cdf(grid.tolist(), True))[:-1]
    gap = float(np.max(np.abs(ref_cdf - cur_cdf)))
    slack = rank_error(reference) + rank_error(current)
    n = reference.n * current.n / (reference.n + current.n)
    root = math.sqrt(n)
    p_value = float(kolmogorov((root + 0.12 + 0.11 / root) * max(gap - slack, 0.0)))
    detail = f"sketch rank error ±{slack:.3f}" if slack else ""
    return Measure(gap, min(p_value, 1.0), detail)


def wasserstein(reference: NumericProfile, current: NumericProfile, points: int = GRID) -> Measure:
    """Earth mover's distance between the two distributions, in reference standard deviations.

    The mean of |Q_ref(u) - Q_cur(u)| over ranks u in the central 98% (`points` evenly spaced mid-ranks):
    the outer 1% of each tail is left out, because there the sketch's rank error moves heavy-tailed
    quantiles by more than the distance itself.
    """
    spread = reference.std()
    if (void := _void_spread(reference, current)) is not None:
        return void
    ranks = wasserstein_ranks(points).tolist()
    ref_q = np.asarray(reference.sketch.get_quantiles(ranks), dtype=float)
    cur_q = np.asarray(current.sketch.get_quantiles(ranks), dtype=float)
    return Measure(float(np.mean(np.abs(ref_q - cur_q))) / spread)


def wasserstein_ranks(points: int = GRID) -> np.ndarray:
    return TAIL + (1 - 2 * TAIL) * (np.arange(points) + 0.5) / points


def mean_shift(reference: NumericProfile, current: NumericProfile) -> Measure:
    """|mean now - mean before| in reference standard deviations, with Welch's z-test p-value."""
    if (void := _void_spread(reference, current)) is not None:
        return void
    spread, difference = reference.std(), current.mean() - reference.mean()
    error = math.sqrt(spread ** 2 / reference.summed + current.std() ** 2 / max(current.summed, 1))
    p_value = math.erfc(abs(difference) / error / math.sqrt(2)) if error else float(difference == 0)
    detail = f"mean {reference.mean():.4g} → {current.mean():.4g}" + _extreme_note(reference, current)
    return Measure(abs(difference) / spread, p_value, detail)


def std_shift(reference: NumericProfile, current: NumericProfile) -> Measure:
    """|sd now - sd before| / sd before."""
    if (void := _void_spread(reference, current)) is not None:
        return void
    spread = reference.std()
    return Measure(abs(current.std() - spread) / spread, None,
                   f"sd {spread:.4g} → {current.std():.4g}" + _extreme_note(reference, current))


def _void_spread(reference: NumericProfile, current: NumericProfile) -> Measure | None:
    """Why a check that measures in reference standard deviations cannot be computed, if it cannot."""
    if not all(math.isfinite(p.total) and math.isfinite(p.total_sq) for p in (reference, current)):
        return Measure(None, None, "the sums of the values overflowed (a profile stored before extreme values "
                                   "were kept out of them)")
    if not reference.std():
        return Measure(None, None, "the reference has no spread" + _extreme_note(reference, current))
    return None


def _extreme_note(reference: NumericProfile, current: NumericProfile) -> str:
    """`; 1 value beyond ±1e+150 left out of the mean and sd (current window)`, or nothing."""
    parts = [f"{p.extreme:,} in the {name}" for name, p in (("reference", reference), ("current window", current))
             if p.extreme]
    if not parts:
        return ""
    count = reference.extreme + current.extreme
    return (f"; {count:,} value{'s' if count > 1 else ''} beyond ±{EXTREME:g} left out of the mean and sd "
            f"({', '.join(parts)})")


def numeric_drift(metric: str, reference: NumericProfile, current: NumericProfile, bins: int = 10) -> Measure:
    if metric == "ks":
        return kolmogorov_smirnov(reference, current)
    if metric == "wasserstein":
        return wasserstein(reference, current)
    edges = quantile_edges(reference, bins)
    expected, actual = binned(reference, edges), binned(current, edges)
    value = {"psi": psi, "jensen_shannon": jensen_shannon, "hellinger": hellinger}[metric](expected, actual)
    p_value = share_test(metric, value, expected, actual, resolved_n(reference), resolved_n(current))
    detail = f"median {_g(reference.sketch.get_quantile(0.5))} → {_g(current.sketch.get_quantile(0.5))}"
    return Measure(value, p_value, detail)


# categorical --------------------------------------------------------------------------------------

def category_counts(reference: CategoricalProfile,
                    current: CategoricalProfile) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aligned count vectors over the union of both profiles' values, plus a pooled `other` bin last."""
    ref, cur = reference.frequencies(), current.frequencies()
    labels = sorted(set(ref) | set(cur))
    ref_counts = np.array([ref.get(v, 0) for v in labels] + [max(reference.n - sum(ref.values()), 0)], dtype=float)
    cur_counts = np.array([cur.get(v, 0) for v in labels] + [max(current.n - sum(cur.values()), 0)], dtype=float)
    return ref_counts, cur_counts, labels


def category_shares(reference: CategoricalProfile,
                    current: CategoricalProfile) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aligned share vectors over the union of both profiles' values, plus a pooled `other` bin."""
    ref_counts, cur_counts, labels = category_counts(reference, current)
    return ref_counts / max(reference.n, 1), cur_counts / max(current.n, 1), labels


def chi_square(reference_counts: np.ndarray, current_counts: np.ndarray) -> Measure:
    """Pearson's chi-square test of homogeneity on the 2 x values table; the value is Cramér's V.

    >>> m = chi_square(np.array([50.0, 50.0]), np.array([50.0, 50.0]))
    >>> m.value, m.p_value
    (0.0, 1.0)
    """
    table = np.vstack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    total = table.sum()
    if table.shape[1] < 2 or total == 0 or (table.sum(axis=1) == 0).any():
        return Measure(0.0 if table.shape[1] == 1 else None, None)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return Measure(math.sqrt(statistic / total), float(chdtrc(table.shape[1] - 1, statistic)))


def categorical_drift(metric: str, reference: CategoricalProfile, current: CategoricalProfile) -> Measure:
    ref_counts, cur_counts, _ = category_counts(reference, current)
    if metric == "chi_square":
        return chi_square(ref_counts, cur_counts)
    expected, actual = ref_counts / max(reference.n, 1), cur_counts / max(current.n, 1)
    if metric == "linf":
        return Measure(float(np.max(np.abs(expected - actual))))
    value = {"psi": psi, "jensen_shannon": jensen_shannon, "hellinger": hellinger}[metric](expected, actual)
    return Measure(value, share_test(metric, value, expected, actual, reference.n, current.n))


def unseen_values(reference: CategoricalProfile, current: CategoricalProfile, limit: int = 3) -> list[str]:
    """The current window's most frequent values that the reference never saw."""
    ref = reference.frequencies()
    fresh = sorted(((n, v) for v, n in current.frequencies().items() if v not in ref), reverse=True)
    return [v for _, v in fresh[:limit]]


def unseen_share(reference: CategoricalProfile, current: CategoricalProfile) -> Measure:
    """Share of the window's values that the reference never saw."""
    if reference.saturated:
        return Measure(None, None, "the reference has more distinct values than its sketch tracks")
    ref = reference.frequencies()
    fresh = sum(n for v, n in current.frequencies().items() if v not in ref)
    names = unseen_values(reference, current)
    detail = f"new values: {', '.join(map(repr, names))}" if names else ""
    return Measure(fresh / max(current.n, 1), None, detail)


def cardinality(reference_per_window: Sequence[float], current: float | None) -> Measure:
    """Distinct values now against the mean per reference window, as a fold change >= 1.

    >>> cardinality([10.0, 10.0], 5.0).value, cardinality([10.0], 20.0).value
    (2.0, 2.0)
    """
    if current is None or not reference_per_window:
        return Measure(None, None, "no distinct-count sketch in the reference")
    before = float(np.mean(reference_per_window))
    ratio = max(current, 1.0) / max(before, 1.0)
    return Measure(max(ratio, 1 / ratio), None, f"distinct values {before:.0f} → {current:.0f}")


# rates and volume ---------------------------------------------------------------------------------

def rate_rise(now: int, now_n: int, before: int, before_n: int, relative: bool = False) -> Measure:
    """Rise of a rate (missing, invalid) against the reference, with a one-sided two-proportion z-test.

    >>> rate_rise(30, 100, 0, 1000).value
    0.3
    """
    if now_n == 0 or before_n == 0:
        return Measure(None, None, "no events to compare")
    p_now, p_before = now / now_n, before / before_n
    rise = p_now - p_before
    pooled = (now + before) / (now_n + before_n)
    error = math.sqrt(pooled * (1 - pooled) * (1 / now_n + 1 / before_n))
    p_value = 0.5 * math.erfc(rise / error / math.sqrt(2)) if error else float(rise <= 0)
    value = rise / max(p_before, RELATIVE_FLOOR) if relative else rise
    return Measure(value, p_value, f"{p_before:.1%} → {p_now:.1%}")


def volume(reference_events: Sequence[int], current_events: int) -> Measure:
    """Events now against the mean per reference window, as a fold change >= 1 (2 = halved or doubled).

    >>> volume([1000, 1000], 500).value
    2.0
    """
    if not reference_events:
        return Measure(None, None, "no reference windows")
    before = float(np.mean(reference_events))
    ratio = max(current_events, 1) / max(before, 1.0)
    return Measure(max(ratio, 1 / ratio), None, f"{current_events:,} events against {before:,.0f} per window")


# multiple testing ---------------------------------------------------------------------------------

def adjust_p_values(p_values: Sequence[float | None], method: str) -> list[float | None]:
    """Benjamini-Hochberg (false discovery rate) or Bonferroni adjustment; None stays None.

    >>> adjust_p_values([0.01, 0.04, None, 0.03], "benjamini_hochberg")
    [0.03, 0.04, None, 0.04]
    >>> adjust_p_values([0.01, 0.5], "bonferroni")
    [0.02, 1.0]
    >>> adjust_p_values([0.0, 8.853e-204, 0.5], "benjamini_hochberg")
    [0.0, 1.32795e-203, 0.5]
    """
    tested = [(i, p) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = list(p_values)
    m = len(tested)
    if method == "none" or not m:
        return out
    if method == "bonferroni":
        for i, p in tested:
            out[i] = min(p * m, 1.0)
        return out
    running = 1.0
    for rank, (i, p) in reversed(list(enumerate(sorted(tested, key=lambda t: t[1]), start=1))):
        running = min(running, p * m / rank)
        out[i] = float(f"{min(running, 1.0):.12g}")   # 12 significant digits: a tiny p stays tiny, never 0
    return out


def _smoothed(shares: np.ndarray) -> np.ndarray:
    shares = np.clip(shares, 0.0, None) + SMOOTHING
    normalised: np.ndarray = shares / shares.sum()
    return normalised


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _g(value: float) -> str:
    return f"{value:.3g}"
