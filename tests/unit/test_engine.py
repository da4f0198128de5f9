"""The engine over whole streams: which alerts fire, when, with which ids; nothing is lost or counted twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.alerting.lifecycle import AlertBook
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.ownership import RemotePartition, remote_activity
from stream_guard.core.topology.file import load_topology
from stream_guard.offline import scenario

from .builders import monitor, records
from .test_topology_file import REPO

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
DEMO = load_topology(REPO / "topologies" / "demo.yaml").monitors[0]


def run(engine: MonitorEngine, events: list[dict[str, Any]], chunk: int = 2000) -> list[dict[str, Any]]:
    """Feed events in chunks and close windows as the live worker would; returns the alerts."""
    alerts: list[dict[str, Any]] = []
    raw = [RawRecord(orjson.dumps(e), 0, i, "t") for i, e in enumerate(events)]
    for i in range(0, len(raw), chunk):
        engine.fold(raw[i:i + chunk])
        for start in engine.due_windows():
            alerts += engine.close_window(start, engine.local_profiles(start), emitted_at=0).alerts
    return alerts


def window_of(alert: dict[str, Any]) -> int:
    return int(alert["window"]["start"][14:16]) - int(scenario_minute())


def scenario_minute() -> str:
    from stream_guard.core.alerting.alerts import iso
    return iso(START)[14:16]


def test_each_demo_fault_is_critical_in_its_first_window_and_resolves_after_it() -> None:
    alerts = run(MonitorEngine(DEMO), list(scenario.stream(13, START, 1200)))
    assert [(window_of(a), a["status"], a["severity"], a["feature"], a["check"]) for a in alerts] == [
        (4, "firing", "critical", "amount", "numeric_drift"),
        (4, "firing", "critical", "amount", "mean_shift"),
        (4, "firing", "warning", "amount", "outside_reference"),     # ×2.5: 2% of values beyond any seen
        (6, "resolved", "critical", "amount", "numeric_drift"),
        (6, "resolved", "critical", "amount", "mean_shift"),
        (6, "resolved", "warning", "amount", "outside_reference"),
        (6, "firing", "critical", "age", "missing_rate"),
        (8, "resolved", "critical", "age", "missing_rate"),
        (8, "firing", "critical", "country", "categorical_drift"),
        (8, "firing", "critical", "country", "new_category"),          # 'XK' takes a quarter of the events
        (10, "resolved", "critical", "country", "categorical_drift"),
        (10, "resolved", "critical", "country", "new_category"),
    ]


def test_clean_demo_traffic_raises_no_alert_at_all() -> None:
    engine = MonitorEngine(DEMO)
    assert run(engine, list(scenario.stream(13, START, 1200, faults=False))) == []
    assert engine.last_evaluated == START + 11 * 60_000


def test_alert_ids_are_the_same_however_the_stream_is_batched() -> None:
    events = list(scenario.stream(11, START, 1200))
    first = [a["id"] for a in run(MonitorEngine(DEMO), events, chunk=2000)]
    second = [a["id"] for a in run(MonitorEngine(DEMO), events, chunk=777)]
    assert first == second and len(first) == len(set(first)) == 10


def test_every_alert_carries_every_alert_v1_field_and_no_nan() -> None:
    alerts = run(MonitorEngine(DEMO), list(scenario.stream(7, START, 1200)))
    required = {"schema", "id", "fingerprint", "monitor", "segment", "feature", "check", "severity", "status",
                "window", "reference", "value", "threshold", "n_current", "n_reference", "summary", "emitted_at"}
    assert alerts and all(required <= set(a) for a in alerts)
    assert all(set(a["window"]) == {"start", "end"} and set(a["reference"]) == {"kind", "start", "end"}
               for a in alerts)
    assert b"NaN" not in orjson.dumps(alerts) and b"Infinity" not in orjson.dumps(alerts)


def test_a_window_closes_only_once_the_watermark_passes_its_end_plus_grace() -> None:
    engine = MonitorEngine(monitor())
    engine.fold(records([{"ts": t, "f": {"x": 1}} for t in (10, 64.997, 64.998, 64.999)]))
    assert engine.due_windows() == []
    engine.fold(records([{"ts": 65, "f": {"x": 1}}], first_offset=4))
    assert engine.due_windows() == [0]


def test_late_events_are_dead_lettered_and_every_record_is_accounted_for() -> None:
    engine = MonitorEngine(monitor())
    dead = engine.fold(records([{"ts": t, "f": {"x": 1}} for t in (10, 69, 70, 71)] + [
        {"ts": 59, "f": {"x": 2}}] + [{"ts": t, "f": {"x": 1}} for t in (140, 141, 142)] + [
        {"ts": 3, "f": {"x": 1}}, "bad"]))
    # 59 arrives after 71 was reached: window [0, 60) closed at 65 (grace 5 s), so 59 is late; so is 3
    assert [(d.record.offset, d.reason) for d in dead] == [(4, "late"), (8, "late"), (9, "not_an_object")]
    assert engine.due_windows() == [0, 60_000]
    for start in engine.due_windows():
        engine.close_window(start, engine.local_profiles(start), emitted_at=0)
    dead = engine.fold(records([{"ts": 100, "f": {"x": 1}}], first_offset=10))  # window [60, 120) is closed
    folder = engine.folders[0]
    assert [d.reason for d in dead] == ["late"]
    assert (folder.counts.folded, folder.counts.dead_lettered) == (7, 4)
    assert folder.counts.folded + folder.counts.dead_lettered == 11 == folder.next_offset == folder.counts.consumed


def test_redelivered_records_below_the_next_offset_are_not_folded_twice() -> None:
    engine = MonitorEngine(monitor())
    batch = records([{"ts": 1, "f": {"x": 1}}, {"ts": 2, "f": {"x": 2}}])
    engine.fold(batch)
    engine.fold(batch + records([{"ts": 3, "f": {"x": 3}}], first_offset=2))
    assert engine.folders[0].counts.folded == 3
    assert engine.folders[0].windows[0].features["x"].n == 3


IDLE = 10_000


@pytest.mark.parametrize(("heard", "alive", "claimed", "now", "expected", "since"), [
    (1_000, 1_500, 500, 6_000, (1_000, 1_000), None),       # records 5 s ago, owner alive: active since then
    (1_000, 11_500, 500, 11_600, (1_000, 1_000), None),     # owner alive 10.5 s after its last records: idle
    (1_000, 11_500, 500, 11_600, (1_000, 1_000), 200),      # ... and saying so without a break since before
    (1_000, 11_500, 500, 11_600, (11_600, 1_000), 11_500),  # ... but it just woke from a pause: held
    (1_000, 22_000, 500, 22_100, (1_000, 1_000), 11_500),   # watched 10.5 s since it woke: idle
    (1_000, 1_500, 500, 11_200, (11_200, 1_000), None),     # silent 10.2 s, owner not heard since 0.5 s after: held
    (1_000, 1_500, 500, 11_600, (11_600, 11_600), None),    # owner not heard for 10.1 s: gone, records wait
    (None, 1_500, 1_000, 6_000, (1_000, 1_000), None),      # claimed, no records yet
    (None, None, None, 6_000, (6_000, 6_000), None),        # never said it was alive
])
def test_another_workers_partition_stops_holding_windows_open_only_when_its_owner_saw_it_silent(
        heard: int | None, alive: int | None, claimed: int | None, now: int, expected: tuple[int, int],
        since: int | None) -> None:
    assert remote_activity(heard, alive, claimed, now, IDLE, since) == expected


def test_the_partitions_of_a_worker_killed_after_its_last_flush_hold_the_windows_until_taken_over() -> None:
    clock = [11_200]
    engine = MonitorEngine(monitor(source={"topic": "t", "timestamp": "ts", "idle_timeout": "10s"}),
                           clock=lambda: clock[0])
    engine.fold(records([{"ts": 200, "f": {}}], partition=0))
    active_at, heard_at = remote_activity(1_000, 1_500, 500, clock[0], IDLE)
    engine.remote = {1: RemotePartition(30_000, active_at, frozenset({0}), heard_at)}
    assert engine.watermark() == 30_000 and engine.due_windows() == []
    clock[0] = 11_600                              # the same, once a live owner would have said it is reading
    active_at, heard_at = remote_activity(1_000, 11_500, 500, clock[0], IDLE)
    engine.remote = {1: RemotePartition(30_000, active_at, frozenset({0}), heard_at)}
    assert engine.watermark() == 200_000 and engine.due_windows() == [0]


def test_the_watermark_is_the_slowest_partition() -> None:
    engine = MonitorEngine(monitor())
    engine.fold(records([{"ts": 200, "f": {}}], partition=0) + records([{"ts": 30, "f": {}}], partition=1))
    assert engine.watermark() == 30_000 and engine.due_windows() == []


def test_an_idle_partition_stops_holding_the_watermark_back_after_the_idle_timeout() -> None:
    clock = [1_000_000]
    engine = MonitorEngine(monitor(source={"topic": "t", "timestamp": "ts", "idle_timeout": "10s"}),
                           clock=lambda: clock[0])
    engine.fold(records([{"ts": 30, "f": {}}], partition=1))
    engine.fold(records([{"ts": 200, "f": {}}], partition=0))
    assert engine.watermark() == 30_000 and engine.due_windows() == []
    clock[0] += 9_000                      # partition 1 silent 9 s: still waited for
    engine.fold(records([{"ts": 201, "f": {}}], partition=0, first_offset=1))
    assert engine.watermark() == 30_000
    clock[0] += 2_000                      # 11 s: idle, partition 0 alone moves windows on
    engine.fold(records([{"ts": 202, "f": {}}], partition=0, first_offset=2))
    assert engine.watermark() == 202_000 and engine.due_windows() == [0]
    clock[0] += 20_000                     # everyone idle: the furthest partition sets the watermark
    assert engine.watermark() == 202_000
    engine.fold(records([{"ts": 40, "f": {}}], partition=1, first_offset=1))   # it wakes up, late
    assert engine.folders[1].counts.dead_by_reason == {}   # window 0 was not closed yet: still on time
    assert engine.watermark() == 35_000     # one event moves it at most the grace past the one before


def evaluation(severity: str, value: float | None = 1.0, window: int = 0) -> Evaluation:
    return Evaluation("m", "all", "x", "numeric_drift", "psi", severity, window, window + 60_000, "rolling",
                      None, None, value, 0.25, 500, 2000, f"x is {severity}", 0)


def test_lifecycle_fires_once_per_severity_and_resolves_once() -> None:
    book = AlertBook()
    steps = [("warning", 0), ("warning", 1), ("critical", 2), ("critical", 3), ("ok", 4), ("ok", 5)]
    out = [book.apply([evaluation(sev, window=w * 60_000)]) for sev, w in steps]
    assert [[(a["status"], a["severity"]) for a in alerts] for alerts in out] == [
        [("firing", "warning")], [], [("firing", "critical")], [], [("resolved", "critical")], []]


def test_lifecycle_keeps_a_series_firing_when_the_reference_is_not_ready() -> None:
    book = AlertBook()
    book.apply([evaluation("critical")])
    assert book.apply([evaluation("ok", value=None, window=60_000)]) == []
    assert AlertBook.from_json(orjson.loads(orjson.dumps(book.to_json()))).firing == book.firing


def test_thin_windows_grade_info_at_most() -> None:
    engine = MonitorEngine(monitor(min_samples=100))
    events = [{"ts": w * 60 + i % 50, "f": {"x": (i % 10) * (5 if w == 3 else 1), "c": "a"}}
              for w in range(5) for i in range(50)]
    alerts = run(engine, events)
    assert Counter((a["severity"], a["feature"], a["check"]) for a in alerts) == Counter(
        {("info", "x", "numeric_drift"): 1, ("info", "x", "mean_shift"): 1, ("info", "x", "outside_reference"): 1})


def test_a_critical_window_is_left_out_of_the_features_later_reference() -> None:
    engine = MonitorEngine(monitor())
    base = [{"ts": w * 60 + i % 50, "f": {"x": i % 10 + (100 if w == 3 else 0), "c": "a"}}
            for w in range(6) for i in range(50)]
    alerts = run(engine, base)
    assert [(window, a["status"], a["check"]) for a in alerts for window in [int(a["window"]["start"][14:16])]] == [
        (3, "firing", "numeric_drift"), (3, "firing", "mean_shift"), (3, "firing", "outside_reference"),
        (4, "resolved", "numeric_drift"), (4, "resolved", "mean_shift"), (4, "resolved", "outside_reference")]
    assert 3 * 60_000 not in [w.profile.start for w in engine.history.values() if "x" not in w.critical]


@pytest.mark.parametrize("chunk", [1, 50, 10_000])
def test_folded_counts_do_not_depend_on_batch_size(chunk: int) -> None:
    engine = MonitorEngine(monitor())
    run(engine, [{"ts": i, "f": {"x": i}} for i in range(300)], chunk=chunk)
    assert engine.folders[0].counts.folded == 300


@pytest.mark.parametrize("chunk", [7, 10_000])
def test_hopping_windows_hold_every_event_in_each_window_it_falls_in(chunk: int) -> None:
    spec = monitor(window={"size": "2m", "hop": "1m", "grace": "0s"}, min_samples=0)
    engine = MonitorEngine(spec)
    base = 1_800_000_000 - 1_800_000_000 % 60          # whole minutes, in epoch seconds
    events = [{"ts": base + s, "f": {"x": s // 60, "c": "a"}} for s in range(6 * 60)]   # 1 event a second
    closed = []
    for i in range(0, len(events), chunk):
        engine.fold(records(events[i:i + chunk], first_offset=i))
        for start in engine.due_windows():
            result = engine.close_window(start, engine.local_profiles(start), emitted_at=0)
            x = result.closed.profile.features["x"]
            closed.append(((start // 1000 - base) // 60, result.events, x.sketch.get_min_value(),
                           x.sketch.get_max_value()))
    # the window starting a minute before the stream holds its first minute only; then each
    # two-minute window holds 120 events of its two minutes; the last one is still open
    assert closed == [(-1, 60, 0, 0), (0, 120, 0, 1), (1, 120, 1, 2), (2, 120, 2, 3), (3, 120, 3, 4)]
    assert engine.folders[0].counts.folded == 360 and engine.folders[0].counts.balanced()


def test_a_hop_that_does_not_divide_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match=r"hop 45s must divide the window size 2m \(e.g. size 10m, hop 5m\)"):
        monitor(window={"size": "2m", "hop": "45s"})
