"""Freshness on the worker's clock: the reading of a monitor's partitions, and the alerts it causes."""

from __future__ import annotations

from typing import Any

import orjson

from stream_guard.core.alerting.alerts import iso
from stream_guard.core.alerting.lifecycle import AlertBook
from stream_guard.core.judging.freshness import FreshnessWatch, Heard, freshness_evaluation

from .builders import monitor

T0 = 1_800_000_000_000            # a wall-clock minute boundary
S = 1000
FRESH = monitor(checks={"freshness": {"warning": "2m", "critical": "10m"}})


def heard(*ages: float, record: bool = True) -> dict[int, Heard]:
    """Partitions 0, 1, ... last heard of `ages` seconds before T0."""
    return {p: Heard(T0 - int(age * S), record) for p, age in enumerate(ages)}


def test_no_assigned_partition_gives_no_reading() -> None:
    assert freshness_evaluation(FRESH, T0, {}) is None


def test_a_disabled_check_gives_no_reading() -> None:
    off = monitor(checks={"freshness": {"enabled": False}})
    assert freshness_evaluation(off, T0, heard(1_000)) is None


def test_a_partition_heard_from_just_now_is_ok() -> None:
    reading = freshness_evaluation(FRESH, T0, heard(0))
    assert reading is not None
    assert (reading.severity, reading.value, reading.threshold) == ("ok", 0.0, 120.0)
    assert reading.summary == "events: 0s since the last on partition 0; within bounds (below 2m)."


def test_silence_just_over_the_warning_delay_is_a_warning() -> None:
    reading = freshness_evaluation(FRESH, T0, heard(120.5))
    assert reading is not None
    assert (reading.severity, reading.value, reading.threshold) == ("warning", 120.5, 120.0)
    assert reading.summary == "events: 2m since the last on partition 0; reaches warning (threshold 2m)."


def test_silence_over_the_critical_delay_is_critical() -> None:
    reading = freshness_evaluation(FRESH, T0, heard(725.25))
    assert reading is not None
    assert (reading.severity, reading.value, reading.threshold) == ("critical", 725.25, 600.0)
    assert reading.summary == "events: 12m5s since the last on partition 0; reaches critical (threshold 10m)."


def test_the_reading_is_the_stalest_partition_and_names_it() -> None:
    reading = freshness_evaluation(FRESH, T0, heard(3, 130, 7))
    assert reading is not None
    assert (reading.severity, reading.value) == ("warning", 130.0)
    assert reading.summary == ("events: 2m10s since the last on partition 1 (the stalest of 3 assigned); "
                               "reaches warning (threshold 2m).")


def test_partitions_equally_stale_are_all_named() -> None:
    two = freshness_evaluation(FRESH, T0, heard(130, 3, 130))
    every = freshness_evaluation(FRESH, T0, heard(130, 130))
    assert two is not None and every is not None
    assert two.summary.startswith("events: 2m10s since the last on partitions 0, 2 (the stalest of 3 assigned); ")
    assert every.summary.startswith("events: 2m10s since the last on all 2 assigned partitions; ")


def test_a_source_that_never_sent_anything_warns_once_the_delay_has_passed_since_assignment() -> None:
    reading = freshness_evaluation(FRESH, T0, heard(121, 121, 121, record=False))
    assert reading is not None
    assert (reading.severity, reading.value) == ("warning", 121.0)
    assert reading.summary == ("events: none in the 2m1s since all 3 assigned partitions were assigned; "
                               "reaches warning (threshold 2m).")


def test_a_partition_silent_since_assignment_is_no_evidence_of_freshness_below_the_delay() -> None:
    partitions = heard(5, 30) | {2: Heard(T0 - 40 * S, record=False)}
    reading = freshness_evaluation(FRESH, T0, partitions)
    assert reading is not None
    assert (reading.severity, reading.value) == ("ok", None)
    assert reading.summary == "events: not computed: partition 2 has sent nothing since it was assigned 40s ago."


def test_a_silence_known_only_from_assignment_keeps_the_firing_severity_without_a_value() -> None:
    partitions = heard(200, 200, record=False)
    lowered = freshness_evaluation(FRESH, T0, partitions, held="critical")
    confirmed = freshness_evaluation(FRESH, T0, partitions, held="warning")
    assert lowered is not None and confirmed is not None
    assert (lowered.severity, lowered.value) == ("critical", None)
    assert lowered.summary == ("events: not computed: partitions 0, 1 have sent nothing since they were assigned "
                               "3m20s ago, which cannot lower the firing critical.")
    assert (confirmed.severity, confirmed.value) == ("warning", 200.0)


