"""Protobuf records decoded dynamically from the registry's schema, with no generated classes.

The registry gives a schema as a serialized `FileDescriptorProto` (asked with `format=serialized`,
as Confluent's own clients do); its imports come as references, and Google's well-known types
(`google/protobuf/timestamp.proto` and the like) from the protobuf package. The record's
message-index list names which message of the file was written.

An event is read as nested dicts of the fields the monitor reads; every other field of a declared
object is present as a key (so a new field shows as schema drift) but not read. Values:

- a field with presence (`optional`, proto2, a message, a oneof member) that is not set: missing;
  a proto3 scalar without `optional` has no presence, so an unset one reads as its zero;
- an enum: its value's name (a category); `google.protobuf.Timestamp`: epoch milliseconds;
  the wrapper types (`DoubleValue`, ...): their value; a map: an object keyed as written;
- a repeated field: a list (a numeric or categorical feature counts it as invalid).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from stream_guard.core.decoding.wire import HEADER, SchemaText, WireError, message_indexes

_WELL_KNOWN = {m.DESCRIPTOR.name: m.DESCRIPTOR for m in (any_pb2, duration_pb2, empty_pb2, struct_pb2,
                                                          timestamp_pb2, wrappers_pb2)}
Read = Callable[[Any], Any]
Tree = dict[str, "Tree"]


class ProtobufWriter:
    """One Protobuf writer schema (a file of messages), parsed into a descriptor pool."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, file: descriptor_pb2.FileDescriptorProto,
                 declared: tuple[tuple[str, ...], ...]) -> None:
        self._pool = pool
        self._file = file
        self._tree: Tree = {}
        for path in declared:
            node = self._tree
            for name in path:
                node = node.setdefault(name, {})
        self._messages: dict[tuple[int, ...], _MessageType] = {}

    @classmethod
    def parse(cls, text: SchemaText, declared: tuple[tuple[str, ...], ...]) -> ProtobufWriter:
        pool = descriptor_pool.DescriptorPool()
        try:
            main = _file_proto(text.text)
            _add(pool, main, dict(_flatten(text.references)))
        except (TypeError, KeyError) as exc:
            raise ValueError(str(exc)) from None
        if not main.message_type:
            raise ValueError(f"{main.name} declares no message")
        return cls(pool, main, declared)

    def decode(self, value: bytes) -> tuple[dict[str, Any], _MessageType]:
        indexes, start = message_indexes(value, HEADER)
        kind = self._message(indexes)
        try:
            message = kind.message_class.FromString(value[start:])
        except DecodeError as exc:
            raise WireError("schema_mismatch", f"the payload does not match its Protobuf schema ({exc})") from None
        return kind.read(message), kind

    def root_message(self) -> Descriptor:
        """The file's event message: the first top-level message no other one holds as a field."""
        tops = [self._descriptor((i,)) for i in range(len(self._file.message_type))]
        held = {f.message_type.full_name for d in tops if d is not None for f in d.fields if f.message_type}
        found = next((d for d in tops if d is not None and d.full_name not in held), tops[0])
        assert found is not None   # `parse` refuses a file without messages
        return found

    def _message(self, indexes: tuple[int, ...]) -> _MessageType:
        if indexes not in self._messages:
            descriptor = self._descriptor(indexes)
            if descriptor is None:
                raise WireError("schema_mismatch", f"message index {list(indexes)} names no message of "
                                                   f"{self._file.name}")
            self._messages[indexes] = _MessageType(descriptor, self._tree)
        return self._messages[indexes]

    def _descriptor(self, indexes: tuple[int, ...]) -> Descriptor | None:
        messages, name = self._file.message_type, self._file.package
        for index in indexes:
            if not 0 <= index < len(messages):
                return None
            name = f"{name}.{messages[index].name}" if name else messages[index].name
            messages = messages[index].nested_type
        return self._pool.FindMessageTypeByName(name)


class _MessageType:
    """One message type of a writer's file: its class, its reader, the fields it has."""

    def __init__(self, descriptor: Descriptor, tree: Tree) -> None:
        self.descriptor = descriptor
        self.message_class = GetMessageClass(descriptor)
        self.read = _message_reader(descriptor, tree)

    def absent(self, path: tuple[str, ...]) -> bool:
        descriptor: Descriptor | None = self.descriptor
        for name in path:
            field = descriptor.fields_by_name.get(name) if descriptor is not None else None
            if field is None:
                return True
            if _is_map_field(field):
                return False   # any key may be there
            descriptor = field.message_type
        return False


def _file_proto(text: str) -> descriptor_pb2.FileDescriptorProto:
    try:
        return descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, DecodeError):
        raise ValueError("expected a serialized FileDescriptorProto (base64), as the registry gives with "
                         "format=serialized") from None


def _flatten(references: tuple[tuple[str, SchemaText], ...]) -> list[tuple[str, SchemaText]]:
    out = []
    for name, text in references:
        out.extend(_flatten(text.references))
        out.append((name, text))
    return out


def _add(pool: descriptor_pool.DescriptorPool, file: descriptor_pb2.FileDescriptorProto,
         references: dict[str, SchemaText]) -> None:
    """Add `file` to the pool after its imports: references, or Google's well-known types."""
    for dependency in file.dependency:
        try:
            pool.FindFileByName(dependency)
            continue
        except KeyError:
            pass
        if dependency in references:
            _add(pool, _file_proto(references[dependency].text), references)
        elif dependency in _WELL_KNOWN:
            proto = descriptor_pb2.FileDescriptorProto()
            _WELL_KNOWN[dependency].CopyToProto(proto)
            pool.Add(proto)
        else:
            raise ValueError(f"{file.name} imports {dependency}, which the registry did not give as a reference")
    pool.Add(file)


def _message_reader(descriptor: Descriptor, tree: Tree) -> Read:
    """Reads a message into a dict: the fields in `tree` read (deeper where the tree goes on),
    every other field a key with no value."""
    names = {field.name: None for field in descriptor.fields}
    readers = [(name, field, _field_reader(field, sub)) for name, sub in tree.items()
               if (field := descriptor.fields_by_name.get(name)) is not None]

    def read(message: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(names)
        for name, field, reader in readers:
            if field.has_presence and not message.HasField(name):
                continue
            out[name] = reader(getattr(message, name))
        return out

    return read


def _field_reader(field: FieldDescriptor, tree: Tree) -> Read:
    if _is_map_field(field):
        value = _map_value(field)
        merged: Tree = {}   # the paths below the map name keys first, then the value's fields
        for below in tree.values():
            merged.update(below)
        inner = _value_reader(value, merged)
        return lambda entries: {key: inner(entries[key]) for key in entries}
    if field.is_repeated:
        return list
    return _value_reader(field, tree)


def _value_reader(field: FieldDescriptor, tree: Tree) -> Read:
    if field.enum_type is not None:
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda number: names.get(number, str(number))
    message = field.message_type
    if message is None:
        return _same
    if message.full_name == "google.protobuf.Timestamp":
        return lambda t: t.seconds * 1000 + t.nanos // 1_000_000
    if message.full_name.startswith("google.protobuf.") and message.name.endswith("Value") and "value" in [
            f.name for f in message.fields]:
        return lambda wrapped: wrapped.value
    return _message_reader(message, tree)


def _same(value: Any) -> Any:
    return value


def _is_map_field(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _is_map(descriptor: Descriptor) -> bool:
    return bool(descriptor.GetOptions().map_entry)


def _map_value(field: FieldDescriptor) -> FieldDescriptor:
    return field.message_type.fields_by_name["value"]
