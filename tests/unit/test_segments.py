"""Segments: per-segment profiles and alerts, with a cap on how many segments a window keeps."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.profile import OTHER

from .builders import monitor, records

REGIONS = ["eu", "us", "apac", "latam"]


def segmented(**overrides: Any) -> Any:
    return monitor(segment_by=["region"], min_samples=50,
                   features={"amount": {"type": "numeric", "field": "f.amount"}}, **overrides)


def run(engine: MonitorEngine, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(events), 1000):
        engine.fold(records(events[i:i + 1000], first_offset=i))
        for start in engine.due_windows():
            alerts += engine.close_window(start, engine.local_profiles(start), emitted_at=0).alerts
    return alerts


def test_a_shift_in_one_segment_alerts_on_that_segment_and_no_other() -> None:
    rng = np.random.default_rng(5)
    events = []
    for w in range(10):
        for i in range(400):
            region = REGIONS[i % 4]
            shift = 1.5 if region == "apac" and w >= 6 else 0.0
            events.append({"ts": w * 60 + i * 0.15, "region": region,
                           "f": {"amount": round(float(rng.normal(10 + shift, 1)), 3)}})
    alerts = run(MonitorEngine(segmented()), events)
    critical = {(a["segment"], a["feature"], a["check"]) for a in alerts
                if a["status"] == "firing" and a["severity"] == "critical"}
    assert ("region=apac", "amount", "mean_shift") in critical
    assert {segment for segment, _, _ in critical} <= {"region=apac", "all"}
    loud = [int(a["window"]["start"][14:16]) for a in alerts
            if a["segment"] == "region=apac" and a["severity"] in ("warning", "critical")]
    assert min(loud) == 6


def test_ten_thousand_distinct_segment_values_keep_a_window_to_the_cap() -> None:
    engine = MonitorEngine(monitor(segment_by=["user"], max_segments=20,
                                   features={"x": {"type": "numeric", "field": "f.x"}}))
    events = [{"ts": w * 60 + (i % 600) * 0.1, "user": f"u{i % 10_000}", "f": {"x": i % 13}}
              for w in range(3) for i in range(10_000)]
    run(engine, events)
    for window in engine.folders[0].windows.values():
        assert len(window.segments) == 21 and OTHER in window.segments     # 20 of their own + other
        assert sum(s.events for s in window.segments.values()) == window.events
    closed = max(engine.history.values(), key=lambda w: w.profile.start).profile
    assert len(closed.segments) == 21
    # stored size stays within the cap: about 22 profiles (the window, 20 segments, other)
    one = len(closed.segments["user=u0"].to_bytes())
    assert len(closed.to_bytes()) < 25 * max(one, len(closed.segments[OTHER].to_bytes()))


def test_the_largest_segments_of_the_last_window_keep_their_place() -> None:
    engine = MonitorEngine(monitor(segment_by=["user"], max_segments=4, window={"size": "1m", "grace": "0s"},
                                   features={"x": {"type": "numeric", "field": "f.x"}}))
    # every window: `big` arrives last but is the largest; once window 0 has closed, windows opened
    # after it keep a place for it
    window = [{"user": f"s{i}", "n": 5} for i in range(6)] + [{"user": "big", "n": 100}]
    offset = 0
    for w in range(4):   # one window at a time, as a live stream arrives
        events = [{"ts": w * 60 + k * 0.01, "user": item["user"], "f": {"x": 1}}
                  for item in window for k in range(item["n"])]
        engine.fold(records(events, first_offset=offset))
        offset += len(events)
        for start in engine.due_windows():
            engine.close_window(start, engine.local_profiles(start), emitted_at=0)
    first, _, third = (engine.history[s].profile for s in sorted(engine.history))
    assert "user=big" not in first.segments and first.segments[OTHER].events == 100 + 2 * 5
    assert first.largest_segments(2) == ["user=big", "user=s0"]
    assert third.segments["user=big"].events == 100 and len(third.segments) == 5   # 4 of their own + other
