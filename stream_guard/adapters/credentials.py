"""Secrets for Kafka and Redis, read when a command starts and handed to the clients, never printed.

A password comes from an environment variable (`password_env`), a file (`password_file`, e.g. a
mounted Kubernetes Secret) or the service URL (`redis://:PASSWORD@host`, `kafka://USER:PASSWORD@host`).
Errors name the variable, the file or the URL with its password replaced by `***`, never the value;
`KafkaSecurity`'s repr leaves the password out.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.services import KafkaSpec, PasswordSource, RedisSpec
from stream_guard.errors import StreamGuardError

__all__ = ["CredentialsError", "KafkaSecurity", "kafka_security", "read_password", "redacted", "redis_options"]

class CredentialsError(StreamGuardError):
    """A password or certificate named by the topology cannot be read."""


def read_password(source: PasswordSource, what: str) -> str | None:
    """The password `source` names, or None when it names none. `what` says whose it is, for errors."""
    if source.password_env is not None:
        value = os.environ.get(source.password_env)
        if not value:
            raise CredentialsError(f"{what}.password_env names the environment variable {source.password_env}, "
                                   "which is not set or empty; export it before starting stream-guard")
        return value
    if source.password_file is not None:
        path = Path(source.password_file)
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise CredentialsError(f"{what}.password_file {path}: cannot read it ({reason})") from None
        if not value:
            raise CredentialsError(f"{what}.password_file {path} is empty")
        return value
    return None


def redis_options(spec: RedisSpec) -> dict[str, Any]:
    """Keyword arguments for `redis.Redis.from_url(spec.url, ...)` beyond what the URL says."""
    options: dict[str, Any] = {}
    password = read_password(spec, "redis")
    if password is not None:
        if urlsplit(spec.url).password:
            raise CredentialsError(f"the Redis URL {redacted(spec.url)} carries a password and redis.password_"
                                   f"{'env' if spec.password_env else 'file'} names another; give it once")
        options["password"] = password
    if spec.ca_file is not None:
        if not spec.url.startswith("rediss://"):
            raise CredentialsError(f"redis.ca_file is set but {redacted(spec.url)} is not a TLS URL; "
                                   "use rediss://")
        options["ssl_ca_certs"] = spec.ca_file
    return options


@dataclass(frozen=True)
class KafkaSecurity:
    """How to reach the brokers: the URL without credentials, the transport, and the SASL login."""

    broker: str
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's `KafkaProducer` / `KafkaConsumer` / admin client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.ssl_context is not None:
            options["ssl_context"] = self.ssl_context
        if self.mechanism is not None:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options


def kafka_security(spec: KafkaSpec) -> KafkaSecurity:
    """The topology's `kafka:` section, with its password read and its TLS context built.

    A `USER:PASSWORD@` in the broker URL is a SASL login (mechanism from `kafka.sasl`, else PLAIN);
    it is taken out of the URL the clients see.
    """
    broker, url_user, url_password = _split_credentials(spec.broker)
    context = tls_context(spec) if spec.tls is not None else None
    if spec.sasl is not None:
        if url_user is not None:
            raise CredentialsError(f"the broker URL {redacted(spec.broker)} carries a login and kafka.sasl "
                                   "gives another; give it once")
        return KafkaSecurity(broker, spec.security_protocol, spec.sasl.mechanism, spec.sasl.username,
                             read_password(spec.sasl, "kafka.sasl"), context)
    if url_user is not None:
        protocol = "SASL_SSL" if context is not None else "SASL_PLAINTEXT"
        return KafkaSecurity(broker, protocol, "PLAIN", url_user, url_password, context)
    return KafkaSecurity(broker, spec.security_protocol, ssl_context=context)


def tls_context(spec: KafkaSpec) -> ssl.SSLContext:
    assert spec.tls is not None
    tls = spec.tls
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_file)
        if tls.cert_file is not None:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(f for f in (tls.ca_file, tls.cert_file, tls.key_file) if f)
        raise CredentialsError(f"kafka.tls: cannot load {files} ({getattr(exc, 'strerror', None) or exc})") from None
    context.check_hostname = tls.check_hostname
    if not tls.check_hostname:
        context.verify_mode = ssl.CERT_REQUIRED  # still verify the chain, only not the name
    return context


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """`kafka://u:p@a:9092,b:9092` -> (`kafka://a:9092,b:9092`, `u`, `p`); only the first broker may carry them."""
    first, *rest = url.split(",")
    scheme, sep, remainder = first.partition("://")
    body = remainder if sep else first
    if "@" not in body:
        return url, None, None
    login, host = body.rsplit("@", 1)
    user, _, password = login.partition(":")
    clean = ",".join([f"{scheme}://{host}" if sep else host, *rest])
    return clean, unquote(user) or None, unquote(password) or None
