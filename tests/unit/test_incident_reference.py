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
