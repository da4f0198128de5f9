"""Decoding: good events become columns; every bad record becomes a dead letter with a reason code."""

from __future__ import annotations

import numpy as np
import pytest

from stream_guard.core.events import INVALID, MISSING, VALID, BatchDecoder, RawRecord, parse_event_time

from .builders import monitor, record, records


@pytest.mark.parametrize("given, expected", [
    (1_700_000_000, 1_700_000_000_000),
    (1_700_000_000.5, 1_700_000_000_500),
    (1_700_000_000_123, 1_700_000_000_123),
    ("1700000000", 1_700_000_000_000),
    ("2023-11-14T22:13:20Z", 1_700_000_000_000),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
    ("2023-11-14T22:13:20", 1_700_000_000_000),
])
def test_event_time_accepts_epoch_seconds_milliseconds_and_iso8601(given: object, expected: int) -> None:
    assert parse_event_time(given) == expected


@pytest.mark.parametrize("given", [True, None, -5, "yesterday", [1], float("nan")])
def test_event_time_rejects_what_is_not_a_time(given: object) -> None:
    with pytest.raises(ValueError):
        parse_event_time(given)


def test_each_kind_of_bad_record_gets_its_reason_and_the_good_ones_decode() -> None:
    batch = [
        record({"ts": 1000, "f": {"x": 1.5, "c": "a"}}, 0),
        RawRecord(None, 0, 1, "t"),
        RawRecord(b"{not json", 0, 2, "t"),
        record([1, 2], 3),
        record({"f": {"x": 1}}, 4),
        record({"ts": "soon", "f": {}}, 5),
        RawRecord(b"\xff\xfe", 0, 6, "t"),
        record({"ts": 2000, "f": {"x": 2, "c": "b"}}, 7),
    ]
    decoded = BatchDecoder(monitor()).decode(batch)
    assert [(d.record.offset, d.reason) for d in decoded.dead_letters] == [
        (1, "empty"), (2, "invalid_json"), (3, "not_an_object"), (4, "missing_timestamp"),
        (5, "invalid_timestamp"), (6, "invalid_json")]
    assert decoded.times.tolist() == [1_000_000, 2_000_000]
    assert [r.offset for r in decoded.records] == [0, 7]


def test_dead_letter_json_carries_text_payloads_as_text_and_binary_as_base64() -> None:
    decoded = BatchDecoder(monitor()).decode([RawRecord(b"oops", 3, 41, "src"), RawRecord(b"\xff", 3, 42, "src")])
    text, binary = (d.to_json() for d in decoded.dead_letters)
    assert text == {"schema": "stream_guard.dead_letter/v1", "monitor": "m", "topic": "src", "partition": 3,
                    "offset": 41, "reason": "invalid_json", "message": text["message"], "payload": "oops"}
    assert text["message"].startswith("not valid JSON")
    assert binary["payload_base64"] == "/w==" and "payload" not in binary


def test_numeric_values_are_valid_missing_or_invalid() -> None:
    values = [3, 2.5, 2**64 - 1, None, "7", True, {"a": 1}, [2]]
    decoded = BatchDecoder(monitor()).decode(records([{"ts": 1, "f": {"x": v}} for v in values] + [{"ts": 1}]))
    column = decoded.columns["x"]
    assert column.status.tolist() == [VALID, VALID, VALID, MISSING, INVALID, INVALID, INVALID, INVALID, MISSING]
    assert column.numbers[:3].tolist() == [3.0, 2.5, float(2**64 - 1)]
    assert np.isnan(column.numbers[3:]).all()


def test_a_number_json_cannot_hold_makes_the_whole_record_invalid_json() -> None:
    decoded = BatchDecoder(monitor()).decode([RawRecord(b'{"ts": 1, "f": {"x": 1e999}}', 0, 0, "t")])
    assert [d.reason for d in decoded.dead_letters] == ["invalid_json"] and len(decoded) == 0


def test_categorical_values_are_normalised_to_text() -> None:
    values = ["DE", 7, 1.5, False, None, ["x"]]
    decoded = BatchDecoder(monitor()).decode(records([{"ts": 1, "f": {"c": v}} for v in values]))
    column = decoded.columns["c"]
    assert column.labels == ["DE", "7", "1.5", "false", None, None]
    assert column.status.tolist() == [VALID, VALID, VALID, VALID, MISSING, INVALID]


def test_a_json_array_message_carries_many_events_and_bad_elements_are_dead_lettered_by_index() -> None:
    spec = monitor(source={"topic": "t", "timestamp": "ts", "format": "json_array"})
    batch = [RawRecord(b'[{"ts": 1, "f": {"x": 1}}, 7, {"f": {}}, {"ts": 2, "f": {"x": 2}}]', 0, 0, "t"),
             RawRecord(b'{"ts": 3}', 0, 1, "t"), RawRecord(b"[", 0, 2, "t")]
    decoded = BatchDecoder(spec).decode(batch)
    assert decoded.times.tolist() == [1000, 2000]
    assert decoded.indexes == [0, 3]
    assert [(d.record.offset, d.index, d.reason) for d in decoded.dead_letters] == [
        (0, 1, "not_an_object"), (0, 2, "missing_timestamp"), (1, None, "not_an_array"), (2, None, "invalid_json")]
    assert decoded.dead_letters[0].to_json()["index"] == 1


def test_an_ndjson_message_carries_one_event_per_line_and_skips_blank_lines() -> None:
    spec = monitor(source={"topic": "t", "timestamp": "ts", "format": "ndjson"})
    payload = b'{"ts": 1, "f": {"c": "a"}}\n\n{"ts": 2, "f": {"c": "b"}}\n{oops\n'
    decoded = BatchDecoder(spec).decode([RawRecord(payload, 0, 5, "t")])
    assert decoded.columns["c"].labels == ["a", "b"]
    assert [(d.index, d.reason) for d in decoded.dead_letters] == [(2, "invalid_json")]


def test_columns_with_odd_types_are_decoded_value_by_value_like_clean_ones() -> None:
    clean = BatchDecoder(monitor()).decode(records([{"ts": 1, "f": {"x": 1, "c": "a"}}] * 3))
    odd = BatchDecoder(monitor()).decode(records([{"ts": 1, "f": {"x": 1, "c": "a"}}, {"ts": 1, "f": 5},
                                                  {"ts": 1, "f": {"x": "1", "c": 1}}]))
    assert clean.columns["x"].status.tolist() == [VALID, VALID, VALID]
    assert odd.columns["x"].status.tolist() == [VALID, MISSING, INVALID]
    assert odd.columns["c"].labels == ["a", None, "1"]
