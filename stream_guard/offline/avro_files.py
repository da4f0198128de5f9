"""Avro object container files (`.avro`) as records for the engine: `stream-guard replay` reads them.

The file's header holds its writer schema; each record is framed as a Confluent serializer frames
it, under a schema id no registry gives (0), so replay decodes it exactly as the live worker
decodes the same record from Kafka (logical types, paths, schema drift), with no registry at all.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import fastavro

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.decoding.wire import SchemaText, frame
from stream_guard.errors import StreamGuardError

FILE_SCHEMA_ID = 0   # registries number schemas from 1


def is_avro_file(path: Path) -> bool:
    return path.suffix == ".avro"


def file_schema(path: Path) -> SchemaText:
    """The writer schema in the file's header."""
    with open(path, "rb") as handle:
        try:
            reader = fastavro.reader(handle)
        except (ValueError, EOFError) as exc:
            raise StreamGuardError(f"{path}: not an Avro object container file ({exc})") from None
        text = reader.metadata.get("avro.schema", "")
    return SchemaText("AVRO", text.decode() if isinstance(text, bytes) else str(text))


def avro_records(path: Path, chunk: int) -> Iterator[list[RawRecord]]:
    """The file's records as framed records, `chunk` at a time; the record number stands in for the offset."""
    batch: list[RawRecord] = []
    with open(path, "rb") as handle:
        reader = fastavro.reader(handle)
        schema = fastavro.parse_schema(reader.writer_schema)
        for number, record in enumerate(reader):
            payload = io.BytesIO()
            fastavro.schemaless_writer(payload, schema, record)
            batch.append(RawRecord(frame(FILE_SCHEMA_ID, payload.getvalue()), 0, number, f"file:{path.name}"))
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch
