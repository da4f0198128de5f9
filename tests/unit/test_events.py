"""Decoding: good events become columns; every bad record becomes a dead letter with a reason code."""

from __future__ import annotations

import numpy as np
import pytest

from stream_guard.core.decoding.columns import INVALID, MISSING, VALID
from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.topology.timestamps import parse_event_time

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


@pytest.mark.parametrize("given, expected", [
    ("20261205", 1_796_428_800_000),                   # YYYYMMDD (ISO basic): 8 digits are a date, not 1970
    ("2026-12-05t11:05:35z", 1_796_468_735_000),       # RFC 3339 allows lowercase t and z
    ("2026-12-05T11:05:35.250z", 1_796_468_735_250),
    ("2026-12-05 11:05:35Z", 1_796_468_735_000),
    ("1796468735.25", 1_796_468_735_250),
])
def test_event_time_reads_iso_basic_dates_and_lowercase_rfc3339(given: str, expected: int) -> None:
    assert parse_event_time(given) == expected


@pytest.mark.parametrize("given", [
    "١٧٩٦٤٦٨٧٣٥",               # Arabic-Indic digits: float() reads them, but no source writes them
    "１７９６４６８７３５",          # fullwidth digits
    "2026-12-05X11:05:35Z",      # fromisoformat takes any character between date and time
    "2026-12-05é11:05:35Z",
    "2026-339",                  # ISO ordinal dates: Python's fromisoformat does not read them
    "1e9", " 1796468735", "1_796_468_735", "+1796468735", "1796468735.", ".5", "infinity", "20261335",
])
def test_event_time_refuses_lookalike_numbers_odd_separators_and_ordinal_dates(given: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
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
        (5, "invalid_timestamp"), (6, "not_utf8")]
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


def reasons(batch: list[RawRecord], **source: object) -> list[tuple[int, str]]:
    spec = monitor(source={"topic": "t", "timestamp": "ts", **source}) if source else monitor()
    return [(d.record.offset, d.reason) for d in BatchDecoder(spec).decode(batch).dead_letters]


def raw(*payloads: bytes | None) -> list[RawRecord]:
    return [RawRecord(p, 0, i, "t") for i, p in enumerate(payloads)]


def test_a_message_above_the_size_limit_is_dead_lettered_unparsed_as_oversized() -> None:
    fits, too_big = b'{"ts": 1, "f": {"x": 1}}', b'{"ts": 1, "f": {"x": 1}, "pad": "xx"}'
    assert reasons(raw(fits, too_big, None), max_message_bytes=len(fits)) == [(1, "oversized"), (2, "empty")]
    assert reasons(raw(b"{" * len(too_big)), max_message_bytes=len(fits)) == [(0, "oversized")]


def test_the_size_limit_defaults_to_one_mebibyte() -> None:
    assert monitor().source.max_message_bytes == 1024 * 1024
    assert reasons(raw(b'{"ts": 1, "pad": "' + b"x" * 1024 * 1024 + b'"}')) == [(0, "oversized")]


def test_payloads_that_are_no_utf8_text_are_not_utf8() -> None:
    assert reasons(raw(b"\xff\xfe", b'{"ts": 1, "f": {"c": "\xed\xa0\x80"}}', b'{"ts": 1, "f": {"c": "\xe9"}}')) == [
        (0, "not_utf8"), (1, "not_utf8"), (2, "not_utf8")]


