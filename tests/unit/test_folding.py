"""One partition's folding: event times far ahead or behind the stream, and counts that always balance."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.profiles.folding import PartitionFolder

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
    assert folder.counts.folded == 3


def test_one_event_far_ahead_within_max_future_makes_no_later_event_late() -> None:
    """A producer whose clock is 30 minutes fast sends one event: the 4,499 after it are on time."""
    folder = PartitionFolder(monitor(), 0)
    times = [T + i for i in range(4_500)]
    times[500] += 30 * 60
    dead = [d for i in range(0, 4_500, 500) for d in fold(folder, times[i:i + 500])]
    assert dead == [] and folder.counts.folded == 4_500
    assert folder.watermark == (T + 4_499) * 1000
    assert (T + 500 + 30 * 60) * 1000 // 60_000 * 60_000 in folder.windows   # the fast event is in its window


def test_a_jump_past_the_grace_moves_the_watermark_once_three_events_in_a_row_made_it() -> None:
    folder = PartitionFolder(monitor(), 0)           # grace 5 s
    fold(folder, [T, T + 1, T + HOUR, T + 2, T + HOUR + 1, T + HOUR + 2])
    assert folder.watermark == (T + 2 + 5) * 1000    # one, then two events in a row: at most grace ahead
    fold(folder, [T + HOUR + 3])
    assert folder.watermark == (T + HOUR + 3) * 1000


def test_the_watermark_is_the_same_however_the_records_are_batched() -> None:
    times = [T, T + 1, T + HOUR, T + 2, T + 70, T + 71, T + 72, T + 3, T + 130, T + 2 * DAY, T + 131, T + 132]
    results = []
    for chunk in (1, 2, 5, 12):
        folder = PartitionFolder(monitor(), 0)
        dead = [d for i in range(0, len(times), chunk) for d in fold(folder, times[i:i + chunk])]
        results.append((folder.watermark, folder.recent_times, [d[1] for d in dead], folder.counts.folded))
    assert results == [results[0]] * 4 and results[0][2] == ["late", "future"]


def test_a_late_event_is_told_which_window_had_closed_and_when() -> None:
    folder = PartitionFolder(monitor(), 0)
    fold(folder, [T + 100, T + 101, T + 102])
    letter = folder.fold(records(events(T + 30), first_offset=3))[0]
    assert (letter.reason, letter.message) == ("late", "its window 2027-01-15T08:00:00Z–2027-01-15T08:01:00Z "
                                               "had closed: its end plus the grace period (5s) is at or before "
                                               "the stream's time 2027-01-15T08:01:42Z")


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
    assert fold(folder, [T + DAY, T + DAY + 1, T + DAY + 2], now=(T + DAY) * 1000) == []
    assert folder.watermark == (T + DAY + 2) * 1000


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
    assert fold(folder, [T, T + 600, T + 601, T + 602, T + 300, T - 8 * DAY, 0, T + 603]) == [
        (4, "late"), (5, "too_old"), (6, "too_old")]
    assert folder.counts.dead_by_reason == {"late": 1, "too_old": 2}


def test_max_age_is_configurable_and_a_historical_file_is_judged_by_its_own_time() -> None:
    folder = PartitionFolder(monitor(source={"topic": "t", "timestamp": "ts", "max_age": "1h"}), 0)
    assert fold(folder, [1_000_000, 1_000_010, 1_000_010 - 2 * HOUR], now=T * 1000) == [(2, "too_old")]


def test_max_age_is_never_shorter_than_a_window_plus_its_grace() -> None:
    spec = monitor(window={"size": "30d", "grace": "1d"})
    assert spec.max_event_age() == 31 * DAY * 1000
    assert monitor().max_event_age() == 7 * DAY * 1000


def test_counts_per_reason_add_up_to_the_dead_lettered_total() -> None:
    folder = PartitionFolder(monitor(), 0)
    batch = records(events(T, T + 1)) + [RawRecord(b"{", 0, 2), RawRecord(None, 0, 3), RawRecord(b"[]", 0, 4)]
    folder.fold(batch)
    assert folder.counts.dead_by_reason == {"invalid_json": 1, "empty": 1, "not_an_object": 1}
    assert folder.counts.as_dict() == {"consumed": 5, "folded": 2, "dead_lettered": 3, "filtered": 0,
                                       "dead_lettered_by_reason": {"empty": 1, "invalid_json": 1, "not_an_object": 1}}
    assert folder.counts.describe() == ("consumed 5 = folded 2 + dead-lettered 3 "
                                        "(empty 1, invalid_json 1, not_an_object 1) + filtered 0")


times = st.one_of(st.integers(-10, 2**64 - 1), st.floats(allow_nan=True, allow_infinity=True),
                  st.sampled_from([T, T + 1, T - 1, T + 60, T + 2 * DAY, T - 30 * DAY, 0]), st.text(max_size=5),
                  st.none(), st.booleans())
int64 = st.integers(-(2**63), 2**63 - 1)
values = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=3),
                   st.lists(int64, max_size=2), st.dictionaries(st.text(max_size=2), int64, max_size=2))
payloads = st.one_of(
    st.builds(lambda t, x, c: orjson.dumps({"ts": t, "f": {"x": x, "c": c}}), times, values, values),
    st.binary(max_size=40), st.none(), st.sampled_from([b"[1]", b"NaN", b"\xff", b"  ", b"[" * 1100]))


@settings(max_examples=300, deadline=None)
@given(st.lists(payloads, max_size=30), st.integers(1, 30), st.one_of(st.none(), st.just(T * 1000)))
def test_folded_plus_dead_lettered_plus_filtered_is_what_was_consumed_for_any_input(
        batch: list[bytes | None], chunk: int, now: int | None) -> None:
    folder = PartitionFolder(monitor(source={"topic": "t", "timestamp": "ts", "max_message_bytes": 200}), 0)
    raw = [RawRecord(p, 0, i) for i, p in enumerate(batch)]
    dead = [letter for i in range(0, len(raw), chunk) for letter in folder.fold(raw[i:i + chunk], now)]
    counts = folder.counts
    assert counts.consumed == len(raw) == counts.folded + counts.dead_lettered + counts.filtered
    assert counts.dead_lettered == len(dead) == sum(counts.dead_by_reason.values())
    assert sum(w.events for w in folder.windows.values()) == counts.folded
