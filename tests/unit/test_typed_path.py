"""The typed path (core.typed) decodes exactly what the general path decodes, or leaves the record to it.

Every test decodes the same records twice, once with the monitor's typed path and once with it
switched off, and compares the batches whole; the counters say how many records the typed path
took, so a test cannot pass by everything quietly falling back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from stream_guard.core.decoding import decoder as decoder_module
from stream_guard.core.decoding.columns import MISSING, VALID
from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.records import DecodedBatch, RawRecord
from stream_guard.core.decoding.typed import TypedEvents
from stream_guard.core.topology.monitor import MonitorSpec

from .builders import assert_same_batches, monitor

GOOD = {"ts": 1_800_000_000, "f": {"x": 1.5, "y": 2, "c": "a"}, "other": {"deep": [1, {"k": None}]}}
# each of these takes the general path, for the reason given
ODD: list[tuple[str, Any]] = [
    ("string where a number belongs", {"ts": 1_800_000_000, "f": {"x": "1.5", "y": 1, "c": "a"}}),
    ("boolean number", {"ts": 1_800_000_000, "f": {"x": True, "y": 1, "c": "a"}}),
    ("number where a label belongs", {"ts": 1_800_000_000, "f": {"x": 1.0, "y": 1, "c": 7}}),
    ("undeclared field in f", {"ts": 1_800_000_000, "f": {"x": 1.0, "y": 1, "c": "a", "new": 1}}),
    ("f absent", {"ts": 1_800_000_000}),
    ("f null", {"ts": 1_800_000_000, "f": None}),
    ("f an array", {"ts": 1_800_000_000, "f": [1]}),
    ("not an object", 42),
    ("integer beyond 64 bits", b'{"ts": 1800000000, "f": {"x": 1.0, "y": 1, "c": "a"}, "seg": 1180591620717411303424}'),
]
# these stay on the typed path
TYPED: list[tuple[str, Any]] = [
    ("all present", GOOD),
    ("nulls and absences", {"ts": 1_800_000_000, "f": {"x": None, "c": None}}),
    ("ISO time", {"ts": "2027-01-15T08:00:00Z", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("a time that is none", {"ts": "soon", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("ISO basic date", {"ts": "20261205", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("lowercase RFC 3339", {"ts": "2026-12-05t11:05:35.5z", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("time with an odd separator", {"ts": "2026-12-05X11:05:35Z", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("ISO ordinal date", {"ts": "2026-339", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("epoch in other digits", {"ts": "١٧٩٦٤٦٨٧٣٥", "f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("no time", {"f": {"x": 1.0, "y": 1, "c": "b"}}),
    ("time in seconds as a float", {"ts": 1_800_000_000.25, "f": {"x": -0.0, "y": 10**18, "c": "é"}}),
    ("huge float", {"ts": 1_800_000_000, "f": {"x": 1e308, "y": -1e-320, "c": ""}}),
    ("segment of any type", {"ts": 1_800_000_000, "f": {"x": 1.0, "y": 1, "c": "a"}, "seg": [1, "two"]}),
]


def plain() -> MonitorSpec:
    """Unconstrained features: the typed path checks their types itself."""
    return monitor(features={"x": {"type": "numeric", "field": "f.x"}, "y": {"type": "numeric", "field": "f.y"},
                             "c": {"type": "categorical", "field": "f.c"}},
                   segment_by=["seg"], source={"topic": "t", "timestamp": "ts", "format": "json_array"})


def constrained() -> MonitorSpec:
    """Schemas, two features on one field, a segment inside `f`: values kept as JSON held them."""
    return monitor(features={
        "x": {"type": "numeric", "field": "f.x", "min": 0},
        "y": {"type": "numeric", "field": "f.y"},
        "n": {"type": "integer", "field": "f.y"},
        "c": {"type": "categorical", "field": "f.c"},
        "s": {"type": "string", "field": "f.c", "required": True},
    }, segment_by=["f.c"], source={"topic": "t", "timestamp": "ts", "format": "json_array"})


def with_format(spec: MonitorSpec, fmt: str) -> MonitorSpec:
    return spec.model_copy(update={"source": spec.source.model_copy(update={"format": fmt})})


class Counting(BatchDecoder):
    """A BatchDecoder that counts the records its typed path took."""

    def __init__(self, spec: MonitorSpec, typed: bool = True) -> None:
        super().__init__(spec)
        self.took = 0
        if not typed:
            self._typed = None
        elif self._typed is not None:
            decode, decode_each = self._typed.decode, self._typed.decode_each

            def counted(payload: bytes | None) -> Any:
                got = decode(payload)
                self.took += got is not None
                return got

            def counted_each(payloads: list[bytes | None]) -> Any:
                got = decode_each(payloads)
                self.took += sum(event is not None for event in got)
                return got
            self._typed.decode = counted  # type: ignore[method-assign]
            self._typed.decode_each = counted_each  # type: ignore[method-assign]


def both(spec: MonitorSpec, raw: list[RawRecord]) -> tuple[DecodedBatch, int]:
    """The typed decoding (checked equal to the general one) and how many records it took."""
    typed = Counting(spec)
    batch = typed.decode(raw)
    assert_same_batches(batch, Counting(spec, typed=False).decode(raw))
    return batch, typed.took


def arrays(items: list[Any], per_message: int) -> list[RawRecord]:
    """JSON arrays of `per_message` items each; an item given as bytes is JSON text already."""
    text = [item if isinstance(item, bytes) else orjson.dumps(item) for item in items]
    return [RawRecord(b"[" + b",".join(text[i:i + per_message]) + b"]", 0, i, "t")
            for i in range(0, len(text), per_message)]


@pytest.mark.parametrize("spec", [plain(), constrained()], ids=["plain", "constrained"])
@pytest.mark.parametrize("name,odd", ODD, ids=[n for n, _ in ODD])
def test_a_message_the_typed_path_cannot_hold_decodes_as_the_general_path_does(spec: MonitorSpec, name: str,
                                                                               odd: Any) -> None:
    raw = arrays([GOOD, GOOD, odd, GOOD, GOOD, GOOD], 2)
    batch, took = both(spec, raw)
    # the constrained monitor keeps f.x, f.y, f.c as JSON held them and reads no `seg`: a value of
    # another type there is no reason to leave the typed path
    kept_as_json = name in ("string where a number belongs", "boolean number", "number where a label belongs",
                            "integer beyond 64 bits")
    assert took == (3 if spec.segment_by == ["f.c"] and kept_as_json else 2)
    assert batch.consumed == 6


@pytest.mark.parametrize("spec", [plain(), constrained()], ids=["plain", "constrained"])
@pytest.mark.parametrize("name,event", TYPED, ids=[n for n, _ in TYPED])
def test_well_formed_events_of_every_kind_take_the_typed_path(spec: MonitorSpec, name: str, event: Any) -> None:
    batch, took = both(spec, arrays([GOOD, event, GOOD, event], 2))
    assert took == 2
    assert batch.consumed == 4


def test_the_typed_path_gives_floats_with_nan_where_values_are_missing() -> None:
    batch, took = both(plain(), arrays([GOOD, {"ts": 1_800_000_000, "f": {"c": None}}, GOOD], 3))
    assert took == 1
    assert batch.columns["x"].numbers.tolist()[::2] == [1.5, 1.5]  # type: ignore[union-attr]
    assert batch.columns["y"].status.tolist() == [VALID, MISSING, VALID]
    assert batch.columns["c"].labels == ["a", None, "a"]
    assert batch.columns["c"].status.tolist() == [VALID, MISSING, VALID]
    assert batch.segments == ["seg=(missing)"] * 3


def test_bad_records_of_every_kind_match_with_typed_ones_around_them() -> None:
    raw = arrays([GOOD] * 5, 5) + [RawRecord(v, 0, 10 + i, "t") for i, v in enumerate(
        [b"[not json", b"\xff[]", None, b"", b"[]", b"{}", b'"text"', b"[" * 2000 + b"]" * 2000,
         b'[{"ts": 1, "f": {"x": NaN}}]', b'[{"ts": 1, "f": {"x": 1e999}}]'])]
    raw.append(RawRecord(orjson.dumps([GOOD, {"ts": "soon", "f": {"x": 1.0}}, GOOD]), 0, 30, "t"))
    for fmt in ("json_array", "json", "ndjson"):
        batch, took = both(with_format(plain(), fmt), raw)
        assert took == {"json_array": 2, "json": 0, "ndjson": 0}[fmt]
    batch, _ = both(plain(), raw)
    assert [d.reason for d in batch.dead_letters] == [
        "invalid_json", "not_utf8", "empty", "empty", "empty", "not_an_array", "not_an_array", "too_deep",
        "invalid_json", "invalid_json", "invalid_timestamp"]
    assert len(batch) == 5 + 2


def test_per_message_and_line_formats_take_the_typed_path_for_each_good_message() -> None:
    items = [GOOD, ODD[0][1], GOOD, ODD[3][1], TYPED[1][1]]
    per_message = [RawRecord(orjson.dumps(e), 0, i, "t") for i, e in enumerate(items)]
    batch, took = both(with_format(plain(), "json"), per_message)
    assert (took, batch.consumed) == (3, 5)
    lines = [RawRecord(b"\n".join(orjson.dumps(e) for e in items[i:i + 2]) + b"\n\n", 0, i, "t")
             for i in range(0, 5, 2)]
    batch, took = both(with_format(plain(), "ndjson"), lines)
    assert (took, batch.consumed, batch.indexes) == (1, 5, [0, 1, 0, 1, 0])


def test_a_typed_batch_with_bad_times_drops_those_events_from_its_number_arrays() -> None:
    items = [dict(GOOD, ts=t, f={"x": float(i), "y": i, "c": "a"}) for i, t in enumerate([1_800_000_000, None, "x", 5])]
    batch, took = both(plain(), arrays(items, 4))
    assert took == 1
    assert batch.columns["x"].numbers.tolist() == [0.0, 3.0]  # type: ignore[union-attr]
    assert [(d.index, d.reason) for d in batch.dead_letters] == [(1, "missing_timestamp"), (2, "invalid_timestamp")]


def test_a_number_out_of_range_in_a_field_nobody_reads_is_let_through_on_the_typed_path_only() -> None:
    raw = [RawRecord(b'[{"ts": 1800000000, "f": {"x": 1, "y": 2, "c": "a"}, "other": 1e999}]', 0, 0, "t")]
    typed, general = Counting(plain()).decode(raw), Counting(plain(), typed=False).decode(raw)
    assert (len(typed), [d.reason for d in typed.dead_letters]) == (1, [])
    assert (len(general), [d.reason for d in general.dead_letters]) == (0, ["invalid_json"])


def test_monitors_whose_fields_cannot_be_one_struct_use_the_general_path() -> None:
    both_ways = monitor(features={"a": {"type": "numeric", "field": "f"}, "b": {"type": "numeric", "field": "f.x"}})
    assert BatchDecoder(both_ways)._typed is None
    time_in_features = monitor(source={"topic": "t", "timestamp": "f.ts"})
    assert BatchDecoder(time_in_features)._typed is None   # `ts` is an undeclared field of `f` there
    with pytest.raises(ValueError, match="f is read both as a value and as an object"):
        TypedEvents([("f",), ("f", "x")], {}, set(), "json")
    raw = [RawRecord(orjson.dumps({"ts": 1_800_000_000, "f": {"x": 1.0, "ts": 1}}), 0, 0, "t")]
    assert sorted(BatchDecoder(time_in_features).decode(raw).unknown) == ["f.ts"]


def test_features_at_the_top_level_leave_undeclared_top_level_fields_alone() -> None:
    spec = monitor(features={"x": {"type": "numeric", "field": "x"}})
    raw = [RawRecord(orjson.dumps({"ts": 1_800_000_000, "x": 2.5, "anything": {"a": 1}}), 0, 0, "t")]
    batch, took = both(spec, raw)
    assert took == 1
    np.testing.assert_array_equal(batch.columns["x"].numbers, [2.5])


@pytest.mark.parametrize("chunk", [1, 2, 3, 500])
def test_chunk_boundaries_do_not_change_a_mixed_batch(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder_module, "TYPED_CHUNK", chunk)
    items = [GOOD, GOOD, ODD[0][1], GOOD, ODD[3][1], ODD[4][1], GOOD, TYPED[1][1], TYPED[3][1], GOOD]
    per_message = [RawRecord(orjson.dumps(e), 0, i, "t") for i, e in enumerate(items)]
    batch, took = both(with_format(plain(), "json"), per_message)
    assert (took, batch.consumed, len(batch)) == (7, 10, 9)
    batch, took = both(plain(), arrays(items, 3))
    assert (took, batch.consumed, len(batch)) == (2, 10, 9)
