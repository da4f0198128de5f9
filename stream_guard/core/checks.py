"""Drift and quality metrics computed from profiles (never from raw events).

Numeric metrics bin both KLL sketches on the reference's quantiles, so every bin holds about the
same reference mass; categorical metrics use the frequent-items estimates, with the mass outside
the listed items pooled in one `other` bin. Every metric here grows with the size of the change.
"""

from __future__ import annotations

import math

import numpy as np

from stream_guard.core.profile import CategoricalProfile, NumericProfile

SMOOTHING = 1e-4  # keeps log ratios finite when a bin is empty on one side


def quantile_edges(reference: NumericProfile, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles; ties (discrete data) collapse to one edge."""
    ranks = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.asarray(reference.sketch.get_quantiles(ranks.tolist()), dtype=float))


def binned(profile: NumericProfile, edges: np.ndarray) -> np.ndarray:
    """Share of the profile's values in each bin `(-inf, e0], (e0, e1], ..., (e_last, inf)`."""
    cdf = np.asarray(profile.sketch.get_cdf(edges.tolist(), True), dtype=float)
    return np.diff(np.concatenate(([0.0], cdf)))


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


def kolmogorov_smirnov(reference: NumericProfile, current: NumericProfile, points: int = 200) -> float:
    """Largest gap between the two CDFs, read on the union of both sketches' quantile grids."""
    ranks = np.linspace(0.0, 1.0, points + 1).tolist()
    grid = np.unique(np.concatenate([reference.sketch.get_quantiles(ranks), current.sketch.get_quantiles(ranks)]))
    ref_cdf = np.asarray(reference.sketch.get_cdf(grid.tolist(), True))[:-1]
    cur_cdf = np.asarray(current.sketch.get_cdf(grid.tolist(), True))[:-1]
    return float(np.max(np.abs(ref_cdf - cur_cdf)))


def numeric_drift(metric: str, reference: NumericProfile, current: NumericProfile, bins: int) -> float:
    if metric == "ks":
        return kolmogorov_smirnov(reference, current)
    edges = quantile_edges(reference, bins)
    expected, actual = binned(reference, edges), binned(current, edges)
    return psi(expected, actual) if metric == "psi" else jensen_shannon(expected, actual)


def category_shares(reference: CategoricalProfile,
                    current: CategoricalProfile) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aligned share vectors over the union of both profiles' values, plus a pooled `other` bin."""
    ref, cur = reference.frequencies(), current.frequencies()
    labels = sorted(set(ref) | set(cur))
    ref_counts = np.array([ref.get(v, 0) for v in labels] + [max(reference.n - sum(ref.values()), 0)], dtype=float)
    cur_counts = np.array([cur.get(v, 0) for v in labels] + [max(current.n - sum(cur.values()), 0)], dtype=float)
    return ref_counts / max(reference.n, 1), cur_counts / max(current.n, 1), labels


def categorical_drift(metric: str, reference: CategoricalProfile, current: CategoricalProfile) -> float:
    expected, actual, _ = category_shares(reference, current)
    if metric == "psi":
        return psi(expected, actual)
    if metric == "linf":
        return float(np.max(np.abs(expected - actual)))
    return jensen_shannon(expected, actual)


def unseen_values(reference: CategoricalProfile, current: CategoricalProfile, limit: int = 3) -> list[str]:
    """The current window's most frequent values that the reference never saw."""
    ref = reference.frequencies()
    fresh = sorted(((n, v) for v, n in current.frequencies().items() if v not in ref), reverse=True)
    return [v for _, v in fresh[:limit]]


def _smoothed(shares: np.ndarray) -> np.ndarray:
    shares = np.clip(shares, 0.0, None) + SMOOTHING
    normalised: np.ndarray = shares / shares.sum()
    return normalised


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))
