"""JSON Schema records: the Confluent frame around a JSON event; the writer's schema says which fields exist.

The payload is read as the JSON source's events are (orjson); the schema is used to tell a
declared field the writer's schema does not have (schema drift) from one an event left out.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from stream_guard.core.decoding.json_problems import json_kind, json_problem
from stream_guard.core.decoding.wire import HEADER, SchemaText, WireError


class JsonSchemaWriter:
    def __init__(self, schema: Any) -> None:
        self._schema = schema

    @classmethod
    def parse(cls, text: SchemaText) -> JsonSchemaWriter:
        try:
            schema = json.loads(text.text)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(schema, (dict, bool)):
            raise ValueError("a JSON Schema is an object")
        return cls(schema)

    def decode(self, value: bytes) -> tuple[dict[str, Any], JsonSchemaWriter]:
        payload = value[HEADER:]
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise WireError("schema_mismatch", "the payload is not JSON: " + json_problem(payload, exc)[1]) from None
        if type(event) is not dict:
            raise WireError("schema_mismatch", f"expected a JSON object, got {json_kind(event)}")
        return event, self

    def absent(self, path: tuple[str, ...]) -> bool:
        """True where an object on the way lists its `properties` and the name is not among them."""
        node = self._schema
        for name in path:
            if not isinstance(node, dict):
                return False
            properties = node.get("properties")
            if not isinstance(properties, dict):
                return False
            if name not in properties:
                return True
            node = properties[name]
        return False
