"""The Confluent wire format, and what a writer's schema is to the decoders.

The format: magic byte 0, the writer schema's id (4 bytes, big-endian), the payload.

Protobuf payloads start with the message-index list (which message of the schema's file was
written): zig-zag varints, a count then the indexes, where a lone 0 byte stands for `[0]`.

>>> framed = frame(7, b"payload")
>>> schema_id(framed), framed[HEADER:]
(7, b'payload')
>>> message_indexes(frame(7, encode_indexes([1, 0]) + b"x"), HEADER)
((1, 0), 8)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

MAGIC = 0
HEADER = 5   # magic byte and schema id


@dataclass(frozen=True)
class SchemaText:
    """A schema as the registry gives it: its type, its text, and the schemas its text refers to
    (Avro named types of other subjects, Protobuf imports) by the name the text uses."""

    kind: str   # AVRO, PROTOBUF (the text: a base64 FileDescriptorProto) or JSON
    text: str
    references: tuple[tuple[str, SchemaText], ...] = ()


class Shape(Protocol):
    """The fields an event can carry: a writer schema's, or (Protobuf) one message type's of it."""

    def absent(self, path: tuple[str, ...]) -> bool:
        """Whether no event of this shape can carry `path` (the schema has no such field)."""
        ...


class Writer(Protocol):
    """One parsed writer schema: decodes a framed record into an event (nested dicts) and its shape."""

    def decode(self, value: bytes) -> tuple[dict[str, Any], Shape]: ...


class WireError(ValueError):
    """A record that is not in the wire format, with the dead-letter reason to give it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def frame(schema_id: int, payload: bytes) -> bytes:
    """A payload framed as a Confluent serializer frames it (tests, replay of `.avro` files)."""
    return bytes([MAGIC]) + schema_id.to_bytes(4, "big") + payload


def schema_id(value: bytes | None) -> int:
    """The schema id a framed record names; WireError(`no_magic_byte`) when it is not framed."""
    if not value or len(value) < HEADER or value[0] != MAGIC:
        first = "no payload" if not value else f"first byte {value[0]:#04x}, {len(value)} bytes"
        raise WireError("no_magic_byte", f"not in the Confluent wire format (magic byte 0 and a 4-byte schema id "
                                         f"before the payload): {first}")
    return int.from_bytes(value[1:HEADER], "big")


def message_indexes(value: bytes, start: int) -> tuple[tuple[int, ...], int]:
    """The Protobuf message-index list at `start`, and where the message itself begins."""
    count, pos = _zigzag(value, start)
    if count == 0:
        return (0,), pos
    if count < 0 or count > 100:
        raise WireError("schema_mismatch", f"the Protobuf message-index list claims {count} indexes")
    indexes = []
    for _ in range(count):
        index, pos = _zigzag(value, pos)
        indexes.append(index)
    return tuple(indexes), pos


def encode_indexes(indexes: list[int]) -> bytes:
    """The message-index list as a Protobuf serializer writes it."""
    if indexes == [0]:
        return b"\x00"
    return b"".join(_varint((n << 1) ^ (n >> 63)) for n in [len(indexes), *indexes])


def _zigzag(value: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(value) or shift > 63:
            raise WireError("schema_mismatch", "the Protobuf message-index list is cut short")
        byte = value[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
