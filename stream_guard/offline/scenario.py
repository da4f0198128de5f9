"""The demo's traffic: a fraud model's feature events, with scripted faults, reproducible from a seed.

Each one-minute window holds `events_per_window` events. Without faults every window is drawn from
the same distributions; with faults, three incidents each last two windows:

    window   0 1 2 3 | 4 5 | 6 7 | 8 9 | 10 11 ...
             warm-up | amount ×2.5 | age missing | country 'XK' | clean again
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

WINDOW_MS = 60_000


@dataclass(frozen=True)
class Fault:
    name: str
    feature: str
    checks: tuple[str, ...]   # the checks expected to go critical
    first_window: int
    last_window: int
    description: str
    warnings: tuple[str, ...] = ()   # the checks expected to warn (a small share of the events is affected)

    def active(self, window: int) -> bool:
        return self.first_window <= window <= self.last_window


FAULTS = (
    Fault("amount-shift", "amount", ("numeric_drift", "mean_shift"), 4, 5, "amount ×2.5: an upstream unit change",
          warnings=("outside_reference",)),
    Fault("age-missing", "age", ("missing_rate",), 6, 7, "40% of events lose `age`"),
    Fault("new-country", "country", ("categorical_drift", "new_category"), 8, 9,
          "a new country code 'XK' takes 25% of traffic"),
)
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN"]
COUNTRY_SHARES = [0.4, 0.15, 0.15, 0.1, 0.1, 0.1]
DEVICES = ["ios", "android", "web"]


def active_faults(window: int, faults: bool = True) -> list[Fault]:
    return [f for f in FAULTS if faults and f.active(window)]


def window_events(window: int, start_ms: int, events_per_window: int, seed: int = 7,
                  faults: bool = True) -> list[dict[str, Any]]:
    """The events of window number `window` (window 0 starts at `start_ms`), in time order."""
    rng = np.random.default_rng([seed, window])
    n = events_per_window
    active = {f.name for f in active_faults(window, faults)}
    times = np.sort(rng.integers(0, WINDOW_MS, n)) + start_ms + window * WINDOW_MS
    amount = rng.lognormal(4.0, 0.6, n) * (2.5 if "amount-shift" in active else 1.0)
    age = rng.integers(18, 80, n)
    age_missing = rng.random(n) < (0.4 if "age-missing" in active else 0.0)
    country = rng.choice(COUNTRIES, n, p=COUNTRY_SHARES)
    if "new-country" in active:
        country = np.where(rng.random(n) < 0.25, "XK", country)
    device = rng.choice(DEVICES, n, p=[0.45, 0.4, 0.15])
    tenure = rng.gamma(2.0, 200.0, n)
    score = rng.beta(2.0, 8.0, n)
    return [
        {
            "ts": int(times[i]),
            "event_id": f"w{window}-{i}",
            "model_version": "fraud-v7",
            "features": {
                "amount": round(float(amount[i]), 2),
                "age": None if age_missing[i] else int(age[i]),
                "country": str(country[i]),
                "device": str(device[i]),
                "tenure_days": round(float(tenure[i]), 1),
            },
            "prediction": {"score": round(float(score[i]), 4)},
        }
        for i in range(n)
    ]


def stream(windows: int, start_ms: int, events_per_window: int, seed: int = 7,
           faults: bool = True) -> Iterator[dict[str, Any]]:
    for window in range(windows):
        yield from window_events(window, start_ms, events_per_window, seed, faults)
