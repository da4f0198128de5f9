"""The `multivariate` check: a window's mean PCA reconstruction error against the snapshot's.

The value is the relative change of the mean error, either way: `|mean now / mean in the snapshot - 1|`.
A rise says events fell off the reference's principal components (a relationship between features
broke, or one appeared across the components kept); a fall says the window is more regular than the
reference (features became more tied to each other, or a feature's spread collapsed). The p-value is
Welch's z-test of the two means, so a small window's noise grades `info` at most, while a large
window's trivial change stays below the thresholds. The errors are exact sums (mean and standard
deviation from the profile's counters); the snapshot's are over the rows the PCA was fitted on.

>>> import numpy as np
>>> from stream_guard.core.profiles.multivariate import ERROR_SPEC, error_column
>>> def errors(values):
...     profile = NumericProfile()
...     profile.fold(error_column(np.asarray(values, dtype=float)), np.arange(len(values)), ERROR_SPEC)
...     return profile
>>> measure = reconstruction_change(errors([1.0, 2.0, 3.0] * 100), errors([2.0, 3.0, 4.0] * 100))
>>> round(measure.value, 3), measure.p_value < 1e-6
(0.5, True)
"""

from __future__ import annotations

import math

from stream_guard.core.judging.checks import Measure
from stream_guard.core.profiles.multivariate import RECONSTRUCTION, ReconstructionModel
from stream_guard.core.profiles.profile import FeatureProfile, NumericProfile, WindowProfile

CHECK = "multivariate"
METRIC = "reconstruction_error_change"
NAMED = 8   # features a summary names


def reconstruction_change(reference: NumericProfile, current: NumericProfile) -> Measure:
    """|mean error now / mean error in the reference - 1|, with Welch's z-test p-value."""
    before, now = reference.mean(), current.mean()
    if not reference.summed or before <= 0:
        return Measure(None, None, "the snapshot's reconstruction errors are all 0 (its features are "
                                   "exactly on its components)")
    difference = now - before
    error = math.sqrt(reference.std() ** 2 / reference.summed + current.std() ** 2 / max(current.summed, 1))
    p_value = math.erfc(abs(difference) / error / math.sqrt(2)) if error else float(difference == 0)
    return Measure(abs(difference) / before, p_value, f"mean reconstruction error {before:.4g} → {now:.4g}")


def measure_window(model: ReconstructionModel | None, current: WindowProfile,
                   reference: FeatureProfile | None) -> tuple[Measure, int, int]:
    """The check on a closed window: its measure, the events with an error, the reference's rows."""
    errors = current.features.get(RECONSTRUCTION)
    if model is None or not isinstance(reference, NumericProfile):
        return Measure(None, None, "the snapshot holds no PCA (built before it was fitted, or with fewer "
                                   "than two numeric features)"), current.events, 0
    if not isinstance(errors, NumericProfile) or errors.n == 0:
        return Measure(None, None, f"no event carried any of {', '.join(model.features)}"), 0, reference.n
    measure = reconstruction_change(reference, errors)
    imputed = sum(f.missing + f.invalid for name in model.features
                  if isinstance(f := current.features.get(name), NumericProfile)) - errors.missing * len(model.features)
    names = ", ".join(model.features[:NAMED]) + (f" and {len(model.features) - NAMED} more"
                                                 if len(model.features) > NAMED else "")
    shares = f"PCA of {names}: {model.kept} components, {model.explained:.0%} of the snapshot's variance"
    detail = f"{measure.detail} ({shares}"
    detail += f"; {imputed:,} missing or invalid values imputed with the snapshot's mean)" if imputed > 0 else ")"
    return Measure(measure.value, measure.p_value, detail), errors.n, reference.n

