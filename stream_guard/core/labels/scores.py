"""What one window's labelled predictions hold for the performance metrics, as a mergeable value.

Binary: the confusion counts at the model's threshold, the summed log loss, and per class a histogram
of the scores in `BINS` equal bins over [0, 1] (ROC AUC from it: pairs in one bin count half, so the
error is at most half the share of positive-negative pairs sharing a bin, 0.0005 for uniform scores).
Multiclass: the confusion counts by (predicted, actual). Regression: the sums of |error| and error².

>>> s = PerformanceState()
>>> for score, label in [(0.9, 1), (0.8, 0), (0.3, 0), (0.2, 1)]:
...     s.add_binary(score, label, threshold=0.5)
>>> s.metric("accuracy"), s.metric("roc_auc"), s.merged(s).metric("accuracy")
(0.5, 0.5, 0.5)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BINS = 1000
EPSILON = 1e-15   # log loss clips scores to [ε, 1 − ε]
FORMAT = 1
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


@dataclass
class PerformanceState:
    """Counts and sums of the labelled predictions of one window (or several, merged)."""

    predicted: int = 0          # predictions joined or waiting (the coverage's denominator)
    labelled: int = 0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    log_loss_sum: float = 0.0
    positives: Counter[int] = field(default_factory=Counter)   # score bin -> labelled 1
    negatives: Counter[int] = field(default_factory=Counter)   # score bin -> labelled 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)   # (predicted, actual) -> count
    abs_error_sum: float = 0.0
    sq_error_sum: float = 0.0

    def add_binary(self, score: float, label: int, threshold: float) -> None:
        self.labelled += 1
        said = score >= threshold
        if label:
            self.tp, self.fn = self.tp + said, self.fn + (not said)
            self.positives[_bin(score)] += 1
        else:
            self.fp, self.tn = self.fp + said, self.tn + (not said)
            self.negatives[_bin(score)] += 1
        p = min(max(score, EPSILON), 1 - EPSILON)
        self.log_loss_sum -= math.log(p if label else 1 - p)

    def add_class(self, predicted: str, actual: str) -> None:
        self.labelled += 1
        self.confusion[(predicted, actual)] += 1

    def add_value(self, predicted: float, actual: float) -> None:
        self.labelled += 1
        self.abs_error_sum += abs(predicted - actual)
        self.sq_error_sum += (predicted - actual) ** 2

    def merged(self, other: PerformanceState) -> PerformanceState:
        """Both windows' state together; neither input changes."""
        return PerformanceState(
            self.predicted + other.predicted, self.labelled + other.labelled, self.tp + other.tp,
            self.fp + other.fp, self.tn + other.tn, self.fn + other.fn, self.log_loss_sum + other.log_loss_sum,
            self.positives + other.positives, self.negatives + other.negatives, self.confusion + other.confusion,
            self.abs_error_sum + other.abs_error_sum, self.sq_error_sum + other.sq_error_sum)

    @property
    def coverage(self) -> float | None:
        """The share of predictions labelled so far (None before any prediction)."""
        return self.labelled / self.predicted if self.predicted else None

    def metric(self, name: str) -> float | None:
        """The metric over the labelled predictions; None when it is undefined (no labels, one class)."""
        if not self.labelled:
            return None
        return _METRICS[name](self)

    def to_json(self) -> dict[str, Any]:
        return {"v": FORMAT, "predicted": self.predicted, "labelled": self.labelled,
                "confusion2": [self.tp, self.fp, self.tn, self.fn], "log_loss_sum": self.log_loss_sum,
                "positives": sorted(self.positives.items()), "negatives": sorted(self.negatives.items()),
                "confusion": [[p, a, n] for (p, a), n in sorted(self.confusion.items())],
                "abs_error_sum": self.abs_error_sum, "sq_error_sum": self.sq_error_sum}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PerformanceState:
        if data.get("v") != FORMAT:
            raise ValueError(f"performance state format v{data.get('v')}; this version reads v{FORMAT}")
        tp, fp, tn, fn = data["confusion2"]
        return cls(data["predicted"], data["labelled"], tp, fp, tn, fn, data["log_loss_sum"],
                   Counter(dict(map(tuple, data["positives"]))), Counter(dict(map(tuple, data["negatives"]))),
                   Counter({(p, a): n for p, a, n in data["confusion"]}),
                   data["abs_error_sum"], data["sq_error_sum"])


def _bin(score: float) -> int:
    return min(int(score * BINS), BINS - 1)


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom else None


def _accuracy(s: PerformanceState) -> float | None:
    if s.confusion:
        return sum(n for (p, a), n in s.confusion.items() if p == a) / s.labelled
    return _ratio(s.tp + s.tn, s.tp + s.tn + s.fp + s.fn)


def _f1(s: PerformanceState) -> float | None:
    if not s.confusion:
        return _ratio(2 * s.tp, 2 * s.tp + s.fp + s.fn)
    classes = {c for pair in s.confusion for c in pair}
    scores = []
    for c in classes:
        tp = s.confusion[(c, c)]
        fp = sum(n for (p, a), n in s.confusion.items() if p == c and a != c)
        fn = sum(n for (p, a), n in s.confusion.items() if a == c and p != c)
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)   # macro: every class weighs the same


def _roc_auc(s: PerformanceState) -> float | None:
    positives, negatives = s.positives.total(), s.negatives.total()
    if not positives or not negatives:
        return None
    below = 0   # negatives in lower bins
    wins = 0.0
    for b in sorted(set(s.positives) | set(s.negatives)):
        wins += s.positives[b] * (below + s.negatives[b] / 2)
        below += s.negatives[b]
    return wins / (positives * negatives)


_METRICS: dict[str, Callable[[PerformanceState], float | None]] = {
    "accuracy": _accuracy,
    "precision": lambda s: _ratio(s.tp, s.tp + s.fp),
    "recall": lambda s: _ratio(s.tp, s.tp + s.fn),
    "f1": _f1,
    "roc_auc": _roc_auc,
    "log_loss": lambda s: s.log_loss_sum / s.labelled,
    "mae": lambda s: s.abs_error_sum / s.labelled,
    "rmse": lambda s: math.sqrt(s.sq_error_sum / s.labelled),
}
