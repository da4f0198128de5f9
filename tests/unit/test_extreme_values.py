"""One extreme but valid number (1e308) cannot disable a check: it is counted, and kept out of the sums."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.engine import MonitorEngine

from .builders import monitor, records

T = 1_800_000_000                # epoch seconds, a window start
PER_WINDOW, WINDOWS, SHIFTED_FROM = 300, 7, 5


def stream(extreme: bool) -> list[dict[str, Any]]:
    """Windows of x around 100; from window 5 on ×2.5; with `extreme`, one x of 1e308 in window 3."""
    rng = np.random.default_rng(7)
    events = []
    for w in range(WINDOWS):
        values = rng.normal(100, 10, PER_WINDOW) * (2.5 if w >= SHIFTED_FROM else 1.0)
        if extreme and w == 3:
            values[17] = 1e308
        events += [{"ts": T + 60 * w + i * 0.19, "f": {"x": float(v), "c": "a"}} for i, v in enumerate(values)]
    return events + [{"ts": T + 60 * WINDOWS + 10 + i, "f": {"x": 100.0, "c": "a"}} for i in range(3)]


def mean_shifts(events: list[dict[str, Any]]) -> dict[int, Evaluation]:
    engine = MonitorEngine(monitor())
    engine.fold(records(events))
    results = [engine.close_window(s, engine.local_profiles(s), emitted_at=0) for s in engine.due_windows()]
    return {(r.start // 1000 - T) // 60: e for r in results for e in r.evaluations if e.check == "mean_shift"}


def test_one_extreme_value_in_the_reference_does_not_hide_a_shift_the_control_run_grades_critical() -> None:
    control, extreme = mean_shifts(stream(extreme=False)), mean_shifts(stream(extreme=True))
    assert [control[w].severity for w in (5, 6)] == ["critical", "critical"]
    assert [extreme[w].severity for w in (5, 6)] == ["critical", "critical"]
    assert all(e.value is not None for e in extreme.values() if e.n_reference)


def test_the_window_holding_the_extreme_value_is_graded_on_the_others_and_says_so() -> None:
    window = mean_shifts(stream(extreme=True))[3]
    assert window.severity == "ok" and window.value is not None and window.value < 1
    assert "1 value beyond ±1e+150 left out of the mean and sd" in window.summary


def test_a_metric_that_comes_out_as_nan_is_not_graded_and_its_summary_says_so(monkeypatch: Any) -> None:
    from stream_guard.core.judging import checks

    monkeypatch.setattr(checks, "mean_shift", lambda reference, current: checks.Measure(float("nan"), None, "x"))
    window = mean_shifts(stream(extreme=False))[5]
    assert (window.severity, window.value) == ("ok", None)
    assert window.summary == "x: mean shift (sd) not computed: its value came out as nan (x)."
