"""The outside systems a worker depends on, as protocols: the state store, the publisher, the source.

`adapters.redis_store.RedisStateStore` and `adapters.memory_store.MemoryStateStore` implement
`StateStore` (one contract suite runs against both, and against a Redis Cluster); `runtime.app`
builds the Kafka publisher and the consumer-group source.

Store errors a caller handles (all in `stream_guard.errors`):

- `ServiceUnreachable`: the call failed or timed out; nothing is known to have changed ownership,
  so the caller retries it as it is;
- `Fenced`: another worker claimed the partition (or the evaluation) since this one did: a changed
  epoch, and nothing else, means that;
- `StateLost`: the store holds no claim at all where this worker had one (a Redis restarted without
  persistence); the caller claims again and writes what it holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from stream_guard.core.decoding.records import DeadLetter
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.state import (
    Claim,
    ClosedRecord,
    JoinChanges,
    JoinState,
    MonitorState,
    PartitionChanges,
    PartitionState,
    Presence,
)

Before = Callable[[], Awaitable[None]]   # runs once the epoch is checked, before the write goes out


class StateStore(Protocol):
    """Where partitions and monitors keep their state; every write of a claimed thing is fenced by
    its epoch (`epoch=None` writes unfenced: tools and tests)."""

    url: str   # for messages (password redacted by whoever prints it)

    async def ping(self) -> None: ...
    async def close(self) -> None: ...

    async def claim_partition(self, monitor: str, partition: int, now: int) -> Claim: ...
    async def load_partition(self, monitor: str, partition: int) -> PartitionState: ...
    async def save_partition(self, monitor: str, partition: int, changes: PartitionChanges,
                             epoch: int | None = None, before: Before | None = None) -> None: ...
    async def touch(self, monitor: str, partitions: Sequence[int], now: int, since: int | None = None,
                    lags: Mapping[int, int] | None = None) -> None: ...
    async def presence(self, monitor: str, partitions: Sequence[int]) -> dict[int, Presence]: ...
    async def partition_profiles(self, monitor: str, partitions: Sequence[int],
                                 start: int) -> list[WindowProfile]: ...

    async def claim_evaluator(self, monitor: str) -> int: ...
    async def last_evaluated(self, monitor: str) -> int | None: ...
    async def load_monitor(self, monitor: str) -> MonitorState: ...
    async def save_monitor(self, monitor: str, state: MonitorState, epoch: int | None = None) -> None: ...
    async def save_closed(self, monitor: str, record: ClosedRecord, retention: int | None = None,
                          epoch: int | None = None, before: Before | None = None) -> None: ...
    async def save_book(self, monitor: str, book: Any, epoch: int | None = None,
                        before: Before | None = None) -> None: ...
    async def history(self, monitor: str, last: int) -> list[dict[str, Any]]: ...
    async def load_join(self, monitor: str) -> JoinState: ...
    async def save_join(self, monitor: str, changes: JoinChanges, ttl_ms: int, epoch: int | None = None) -> None: ...


class Publisher(Protocol):
    """The alert topic and the dead-letter topic; `flush` returns once the broker has what was sent."""

    async def alerts(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...
    async def flush(self) -> None: ...


class Source(Protocol):
    """The worker's view of the monitor's source topic in its consumer group."""

    def assigned(self) -> set[int]: ...
    def owns(self, partition: int) -> bool: ...
    def partitions(self) -> int | None: ...
    def high_watermark(self, partition: int) -> int | None: ...   # the log's end as last fetched
    async def rewind(self, partition: int) -> None: ...   # read the partition again from offset 0
    def unread_end(self, partition: int) -> int | None: ...   # where the records to fold end (None: unknown)
    def read_from(self, partition: int) -> int | None: ...   # where this claim's reading began (None: unknown)
    async def commit(self, offsets: dict[int, int]) -> None: ...
