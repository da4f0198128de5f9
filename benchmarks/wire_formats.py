"""The benchmark's events as Confluent-framed Avro and Protobuf records, with their writer schemas."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import fastavro
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from benchmarks import workload
from stream_guard.core.decoding.wire import SchemaText, encode_indexes, frame

F = descriptor_pb2.FieldDescriptorProto
SCHEMA_ID = 1


def avro_schema() -> dict[str, Any]:
    fields = ([{"name": n, "type": "double"} for n in workload.NUMERIC]
              + [{"name": c, "type": "string"} for c in workload.CATEGORICAL])
    return {"type": "record", "name": "Event", "fields": [
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "features", "type": {"type": "record", "name": "Features", "fields": fields}}]}


def avro_payloads(events: list[dict[str, Any]]) -> tuple[list[bytes], SchemaText]:
    schema = fastavro.parse_schema(avro_schema())
    out = []
    for event in events:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, event)
        out.append(frame(SCHEMA_ID, buffer.getvalue()))
    return out, SchemaText("AVRO", json.dumps(avro_schema()))


def proto_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="bench.proto", package="bench", syntax="proto3")
    event = file.message_type.add(name="Event")
    event.field.add(name="ts", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="features", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".bench.Features")
    features = file.message_type.add(name="Features")
    for number, name in enumerate(workload.NUMERIC + workload.CATEGORICAL, 1):
        features.field.add(name=name, number=number, label=F.LABEL_OPTIONAL,
                           type=F.TYPE_DOUBLE if name in workload.NUMERIC else F.TYPE_STRING)
    return file


def protobuf_payloads(events: list[dict[str, Any]]) -> tuple[list[bytes], SchemaText]:
    file = proto_file()
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    event_class = GetMessageClass(pool.FindMessageTypeByName("bench.Event"))
    header = encode_indexes([0])
    out = [frame(SCHEMA_ID, header + event_class(ts=e["ts"], features=e["features"]).SerializeToString())
           for e in events]
    return out, SchemaText("PROTOBUF", base64.b64encode(file.SerializeToString()).decode())
