"""Before a batch of a registry-format source is folded, the writers' schemas it names are fetched.

Schemas are cached by id in the engine (`core.decoding.writer_schemas`), so the registry is asked
once per new id. While the registry cannot be reached the agent waits here, retrying with backoff
and logging the registry's URL (password redacted): consuming stops and nothing is dead-lettered
because of it. An id the registry answers 404 for is bad input, and its records are dead-lettered
(`unknown_schema_id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.decoding.wire import SchemaText
from stream_guard.runtime.monitor_runtime import MonitorRuntime
from stream_guard.runtime.retrying import Retrying


class RecordSink(Protocol):
    async def on_records(self, records: Sequence[RawRecord]) -> None: ...


class SchemaSource(Protocol):
    """Where schemas come from (`adapters.schema_registry.RegistryClient`)."""

    url: str

    async def fetch(self, ids: Sequence[int], fmt: str) -> dict[int, SchemaText | None]: ...


class SchemaLoading:
    """Fetches the schemas a batch needs, then hands the batch to the monitor's runtime."""

    def __init__(self, runtime: MonitorRuntime, source: SchemaSource) -> None:
        self.runtime = runtime
        self.source = source
        self.retrying = Retrying(runtime.monitor.name, source.url, self._recovered, service="the schema registry")

    async def on_records(self, records: Sequence[RawRecord]) -> None:
        schemas = self.runtime.engine.schemas
        wanted = schemas.wanted(records) if schemas is not None else []
        if schemas is not None and wanted:
            fmt = self.runtime.monitor.source.format
            schemas.learn(await self.retrying(lambda: self.source.fetch(wanted, fmt)))
        await self.runtime.on_records(records)

    def _recovered(self) -> None:
        # the partitions' silence while the agent waited says nothing of the source
        self.runtime.engine.unpaused(self.runtime.clock())


def with_schemas(runtime: MonitorRuntime, source: SchemaSource | None) -> RecordSink:
    """The runtime itself, or, for a registry-format source, the runtime behind its schema loading."""
    if source is None or runtime.engine.schemas is None:
        return runtime
    return SchemaLoading(runtime, source)
