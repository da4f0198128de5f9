"""Seeded event streams with known change points, one per kind of fault a model's inputs suffer.

Every scenario watches the same event shape, a small tabular model's log:

    {"ts": epoch ms, "x": numeric N(50, 10) within its declared range 0-100, "y": numeric lognormal,
     "c": one of six categories,
     "score": the model's output in [0, 1], Beta(2, 5)}

and changes one thing from its change window on, until the end of the stream. Windows are one
minute of event time (one hour for the seasonal control) and hold `per_window` events each unless
the scenario changes the volume. Window `w` is drawn from its own generator seeded with
`(seed, scenario number, w)`, so a quick run's windows are the full run's first windows.

Only numpy here: the peers' virtualenv imports this module too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
START = 1_800_000_000_000 - 1_800_000_000_000 % DAY   # midnight UTC: the seasonal pattern starts at hour 0
X_MEAN, X_SD = 50.0, 10.0
CATEGORIES = ["a", "b", "c", "d", "e", "f"]
SHARES = np.array([0.30, 0.25, 0.20, 0.12, 0.08, 0.05])
ROLLING = {"kind": "rolling", "windows": 10, "min_windows": 3}
SEASONAL = {"kind": "seasonal", "period_windows": 24}
Columns = dict[str, Any]     # feature name -> numpy array (or list, for categories) for one window


@dataclass(frozen=True)
class Scale:
    """How long the streams are: windows before the change, after a sudden one, for the drift."""

    per_window: int
    before: int            # windows before the change (the first 3 fill the reference, 10 fill it fully)
    after: int             # windows after a sudden change
    drift: int             # windows of the gradual drift (it reaches 2 sd after 60)
    control: int           # windows of the rolling control
    seasonal_days: int     # days of hourly windows in the seasonal control


FULL = Scale(per_window=1000, before=25, after=12, drift=60, control=60, seasonal_days=4)
QUICK = Scale(per_window=1000, before=14, after=4, drift=32, control=24, seasonal_days=3)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    kind: str                                   # sudden | gradual | control
    fault: Callable[[Columns, int, np.random.Generator], Columns] | None = None
    feature: str = "x"                          # what the fault touches ("*": the whole stream)
    seasonal: bool = False
    snapshot: bool = False                      # compared with a snapshot of the first 10 windows
    external: bool = False                      # events made in the peers' virtualenv (River's generator)
    correlated: bool = False                    # y tied to x in every window (see `clean_columns`)
    estimated: bool = False                     # score is a binary model's: estimated_performance runs too
    numeric: tuple[str, ...] = ("x", "y", "score")
    categorical: tuple[str, ...] = ("c",)
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: {"x": (0.0, 100.0), "score": (0.0, 1.0)})

    def window_ms(self) -> int:
        return HOUR if self.seasonal else MINUTE

    def reference(self) -> dict[str, Any]:
        return SEASONAL if self.seasonal else ROLLING

    def windows(self, scale: Scale) -> int:
        if self.seasonal:
            return 24 * scale.seasonal_days
        if self.kind == "control":
            return scale.control
        return scale.before + (scale.drift if self.kind == "gradual" else scale.after)

    def change_window(self, scale: Scale) -> int | None:
        return None if self.kind == "control" else scale.before

    def tolerance(self, scale: Scale) -> int:
        """Windows from the change in which the first alarm counts as its detection: all that follow it."""
        return self.windows(scale) - (self.change_window(scale) or 0)

    def shift_sd(self, window: int, scale: Scale) -> float:
        """The gradual drift's mean shift in `window`, in sd of x (0 before the change)."""
        change = self.change_window(scale)
        if self.kind != "gradual" or change is None or window < change:
            return 0.0
        return drift_shift(window - change)


def drift_shift(since_change: int) -> float:
    """Linear: 2 sd after 60 windows, 1 sd in the 30th changed window (since_change = 29)."""
    return 2.0 * min(since_change + 1, 60) / 60


# the faults: each takes the clean columns of one changed window ----------------------------------

def _mean_shift(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "x": cols["x"] + 0.5 * X_SD}


def _gradual(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "x": cols["x"] + drift_shift(since) * X_SD}


def _variance(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "x": X_MEAN + (cols["x"] - X_MEAN) * 2.0}


