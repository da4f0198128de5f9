"""Good demo traffic with every kind of bad input mixed in, for the replay and live bad-input tests.

`mixed_stream()` gives the lines of an events file: the demo scenario's events, with bad lines (each
with the reason it must be dead-lettered for) and odd-but-usable lines (folded, their odd values
counted on the feature) spread through window 3, so every partition has a watermark by then.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest

import orjson

from stream_guard.offline import scenario

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
WINDOWS, PER_WINDOW = 6, 300
MAX_MESSAGE_BYTES = 16 * 1024
YEAR_2200 = 7_258_118_400   # epoch seconds: in the future for as long as these tests live


@dataclass(frozen=True)
class MixedStream:
    lines: list[bytes]
    good: int                  # lines that must be folded
    dead: Counter[str]         # reason -> lines that must be dead-lettered for it
    reasons: dict[bytes, str]  # bad line -> its reason


def _event(ts: object, **features: object) -> dict[str, object]:
    base: dict[str, object] = {"amount": 50.0, "age": 40, "country": "US", "device": "ios", "tenure_days": 300.0}
    return {"ts": ts, "features": {**base, **features}, "prediction": {"score": 0.2}}


def _json(event: object) -> bytes:
    return orjson.dumps(event)


def _with_literal(event: dict[str, object], placeholder: str, literal: bytes) -> bytes:
    """The event as JSON with the string `placeholder` replaced by a raw JSON literal."""
    return _json(event).replace(b'"%s"' % placeholder.encode(), literal, 1)


def bad_lines(at: int) -> list[tuple[bytes, str]]:
    """One line per kind of bad record, for a stream whose time is `at` (ms), with its reason."""
    ts = at // 1000
    good = _json(_event(ts))
    return [
        (b"{broken", "invalid_json"),
        (good + b" trailing", "invalid_json"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"\xff\xfe not utf-8", "not_utf8"),
        (good.replace(b'"US"', b'"\xed\xa0\x80"'), "not_utf8"),          # a surrogate encoded as UTF-8
        (good.replace(b'"US"', b'"\\ud800"'), "not_utf8"),               # a lone surrogate escape
        (good.replace(b"50.0", b"NaN"), "invalid_json"),
        (good.replace(b"50.0", b"Infinity"), "invalid_json"),
        (good.replace(b"50.0", b"-Infinity"), "invalid_json"),
        (good.replace(b"50.0", b"1e999"), "invalid_json"),
        (good.replace(b"50.0", b"1" + b"0" * 400), "invalid_json"),     # an integer beyond any float
        (b"[1, 2]", "not_an_object"),
        (b'"an event"', "not_an_object"),
        (b"42", "not_an_object"),
        (b"null", "not_an_object"),
        (b"true", "not_an_object"),
        (_json({"features": {"amount": 1.0}}), "missing_timestamp"),
        (_json(_event(None)), "missing_timestamp"),
        (_json(_event("soon")), "invalid_timestamp"),
        (_json(_event(True)), "invalid_timestamp"),
        (_json(_event(-5)), "invalid_timestamp"),
        (_with_literal(_event("T"), "T", b"1" + b"0" * 30), "invalid_timestamp"),   # loads as a float; no time
        (_json(_event(ts * 1_000_000)), "invalid_timestamp"),          # epoch microseconds
        (_json(_event("2027-02-30T00:00:00Z")), "invalid_timestamp"),
        (b'{"ts": %d, "features": ' % ts + b"[" * 1100 + b"]" * 1100 + b"}", "too_deep"),
        (_json({**_event(ts), "padding": "x" * MAX_MESSAGE_BYTES}), "oversized"),
        (_json(_event(YEAR_2200)), "future"),
        (_json(_event(ts - 30 * 86_400)), "too_old"),
        (_json(_event(0)), "too_old"),
        (_json(_event(ts - 180)), "late"),
    ]


def odd_good_lines(at: int) -> list[bytes]:
    """Lines that are usable events with odd values: folded, each odd value counted on its feature."""
    ts = at // 1000
    return [
        _json(_event(ts, amount=True)),                    # a boolean where a number belongs: invalid
        _json(_event(ts, amount="12.5")),                  # a string where a number belongs: invalid
        _with_literal(_event(ts, amount="A"), "A", b"1" + b"0" * 30),   # a huge integer: a valid (if odd) number
        _json(_event(ts, amount=2**64 - 1)),
        _json(_event(ts, amount=1.7e308)),                 # valid; only its sum overflows
        _json(_event(ts, age=[40])),                       # a list where a number belongs: invalid
        _json(_event(ts, country=7)),                      # a number as a category: "7"
        _json(_event(ts, country={"code": "US"})),         # an object as a category: invalid
        b'{"ts": "soon", "ts": %d, "features": {"amount": 1.0}}' % ts,   # duplicate keys: the last one counts
        _json(_event(ts))[:-1] + b', "trace": ' + b"[" * 1000 + b"]" * 1000 + b"}",   # deep, within the limit
        _json(_event(f"{ts}")),                             # epoch seconds as text
        _json(_event(at)),                                  # epoch milliseconds
        _json({"ts": ts, "features": None}),                # no features: all missing
        _json(_event(ts, country="\U0001f600")),            # text outside the BMP, properly encoded
    ]


def mixed_stream() -> MixedStream:
    events = list(scenario.stream(WINDOWS, START, PER_WINDOW))
    at = START + 3 * scenario.WINDOW_MS + 30_000
    bad = bad_lines(at)
    odd = odd_good_lines(at)
    inserts = [line for pair in zip_longest(bad, odd) for line in pair if line is not None]
    position = 3 * PER_WINDOW + PER_WINDOW // 2   # half-way through window 3, where `at` is
    lines = [_json(e) for e in events[:position]]
    for i, inserted in enumerate(inserts):   # each followed by a good event: batches mix good and bad
        lines.append(inserted[0] if isinstance(inserted, tuple) else inserted)
        lines.append(_json(events[position + i]))
    lines += [_json(e) for e in events[position + len(inserts):]]
    return MixedStream(lines, len(events) + len(odd), Counter(reason for _, reason in bad), dict(bad))


def file_bytes(stream: MixedStream) -> bytes:
    return b"\n".join(stream.lines) + b"\n"


def topology_text(demo: str) -> str:
    """The demo topology with a small message limit, so an oversized line fits in a test."""
    text = re.sub(r"(\n      topic: [^\n]*)", rf"\1\n      max_message_bytes: {MAX_MESSAGE_BYTES}", demo, count=1)
    assert text != demo, "the demo topology has no source topic line to add the limit after"
    return text