def test_the_reading_is_an_alert_v1_record_of_the_wall_clock_window_holding_now() -> None:
    now = T0 + 75 * S
    reading = freshness_evaluation(FRESH, now, {0: Heard(now - 700 * S, True)})
    assert reading is not None
    alert = reading.alert("firing", reading.severity, reading.summary)
    required = {"schema", "id", "fingerprint", "monitor", "segment", "feature", "check", "severity", "status",
                "window", "reference", "value", "threshold", "n_current", "n_reference", "summary", "emitted_at"}
    assert required <= set(alert)
    assert (alert["feature"], alert["check"], alert["metric"], alert["segment"]) == (
        "*", "freshness", "seconds_since_last_event", "all")
    assert alert["window"] == {"start": iso(T0 + 60 * S), "end": iso(T0 + 120 * S)}
    assert alert["reference"] == {"kind": "none", "start": None, "end": None}
    assert (alert["value"], alert["threshold"], alert["n_current"], alert["n_reference"]) == (700.0, 600.0, 0, 0)
    assert alert["emitted_at"] == iso(now)
    assert b"NaN" not in orjson.dumps(alert)


class Clock:
    """A worker's life in seconds: partitions assigned, records arriving, readings every second."""

    def __init__(self, spec: Any = FRESH, book: AlertBook | None = None) -> None:
        self.watch = FreshnessWatch(spec)
        self.book = book or AlertBook.for_monitor(spec)
        self.now = T0

    def run(self, seconds: int, partitions: set[int], receiving: set[int] = frozenset()) -> list[dict[str, Any]]:
        records = []
        for _ in range(seconds):
            self.now += S
            self.watch.assigned(partitions, self.now)
            self.watch.received(receiving, self.now)
            reading = self.watch.observation(self.now, self.book)
            if reading is not None:
                records += self.book.apply([reading])
        return records


def brief(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["status"], r["severity"]) for r in records]


def test_a_silent_source_fires_warning_then_critical_once_each_and_resolves_when_records_return() -> None:
    clock = Clock()
    assert clock.run(30, {0, 1}, receiving={0, 1}) == []
    silent = clock.run(15 * 60, {0, 1})
    back = clock.run(5, {0, 1}, receiving={0, 1})
    assert brief(silent) == [("firing", "warning"), ("firing", "critical")]
    assert brief(back) == [("resolved", "critical")]
    assert back[0]["summary"] == ("Resolved. events: 0s since the last on all 2 assigned partitions; "
                                  "within bounds (below 2m).")
    ids = [r["id"] for r in silent + back]
    assert len(set(ids)) == 3


def test_warning_and_critical_in_one_window_have_different_ids() -> None:
    quick = monitor(window={"size": "1h"}, checks={"freshness": {"warning": "3s", "critical": "6s"}})
    clock = Clock(quick)
    records = clock.run(10, {0})
    assert brief(records) == [("firing", "warning"), ("firing", "critical")]
    assert records[0]["window"] == records[1]["window"] and records[0]["id"] != records[1]["id"]


def test_one_silent_partition_is_enough_to_fire() -> None:
    clock = Clock()
    clock.run(5, {0, 1, 2}, receiving={0, 1, 2})
    records = clock.run(125, {0, 1, 2}, receiving={0, 2})
    assert brief(records) == [("firing", "warning")]
    assert "on partition 1 (the stalest of 3 assigned)" in records[0]["summary"]


def test_the_alert_lifecycle_counts_windows_for_freshness_too() -> None:
    spec = monitor(checks={"freshness": {"warning": "2m", "critical": "1h"}}, alerting={"for": 2, "repeat": 3})
    clock = Clock(spec)
    clock.run(1, {0}, receiving={0})
    records = clock.run(9 * 60, {0})
    # warning reached at 2m (T0 + 2m1s): pending in that window, firing at the next window's first reading,
    # then once more every 3 windows
    assert brief(records) == [("firing", "warning"), ("firing", "warning"), ("firing", "warning")]
    assert [r["window"]["start"] for r in records] == [iso(T0 + m * 60 * S) for m in (3, 6, 9)]
    assert [r.get("repeat") for r in records] == [None, 1, 2]


def test_a_restarted_worker_neither_resolves_nor_lowers_a_firing_freshness_alert_before_records_arrive() -> None:
    before = Clock()
    before.run(1, {0}, receiving={0})
    assert brief(before.run(11 * 60, {0})) == [("firing", "warning"), ("firing", "critical")]
    saved = orjson.loads(orjson.dumps(before.book.to_json()))
    after = Clock(book=AlertBook.for_monitor(FRESH, saved))
    after.now = before.now + 5 * S
    assert after.run(11 * 60, {0}) == []
    assert brief(after.run(2, {0}, receiving={0})) == [("resolved", "critical")]


def test_revoked_partitions_are_forgotten_and_reassigned_ones_start_again() -> None:
    watch = FreshnessWatch(FRESH)
    watch.assigned({0, 1}, T0)
    watch.received({0}, T0 + 5 * S)
    watch.assigned({0, 2}, T0 + 10 * S)
    assert watch.heard == {0: Heard(T0 + 5 * S, True), 2: Heard(T0 + 10 * S, False)}
    assert watch.seconds_since(T0 + 12_500) == {0: 7.5, 2: 2.5}