def _frequencies(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    shares = np.array([0.12, 0.25, 0.20, 0.30, 0.08, 0.05])    # a and d swap their shares
    return {**cols, "c": rng.choice(CATEGORIES, len(cols["c"]), p=shares)}


def _new_category(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    c = np.where(rng.random(len(cols["c"])) < 0.10, "g", cols["c"])
    return {**cols, "c": c}


def _coverage(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    x = cols["x"].copy()
    x[rng.random(len(x)) < 0.30] = np.nan
    return {**cols, "x": x}


def _out_of_range(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    x = cols["x"].copy()
    x[rng.random(len(x)) < 0.10] = -1.0        # a sentinel for "unknown" from one upstream shard
    return {**cols, "x": x}


def _new_category_5(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "c": np.where(rng.random(len(cols["c"])) < 0.05, "g", cols["c"])}


def _stuck(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "x": np.full(len(cols["x"]), 51.7)}


def _prediction(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "score": rng.beta(3.0, 5.0, len(cols["score"]))}


def _decorrelate(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "y": rng.permutation(cols["y"])}    # the same values, no longer tied to x


def _unsure(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    return {**cols, "score": 0.5 + (cols["score"] - 0.5) * 0.5}


def _volume(cols: Columns, since: int, rng: np.random.Generator) -> Columns:
    keep = len(cols["x"]) // 2
    return {name: values[:keep] for name, values in cols.items()}


SCENARIOS = [
    Scenario("mean_shift", "x: mean +0.5 sd", "sudden", _mean_shift),
    Scenario("gradual_drift", "x: mean drifts linearly, +2 sd after 60 windows", "gradual", _gradual),
    Scenario("variance", "x: sd ×2, same mean", "sudden", _variance),
    Scenario("category_frequency", "c: the shares of a (30%) and d (12%) swap", "sudden", _frequencies, "c"),
    Scenario("new_category", "c: an unseen value g takes 10% of events", "sudden", _new_category, "c"),
    Scenario("coverage_drop", "x: missing in 30% of events (was 0%)", "sudden", _coverage),
    Scenario("out_of_range", "x: 10% of values are -1, outside its declared range 0–100", "sudden", _out_of_range),
    Scenario("stuck_sensor", "x: constant 51.7 (near its mean)", "sudden", _stuck),
    Scenario("prediction_shift", "score: Beta(2, 5) → Beta(3, 5), +0.55 sd", "sudden", _prediction, "score"),
    Scenario("volume_drop", "half the events per window", "sudden", _volume, "*"),
    Scenario("river_agrawal", "River's Agrawal generator: approval function 0 → 2, the 0/1 output `label` "
             "falls from 67% to 53% approvals, features unchanged", "sudden", feature="label", external=True,
             numeric=("salary", "commission", "age", "hvalue", "loan", "label"),
             categorical=("elevel", "car", "zipcode"), ranges={"label": (0.0, 1.0)}),
    Scenario("learned_range", "x: 10% of values are -1, no range declared (learned from the reference)",
             "sudden", _out_of_range, ranges={"score": (0.0, 1.0)}),
    Scenario("new_category_5pct", "c: an unseen value g takes 5% of events", "sudden", _new_category_5, "c"),
    Scenario("volume_drop_snapshot", "half the events per window, distribution checks against a snapshot of "
             "the first 10 windows", "sudden", _volume, "*", snapshot=True),
    Scenario("control", "no change, rolling reference", "control"),
    Scenario("seasonal_control", "no change beyond a daily pattern (x ±1 sd, score, volume ±40%); hourly "
             "windows, seasonal reference one day back", "control", seasonal=True),
    # added last, so the scenarios before it keep their seeds (a window's seed holds its scenario's index)
    Scenario("correlation_break", "x and y correlated (0.8, y on the log scale), then y's values shuffled within "
             "each window: every marginal unchanged, the tie gone; against a snapshot of the first 10 windows",
             "sudden", _decorrelate, "*", snapshot=True, correlated=True),
    Scenario("score_uncertainty", "score: pulled halfway to 0.5 (the model grows unsure; no label sent); the "
             "monitor declares model: {task: binary} and estimated_performance", "sudden", _unsure, "score",
             estimated=True),
]


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


def clean_columns(s: Scenario, window: int, count: int, rng: np.random.Generator) -> Columns:
    """One window's unchanged values; the seasonal control's follow the hour of the day."""
    phase = np.sin(2 * np.pi * (window % 24) / 24) if s.seasonal else 0.0
    cols = {
        # a 4-sd excursion (1 in 16,000 at the seasonal trough) would break x's declared range: clip it
        "x": np.clip(rng.normal(X_MEAN + X_SD * phase, X_SD, count), 0.0, 100.0),
        "y": rng.lognormal(3.0, 0.5, count),
        "c": rng.choice(CATEGORIES, count, p=SHARES),
        "score": rng.beta(2.0 + 0.5 * phase, 5.0, count),
    }
    if s.correlated:   # log y = 3 + 0.5 (0.8 z_x + 0.6 e): still lognormal(3, 0.5), correlated 0.8 with x
        z = (cols["x"] - X_MEAN - X_SD * phase) / X_SD
        cols["y"] = np.exp(3.0 + 0.5 * (0.8 * z + 0.6 * rng.normal(size=count)))
    return cols


def window_events(s: Scenario, window: int, scale: Scale, seed: int = 11) -> list[dict[str, Any]]:
    """The events of window number `window` (window 0 starts at START), in time order."""
    rng = np.random.default_rng([seed, SCENARIOS.index(s), window])
    phase = np.sin(2 * np.pi * (window % 24) / 24) if s.seasonal else 0.0
    count = int(round(scale.per_window * (1 + 0.4 * phase)))
    cols = clean_columns(s, window, count, rng)
    change = s.change_window(scale)
    if s.fault is not None and change is not None and window >= change:
        cols = s.fault(cols, window - change, rng)
    size = s.window_ms()
    n = len(cols["x"])
    times = START + window * size + (np.arange(n) * size) // max(n, 1)
    xs = [None if np.isnan(v) else round(float(v), 3) for v in cols["x"]]
    ys = np.round(cols["y"], 3).tolist()
    scores = np.round(cols["score"], 4).tolist()
    return [{"ts": int(times[i]), "x": xs[i], "y": ys[i], "c": str(cols["c"][i]), "score": scores[i]}
            for i in range(n)]


def stream(s: Scenario, scale: Scale, seed: int = 11) -> list[list[dict[str, Any]]]:
    """The whole stream, one list of events per window."""
    return [window_events(s, w, scale, seed) for w in range(s.windows(scale))]