def test_a_lone_surrogate_escape_is_not_utf8_and_a_proper_pair_is_fine() -> None:
    decoded = BatchDecoder(monitor()).decode(raw(b'{"ts": 1, "f": {"c": "\\ud800"}}',
                                                 b'{"ts": 1, "f": {"c": "\\ud83d\\ude00"}}'))
    assert [(d.reason, d.record.offset) for d in decoded.dead_letters] == [("not_utf8", 0)]
    assert "surrogate" in decoded.dead_letters[0].message
    assert decoded.columns["c"].labels == ["\U0001f600"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_invalid_json_named_in_the_message(literal: bytes) -> None:
    decoded = BatchDecoder(monitor()).decode(raw(b'{"ts": 1, "f": {"x": ' + literal + b"}}"))
    assert [d.reason for d in decoded.dead_letters] == ["invalid_json"]
    assert decoded.dead_letters[0].message.startswith(f"not valid JSON: {literal.decode()} is not a JSON number")


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1" + b"0" * 400])
def test_a_number_beyond_a_double_is_invalid_json_saying_so(number: bytes) -> None:
    decoded = BatchDecoder(monitor()).decode(raw(b'{"ts": 1, "f": {"x": ' + number + b"}}"))
    assert [d.reason for d in decoded.dead_letters] == ["invalid_json"]
    assert "beyond a 64-bit float's range" in decoded.dead_letters[0].message


def test_huge_integers_that_load_are_valid_numbers_but_no_timestamps() -> None:
    huge = b"1" + b"0" * 30
    decoded = BatchDecoder(monitor()).decode(raw(b'{"ts": 1, "f": {"x": ' + huge + b"}}",
                                                 b'{"ts": 1, "f": {"x": 18446744073709551615}}',
                                                 b'{"ts": ' + huge + b', "f": {"x": 1}}'))
    assert decoded.columns["x"].status.tolist() == [VALID, VALID]
    assert decoded.columns["x"].numbers.tolist() == [1e30, float(2**64 - 1)]  # type: ignore[union-attr]
    assert [(d.record.offset, d.reason) for d in decoded.dead_letters] == [(2, "invalid_timestamp")]


@pytest.mark.parametrize("ts", [True, False, 2**63 - 1, 1e20, 1_700_000_000_000_000, "0001-01-01T00:00:00Z", -1, "nan"])
def test_timestamps_that_are_no_time_or_out_of_range_are_invalid(ts: object) -> None:
    assert reasons([record({"ts": ts, "f": {"x": 1}})]) == [(0, "invalid_timestamp")]


def test_nesting_beyond_the_parsers_limit_is_too_deep_and_within_it_is_fine() -> None:
    deep = b'{"ts": 1, "f": {"x": 1}, "trace": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    fine = b'{"ts": 1, "f": {"x": 1}, "trace": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    decoded = BatchDecoder(monitor()).decode(raw(deep, fine))
    assert [(d.record.offset, d.reason) for d in decoded.dead_letters] == [(0, "too_deep")]
    assert len(decoded) == 1


def test_with_duplicate_keys_the_last_one_counts_and_nothing_is_dead_lettered() -> None:
    decoded = BatchDecoder(monitor()).decode(raw(b'{"ts": "soon", "ts": 2, "f": {"x": "a", "x": 5}}'))
    assert decoded.dead_letters == [] and decoded.times.tolist() == [2000]
    assert decoded.columns["x"].numbers.tolist() == [5.0]  # type: ignore[union-attr]


def test_whitespace_only_payloads_are_empty() -> None:
    assert reasons(raw(b"", b"  \n\t ", None)) == [(0, "empty"), (1, "empty"), (2, "empty")]


@pytest.mark.parametrize("payload, kind", [(b'"text"', "a string"), (b"42", "a number"), (b"null", "null"),
                                           (b"true", "a boolean"), (b"[{}]", "an array")])
def test_an_event_that_is_not_a_json_object_is_not_an_object(payload: bytes, kind: str) -> None:
    [letter] = BatchDecoder(monitor()).decode(raw(payload)).dead_letters
    assert (letter.reason, letter.message) == ("not_an_object", f"expected a JSON object, got {kind}")


def test_batched_messages_without_events_are_empty() -> None:
    assert reasons(raw(b"[]", b" ", b"\n \n"), format="json_array") == [(0, "empty"), (1, "empty"), (2, "empty")]
    assert reasons(raw(b"\n\n", b"[]"), format="ndjson") == [(0, "empty"), (1, "not_an_object")]


def test_a_bad_line_of_an_ndjson_message_gets_its_own_reason() -> None:
    spec = monitor(source={"topic": "t", "timestamp": "ts", "format": "ndjson"})
    deep = b'{"ts": 1, "f": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    decoded = BatchDecoder(spec).decode(raw(b'{"ts": 1}\n\xff\n[1]\n' + deep))
    assert [(d.index, d.reason) for d in decoded.dead_letters] == [(1, "not_utf8"), (2, "not_an_object"),
                                                                   (3, "too_deep")]


@pytest.mark.parametrize("source, payloads, consumed", [
    ({}, [b'{"ts": 1}', b"x", None, b"[1]", b'{"ts": "no"}'], 5),
    ({"format": "json_array"}, [b'[{"ts": 1}, 2, {"ts": 3}]', b"[]", b"{}", b"[", None], 7),
    ({"format": "ndjson"}, [b'{"ts": 1}\n\nbad\n{"ts": 2}\n', b"\n", None], 5),
])
def test_every_event_read_is_either_decoded_or_dead_lettered(source: dict[str, str], payloads: list[bytes | None],
                                                             consumed: int) -> None:
    spec = monitor(source={"topic": "t", "timestamp": "ts", **source})
    decoded = BatchDecoder(spec).decode(raw(*payloads))
    assert decoded.consumed == consumed == len(decoded) + len(decoded.dead_letters)


def test_a_long_payload_is_cut_short_in_its_dead_letter_and_says_so() -> None:
    [letter] = BatchDecoder(monitor()).decode(raw(b"x" * 10_000)).dead_letters
    whole, cut = letter.to_json(), letter.to_json(payload_limit=100)
    assert whole["payload"] == "x" * 10_000 and "truncated" not in whole
    assert (cut["payload"], cut["truncated"], cut["payload_size"]) == ("x" * 100, True, 10_000)


def test_dead_letters_come_in_input_order_whatever_their_reason() -> None:
    batch = raw(b'{"f": {}}', b"x" * 200, b"{", b'{"ts": 1}', None)
    assert reasons(batch, max_message_bytes=100) == [(0, "missing_timestamp"), (1, "oversized"),
                                                     (2, "invalid_json"), (4, "empty")]
