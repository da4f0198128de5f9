"""A binary model's traffic for `estimated_performance` tests and benchmarks: labelled training rows and
unlabelled scored events, whose scores may slide towards 0.5 (the model growing unsure).

The true log-odds of an event is `z ~ N(0, spread²)`; its label is 1 with probability sigmoid(z); the
model is overconfident, scoring sigmoid(1.6 z), so only a calibration fitted on labelled rows reads
its scores right. Uncertainty `u` scales z by 1 − u: the events get harder and the scores move to 0.5
together, so the model's real accuracy drops (from about 0.84 at u = 0 to 0.70 at u = 0.6) while no
label has arrived yet.

>>> rows = training_rows(np.random.default_rng(1), 3)
>>> sorted(rows[0])
['label', 'score', 'x']
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPREAD = 2.5
OVERCONFIDENCE = 1.6


def _draw(rng: np.random.Generator, n: int, uncertainty: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = rng.normal(0.0, SPREAD, n) * (1 - uncertainty)
    labels = rng.random(n) < 1 / (1 + np.exp(-z))
    scores = 1 / (1 + np.exp(-OVERCONFIDENCE * z))
    return z, scores.round(5), labels


def training_rows(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """Labelled rows (`x`, `score`, `label`) for a snapshot reference with a calibration."""
    z, scores, labels = _draw(rng, n, 0.0)
    return [{"x": round(float(a), 4), "score": float(s), "label": int(y)} for a, s, y in zip(z, scores, labels)]


def scored_events(rng: np.random.Generator, start: int, windows: int, size: int, per_window: int,
                  uncertainty: float = 0.0, from_window: int = 0) -> list[dict[str, Any]]:
    """Events (`ts`, `x`, `score`) over `windows` windows of `size` ms from `start`, with `uncertainty` from
    window `from_window` on; their labels are never sent."""
    events = []
    for w in range(windows):
        z, scores, _ = _draw(rng, per_window, uncertainty if w >= from_window else 0.0)
        times = start + w * size + np.sort(rng.integers(0, size, per_window))
        events += [{"ts": int(t), "x": round(float(a), 4), "score": float(s)} for t, a, s in zip(times, z, scores)]
    return events


def realized_accuracy(uncertainty: float, threshold: float = 0.5, n: int = 200_000, seed: int = 0) -> float:
    """The model's true accuracy at `uncertainty` (by simulation), for benchmarks to compare with."""
    _, scores, labels = _draw(np.random.default_rng(seed), n, uncertainty)
    return float(np.mean((scores >= threshold) == labels))
