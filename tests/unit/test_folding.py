"""One partition's folding: event times far ahead of or behind the stream."""

from __future__ import annotations

from typing import Any

from stream_guard.core.folding import PartitionFolder

from .builders import monitor, records

HOUR, DAY = 3_600, 86_400   # seconds: the builders' events carry epoch seconds
T = 1_800_000_000


def events(*times: float) -> list[dict[str, Any]]:
    return [{"ts": t, "f": {"x": 1.0, "c": "a"}} for t in times]


def fold(folder: PartitionFolder, times: list[float], now: int | None = None) -> list[tuple[int, str]]:
    first = folder.next_offset
    return [(d.record.offset - first, d.reason) for d in folder.fold(records(events(*times), first_offset=first), now)]


def test_an_event_far_ahead_of_the_stream_is_future_and_leaves_the_watermark_alone() -> None:
    folder = PartitionFolder(monitor(), 0)
    assert fold(folder, [T, T + 1, T + 2 * DAY, T + 2]) == [(2, "future")]
    assert folder.watermark == (T + 2) * 1000
    assert fold(folder, [T + 3, T + 4]) == []          # later events are on time, not late
    assert folder.counts.folded == 5


def test_an_event_within_max_future_of_the_stream_is_on_time() -> None:
    folder = PartitionFolder(monitor(), 0)
    assert fold(folder, [T, T + HOUR, T + HOUR + 1]) == []
    assert folder.watermark == (T + HOUR + 1) * 1000


def test_several_future_events_in_a_row_are_all_future() -> None:
    folder = PartitionFolder(monitor(), 0)
    fold(folder, [T])
    assert fold(folder, [T + 10 * DAY, T + 10 * DAY + 1, T + 20 * DAY, T + 1]) == [
        (0, "future"), (1, "future"), (2, "future")]
    assert folder.watermark == (T + 1) * 1000


def test_in_a_partitions_first_batch_the_median_time_stands_in_for_the_watermark() -> None:
    folder = PartitionFolder(monitor(), 0)
    assert fold(folder, [T + 5 * DAY, T, T + 1, T + 2]) == [(0, "future")]


def test_a_stream_that_resumes_after_a_long_pause_is_on_time_when_the_clock_has_moved_too() -> None:
    folder = PartitionFolder(monitor(), 0)
    fold(folder, [T, T + 1], now=(T + 1) * 1000)
    assert fold(folder, [T + DAY, T + DAY + 1], now=(T + DAY) * 1000) == []
    assert folder.watermark == (T + DAY + 1) * 1000


def test_an_event_ahead_of_the_stream_and_the_clock_is_future() -> None:
    folder = PartitionFolder(monitor(), 0)
    fold(folder, [T, T + 1], now=(T + 1) * 1000)
    assert fold(folder, [T + DAY, T + 2], now=(T + 2) * 1000) == [(0, "future")]
    assert "1d ahead of the stream's time and the clock" in folder.fold(
        records(events(T + DAY + 3), first_offset=folder.next_offset), now=(T + 3) * 1000)[0].message


def test_a_stream_ahead_of_the_clock_is_judged_by_its_own_time() -> None:
    folder = PartitionFolder(monitor(), 0)
    assert fold(folder, [T, T + 30, T + 60, T + 90], now=0) == []
    assert fold(folder, [T + 120, T + 5 * HOUR], now=0) == [(1, "future")]


def test_an_event_far_behind_the_stream_is_too_old_and_a_little_behind_is_late() -> None:
    folder = PartitionFolder(monitor(), 0)
    assert fold(folder, [T, T + 600, T + 300, T - 8 * DAY, 0, T + 601]) == [(2, "late"), (3, "too_old"),
                                                                          (4, "too_old")]


def test_max_age_is_configurable_and_a_historical_file_is_judged_by_its_own_time() -> None:
    folder = PartitionFolder(monitor(source={"topic": "t", "timestamp": "ts", "max_age": "1h"}), 0)
    assert fold(folder, [1_000_000, 1_000_010, 1_000_010 - 2 * HOUR], now=T * 1000) == [(2, "too_old")]


def test_max_age_is_never_shorter_than_a_window_plus_its_grace() -> None:
    spec = monitor(window={"size": "30d", "grace": "1d"})
    assert spec.max_event_age() == 31 * DAY * 1000
    assert monitor().max_event_age() == 7 * DAY * 1000
