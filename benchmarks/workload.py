"""The benchmark's events: 20 numeric and 5 categorical features, like a typical tabular model's log."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
WINDOW_MS = 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % WINDOW_MS   # the first window's start, epoch ms
PER_MESSAGE_WINDOW = 10_000   # events per window in the per-message run (the batched run has 50,000)


def events(count: int, start_ms: int, per_window: int, seed: int = 3, shifted: set[int] | None = None
           ) -> list[dict[str, Any]]:
    """`count` events, `per_window` per one-minute window; windows in `shifted` move n00 by 3 sd."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(0.0, 1.0, (count, len(NUMERIC))).round(4)
    labels = rng.integers(0, 8, (count, len(CATEGORICAL)))
    window = np.arange(count) // per_window
    if shifted:
        numbers[np.isin(window, list(shifted)), 0] += 3.0
    times = start_ms + window * WINDOW_MS + (np.arange(count) % per_window) * (WINDOW_MS // per_window)
    return [
        {"ts": int(times[i]),
         "features": {**dict(zip(NUMERIC, numbers[i].tolist())),
                      **{c: f"v{labels[i, j]}" for j, c in enumerate(CATEGORICAL)}}}
        for i in range(count)
    ]


def messages(batch: list[dict[str, Any]], per_message: int) -> list[bytes]:
    """One JSON object per message when `per_message` is 1, else JSON arrays of that many events."""
    if per_message == 1:
        return [orjson.dumps(e) for e in batch]
    return [orjson.dumps(batch[i:i + per_message]) for i in range(0, len(batch), per_message)]


def topology(app: str, topic: str, broker: str, redis: str, fmt: str = "json", size: str = "1m",
             grace: str = "1s", alerts: str = "bench.alerts") -> str:
    """A topology YAML text watching every feature of the workload."""
    features = "\n".join([f"      {n}: {{type: numeric, field: features.{n}}}" for n in NUMERIC]
                         + [f"      {c}: {{type: categorical, field: features.{c}}}" for c in CATEGORICAL])
    return f"""version: 1
app: {app}
kafka: {{broker: "{broker}", session_timeout: 6s}}
redis: {{url: "{redis}"}}
alerts: {{topic: {alerts}, dead_letter_topic: bench.dead-letters}}
monitors:
  - name: bench
    source: {{topic: {topic}, timestamp: ts, format: {fmt}, batch_within: 50ms}}
    window: {{size: {size}, grace: {grace}}}
    reference: {{kind: rolling, windows: 5, min_windows: 2}}
    min_samples: 100
    features:
{features}
"""
