"""Multivariate drift: how far each event lies from the reference's principal components.

A `ReconstructionModel` is a PCA fitted on a snapshot reference's numeric features: each feature is
standardised with the reference's mean and standard deviation, and the fewest components that explain
`variance` of the standardised variance are kept (the check's setting, 0.8 by default; at most one
fewer than there are features, so some variance is always left out). An event's reconstruction
error is the Euclidean distance between its standardised row and that row projected onto the kept
components and back. When the relationship between features changes (two features that moved
together no longer do, or the reverse), events fall off the reference's components and the error
grows, though no feature's own distribution moved.

A missing or invalid value is imputed with the reference mean (0 once standardised), as NannyML's
data reconstruction drift does; an event without any of the model's features has no error and counts
as missing in the error's profile. The errors of a window are folded like a numeric feature's values
into the window's profile under `RECONSTRUCTION`, so they are stored, merged and restored like any
feature's profile. Computing them costs two small matrix products per batch:

>>> rng = np.random.default_rng(1)
>>> x = rng.normal(size=2000)
>>> rows = np.column_stack((x, x + 0.5 * rng.normal(size=2000)))
>>> model = ReconstructionModel.fit(("a", "b"), rows)
>>> model.kept, round(model.explained, 2)
(1, 0.95)
>>> broken = np.column_stack((x, rng.permutation(rows[:, 1])))     # b's values, no longer tied to a
>>> round(float(model.errors(rows).mean()), 2), round(float(model.errors(broken).mean()), 2)
(0.26, 0.8)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_guard.core.decoding.columns import MISSING, VALID, FeatureColumn
from stream_guard.core.topology.features import FeatureSpec
from stream_guard.core.topology.monitor import MonitorSpec

RECONSTRUCTION = "*reconstruction_error"   # the error's profile among a window's features
VARIANCE_KEPT = 0.8       # share of the standardised variance the kept components explain (NannyML's: 0.65)
SAMPLE_ROWS = 100_000     # reference rows the PCA is fitted on: a uniform sample of larger references
CHUNK_ROWS = 1024         # rows projected at a time
MODEL_TYPES = ("numeric", "integer")   # feature types the PCA takes (timestamps are left out)
ERROR_SPEC = FeatureSpec(type="numeric")


def model_features(monitor: MonitorSpec) -> tuple[str, ...]:
    """The monitor's features a reconstruction model is fitted on (prediction fields are left out)."""
    return tuple(name for name, spec in monitor.features.items() if spec.type in MODEL_TYPES)


def numeric_matrix(columns: Mapping[str, FeatureColumn], features: Sequence[str]) -> np.ndarray:
    """Events × features; NaN where a value is missing or invalid."""
    numbers = [columns[name].numbers for name in features]
    assert all(n is not None for n in numbers), "the model's features are numeric"
    return np.column_stack(numbers)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ReconstructionModel:
    """A PCA of standardised reference rows: `components` (kept × features) has orthonormal rows."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained: float          # share of the standardised variance the kept components explain
    rows: int                 # reference rows it was fitted on

    @property
    def kept(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def fit(cls, features: Sequence[str], rows: np.ndarray,
            variance: float = VARIANCE_KEPT) -> ReconstructionModel | None:
        """The model of `rows` (events × features, NaN where missing); None without two features or rows."""
        if len(features) < 2 or len(rows) < 2:
            return None
        mean = np.nan_to_num(np.nanmean(rows, axis=0)) if np.isfinite(rows).any(axis=0).all() else None
        if mean is None:    # a feature with no value at all in the reference
            return None
        scale = np.nanstd(rows, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)   # a constant feature stays as it is
        standard = np.nan_to_num((rows - mean) / scale)
        _, singular, vectors = np.linalg.svd(standard - standard.mean(axis=0), full_matrices=False)
        spread = singular ** 2
        shares = np.cumsum(spread) / spread.sum() if spread.sum() > 0 else np.ones(len(spread))
        kept = min(int(np.searchsorted(shares, variance - 1e-12)) + 1, len(features) - 1)
        return cls(tuple(features), mean, scale, vectors[:kept].copy(), float(shares[kept - 1]), len(rows))

    def errors(self, rows: np.ndarray) -> np.ndarray:
        """Each row's reconstruction error; NaN for a row holding none of the features."""
        standard = (rows - self.mean) / self.scale
        missing = np.isnan(standard)
        none = missing.all(axis=1) if missing.any() else None
        if none is not None:
            standard[missing] = 0.0
        squared = np.empty(len(standard))
        # a slice at a time, so the products stay in the cache and a small matrix product never spreads over
        # BLAS threads (on a busy machine that measured 20 times slower). The residual is orthogonal to the
        # projection: |z - z C'C|² = |z|² - |z C'|²
        for i in range(0, len(standard), CHUNK_ROWS):
            part = standard[i:i + CHUNK_ROWS]
            projected = part @ self.components.T
            squared[i:i + CHUNK_ROWS] = np.einsum("ij,ij->i", part, part) - np.einsum("ij,ij->i", projected, projected)
        errors: np.ndarray = np.sqrt(np.maximum(squared, 0.0, out=squared), out=squared)
        if none is not None:
            errors[none] = np.nan
        return errors

    def batch_errors(self, columns: Mapping[str, FeatureColumn]) -> FeatureColumn:
        """The errors of a batch's events as a numeric column (missing where no feature is present)."""
        return error_column(self.errors(numeric_matrix(columns, self.features)))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "components": self.components.tolist(), "explained": self.explained, "rows": self.rows}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReconstructionModel:
        width = len(data["features"])
        return cls(tuple(data["features"]), np.asarray(data["mean"], dtype=float),
                   np.asarray(data["scale"], dtype=float),
                   np.asarray(data["components"], dtype=float).reshape(-1, width),
                   float(data["explained"]), int(data["rows"]))


def error_column(errors: np.ndarray) -> FeatureColumn:
    return FeatureColumn("numeric", np.where(np.isnan(errors), MISSING, VALID).astype(np.int8), numbers=errors)


class RowSample:
    """A uniform sample of at most `size` rows of a stream of batches (reservoir sampling, seeded)."""

    def __init__(self, width: int, size: int = SAMPLE_ROWS, seed: int = 21) -> None:
        self.rows = np.empty((0, width))
        self.size = size
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    def add(self, batch: np.ndarray) -> None:
        room = max(self.size - len(self.rows), 0)
        if room:
            self.rows = np.concatenate((self.rows, batch[:room]))
        rest = batch[room:]
        if len(rest):
            # the row numbered i (from 0) replaces a random kept row with probability size / (i + 1)
            slots = self._rng.integers(0, self.seen + room + np.arange(1, len(rest) + 1))
            taken = slots < self.size
            self.rows[slots[taken]] = rest[taken]
        self.seen += len(batch)


def active_model(monitor: MonitorSpec, model: ReconstructionModel | None) -> ReconstructionModel | None:
    """The model events are folded with: the snapshot's, while the check is on and every one of its
    features is still a numeric feature of the monitor (a topology changed since leaves it out)."""
    if model is None or not monitor.checks.multivariate.enabled or monitor.reference.kind != "snapshot":
        return None
    features = monitor.features
    return model if all(name in features and features[name].type in MODEL_TYPES for name in model.features) \
        else None
