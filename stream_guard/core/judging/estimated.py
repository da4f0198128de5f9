"""The `estimated_performance` check: a binary model's metric estimated from the window's scores alone,
against the same estimate over the reference's scores, as a drop (positive is worse).

The window is read from the prediction's KLL sketch, which every window already holds: its CDF at
the calibration's bin edges (and at the threshold) gives the share of scores per segment. The
reference is read the same way from its sketch, or, for a labelled snapshot, from the exact
histogram of its labelled scores. Both use one calibration: the isotonic map fitted on a snapshot
reference's labelled rows, or, without one, the scores themselves taken as probabilities (the
summary says which). Comparing estimate with estimate, rather than with a realized metric, makes
the calibration's and the sketch's errors largely cancel on clean traffic.

The p-value (one-sided, "the metric did not drop") comes from both estimates' standard errors under
sampling of the scores (delta method; `ExpectedConfusion.standard_error`), so the monitor's
multiple-testing correction keeps a thin window's noise at info, as for the drift checks. ROC AUC
has none: its estimate moves little with sampling (see docs/checks.md).
"""

from __future__ import annotations

import math

import numpy as np

from stream_guard.core.judging.checks import Measure
from stream_guard.core.judging.references import Reference
from stream_guard.core.labels.calibration import Calibration, ExpectedConfusion
from stream_guard.core.labels.scores import BINS
from stream_guard.core.profiles.profile import FeatureProfile, NumericProfile
from stream_guard.core.topology.model_spec import prediction_name
from stream_guard.core.topology.monitor import MonitorSpec

CHECK = "estimated_performance"
LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "roc_auc": "ROC AUC"}


def predicted_feature(monitor: MonitorSpec) -> str:
    """The prediction field whose scores the check reads (the topology checks there is one)."""
    assert monitor.model is not None
    name = prediction_name(monitor.model, {n: f.type for n, f in monitor.prediction.items()})
    assert name is not None, "the topology checks that the model names its prediction"
    return name


def calibration_of(reference: Reference) -> tuple[Calibration, str]:
    """The calibration the check uses, and how the summary names it."""
    snapshot = reference.snapshot
    if snapshot is not None and snapshot.labels is not None and snapshot.labels.labelled:
        fitted = Calibration.fit(snapshot.labels.positives, snapshot.labels.negatives)
        return fitted, f"calibrated on {fitted.labelled:,} labelled rows of snapshot {snapshot.name!r}"
    why = (f"snapshot {snapshot.name!r} holds no labels" if snapshot is not None
           else "no labelled snapshot reference")
    return Calibration.identity(), f"scores taken as calibrated ({why})"


def score_segments(profile: NumericProfile, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The profile's scores as segments between the calibration's bin edges and the threshold: each
    segment's lower edge and share of the scores (below 0 counts in the first, above 1 in the last)."""
    edges = np.union1d(np.arange(1, BINS) / BINS, [threshold])
    edges = edges[(edges > 0) & (edges < 1)]
    cdf = np.asarray(profile.sketch.get_cdf(edges.tolist(), False), dtype=float)   # P(score < edge), then 1
    mass = np.diff(np.concatenate(([0.0], cdf)))
    return np.concatenate(([0.0], edges)), np.clip(mass, 0.0, None)


def expected(profile: NumericProfile, calibration: Calibration, threshold: float) -> ExpectedConfusion:
    """The expected confusion of the profile's scores under the calibration (the profile holds scores)."""
    lower, mass = score_segments(profile, threshold)
    return calibration.expected(lower, mass, threshold)


def estimate(profile: NumericProfile, calibration: Calibration, metric: str, threshold: float) -> float | None:
    """The metric the calibration expects over the profile's scores (None for an empty profile)."""
    return expected(profile, calibration, threshold).metric(metric) if profile.n else None


def estimated_drop(monitor: MonitorSpec, feature: FeatureProfile, reference: Reference) -> Measure:
    """Reference estimate − window estimate of the check's metric, with a one-sided p-value for "no drop"
    from both estimates' standard errors (none for ROC AUC); both estimates and the calibration in the detail."""
    assert monitor.model is not None
    metric, threshold = monitor.checks.estimated_performance.metric, monitor.model.threshold
    ref = reference.feature
    if ref is None or not isinstance(ref, NumericProfile) or not isinstance(feature, NumericProfile):
        return Measure(None, None, f"reference not ready: {reference.description}")
    if feature.n == 0 or ref.n == 0:
        return Measure(None, None, "no scores to estimate from")
    calibration, how = calibration_of(reference)
    current, (before, n_before) = expected(feature, calibration, threshold), _reference_expected(
        ref, reference, calibration, threshold)
    now, then = current.metric(metric), before.metric(metric)
    if now is None or then is None:
        return Measure(None, None, f"estimated {LABELS[metric]} undefined ({how})")
    own, theirs = current.standard_error(metric, feature.n), before.standard_error(metric, n_before)
    p_value, spread = None, ""
    if own is not None and theirs is not None:
        error = math.hypot(own, theirs)
        p_value = 0.5 * math.erfc((then - now) / error / math.sqrt(2)) if error else float(then <= now)
        spread = f" (± {own:.2g})"
    detail = f"estimated {LABELS[metric]} {then:.3g} → {now:.3g}{spread}{_realized(reference, metric)}; {how}"
    return Measure(then - now, p_value, detail)


def _reference_expected(profile: NumericProfile, reference: Reference, calibration: Calibration,
                        threshold: float) -> tuple[ExpectedConfusion, float]:
    """The reference's expected confusion and its number of scores: from a labelled snapshot's exact
    histogram when it has one (its sketch's rank error would move scores across the threshold), else
    from the sketch."""
    labels = reference.snapshot.labels if reference.snapshot is not None else None
    if labels is None or not labels.labelled:
        return expected(profile, calibration, threshold), profile.n
    counts = labels.positives + labels.negatives
    bins = np.asarray(sorted(counts), dtype=float)
    mass = np.asarray([counts[int(b)] for b in bins], dtype=float) / labels.labelled
    return calibration.expected(bins / BINS, mass, threshold), labels.labelled


def _realized(reference: Reference, metric: str) -> str:
    labels = reference.snapshot.labels if reference.snapshot is not None else None
    value = labels.metric(metric) if labels is not None else None
    return f" (realized on the snapshot: {value:.3g})" if value is not None else ""
