"""The Schema Registry, through confluent-kafka's own client: writers' schemas by id, a subject's latest.

Answers become `SchemaText` values for the core (`core.decoding.writer_schemas`); a Protobuf schema
is asked for as a serialized `FileDescriptorProto` (`format=serialized`), as Confluent's own
deserializers do, so no `.proto` text has to be compiled here. Errors are translated at this
boundary: an id or subject the registry answers 404 for is unknown (`None`, or `SchemaNotFound`);
anything else (refused, timed out, a 5xx, a refused login) is `ServiceUnreachable` naming the URL
with its password redacted, which the caller waits out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from confluent_kafka.schema_registry import AsyncSchemaRegistryClient, Schema, SchemaRegistryError

from stream_guard.adapters.credentials import read_password
from stream_guard.core.decoding.wire import SchemaText
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.schema_registry import SchemaRegistrySpec
from stream_guard.errors import ServiceUnreachable, StreamGuardError

T = TypeVar("T")
MAX_REFERENCE_DEPTH = 10


class SchemaNotFound(StreamGuardError):
    """The registry has no such subject (or version)."""


class RegistryClient:
    """Fetches schemas from one registry; `url` is for messages (redact before printing)."""

    def __init__(self, spec: SchemaRegistrySpec) -> None:
        self.url = spec.url
        self._client = AsyncSchemaRegistryClient(client_config(spec))

    async def fetch(self, ids: Iterable[int], fmt: str) -> dict[int, SchemaText | None]:
        """Each id's schema (None where the registry does not know it), for a source of format `fmt`."""
        wire = "serialized" if fmt == "protobuf" else None
        out: dict[int, SchemaText | None] = {}
        for number in ids:
            try:
                schema = await self._call(lambda n=number: self._client.get_schema(n, fmt=wire))  # type: ignore[misc]
            except SchemaNotFound:
                out[number] = None
                continue
            out[number] = await self._text(schema, wire, MAX_REFERENCE_DEPTH)
        return out

    async def latest(self, subject: str, fmt: str | None = None) -> tuple[int, int, SchemaText]:
        """A subject's latest (schema id, version, schema); SchemaNotFound when there is no such subject."""
        found = await self._call(lambda: self._client.get_latest_version(subject, fmt=fmt))
        return found.schema_id or 0, found.version or 0, await self._text(found.schema, fmt, MAX_REFERENCE_DEPTH)

    async def close(self) -> None:
        await self._client.aclose()

    async def _text(self, schema: Schema, wire: str | None, depth: int) -> SchemaText:
        references = []
        for reference in (schema.references or []) if depth else []:
            found = await self._call(lambda r=reference: self._client.get_version(  # type: ignore[misc]
                r.subject, r.version, fmt=wire))
            references.append((reference.name or "", await self._text(found.schema, wire, depth - 1)))
        return SchemaText(schema.schema_type or "AVRO", schema.schema_str or "", tuple(references))

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise SchemaNotFound(f"the schema registry at {redacted(self.url)} has no such schema or subject "
                                     f"({exc.error_message})") from None
            raise ServiceUnreachable(f"the schema registry at {redacted(self.url)} answered HTTP "
                                     f"{exc.http_status_code}: {exc.error_message}") from None
        except Exception as exc:   # the client's transport errors (httpx): connection refused, timeouts, TLS
            raise ServiceUnreachable(f"cannot reach the schema registry at {redacted(self.url)} "
                                     f"({type(exc).__name__}: {exc or 'no answer'})") from None


def client_config(spec: SchemaRegistrySpec) -> dict[str, Any]:
    """confluent-kafka's client settings for the registry: the client's own retries off (the
    caller backs off and logs), the timeout, basic auth and the CA file."""
    config: dict[str, Any] = {"url": spec.url, "max.retries": 0, "timeout": spec.timeout / 1000}
    password = read_password(spec, "schema_registry")
    if spec.username is not None and password is not None:
        config["basic.auth.user.info"] = f"{spec.username}:{password}"
    if spec.ca_file is not None:
        config["ssl.ca.location"] = spec.ca_file
    return config
