"""Predictions with ids and their labels, coming late: traffic for `replay --labels`, tests and benchmarks.

A binary model scores each request; its label arrives between `min_delay` and `max_delay` later, in
an order of its own. From window `broken_from` on, the model's scores no longer follow the outcome
(each score is drawn for another request's outcome; for a `broken_share` of the requests only): the
score distribution stays the same, so no drift check sees it, and only the labels show the accuracy
falling.

>>> events, labels = label_traffic(windows=2, per_window=4, seed=1)
>>> len(events), len(labels), sorted(events[0])
(8, 8, ['features', 'request_id', 'score', 'ts'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

START_MS = 1_767_225_600_000   # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class LabelTraffic:
    windows: int = 12
    per_window: int = 1000
    window_ms: int = 60_000
    broken_from: int | None = None     # first window where scores stop following the outcome
    broken_share: float = 1.0          # the share of requests from then on whose score does
    positive_rate: float = 0.3
    min_delay: int = 0
    max_delay: int = 180_000           # labels arrive up to three one-minute windows late
    labelled: float = 1.0              # share of predictions that ever get a label
    seed: int = 7


def label_traffic(**options: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(prediction events in time order, label events in time order)."""
    spec = LabelTraffic(**options)
    rng = np.random.default_rng(spec.seed)
    n = spec.windows * spec.per_window
    times = START_MS + np.sort(rng.integers(0, spec.windows * spec.window_ms, n))
    outcome = rng.random(n) < spec.positive_rate
    believed = outcome.copy()
    if spec.broken_from is not None:
        broken = times >= START_MS + spec.broken_from * spec.window_ms
        if spec.broken_share < 1:
            broken &= rng.random(n) < spec.broken_share
        believed[broken] = rng.random(int(broken.sum())) < spec.positive_rate
    scores = 1 / (1 + np.exp(-(np.where(believed, 1.5, -1.5) + rng.normal(0, 1.0, n))))
    events = [{"ts": int(t), "request_id": f"r{i}", "score": round(float(s), 4),
               "features": {"amount": round(float(a), 2)}}
              for i, (t, s, a) in enumerate(zip(times, scores, rng.lognormal(3, 1, n), strict=True))]
    delays = rng.integers(spec.min_delay, spec.max_delay + 1, n)
    kept = rng.random(n) < spec.labelled
    labels = [{"ts": int(t + d), "request_id": f"r{i}", "label": int(y)}
              for i, (t, d, y, k) in enumerate(zip(times, delays, outcome, kept, strict=True)) if k]
    return events, sorted(labels, key=lambda label: label["ts"])


def label_topology(app: str = "labels-demo", broker: str = "kafka://127.0.0.1:9092",
                   redis: str = "redis://127.0.0.1:6379/0", max_delay: str = "10m") -> str:
    """A topology for `label_traffic`: one-minute windows, accuracy graded against the 5 windows before."""
    return f"""version: 1
app: {app}
kafka: {{broker: "{broker}"}}
redis: {{url: "{redis}"}}
monitors:
  - name: scorer
    source: {{topic: {app}.predictions, timestamp: ts}}
    window: {{size: 1m, grace: 5s}}
    reference: {{kind: rolling, windows: 5}}
    features:
      amount: {{type: numeric, field: features.amount}}
    prediction:
      score: {{type: numeric}}
    model: {{task: binary, threshold: 0.5}}
    labels: {{topic: {app}.labels, id: request_id, field: label, timestamp: ts, max_delay: {max_delay}}}
    checks:
      performance: {{metric: accuracy, warning: 0.05, critical: 0.1}}
"""
