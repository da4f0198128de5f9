"""The writers' schemas of a registry-format source, parsed once per schema id.

The registry is outside the core: the runtime (or replay) asks `wanted` which ids of a batch are
not known yet, fetches them, and hands the texts to `learn`, before the batch is decoded. An id
the registry does not know is remembered as such, so its records are dead-lettered
(`unknown_schema_id`); a registry that cannot be reached is the caller's to wait for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stream_guard.core.decoding.avro import AvroWriter
from stream_guard.core.decoding.json_schema import JsonSchemaWriter
from stream_guard.core.decoding.protobuf import ProtobufWriter
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.decoding.wire import SchemaText, WireError, Writer, schema_id
from stream_guard.core.topology.monitor import MonitorSpec

KINDS = {"avro": "AVRO", "protobuf": "PROTOBUF", "json_schema": "JSON"}   # source format -> registry schemaType


@dataclass(frozen=True)
class _Broken:
    """A schema that could not be parsed: its records are dead-lettered with the reason."""

    message: str


class WriterSchemas:
    """Parsed writer schemas by id, for one source format; filled by the caller before decoding."""

    def __init__(self, fmt: str, declared: Iterable[tuple[str, ...]] = ()) -> None:
        """`declared`: the paths the monitor reads (a Protobuf writer reads only those)."""
        self.format = fmt
        self.declared = tuple(declared)
        self._writers: dict[int, Writer | _Broken | None] = {}   # None: the registry does not know the id

    @classmethod
    def for_monitor(cls, monitor: MonitorSpec) -> WriterSchemas:
        """The schemas of the monitor's source, reading the paths the monitor reads."""
        paths = [monitor.source.timestamp, *((spec.field or name) for name, spec in monitor.all_features().items()),
                 *monitor.segment_by]
        return cls(monitor.source.format, [tuple(path.split(".")) for path in paths])

    def wanted(self, records: Iterable[RawRecord]) -> list[int]:
        """The schema ids of framed records that are not known yet, in first-seen order."""
        wanted: dict[int, None] = {}
        for record in records:
            value = record.value
            if value and len(value) >= 5 and value[0] == 0:
                found = int.from_bytes(value[1:5], "big")
                if found not in self._writers:
                    wanted[found] = None
        return list(wanted)

    def learn(self, fetched: dict[int, SchemaText | None]) -> None:
        """Take what the registry answered for each id (None: it does not know the id)."""
        for number, text in fetched.items():
            self._writers[number] = None if text is None else self._parse(number, text)

    def known(self, number: int) -> bool:
        return number in self._writers

    def writer(self, value: bytes | None) -> Writer:
        """The writer schema of a framed record; WireError with the dead-letter reason otherwise."""
        number = schema_id(value)
        if number not in self._writers:
            raise WireError("unknown_schema_id", f"schema id {number} was not fetched from the registry")
        found = self._writers[number]
        if found is None:
            raise WireError("unknown_schema_id", f"schema id {number} is not in the schema registry")
        if isinstance(found, _Broken):
            raise WireError("schema_mismatch", f"schema id {number}: {found.message}")
        return found

    def _parse(self, number: int, text: SchemaText) -> Writer | _Broken:
        expected = KINDS[self.format]
        if text.kind != expected:
            return _Broken(f"it is a {text.kind} schema and the source's format is {self.format} ({expected})")
        try:
            return parse_writer(self.format, text, self.declared)
        except ValueError as exc:
            return _Broken(f"the registry's schema text does not parse: {exc}")


def parse_writer(fmt: str, text: SchemaText, declared: tuple[tuple[str, ...], ...]) -> Writer:
    """The writer for a schema text of the source's format; ValueError when the text does not parse."""
    if fmt == "avro":
        return AvroWriter.parse(text, declared)
    if fmt == "protobuf":
        return ProtobufWriter.parse(text, declared)
    return JsonSchemaWriter.parse(text)
