"""Fuzzed input for the message decoder, in every source format (json, json_array, ndjson): whatever the
bytes, nothing escapes but a dead letter, and every event a message counts for is folded, dead-lettered
or filtered exactly once.

Messages are drawn as arbitrary bytes, as JSON values of any shape, as events close to what the monitor
reads (with values of every type in its fields, and timestamps in every form, good and bad), and as
those cut, doubled or joined by newlines. Two monitors: one whose fields the typed path reads (plain
features) and one that sends values through the general path (a bound, a rule, segments).
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.reasons import DEAD_LETTER_REASONS
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.topology.monitor import MonitorSpec

from .builders import monitor

FORMATS = ("json", "json_array", "ndjson")
NOW = 1_800_000_000_000
EXAMPLES = int(os.environ.get("SG_FUZZ_EXAMPLES", "150"))   # raise it for a longer run
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def monitors(fmt: str) -> list[MonitorSpec]:
    source = {"topic": "t", "timestamp": "ts", "format": fmt}
    plain = monitor(source=source, features={"x": {"type": "numeric", "field": "f.x"},
                                             "c": {"type": "categorical", "field": "f.c"}})
    general = monitor(source=source, segment_by=["region"], rules=["x <= 1000"],
                      features={"x": {"type": "numeric", "field": "f.x", "min": 0},
                                "c": {"type": "categorical", "field": "f.c", "allowed": ["a", "b"], "required": True}})
    return [plain, general]


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["ts", "f", "x", "c", "region", "other"]), inner, max_size=4)), max_leaves=12)
timestamps = st.one_of(st.integers(NOW - 10**10, NOW + 10**10), st.integers(NOW // 1000 - 10**5, NOW // 1000),
                       st.floats(allow_nan=False), st.sampled_from(["2027-01-15T08:00:00Z", "2027-01-15 08:00",
                                                                    "soon", "", "1e400", "NaN"]), json_values)
events = st.fixed_dictionaries(
    {"ts": timestamps},
    optional={"f": st.one_of(st.fixed_dictionaries({}, optional={"x": json_values, "c": json_values,
                                                                  "y": json_values}), json_values),
              "region": st.one_of(st.text(max_size=3), json_values)})


def _encoded(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS) if not isinstance(value, bytes) else value


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["event", "events", "json", "bytes", "cut", "lines", "special"]))
    if kind == "event":
        return _encoded(draw(events))
    if kind == "events":
        return _encoded(draw(st.lists(events, max_size=5)))
    if kind == "json":
        return _encoded(draw(json_values))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "cut":
        whole = _encoded(draw(st.one_of(events, st.lists(events, max_size=3))))
        return whole[:draw(st.integers(0, len(whole)))]
    if kind == "lines":
        return b"\n".join(draw(st.lists(st.one_of(st.builds(_encoded, events), st.binary(max_size=8),
                                                  st.just(b"  ")), max_size=5)))
    return draw(st.sampled_from([b'{"ts": NaN}', b'{"ts": 1e400, "f": {"x": 1e400}}', b"[" * 2000 + b"]" * 2000,
                                 b'{"ts": 1, "f": ' + b"[" * 600 + b"]" * 600 + b"}", b"\xef\xbb\xbf{}", b"null",
                                 b'{"ts": 1800000000, "f": {"x": 123456789012345678901234567890, "c": "a"}}',
                                 b'[{"ts": 1800000000, "f": {"x": -123456789012345678901234567890}}, 5]',
                                 b'{"ts": 1800000000, "f": {"x": -1, "c": "z"}, "region": "eu"}', b"\x00"]))


def expected_events(value: bytes, fmt: str) -> int:
    """How many events a message counts for (README, "Bad input"): one per message, or per element or
    non-blank line of a batched one, at least one."""
    if fmt == "json" or not value:
        return 1
    if fmt == "ndjson":
        return max(1, sum(1 for line in value.split(b"\n") if line.strip()))
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return 1
    return max(1, len(parsed)) if isinstance(parsed, list) else 1


def as_records(values: list[bytes]) -> list[RawRecord]:
    return [RawRecord(v, 0, i, "t") for i, v in enumerate(values)]


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(values=st.lists(payloads(), min_size=1, max_size=12))
def test_every_event_of_a_fuzzed_batch_is_decoded_or_dead_lettered_exactly_once(fmt: str,
                                                                                  values: list[bytes]) -> None:
    for spec in monitors(fmt):
        batch = BatchDecoder(spec).decode(as_records(values))
        good = list(zip((r.offset for r in batch.records), batch.indexes, strict=True))
        dead = [(d.record.offset, d.index) for d in batch.dead_letters]
        assert len(set(good + dead)) == len(good) + len(dead), "an event decoded or dead-lettered twice"
        assert {d.reason for d in batch.dead_letters} <= set(DEAD_LETTER_REASONS)
        for offset, value in enumerate(values):
            mine = sum(1 for o, _ in good + dead if o == offset)
            assert mine == expected_events(value, fmt), (fmt, value)
        assert batch.consumed == len(good) + len(dead) == sum(expected_events(v, fmt) for v in values)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(batches=st.lists(st.lists(payloads(), min_size=1, max_size=8), min_size=1, max_size=3))
def test_folding_fuzzed_batches_balances_its_counts(fmt: str, batches: list[list[bytes]]) -> None:
    for spec in monitors(fmt):
        folder, offset, letters, consumed = PartitionFolder(spec, 0), 0, 0, 0
        for values in batches:
            letters += len(folder.fold([RawRecord(v, 0, offset + i, "t") for i, v in enumerate(values)], now=NOW))
            offset += len(values)
            consumed += sum(expected_events(v, fmt) for v in values)
        counts = folder.counts
        assert counts.consumed == counts.folded + counts.dead_lettered + counts.filtered == consumed
        assert counts.dead_lettered == letters == sum(counts.dead_by_reason.values())
        assert folder.next_offset == offset
