"""The prediction-label join in Redis: four keys of one monitor's hash tag, written in one MULTI/EXEC
fenced by the evaluator's epoch, each given the join's TTL again on every save.

    sg:{APP/MONITOR}:join:pending   hash    prediction id -> bucket start + prediction (codec.encode_entry)
    sg:{APP/MONITOR}:join:labels    hash    label id -> label time + label, for labels still waiting
    sg:{APP/MONITOR}:join:buckets   hash    bucket start -> its PerformanceState (JSON)
    sg:{APP/MONITOR}:join:meta      string  ticks, counts, per-window grades, offsets (JSON)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stream_guard.core.labels.codec import decode_state, encode_bucket, encode_entry, encode_meta
from stream_guard.core.state import JoinChanges, JoinState

PARTS = ("pending", "labels", "buckets", "meta")
Key = Callable[[str], str]   # part -> its key


def write_join(pipe: Any, key: Key, changes: JoinChanges, ttl_ms: int) -> None:
    """Queue the commands that store `changes` (entries written, entries removed, the meta blob)."""
    state = changes.state
    written = (("pending", {k: encode_entry(*v) for k, v in state.pending.items()}, changes.dropped_pending),
               ("labels", {k: encode_entry(*v) for k, v in state.labels.items()}, changes.dropped_labels),
               ("buckets", {str(s): encode_bucket(b) for s, b in state.buckets.items()},
                tuple(map(str, changes.dropped_buckets))))
    for part, mapping, dropped in written:
        if dropped:
            pipe.hdel(key(part), *dropped)
        if mapping:
            pipe.hset(key(part), mapping=mapping)
    pipe.set(key("meta"), encode_meta(state))
    for part in PARTS:
        pipe.pexpire(key(part), ttl_ms)


def read_join(pipe: Any, key: Key) -> None:
    """Queue the reads `join_from` turns into the state."""
    for part in PARTS[:3]:
        pipe.hgetall(key(part))
    pipe.get(key("meta"))


def join_from(replies: list[Any]) -> JoinState:
    pending, labels, buckets, meta = replies
    return decode_state(meta, pending, labels, buckets)
