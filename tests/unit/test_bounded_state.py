"""Bounded state: a window keeps at most `max_window_bytes`; what it could not keep is counted and alerted on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.capping import estimated_bytes, within_cap
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.profiles.profile import OTHER, WindowProfile
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.sizes import format_size
from stream_guard.errors import TopologyError
from stream_guard.offline.replay import replay
from stream_guard.runtime.metrics import WorkerMetrics
from stream_guard.views.live_view import MonitorView
from stream_guard.views.status_page import state_sentence

from .builders import monitor, records

CAP = 32 * 1024
STORES = 60


def capped(**overrides: Any) -> Any:
    spec: dict[str, Any] = {"segment_by": ["store"], "max_segments": 1000, "max_window_bytes": "32KiB",
                            "features": {"x": {"type": "numeric", "field": "f.x"}}}
    return monitor(**(spec | overrides))


def stores(window: int, count: int = STORES, extra: int = 0) -> list[dict[str, Any]]:
    """Store i sends (i + 1) * 5 events (+ extra) in the window: 9,150 events over 60 stores."""
    return [{"ts": window * 60 + 1 + k * 0.001, "store": f"s{i:02d}", "f": {"x": (k * 7) % 11}}
            for i in range(count) for k in range((i + 1) * 5 + extra)]


def test_a_window_at_its_cap_pools_new_segments_and_its_smallest_ones_counting_every_event() -> None:
    folder = PartitionFolder(capped(), 0)
    folder.fold(records(stores(0)))
    window = folder.windows[0]
    kept = sorted(s for s in window.segments if s != OTHER)
    assert (window.events, folder.counts.folded, folder.counts.consumed) == (9_150, 9_150, 9_150)
    # stores s00 to s19 arrive first and take the room; s20 on would not fit and fold into `other`; after the
    # fold the window's sketches had grown past the cap, so its four smallest segments joined them
    assert kept == [f"store=s{i:02d}" for i in range(4, 20)]
    assert window.pooled_events == window.segments[OTHER].events == 9_150 - sum(5 * i for i in range(5, 21))
    assert window.pooled_events == 8_150
    assert sum(s.events for s in window.segments.values()) == window.events
    assert window.pooled_names == [f"store=s{i:02d}" for i in range(20, 25)]
    assert window.peak_bytes > CAP >= len(window.to_bytes())
    assert window.features["x"].n == 9_150        # the window's own profile has every event


def test_once_over_the_cap_a_new_segment_gets_no_profile_and_its_events_are_counted_as_pooled() -> None:
    folder = PartitionFolder(capped(), 0)
    folder.fold(records(stores(0)))
    window = folder.windows[0]
    before = (window.pooled_events, sorted(window.segments))
    late = [{"ts": 30, "store": "new", "f": {"x": 1}} for _ in range(17)]
    folder.fold(records(late, first_offset=9_150))
    assert sorted(window.segments) == before[1]
    assert window.pooled_events == before[0] + 17
    assert (window.events, folder.counts.folded) == (9_167, 9_167)
    assert len(window.to_bytes()) <= CAP


def test_a_window_under_its_cap_is_left_alone() -> None:
    folder = PartitionFolder(capped(max_window_bytes="1MiB"), 0)
    folder.fold(records(stores(0)))
    window = folder.windows[0]
    assert (len(window.segments), window.peak_bytes, window.pooled_events, window.pooled_names) == (STORES, 0, 0, [])


def test_the_estimate_is_within_three_percent_of_the_stored_bytes() -> None:
    spec = monitor(segment_by=["store"], max_segments=1000)   # a numeric and a categorical feature
    folder = PartitionFolder(spec, 0)
    events = [{"ts": 1 + i * 0.0005, "store": f"s{i % 25}",
               "f": {"x": i * 0.37 % 101, "c": f"value-{(i * 13) % 900}"}} for i in range(60_000)]
    folder.fold(records(events))
    window = folder.windows[0]
    profiles = [window, *window.segments.values(), WindowProfile.empty(spec, 0)]
    for profile in profiles:
        real = len(profile.to_bytes())
        assert abs(estimated_bytes(profile) - real) <= 0.03 * real, (real, estimated_bytes(profile))


def test_a_merged_window_over_the_cap_is_capped_at_its_close_without_touching_the_partitions() -> None:
    spec = capped(max_window_bytes="96KiB")
    parts = []
    for partition in (0, 1):
        folder = PartitionFolder(spec, partition)
        folder.fold(records([e | {"store": f"p{partition}-{e['store']}"} for e in stores(0, 40)],
                            partition=partition))
        parts.append(folder.windows[0])
    assert [p.peak_bytes for p in parts] == [0, 0] and [len(p.segments) for p in parts] == [40, 40]
    merged = parts[0].merged(parts[1])
    held = within_cap(merged, spec.window_cap())
    assert held.peak_bytes == estimated_bytes(merged) > spec.window_cap() >= len(held.to_bytes())
    assert held.pooled_events == held.segments[OTHER].events > 0
    assert sum(s.events for s in held.segments.values()) == held.events == 2 * 4_100
    assert [len(p.segments) for p in parts] == [40, 40] and len(merged.segments) == 80


def run(engine: MonitorEngine, windows: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    alerts, offset = [], 0
    for events in windows:
        engine.fold(records(events, first_offset=offset))
        offset += len(events)
        for start in engine.due_windows():
            alerts += engine.close_window(start, engine.local_profiles(start), emitted_at=start + 65_000).alerts
    return alerts


def test_the_state_cap_alert_fires_once_as_a_warning_and_resolves_when_windows_fit_again() -> None:
    # two windows over the cap, then two that fit (4 stores), then one to close the last
    windows = [stores(0), stores(1), stores(2, count=4), stores(3, count=4), stores(4, count=1)]
    alerts = [a for a in run(MonitorEngine(capped()), windows) if a["check"] == "state_cap"]
    assert [(a["status"], a["severity"], a["window"]["start"]) for a in alerts] == [
        ("firing", "warning", "1970-01-01T00:00:00Z"), ("resolved", "warning", "1970-01-01T00:02:00Z")]
    firing = alerts[0]
    assert (firing["monitor"], firing["segment"], firing["feature"], firing["threshold"]) == ("m", "all", "*", CAP)
    assert firing["value"] > CAP and firing["n_current"] == 9_150
    assert firing["summary"].startswith("state: the window of monitor m went over its cap of 32KiB (about ")
    assert firing["summary"].endswith("5 or more segments (store=s20, store=s21, store=s22, store=s23, store=s24, "
                                      "...; 8,150 events) lost their own profiles; their events are folded into "
                                      "segment other")
    again = [a for a in run(MonitorEngine(capped()), windows) if a["check"] == "state_cap"]
    assert [a["id"] for a in again] == [a["id"] for a in alerts]


def test_features_alone_over_the_cap_keep_every_profile_and_say_so() -> None:
    spec = monitor(max_window_bytes="4KiB", features={"c": {"type": "categorical", "field": "f.c"}})
    engine = MonitorEngine(spec)
    events = [{"ts": 1 + i * 0.01, "f": {"c": f"a-rather-long-category-{i}"}} for i in range(2_000)]
    engine.fold(records(events + [{"ts": 70, "f": {"c": "x"}}]))
    result = engine.close_window(0, engine.local_profiles(0), emitted_at=65_000)
    cap = next(e for e in result.evaluations if e.check == "state_cap")
    assert (cap.severity, result.closed.profile.pooled_events, result.closed.profile.features["c"].n) == (
        "warning", 0, 2_000)
    assert cap.summary.endswith("nothing could be pooled, its features alone take that much; every event was kept; "
                                "raise max_window_bytes or split the monitor")


def test_metrics_and_status_count_the_windows_over_the_cap_and_their_pooled_events() -> None:
    folder = PartitionFolder(capped(), 0)
    folder.fold(records(stores(0)))
    over, fits = folder.windows[0], WindowProfile(60_000, 120_000, 10)
    metrics = WorkerMetrics({}, lambda topic, partition: None, "app", ["m"])
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert [s.value for s in families["stream_guard_windows_over_state_cap"].samples if s.name.endswith("total")] == [0]
    for window in (over, fits, over):
        metrics.window_closed("m", window)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    totals = {name: [s.value for s in families[name].samples if s.name.endswith("_total")]
              for name in ("stream_guard_windows_over_state_cap", "stream_guard_state_pooled_events")}
    assert totals == {"stream_guard_windows_over_state_cap": [2], "stream_guard_state_pooled_events": [2 * 8_150]}
    engine = MonitorEngine(capped())
    engine.fold(records(stores(0) + [{"ts": 70, "store": "s00", "f": {"x": 1}}]))
    view = MonitorView(engine.monitor)
    view.window_closed(engine, engine.close_window(0, engine.local_profiles(0), emitted_at=65_000), now=0)
    state = view.state_json({"0": 100})
    assert {k: state[k] for k in ("max_window_bytes", "open_window_bytes", "windows_over_cap", "pooled_events")} == {
        "max_window_bytes": CAP, "open_window_bytes": {"0": 100}, "windows_over_cap": 1, "pooled_events": 8_150}
    assert state["last_over_cap"]["start"] == "1970-01-01T00:00:00Z"
    assert state_sentence(state) == (
        "largest open window about 100B of the 32KiB cap; CAP REACHED in 1 evaluated window(s), last "
        f"1970-01-01T00:00:00Z (about {format_size(state['last_over_cap']['peak_bytes'])}; 8,150 events pooled "
        "into `other`)")
    assert state_sentence(MonitorView(engine.monitor).state_json({"0": 2048})) == (
        "largest open window about 2KiB of the 32KiB cap; no evaluated window went over it")


def test_replay_says_which_monitors_reached_the_cap(tmp_path: Path) -> None:
    topology = tmp_path / "t.yaml"
    topology.write_text("version: 1\napp: a\nstate: {max_window_bytes: 32KiB}\nmonitors:\n  - name: m\n"
                        "    source: {topic: t, timestamp: ts}\n    window: {size: 1m}\n    segment_by: [store]\n"
                        "    max_segments: 1000\n    features: {x: {type: numeric, field: f.x}}\n")
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in stores(0) + stores(1, count=4) + stores(2, count=1)))
    summary = replay(load_topology(topology), events, lambda a: None, lambda e: None, lambda d: None)
    over = summary.over_cap["m"]
    assert (over.cap, over.windows, over.pooled_events, summary.folded) == (CAP, 1, 8_150, 9_150 + 50 + 5)
    assert over.peak_bytes > CAP


@pytest.mark.parametrize(("value", "problem"), [
    ("8 lots", "state.max_window_bytes: '8 lots' is not a size; write it like 512KiB, 8MiB or 1GiB"),
    ("1KiB", "state.max_window_bytes: Input should be greater than or equal to 4096 (got 1024)"),
])
def test_a_bad_cap_is_reported_at_its_line(tmp_path: Path, value: str, problem: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(f"version: 1\napp: a\nstate:\n  max_window_bytes: {value}\nmonitors:\n  - name: m\n"
                    "    source: {topic: t, timestamp: ts}\n    window: {size: 1m}\n"
                    "    features: {x: {type: numeric}}\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert caught.value.problems == [f"{path}:4: {problem}"]


def test_the_cap_defaults_to_8mib_and_a_monitor_may_set_its_own(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    monitor_text = "    source: {topic: t, timestamp: ts}\n    window: {size: 1m}\n    features: {x: {type: numeric}}\n"
    path.write_text(f"version: 1\napp: a\nmonitors:\n  - name: m\n{monitor_text}")
    assert load_topology(path).monitors[0].window_cap() == 8 * 1024 * 1024
    path.write_text(f"version: 1\napp: a\nstate: {{max_window_bytes: 2MiB}}\nmonitors:\n  - name: m\n{monitor_text}"
                    f"  - name: n\n    max_window_bytes: 256KiB\n{monitor_text}")
    assert [m.window_cap() for m in load_topology(path).monitors] == [2 * 1024 * 1024, 256 * 1024]
