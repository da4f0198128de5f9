"""Avro records decoded with their writer's schema (fastavro), logical types mapped to what a monitor reads.

- timestamp-millis / local-timestamp-millis: epoch milliseconds as written (event time, `timestamp` features);
- timestamp-micros / local-timestamp-micros: epoch milliseconds (the micros divided by 1,000);
- date: epoch milliseconds of that day's midnight (UTC);
- decimal: a number (float) from its unscaled bytes and scale;
- enum: its symbol, a category; a union's null branch: missing; uuid: its text;
- records and maps: objects, read by the same dotted paths as JSON (`features.amount`).

fastavro's own logical-type conversions (datetime, Decimal objects) are switched off by reading the
schema without its logical types; only the declared fields that need a conversion get one, so an
event costs one C-level decode and no per-field Python call.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
from fastavro import schemaless_reader

from stream_guard.core.decoding.wire import HEADER, SchemaText, WireError

Convert = Callable[[Any], Any]
_DAY_MS = 86_400_000


class AvroWriter:
    """One Avro writer schema, parsed; `decode` gives the event of a framed record."""

    def __init__(self, parsed: Any, raw: Any, declared: tuple[tuple[str, ...], ...]) -> None:
        self._parsed = parsed
        self._raw = raw
        self._conversions = [(path, convert) for path in declared
                             if (convert := _conversion(_type_at(raw, path))) is not None]

    @classmethod
    def parse(cls, text: SchemaText, declared: tuple[tuple[str, ...], ...]) -> AvroWriter:
        named: dict[str, Any] = {}
        try:
            for _, reference in text.references:
                fastavro.parse_schema(_without_logical_types(json.loads(reference.text)), named_schemas=named)
            raw = json.loads(text.text)
            parsed = fastavro.parse_schema(_without_logical_types(raw), named_schemas=named)
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException,
                fastavro.schema.UnknownType) as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise ValueError("the schema is not a record: an event is a record of fields")
        return cls(parsed, _with_references(raw, text), declared)

    def decode(self, value: bytes) -> tuple[dict[str, Any], AvroWriter]:
        stream = io.BytesIO(value)
        stream.seek(HEADER)
        try:
            event: Any = schemaless_reader(stream, self._parsed, None)
        except Exception as exc:   # whatever the decoder trips on, the bytes do not match the schema
            raise WireError("schema_mismatch", f"the payload does not match its Avro schema "
                                               f"({type(exc).__name__}: {exc})") from None
        if stream.tell() != len(value):
            raise WireError("schema_mismatch", f"the payload does not match its Avro schema: "
                                               f"{len(value) - stream.tell()} bytes left after the record")
        for path, convert in self._conversions:
            _convert_at(event, path, convert)
        return event, self

    def absent(self, path: tuple[str, ...]) -> bool:
        return _type_at(self._raw, path) is None


def _without_logical_types(schema: Any) -> Any:
    """The schema with every `logicalType` taken out, so fastavro gives the plain written values."""
    if isinstance(schema, list):
        return [_without_logical_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if "fields" in out:
        out["fields"] = [{**f, "type": _without_logical_types(f["type"])} for f in schema["fields"]]
    return out


def _with_references(raw: Any, text: SchemaText) -> Any:
    """Named types of referenced schemas, by name, for looking paths up (`_type_at`)."""
    named: dict[str, Any] = {}
    for _, reference in text.references:
        _collect_named(json.loads(reference.text), named)
    _collect_named(raw, named)
    return {"__named__": named, "schema": raw}


def _collect_named(schema: Any, named: dict[str, Any], namespace: str = "") -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collect_named(branch, named, namespace)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            space = schema.get("namespace", namespace)
            name = schema["name"] if "." in schema["name"] or not space else f"{space}.{schema['name']}"
            named[name] = named[schema["name"].rsplit(".", 1)[-1]] = schema
            namespace = space
        for part in (*(f["type"] for f in schema.get("fields", ())), schema.get("items"), schema.get("values")):
            if part is not None:
                _collect_named(part, named, namespace)


def _type_at(raw: Any, path: tuple[str, ...]) -> Any:
    """The Avro type of the value at `path` (a record field, or a map's values), None where there is none."""
    named, node = raw["__named__"], raw["schema"]
    for name in path:
        node = _step(_branches(node, named), name)
        if node is None:
            return None
    return node


def _branches(node: Any, named: dict[str, Any]) -> list[Any]:
    options = node if isinstance(node, list) else [node]
    return [named.get(o, o) if isinstance(o, str) else o for o in options]


def _step(options: list[Any], name: str) -> Any:
    for option in options:
        if isinstance(option, dict) and option.get("type") == "record":
            for field in option["fields"]:
                if field["name"] == name:
                    return field["type"]
        if isinstance(option, dict) and option.get("type") == "map":
            return option["values"]
    return None


def _conversion(avro_type: Any) -> Convert | None:
    """How a declared field's written value becomes what the monitor reads, if it needs anything."""
    for option in avro_type if isinstance(avro_type, list) else [avro_type]:
        logical = option.get("logicalType") if isinstance(option, dict) else None
        if logical in ("timestamp-micros", "local-timestamp-micros"):
            return _micros_to_ms
        if logical == "date":
            return _days_to_ms
        if logical == "decimal":
            return _decimal(int(option.get("scale", 0)))
    return None


def _micros_to_ms(value: Any) -> Any:
    return value // 1000 if type(value) is int else value


def _days_to_ms(value: Any) -> Any:
    return value * _DAY_MS if type(value) is int else value


def _decimal(scale: int) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, bytes):
            return int.from_bytes(value, "big", signed=True) / 10 ** scale
        return value
    return convert


def _convert_at(event: dict[str, Any], path: tuple[str, ...], convert: Convert) -> None:
    node: Any = event
    for name in path[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
    if isinstance(node, dict) and node.get(path[-1]) is not None:
        node[path[-1]] = convert(node[path[-1]])
