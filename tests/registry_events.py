"""The demo scenario's events as Avro (two schema versions), Protobuf and JSON Schema records,
serialized by confluent-kafka's own serializers against a registry over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from google.protobuf.message_factory import GetMessageClass

F = descriptor_pb2.FieldDescriptorProto


def avro_schema(with_channel: bool = False) -> str:
    """The scenario's event as Avro; version 2 adds `features.channel`."""
    features: list[dict[str, Any]] = [
        {"name": "amount", "type": "double"},
        {"name": "age", "type": ["null", "long"], "default": None},
        {"name": "country", "type": "string"},
        {"name": "device", "type": {"type": "enum", "name": "Device", "symbols": ["ios", "android", "web"]}},
        {"name": "tenure_days", "type": "double"},
    ]
    if with_channel:
        features.append({"name": "channel", "type": ["null", "string"], "default": None})
    return json.dumps({"type": "record", "name": "FraudEvent", "namespace": "sg.test", "fields": [
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "event_id", "type": "string"},
        {"name": "model_version", "type": "string"},
        {"name": "features", "type": {"type": "record", "name": "Features", "fields": features}},
        {"name": "prediction", "type": {"type": "record", "name": "Prediction",
                                        "fields": [{"name": "score", "type": "double"}]}},
    ]})


def json_schema() -> str:
    number, text = {"type": "number"}, {"type": "string"}
    return json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "FraudEvent", "type": "object",
                       "properties": {"ts": {"type": "integer"}, "event_id": text, "model_version": text,
                                      "features": {"type": "object", "properties": {
                                          "amount": number, "age": {"type": ["integer", "null"]}, "country": text,
                                          "device": text, "tenure_days": number}},
                                      "prediction": {"type": "object", "properties": {"score": number}}}})


def _field(name: str, number: int, kind: int, type_name: str = "", optional: bool = False) -> F:
    field = F(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)  # type: ignore[arg-type]
    if type_name:
        field.type_name = type_name
    if optional:
        field.proto3_optional = True
        field.oneof_index = 0
    return field


def proto_file() -> descriptor_pb2.FileDescriptorProto:
    """The scenario's event as a proto3 file: `ts` a google.protobuf.Timestamp, `age` optional, `device` an enum."""
    file = descriptor_pb2.FileDescriptorProto(name="fraud_event.proto", package="sg.test", syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])
    features = file.message_type.add(name="Features")
    features.field.extend([_field("amount", 1, F.TYPE_DOUBLE), _field("age", 2, F.TYPE_INT64, optional=True),
                           _field("country", 3, F.TYPE_STRING), _field("device", 4, F.TYPE_ENUM, ".sg.test.Device"),
                           _field("tenure_days", 5, F.TYPE_DOUBLE)])
    features.oneof_decl.add(name="_age")
    file.message_type.add(name="Prediction").field.append(_field("score", 1, F.TYPE_DOUBLE))
    event = file.message_type.add(name="FraudEvent")
    event.field.extend([_field("ts", 1, F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
                        _field("event_id", 2, F.TYPE_STRING), _field("model_version", 3, F.TYPE_STRING),
                        _field("features", 4, F.TYPE_MESSAGE, ".sg.test.Features"),
                        _field("prediction", 5, F.TYPE_MESSAGE, ".sg.test.Prediction")])
    device = file.enum_type.add(name="Device")
    for number, name in enumerate(["ios", "android", "web"]):
        device.value.add(name=name, number=number)
    return file


def proto_event_class() -> Any:
    """A message class for `FraudEvent`, built at run time (the third message of its file: index [2])."""
    pool = descriptor_pool.DescriptorPool()
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)
    pool.Add(proto_file())
    return GetMessageClass(pool.FindMessageTypeByName("sg.test.FraudEvent"))


def to_proto(event_class: Any, event: dict[str, Any]) -> Any:
    message = event_class(event_id=event["event_id"], model_version=event["model_version"])
    message.ts.seconds, millis = divmod(event["ts"], 1000)
    message.ts.nanos = millis * 1_000_000
    features = {k: v for k, v in event["features"].items() if v is not None and k != "channel"}
    message.features.CopyFrom(type(message.features)(**features))
    message.prediction.score = event["prediction"]["score"]
    return message


class Producers:
    """Serializers for one topic, against the registry at `url` (confluent-kafka's own)."""

    def __init__(self, url: str, topic: str) -> None:
        self.client = SchemaRegistryClient({"url": url})
        self.context = SerializationContext(topic, MessageField.VALUE)
        self._proto_class = proto_event_class()

    def avro(self, events: Iterable[dict[str, Any]], version: int = 1) -> list[bytes]:
        serialize = AvroSerializer(self.client, avro_schema(version == 2))
        return [serialize(event, self.context) for event in events]

    def protobuf(self, events: Iterable[dict[str, Any]]) -> list[bytes]:
        serialize = ProtobufSerializer(self._proto_class, self.client, {"use.deprecated.format": False})
        return [serialize(to_proto(self._proto_class, event), self.context) for event in events]

    def json_schema(self, events: Iterable[dict[str, Any]]) -> list[bytes]:
        serialize = JSONSerializer(json_schema(), self.client)
        return [serialize(event, self.context) for event in events]
