"""The join's stored form: one small entry per waiting prediction or label, a versioned blob per bucket
and one for the rest, so a save writes only what changed (both state stores use it).

A waiting prediction is its bucket start (8 bytes), a type byte and its score (8 bytes) or class name:
17 bytes for a numeric prediction, beside the id Redis keeps as the hash field.

>>> decode_entry(encode_entry(1_700_000_000_000, 0.25)), decode_entry(encode_entry(5, "cat"))
((1700000000000, 0.25), (5, 'cat'))
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.state import JoinCounts, JoinState

META_VERSION = 1
_TIME = struct.Struct(">q")
_FLOAT = struct.Struct(">d")


def encode_entry(time: int, value: float | str) -> bytes:
    """A waiting prediction (bucket start, prediction) or label (label time, label)."""
    if isinstance(value, str):
        return _TIME.pack(time) + b"s" + value.encode()
    return _TIME.pack(time) + b"f" + _FLOAT.pack(value)


def decode_entry(blob: bytes) -> tuple[int, float | str]:
    time = _TIME.unpack_from(blob)[0]
    if blob[8:9] == b"s":
        return time, blob[9:].decode()
    return time, _FLOAT.unpack_from(blob, 9)[0]


def encode_bucket(state: PerformanceState) -> bytes:
    return orjson.dumps(state.to_json())


def decode_bucket(blob: bytes) -> PerformanceState:
    return PerformanceState.from_json(orjson.loads(blob))


def encode_meta(state: JoinState) -> bytes:
    """Progress, counts, the per-window grades and the offsets the join holds everything before."""
    return orjson.dumps({"v": META_VERSION, "ticked": state.ticked, "counts": state.counts.__dict__,
                         "announced": [[s, v] for s, v in sorted(state.announced.items())],
                         "evaluated": [[s, *v] for s, v in sorted(state.evaluated.items())],
                         "offsets": dict(state.offsets)})


def decode_state(meta: bytes | None, pending: dict[Any, bytes], labels: dict[Any, bytes],
                 buckets: dict[Any, bytes]) -> JoinState:
    """The join from its stored parts (hash fields as the store gives them: bytes or str)."""
    data = orjson.loads(meta) if meta else {"v": META_VERSION, "ticked": None, "counts": {}, "announced": [],
                                             "evaluated": [], "offsets": {}}
    if data["v"] != META_VERSION:
        raise ValueError(f"join state format v{data['v']}; this version reads v{META_VERSION}")
    return JoinState({_text(k): decode_entry(v) for k, v in pending.items()},
                     {_text(k): decode_entry(v) for k, v in labels.items()},
                     {int(k): decode_bucket(v) for k, v in buckets.items()},
                     {s: v for s, v in data["announced"]}, {s: (a, b) for s, a, b in data["evaluated"]},
                     data["offsets"], data["ticked"], JoinCounts(**data["counts"]))


def _text(key: Any) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)
