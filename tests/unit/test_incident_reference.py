"""Incidents never become the reference: a critical stretch longer than the kept history still
compares with the windows from before it, and a restart keeps the same windows."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_guard.core.engine import MonitorEngine
from stream_guard.core.judging.references import reference_horizon
from stream_guard.core.state import MonitorState

from .builders import monitor, records

MINUTE = 60_000
BEFORE, INCIDENT, AFTER = 8, 15, 3   # the incident outlasts the 9 windows a 3-window rolling reference keeps


def events(seed: int = 5) -> list[dict[str, Any]]:
    """300 events a minute of x ~ N(10, 1); +4 sd in windows BEFORE to BEFORE + INCIDENT - 1."""
    rng = np.random.default_rng(seed)
    out = []
    for w in range(BEFORE + INCIDENT + AFTER + 1):
        shift = 4.0 if BEFORE <= w < BEFORE + INCIDENT else 0.0
        out += [{"ts": w * 60 + i * 0.2, "f": {"x": round(float(v), 3), "c": "a"}}
                for i, v in enumerate(rng.normal(10 + shift, 1, 300))]
    return out


def run(engine: MonitorEngine, batch: list[dict[str, Any]], first: int = 0) -> list[Any]:
    engine.fold(records(batch, first_offset=first))
    results = []
    for start in engine.due_windows():
        results.append(engine.close_window(start, engine.local_profiles(start), emitted_at=0))
    return results


def shift_alerts(results: list[Any]) -> list[tuple[int, str]]:
    return [(r.start // MINUTE, a["status"]) for r in results for a in r.alerts if a["check"] == "mean_shift"]


def test_a_critical_stretch_longer_than_the_kept_history_stays_critical_until_the_data_returns() -> None:
    spec = monitor(reference={"kind": "rolling", "windows": 3}, min_samples=100)
    assert reference_horizon(spec) < INCIDENT
    results = run(MonitorEngine(spec), events())
    assert shift_alerts(results) == [(BEFORE, "firing"), (BEFORE + INCIDENT, "resolved")]
    graded = {r.start // MINUTE: e for r in results for e in r.evaluations if e.check == "mean_shift"}
    assert all(graded[w].severity == "critical" for w in range(BEFORE, BEFORE + INCIDENT))
    last = graded[BEFORE + INCIDENT - 1]
    assert last.reference_end == BEFORE * MINUTE           # the windows from before the incident
    assert "older than usual" in last.summary


def test_a_restart_mid_incident_keeps_the_windows_from_before_it() -> None:
    spec = monitor(reference={"kind": "rolling", "windows": 3}, min_samples=100)
    stream = events()
    cut = (BEFORE + INCIDENT - 2) * 300
    live = MonitorEngine(spec)
    run(live, stream[:cut])
    restarted = MonitorEngine(spec)
    state = live.checkpoint()
    restarted.restore(MonitorState(state.closed, state.book, state.last_evaluated))
    assert sorted(restarted.history) == sorted(live.history)
    assert min(restarted.history) == (BEFORE - 3) * MINUTE   # the 3 windows from before the incident
    after = run(restarted, stream[cut:], first=cut)
    assert shift_alerts(after) == [(BEFORE + INCIDENT, "resolved")]


PERIOD = 5   # windows in a season
SEASONAL_BEFORE, SEASONAL_INCIDENT, SEASONAL_AFTER = 15, 12, 5   # the incident outlasts 2 periods


def seasonal_events(seed: int = 7) -> list[dict[str, Any]]:
    """1,000 events a minute of x ~ N(10 + 3 × (minute mod 5), 1): a pattern that repeats every 5 minutes;
    +4 sd on top of it during the incident."""
    rng = np.random.default_rng(seed)
    out = []
    for w in range(SEASONAL_BEFORE + SEASONAL_INCIDENT + SEASONAL_AFTER + 1):
        level = 10 + 3 * (w % PERIOD) + (4.0 if SEASONAL_BEFORE <= w < SEASONAL_BEFORE + SEASONAL_INCIDENT else 0.0)
        out += [{"ts": w * 60 + i * 0.06, "f": {"x": round(float(v), 3), "c": "a"}}
                for i, v in enumerate(rng.normal(level, 1, 1000))]
    return out


def test_a_seasonal_reference_keeps_comparing_with_the_seasons_before_an_incident_longer_than_its_history() -> None:
    """Same window 5 minutes back; a 12-window incident: windows 15-19 compare with 10-14, 20-24 (whose
    window a period back is critical) with 10-14 again, two periods back, 25-26 three periods back."""
    spec = monitor(reference={"kind": "seasonal", "period": "5m"}, min_samples=100)
    assert reference_horizon(spec) == PERIOD < SEASONAL_INCIDENT
    engine = MonitorEngine(spec)
    results = run(engine, seasonal_events())
    graded = {r.start // MINUTE: e for r in results for e in r.evaluations if e.check == "mean_shift"}
    end = SEASONAL_BEFORE + SEASONAL_INCIDENT
    assert [graded[w].severity for w in range(end + SEASONAL_AFTER)] == (
        ["ok"] * SEASONAL_BEFORE + ["critical"] * SEASONAL_INCIDENT + ["ok"] * SEASONAL_AFTER)
    assert all(graded[w].value is None for w in range(PERIOD))   # nothing a period back yet
    assert {w: graded[w].reference_start // MINUTE for w in range(SEASONAL_BEFORE, end + 1)} == {
        15: 10, 16: 11, 17: 12, 18: 13, 19: 14, 20: 10, 21: 11, 22: 12, 23: 13, 24: 14, 25: 10, 26: 11, 27: 12}
    assert "the same window 3 × 5m earlier (older than usual: the later ones were critical)" in graded[25].summary
    assert shift_alerts(results) == [(SEASONAL_BEFORE, "firing"), (end, "resolved")]
    # once the incident has passed a period back, only the newest period is kept again
    assert sorted(s // MINUTE for s in engine.history) == list(range(end, end + PERIOD))
