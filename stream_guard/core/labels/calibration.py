"""Estimated performance without labels (confidence-based, as NannyML's CBPE): a calibration map from
score to P(y = 1), fitted on labelled scores, and the expected confusion counts and ROC AUC of a
window's score distribution under it.

The map is isotonic (pool-adjacent-violators over the `BINS` score bins of `core.labels.scores`, each
bin weighted by its labelled rows), so it never decreases and the expected positives of each pooled
block equal its observed positives: on the data it was fitted on, expected accuracy at a threshold
on a bin edge equals the realized one. A prediction with calibrated probability p counts p towards
TP (predicted 1) or FN (predicted 0), and 1 − p towards FP or TN.

>>> from collections import Counter
>>> fitted = Calibration.fit(Counter({100: 1, 900: 8}), Counter({100: 9, 900: 2}))
>>> round(fitted.probability(0.1), 2), round(fitted.probability(0.9), 2)
(0.1, 0.8)
>>> expected = fitted.expected(np.array([0.1, 0.9]), np.array([0.5, 0.5]), threshold=0.5)
>>> round(expected.metric("accuracy"), 3)
0.85
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from stream_guard.core.labels.scores import BINS

ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True)
class ExpectedConfusion:
    """Expected shares of TP, FP, FN, TN, and per score segment the expected positives and negatives."""

    tp: float
    fp: float
    fn: float
    tn: float
    positives: np.ndarray    # per segment, in score order
    negatives: np.ndarray
    said: np.ndarray         # per segment: predicts 1

    def metric(self, name: str) -> float | None:
        """The expected metric; None where it is undefined (no expected positive, say)."""
        if name == "accuracy":
            return _ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn)
        if name == "precision":
            return _ratio(self.tp, self.tp + self.fp)
        if name == "recall":
            return _ratio(self.tp, self.tp + self.fn)
        if name == "f1":
            return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
        if name == "roc_auc":
            return self._roc_auc()
        raise ValueError(f"no estimated {name}; use one of {', '.join(ESTIMATED_METRICS)}")

    def standard_error(self, name: str, n: float) -> float | None:
        """The estimate's standard error from sampling `n` scores (delta method over the per-score expected
        TP, FP, FN, TN); None for ROC AUC, and where the metric is undefined."""
        if name == "roc_auc" or n <= 0 or self.metric(name) is None:
            return None
        mass = self.positives + self.negatives
        p = np.divide(self.positives, mass, out=np.zeros_like(mass), where=mass > 0)
        d = self.said.astype(float)
        per_score = np.stack([p * d, (1 - p) * d, p * (1 - d), (1 - p) * (1 - d)])   # tp, fp, fn, tn
        centred = per_score - (per_score @ mass)[:, None]
        covariance = (centred * mass) @ centred.T
        gradient = self._gradient(name)
        return float(np.sqrt(max(float(gradient @ covariance @ gradient), 0.0) / n))

    def _gradient(self, name: str) -> np.ndarray:
        """d metric / d (tp, fp, fn, tn), at the expected shares."""
        tp, fp, fn = self.tp, self.fp, self.fn
        if name == "accuracy":
            return np.array([1.0, 0.0, 0.0, 1.0])
        if name == "precision":
            return np.array([fp, -tp, 0.0, 0.0]) / (tp + fp) ** 2
        if name == "recall":
            return np.array([fn, 0.0, -tp, 0.0]) / (tp + fn) ** 2
        return np.array([2 * (fp + fn), -2 * tp, -2 * tp, 0.0]) / (2 * tp + fp + fn) ** 2   # f1

    def _roc_auc(self) -> float | None:
        total_pos, total_neg = float(self.positives.sum()), float(self.negatives.sum())
        if total_pos <= 0 or total_neg <= 0:
            return None
        below = np.concatenate(([0.0], np.cumsum(self.negatives)[:-1]))   # negatives in lower segments
        wins = float(np.sum(self.positives * (below + self.negatives / 2)))   # ties within a segment: half
        return wins / (total_pos * total_neg)


@dataclass(frozen=True)
class Calibration:
    """P(y = 1) per score bin (`BINS` equal bins over [0, 1]), never decreasing; `labelled` rows fitted it
    (0 for the identity: the scores taken as calibrated)."""

    probabilities: tuple[float, ...]
    labelled: int

    @classmethod
    def identity(cls) -> Calibration:
        """Each bin's probability is its midpoint: the scores are taken as calibrated."""
        return cls(tuple((np.arange(BINS) + 0.5) / BINS), 0)

    @classmethod
    def fit(cls, positives: Counter[int], negatives: Counter[int]) -> Calibration:
        """Isotonic fit on labelled scores counted per bin (`PerformanceState.positives` / `negatives`)."""
        bins = sorted(b for b in set(positives) | set(negatives) if positives[b] + negatives[b] > 0)
        if not bins:
            return cls.identity()
        weights = [float(positives[b] + negatives[b]) for b in bins]
        means = _pool_adjacent_violators([positives[b] / w for b, w in zip(bins, weights)], weights)
        # a bin without labelled rows takes the probability of the nearest fitted bin below it (above it
        # for bins under the first): a step function, so the map stays monotone
        at = np.searchsorted(np.asarray(bins), np.arange(BINS), side="right") - 1
        filled = np.asarray(means)[np.clip(at, 0, len(bins) - 1)]
        return cls(tuple(float(p) for p in filled), int(sum(weights)))

    def probability(self, score: float) -> float:
        return self.probabilities[min(max(int(score * BINS), 0), BINS - 1)]

    def expected(self, lower: np.ndarray, mass: np.ndarray, threshold: float) -> ExpectedConfusion:
        """The expected confusion of scores given as segments (`lower` edge, `mass`), in score order; a
        segment predicts 1 when its lower edge is at or above the threshold."""
        bins = np.clip(np.floor(lower * BINS + 1e-9).astype(int), 0, BINS - 1)   # edges i / BINS, exactly
        p = np.asarray(self.probabilities)[bins]
        said = lower >= threshold
        pos, neg = mass * p, mass * (1 - p)
        return ExpectedConfusion(float(pos[said].sum()), float(neg[said].sum()), float(pos[~said].sum()),
                                 float(neg[~said].sum()), pos, neg, said)


def _pool_adjacent_violators(values: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `values` in weighted least squares.

    >>> _pool_adjacent_violators([0.2, 0.6, 0.4, 0.9], [1.0, 1.0, 1.0, 1.0])
    [0.2, 0.5, 0.5, 0.9]
    """
    blocks: list[list[float]] = []   # [mean, weight, length]
    for value, weight in zip(values, weights):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, w, n = blocks.pop()
            last = blocks[-1]
            last[0] = (last[0] * last[1] + mean * w) / (last[1] + w)
            last[1] += w
            last[2] += n
    return [mean for mean, _, n in blocks for _ in range(int(n))]


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom > 0 else None
