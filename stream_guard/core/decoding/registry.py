"""Reading a batch of registry-format records (Avro, Protobuf, JSON Schema) into the declared fields.

Each record is decoded with its writer's schema (`writer_schemas`); a record that is not framed,
names a schema id the registry does not know, or whose bytes do not match its schema is
dead-lettered (`no_magic_byte`, `unknown_schema_id`, `schema_mismatch`) and the rest of the batch
is read. Events are read a chunk at a time into `ChunkedFields`, as the JSON path's are, so fields
are addressed by the same dotted paths; a new field in a declared object is schema drift there too.

A declared field that the writer's schema does not have at all is missing in that event, and is
also counted as `ABSENT_SUFFIX`-named field for the `schema_drift` check: a version of the schema
that drops a field is a change of schema, not only missing values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stream_guard.core.decoding.columns import ChunkedFields
from stream_guard.core.decoding.json_problems import EMPTY_MESSAGE
from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.decoding.wire import Shape, WireError
from stream_guard.core.decoding.writer_schemas import WriterSchemas

ABSENT_SUFFIX = " (not in the writer's schema)"
CHUNK_EVENTS = 1000
Dead = Callable[[RawRecord, int | None, str, str], DeadLetter]
Origins = list[tuple[RawRecord, int | None]]


class RegistryReading:
    """Reads framed records with the writers' schemas; `absent()` tells which events lack which declared field."""

    def __init__(self, schemas: WriterSchemas, features: Sequence[tuple[str, ...]]) -> None:
        self.schemas = schemas
        self._features = list(dict.fromkeys(features))
        self._absent: dict[int, tuple[tuple[str, ...], ...]] = {}   # id(shape) -> its absent declared paths
        self._shapes: list[Shape] = []

    def read(self, records: Sequence[RawRecord], fields: ChunkedFields, origins: Origins,
             dead: list[DeadLetter], dead_letter: Dead) -> int:
        """Decode the records into `fields`; returns how many events they count for (one each)."""
        events: list[dict[str, Any]] = []
        shapes: list[Shape] = []
        writer_of = self.schemas.writer
        for record in records:
            try:
                event, shape = writer_of(record.value).decode(record.value)  # type: ignore[arg-type]
            except WireError as problem:
                reason, message = ("empty", EMPTY_MESSAGE) if not record.value else (problem.reason, str(problem))
                dead.append(dead_letter(record, None, reason, message))
                continue
            events.append(event)
            shapes.append(shape)
            origins.append((record, None))
            if len(events) >= CHUNK_EVENTS:
                fields.add(events)
                events = []
        fields.add(events)
        self._shapes = shapes
        return len(records)

    def absent(self, dropped: Sequence[int]) -> dict[str, np.ndarray]:
        """Declared field (with `ABSENT_SUFFIX`) -> which of the batch's events (but `dropped`) came from a
        writer's schema without it; only fields some event lacks this way."""
        lacking = [self._lacking(shape) for shape in self._shapes]
        out: dict[str, np.ndarray] = {}
        for path in {p for paths in lacking for p in paths}:
            mask = np.fromiter((path in paths for paths in lacking), bool, len(lacking))
            mask = np.delete(mask, dropped) if len(dropped) else mask
            if mask.any():
                out[".".join(path) + ABSENT_SUFFIX] = mask
        return out

    def _lacking(self, shape: Shape) -> tuple[tuple[str, ...], ...]:
        key = id(shape)
        if key not in self._absent:
            self._absent[key] = tuple(path for path in self._features if shape.absent(path))
        return self._absent[key]
