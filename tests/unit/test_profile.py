"""Window profiles: exact counters, sketches fed whole arrays, merge laws and a versioned codec."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.profiles.profile import ProfileFormatError, WindowProfile, merge_all

from .builders import monitor, records

SPEC = monitor()


def folded(events: list[dict[str, object]]) -> WindowProfile:
    batch = BatchDecoder(SPEC).decode(records(events))
    profile = WindowProfile.empty(SPEC, 0)
    profile.fold(batch.columns, np.arange(len(batch)), SPEC)
    return profile


def event(x: object, c: object) -> dict[str, object]:
    return {"ts": 1, "f": {"x": x, "c": c}}


def test_fold_counts_missing_invalid_and_out_of_range_exactly() -> None:
    profile = folded([event(1.0, "a"), event(-2.0, "a"), event(None, "b"), event("z", None), event(4, [1])])
    x, c = profile.features["x"], profile.features["c"]
    assert (profile.events, x.n, x.missing, x.invalid, x.out_of_range) == (5, 3, 1, 1, 1)
    assert (x.total, x.total_sq) == (3.0, 21.0)
    assert (c.n, c.missing, c.invalid, c.frequencies()) == (3, 1, 1, {"a": 2, "b": 1})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(-1e6, 1e6)), st.sampled_from(["a", "b", "c", None])),
                max_size=150), st.integers(0, 150))
def test_folding_halves_and_merging_equals_folding_the_whole(rows: list[tuple[object, object]], cut: int) -> None:
    events = [event(x, c) for x, c in rows]
    whole = folded(events)
    halves = folded(events[:cut]).merged(folded(events[cut:]))
    assert halves.events == whole.events
    for name in ("x", "c"):
        a, b = halves.features[name], whole.features[name]
        assert (a.n, a.missing, a.invalid) == (b.n, b.missing, b.invalid)
    # under k=200 values a KLL sketch keeps every value, so quantiles agree exactly
    if whole.features["x"].n:
        q = [0.0, 0.25, 0.5, 0.75, 1.0]
        assert halves.features["x"].sketch.get_quantiles(q) == whole.features["x"].sketch.get_quantiles(q)
    assert halves.features["c"].frequencies() == whole.features["c"].frequencies()


def test_merge_does_not_change_its_inputs() -> None:
    a, b = folded([event(1.0, "a")]), folded([event(2.0, "b")])
    merge_all([a, b])
    assert (a.events, a.features["x"].n, b.features["c"].frequencies()) == (1, 1, {"b": 1})


def test_codec_round_trips_every_counter_and_sketch() -> None:
    profile = folded([event(float(i), "abc"[i % 3]) for i in range(1000)] + [event(None, None)])
    back = WindowProfile.from_bytes(profile.to_bytes())
    assert (back.start, back.end, back.events) == (0, 60_000, 1001)
    assert back.features["x"].header() == profile.features["x"].header()
    assert back.features["x"].sketch.get_quantiles([0.5]) == profile.features["x"].sketch.get_quantiles([0.5])
    assert back.features["c"].frequencies() == {"a": 334, "b": 333, "c": 333}


def test_codec_refuses_bytes_that_are_not_a_profile_or_of_another_version() -> None:
    data = folded([event(1.0, "a")]).to_bytes()
    with pytest.raises(ProfileFormatError, match="bad magic"):
        WindowProfile.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(ProfileFormatError, match="format v9; this version reads v1 to v2"):
        WindowProfile.from_bytes(data[:4] + b"\x00\x09" + data[6:])


def test_values_near_the_largest_double_are_valid_counted_as_extreme_and_kept_out_of_the_sums() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        profile = folded([event(1.7e308, "a"), event(2.0, "a"), event(-1e200, "a"), event(4.0, "a")])
    x = profile.features["x"]
    assert (x.n, x.invalid, x.extreme, x.total, x.total_sq) == (4, 0, 2, 6.0, 20.0)  # type: ignore[union-attr]
    merged = WindowProfile.from_bytes(profile.to_bytes()).merged(profile).features["x"]
    assert (merged.n, merged.extreme, merged.mean(), merged.std()) == (8, 4, 3.0, 1.0)  # type: ignore[union-attr]
    assert merged.sketch.get_quantiles([1.0]) == [1.7e308]


def test_a_profile_stored_before_extreme_values_were_counted_still_reads_with_its_overflowed_sums() -> None:
    import orjson

    data = folded([event(1.0, "a"), event(3.0, "a")]).to_bytes()
    version, length = struct.unpack(">HI", data[4:10])
    header = orjson.loads(data[10:10 + length])
    header["features"][0].pop("extreme")
    header["features"][0]["total"] = "inf"
    old = orjson.dumps(header)
    stored = data[:4] + struct.pack(">HI", version, len(old)) + old + data[10 + length:]
    x = WindowProfile.from_bytes(stored).features["x"]
    assert (x.n, x.extreme, x.total) == (2, 0, float("inf"))  # type: ignore[union-attr]
