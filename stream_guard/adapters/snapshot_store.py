"""Snapshot references in Redis, beside the monitor's state: built once by `reference build`, never changed."""

from __future__ import annotations

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.profiles.snapshot import Snapshot


class SnapshotStore:
    """Snapshot references in Redis: one hash per monitor, `sg:{APP/MONITOR}:snapshots`, name -> bytes."""

    def __init__(self, state: RedisStateStore) -> None:
        self.state = state

    def _key(self, monitor: str) -> str:
        return self.state._monitor_key(monitor, "snapshots")

    async def save(self, monitor: str, snapshot: Snapshot) -> bool:
        """Store a new snapshot; False (and nothing written) when the name is taken: snapshots never change."""
        created = await self.state._read(lambda pipe: [pipe.hsetnx(self._key(monitor), snapshot.name,
                                                                   snapshot.to_bytes())])
        return bool(created[0])

    async def load(self, monitor: str, name: str) -> Snapshot | None:
        (blob,) = await self.state._read(lambda pipe: [pipe.hget(self._key(monitor), name)])
        return Snapshot.from_bytes(blob) if blob is not None else None

    async def all(self, monitor: str) -> list[Snapshot]:
        (blobs,) = await self.state._read(lambda pipe: [pipe.hgetall(self._key(monitor))])
        return sorted((Snapshot.from_bytes(b) for b in blobs.values()), key=lambda s: s.name)

    async def delete(self, monitor: str, name: str) -> bool:
        (removed,) = await self.state._read(lambda pipe: [pipe.hdel(self._key(monitor), name)])
        return bool(removed)
