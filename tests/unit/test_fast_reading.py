"""The fast ways of reading a batch give exactly what the general ones give.

Three shortcuts are checked against the plain path: the declared fields of one object read in one
pass per event, the numeric columns converted in one numpy call, and a batch read in chunks of
events rather than all at once. Each batch mixes well-formed events with malformed ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from stream_guard.core.decoding import decoder as decoder_module
from stream_guard.core.decoding.columns import FieldReader, numeric_column, numeric_columns
from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.records import DecodedBatch, RawRecord

from .builders import assert_same_batches, monitor

PATHS = [("f", "x"), ("f", "y"), ("f", "c"), ("ts",)]


def _event(i: int, **features: Any) -> dict[str, Any]:
    return {"ts": 1_800_000_000 + i, "f": {"x": i * 0.5, "y": i, "c": f"v{i % 3}", **features}}


ODD_EVENTS: list[Any] = [
    {"ts": 1_800_000_000, "f": {"x": 1.0, "c": "a"}},               # y absent
    {"ts": 1_800_000_000, "f": None},                               # no features object
    {"ts": 1_800_000_000, "f": [1, 2]},                             # an array where an object belongs
    {"ts": 1_800_000_000, "f": "text"},
    {"ts": 1_800_000_000},
    _event(4, x="1.5", y=True, c=7),                                # values of the wrong types
    _event(5, x=None, c=None),
    _event(6, extra=1),                                             # an undeclared field
]


@pytest.mark.parametrize("odd", ODD_EVENTS)
def test_reading_fields_together_matches_reading_them_one_by_one(odd: Any) -> None:
    events = [_event(0), odd, _event(2)]
    together, alone = FieldReader(events, PATHS), FieldReader(events)
    for path in PATHS:
        assert together.values(path) == alone.values(path)


def test_fields_read_together_are_known_present_only_when_every_event_holds_them() -> None:
    whole = FieldReader([_event(0), _event(1)], PATHS)
    whole.values(("f", "x"))
    assert whole.present(("f",)) == {"x", "y", "c"}
    gappy = FieldReader([_event(0), ODD_EVENTS[0]], PATHS)
    gappy.values(("f", "x"))
    assert gappy.present(("f",)) == frozenset()


@pytest.mark.parametrize("columns", [
    [[1.0, 2, None], [0.5, -1e308, 3]],
    [[], []],
    [[2**64 - 1, 1e300], [None, None]],
])
def test_numeric_columns_in_one_call_match_one_column_at_a_time(columns: list[list[Any]]) -> None:
    built = numeric_columns(columns)
    assert built is not None
    for values, column in zip(columns, built, strict=True):
        alone = numeric_column(values)
        np.testing.assert_array_equal(column.numbers, alone.numbers)
        np.testing.assert_array_equal(column.status, alone.status)


@pytest.mark.parametrize("bad", ["1.5", True, [1], {"a": 1}])
def test_numeric_columns_leave_a_batch_with_a_non_number_to_the_careful_path(bad: Any) -> None:
    assert numeric_columns([[1.0, 2.0], [3.0, bad]]) is None


def _spec() -> Any:
    return monitor(features={
        "x": {"type": "numeric", "field": "f.x", "min": 0},
        "y": {"type": "numeric", "field": "f.y"},
        "n": {"type": "integer", "field": "f.y"},                   # two features reading one field
        "c": {"type": "categorical", "field": "f.c"},
        "s": {"type": "string", "field": "f.c", "required": True},
    }, segment_by=["f.c"], source={"topic": "t", "timestamp": "ts", "format": "json_array"})


def _mixed_messages() -> list[RawRecord]:
    """JSON arrays of good events, with malformed ones, bad times and undeclared fields spread out."""
    items: list[Any] = [_event(i) for i in range(40)]
    for at, odd in zip(range(3, 40, 5), ODD_EVENTS, strict=False):
        items[at] = odd
    items[11] = {"ts": "soon", "f": {"x": 1.0, "only_in_a_dropped_event": 1}}
    items[17] = 42                                                  # not an object
    items[23] = _event(23, later=2)                                 # undeclared, in a later chunk
    messages = [orjson.dumps(items[i:i + 6]) for i in range(0, len(items), 6)]
    messages.insert(3, b"[not json")
    return [RawRecord(m, 0, offset, "t") for offset, m in enumerate(messages)]


def _decode(chunk: int, monkeypatch: pytest.MonkeyPatch) -> DecodedBatch:
    monkeypatch.setattr(decoder_module, "CHUNK_EVENTS", chunk)
    return BatchDecoder(_spec()).decode(_mixed_messages())


@pytest.mark.parametrize("chunk", [1, 4, 7])
def test_a_batch_read_in_chunks_decodes_as_it_does_read_whole(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_batches(_decode(chunk, monkeypatch), _decode(10**9, monkeypatch))


def test_the_chunked_batch_keeps_its_malformed_events_and_undeclared_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = _decode(4, monkeypatch)
    assert sorted(batch.unknown) == ["f.extra", "f.later"]      # not the field only a dropped event had
    assert [int(np.count_nonzero(mask)) for mask in batch.unknown.values()] == [1, 1]
    assert sorted(d.reason for d in batch.dead_letters) == [
        "invalid_json", "invalid_timestamp", "not_an_object"]
    assert batch.consumed == 41 and len(batch) == 38


def test_per_message_events_read_in_chunks_decode_as_they_do_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec()
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"format": "json"})})
    items: list[Any] = [_event(i) for i in range(20)] + ODD_EVENTS + [{"ts": None}, [1]]
    raw = [RawRecord(orjson.dumps(e), 0, i, "t") for i, e in enumerate(items)] + [RawRecord(b"{", 0, 99, "t")]
    decoded = []
    for chunk in (3, 10**9):
        monkeypatch.setattr(decoder_module, "CHUNK_EVENTS", chunk)
        decoded.append(BatchDecoder(spec).decode(raw))
    assert_same_batches(*decoded)
