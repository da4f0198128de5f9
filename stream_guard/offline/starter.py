"""A starter topology from a writer's schema: numeric and categorical features by field type, the
timestamp field guessed and marked for review (`stream-guard init --from-registry SUBJECT`)."""

from __future__ import annotations

import json
from typing import Any

from stream_guard.core.decoding.protobuf import ProtobufWriter
from stream_guard.core.decoding.wire import SchemaText

Field = tuple[str, str]   # (dotted path, numeric | categorical | timestamp)
FORMATS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "json_schema"}
TIME_NAMES = ("ts", "timestamp", "event_time", "event_ts", "time", "created_at")
_AVRO_NUMBERS = {"int", "long", "float", "double"}
_PROTO_NUMBERS = {1, 2, 3, 4, 5, 6, 7, 13, 15, 16, 17, 18}   # FieldDescriptor.TYPE_* of numbers
_PROTO_LABELS = {8, 9, 14}                                    # bool, string, enum


def schema_fields(text: SchemaText) -> list[Field]:
    """The leaf fields of a schema a monitor could watch, with their kind."""
    if text.kind == "AVRO":
        return _avro(json.loads(text.text), ())
    if text.kind == "JSON":
        return _json(json.loads(text.text), ())
    return _proto(ProtobufWriter.parse(text, ()).root_message(), ())


def starter_topology(subject: str, topic: str, version: int, text: SchemaText, registry_url: str) -> str:
    """The YAML text of a commented starter topology for the subject's schema."""
    fields = schema_fields(text)
    time_field = _guess_time(fields)
    lines = [f"# Starter topology from {subject} version {version} ({text.kind}); review before use:",
             "# check the timestamp field, drop features nobody needs, set thresholds (stream-guard calibrate).",
             "version: 1", f"app: {_name(topic)}-guard", f"schema_registry: {{url: \"{registry_url}\"}}", "monitors:",
             f"  - name: {_name(topic)}", "    source:", f"      topic: {topic}",
             f"      timestamp: {time_field or 'ts'}      # REVIEW: "
             + ("guessed from the schema" if time_field else "no time field found; name the event time"),
             f"      format: {FORMATS[text.kind]}", "    window: {size: 1m, grace: 5s}",
             "    reference: {kind: rolling, windows: 10}", "    features:"]
    features = [(path, kind) for path, kind in fields if path != time_field and kind != "timestamp"]
    lines += [f"      {_feature_name(path, features)}: {{type: {kind}, field: {path}}}" for path, kind in features]
    if not features:
        lines.append("      {}   # REVIEW: the schema has no numeric or categorical field")
    return "\n".join(lines) + "\n"


def _avro(schema: Any, path: tuple[str, ...]) -> list[Field]:
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return _avro(branches[0], path) if len(branches) == 1 else []
    if isinstance(schema, str):
        kind = "numeric" if schema in _AVRO_NUMBERS else "categorical" if schema in ("string", "boolean") else None
        return [(".".join(path), kind)] if kind and path else []
    if schema.get("type") == "record":
        return [f for field in schema["fields"] for f in _avro(field["type"], (*path, field["name"]))]
    logical = schema.get("logicalType", "")
    if logical.startswith(("timestamp-", "local-timestamp-")):
        return [(".".join(path), "timestamp")]
    if logical == "decimal":
        return [(".".join(path), "numeric")]
    if schema.get("type") == "enum":
        return [(".".join(path), "categorical")]
    return _avro(schema.get("type"), path) if isinstance(schema.get("type"), str) else []


def _json(schema: Any, path: tuple[str, ...]) -> list[Field]:
    if not isinstance(schema, dict):
        return []
    kinds = schema.get("type")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"]
    if "properties" in schema or kinds == ["object"]:
        return [f for name, sub in schema.get("properties", {}).items() for f in _json(sub, (*path, name))]
    if schema.get("format") == "date-time":
        return [(".".join(path), "timestamp")]
    if kinds in (["number"], ["integer"]):
        return [(".".join(path), "numeric")]
    return [(".".join(path), "categorical")] if kinds in (["string"], ["boolean"]) else []


def _proto(descriptor: Any, path: tuple[str, ...]) -> list[Field]:
    out: list[Field] = []
    for field in descriptor.fields:
        where = (*path, field.name)
        if field.is_repeated:
            continue
        if field.message_type is not None:
            timestamp = field.message_type.full_name == "google.protobuf.Timestamp"
            out += [(".".join(where), "timestamp")] if timestamp else _proto(field.message_type, where)
        elif field.type in _PROTO_NUMBERS or field.type in _PROTO_LABELS:
            out.append((".".join(where), "numeric" if field.type in _PROTO_NUMBERS else "categorical"))
    return out


def _guess_time(fields: list[Field]) -> str | None:
    stamped = [path for path, kind in fields if kind == "timestamp"]
    named = [path for path, _ in fields if path.rsplit(".", 1)[-1].lower() in TIME_NAMES]
    return next(iter(stamped or named), None)


def _feature_name(path: str, features: list[Field]) -> str:
    last = path.rsplit(".", 1)[-1]
    return last if sum(p.rsplit(".", 1)[-1] == last for p, _ in features) == 1 else path.replace(".", "_")


def _name(topic: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in topic) or "source"
