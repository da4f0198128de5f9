"""The `schema_registry:` block: where Avro, Protobuf and JSON Schema sources find their writers' schemas.

A source with `format: avro | protobuf | json_schema` holds records in the Confluent wire format
(magic byte 0, a 4-byte big-endian schema id, the payload); each record is decoded with the schema
its id names, fetched once from the registry. The URL may carry a login (`https://user:pass@host`),
or `username` with `password_env` / `password_file` give one; `--schema-registry URL` or
`SG_SCHEMA_REGISTRY` override the URL.
"""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import Field, field_serializer, model_validator

from stream_guard.core.topology.durations import Duration
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.services import PasswordSource, _RedactedURL

REGISTRY_FORMATS = ("avro", "protobuf", "json_schema")   # source formats whose records name a registry schema


class SchemaRegistrySpec(PasswordSource, _RedactedURL):
    """A Confluent-compatible Schema Registry (Confluent, Karapace, Apicurio's ccompat API, Redpanda)."""

    _URL_FIELD: ClassVar[str] = "url"
    url: str = Field(pattern=r"^https?://\S+$", description="e.g. http://schema-registry:8081")
    username: str | None = Field(default=None, min_length=1, description="basic auth user (password_env/_file)")
    ca_file: str | None = Field(default=None, description="PEM file of the CAs that sign the registry's certificate")
    timeout: Duration = Field(default=10_000, gt=0, description="longest wait for one registry request")

    @model_validator(mode="after")
    def _login_complete(self) -> SchemaRegistrySpec:
        if self.has_password and self.username is None:
            raise ValueError("a registry password needs its username: username: NAME")
        if self.username is not None and not self.has_password:
            raise ValueError("a registry username needs a password: password_env: NAME or password_file: PATH")
        return self

    @field_serializer("url")
    def _dump_url(self, url: str) -> str:
        return redacted(url)


def registry_url(flag: str | None, configured: SchemaRegistrySpec | None) -> SchemaRegistrySpec | None:
    """The registry a command uses: `--schema-registry URL`, else `SG_SCHEMA_REGISTRY`, over the file's.

    >>> registry_url("http://r:8081", None).url
    'http://r:8081'
    """
    url = flag or os.environ.get("SG_SCHEMA_REGISTRY")
    if not url:
        return configured
    if configured is None:
        return SchemaRegistrySpec(url=url)
    return configured.model_copy(update={"url": url})
