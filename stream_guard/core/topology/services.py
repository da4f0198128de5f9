"""The services a topology names: Kafka, Redis (with TLS and passwords read at start), the alert and
dead-letter topics, the state kept in Redis and the status page."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, field_serializer, field_validator, model_validator

from stream_guard.core.topology.durations import Duration
from stream_guard.core.topology.frozen import Frozen
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.sizes import Size

_KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_APP_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")   # Faust names topics after it: `<app>-__assignor-__leader`


def _kafka_topic(name: str) -> str:
    if not _KAFKA_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"{_given(name)} cannot be a topic: a Kafka topic name is 1 to 249 characters of "
                         "A-Z, a-z, 0-9, '.', '_' and '-', other than '.' and '..'")
    return name


def _app_name(name: str) -> str:
    if not _APP_NAME.fullmatch(name):
        raise ValueError(f"{_given(name)} cannot be the app: it names the consumer group and Faust's topics, "
                         "so it is 1 to 200 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
    return name


def _given(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"a name of {len(text):,} characters"


TopicName = Annotated[str, AfterValidator(_kafka_topic)]
AppName = Annotated[str, AfterValidator(_app_name)]


class _RedactedURL(Frozen):
    """Shows its URL field (`broker` or `url`) with any password replaced by `***`, in repr and in dumps."""

    _URL_FIELD: ClassVar[str]

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redacted(value) if name == self._URL_FIELD and isinstance(value, str) else value


class PasswordSource(Frozen):
    """Where a password is read from when the process starts: an environment variable or a file.

    A topology is a file people commit and share, so a password is never written in it: a `password:`
    key is refused with a message saying where to put it instead.
    """

    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError("a password is never written in the topology: name an environment variable "
                             "(password_env: NAME) or a file (password_file: PATH) that holds it")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> PasswordSource:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give password_env or password_file, not both")
        return self

    @property
    def has_password(self) -> bool:
        return self.password_env is not None or self.password_file is not None


class KafkaTLS(Frozen):
    """TLS to the brokers. Every key is optional: `tls: {}` trusts the system's certificate authorities."""

    ca_file: str | None = Field(default=None, description="PEM file of the CAs that sign the brokers' certificates")
    cert_file: str | None = Field(default=None, description="client certificate (PEM), for mutual TLS")
    key_file: str | None = Field(default=None, description="the client certificate's private key (PEM)")
    check_hostname: bool = True

    @model_validator(mode="after")
    def _pair(self) -> KafkaTLS:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate and its key)")
        return self


class KafkaSASL(PasswordSource):
    """SASL authentication to the brokers (over TLS when `kafka.tls` is set too)."""

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    username: str = Field(min_length=1)

    @model_validator(mode="after")
    def _needs_password(self) -> KafkaSASL:
        if not self.has_password:
            raise ValueError("SASL needs a password: password_env: NAME or password_file: PATH")
        return self


class KafkaSpec(_RedactedURL):
    _URL_FIELD: ClassVar[str] = "broker"
    broker: str = "kafka://127.0.0.1:9092"
    session_timeout: Duration = 10_000
    heartbeat_interval: Duration = 1_000
    fetch_max_wait: Duration = Field(default=100, description="longest wait for a fetch to fill (Faust: 1.5 s)")
    tls: KafkaTLS | None = None
    sasl: KafkaSASL | None = None

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_flag(cls, value: Any) -> Any:
        """`tls: true` is `tls: {}`; `tls: false` is no TLS."""
        if isinstance(value, bool):
            return {} if value else None
        return value

    @field_serializer("broker")
    def _dump_broker(self, broker: str) -> str:
        return redacted(broker)

    @property
    def security_protocol(self) -> str:
        """Kafka's name for the transport: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
        if self.sasl is not None:
            return "SASL_SSL" if self.tls is not None else "SASL_PLAINTEXT"
        return "SSL" if self.tls is not None else "PLAINTEXT"


class RedisSpec(PasswordSource, _RedactedURL):
    """Redis: `rediss://` URLs use TLS; a password may be in the URL, or read from password_env / password_file."""

    _URL_FIELD: ClassVar[str] = "url"
    url: str = "redis://127.0.0.1:6379/0"
    ca_file: str | None = Field(default=None, description="PEM file of the CAs that sign the server's certificate")
    cluster: bool = Field(default=False, description="the URL names a node of a Redis Cluster (keys of one "
                                                     "partition, and of one monitor, share a hash slot)")
    wait_replicas: int = Field(default=0, ge=0, le=16, description=(
        "a write counts as stored once this many replicas acknowledged it (Redis WAIT), so a failover cannot "
        "lose a flush whose Kafka offsets were committed; 0: do not wait"))
    wait_timeout: Duration = Field(default=500, description="how long a write waits for its replicas; fewer in time "
                                                            "and it is written again (consuming waits)")

    @field_validator("wait_timeout")
    @classmethod
    def _bounded_wait(cls, value: int) -> int:
        if not 0 < value <= 60_000:   # Redis reads WAIT 0 as "wait forever"
            raise ValueError("wait_timeout must be more than 0 and at most 1m, e.g. 500ms")
        return value

    @field_serializer("url")
    def _dump_url(self, url: str) -> str:
        return redacted(url)


class AlertsSpec(Frozen):
    topic: TopicName = "stream-guard.alerts"
    dead_letter_topic: TopicName = "stream-guard.dead-letters"


DEFAULT_MAX_WINDOW_BYTES = 8 * 1024 * 1024


class StateSpec(Frozen):
    flush_interval: Duration = 1_000
    retention: Duration = 7 * 86_400_000
    max_window_bytes: Size = Field(
        default=DEFAULT_MAX_WINDOW_BYTES, ge=4096,
        description="the most one window of one monitor keeps per partition (e.g. 8MiB); past it, new segments "
                    "pool into `other` and the smallest kept ones join them (docs/operations.md, Bounded state)")


class WebSpec(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)
    url: str | None = Field(
        default=None, pattern=r"^https?://[^\s]+$",
        description="where people reach the status page, e.g. http://guard.internal:6066; "
                    "`stream-guard forward` links alerts to it (Alertmanager's generatorURL)")
