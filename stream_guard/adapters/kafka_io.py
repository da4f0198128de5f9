"""Small synchronous Kafka clients for the CLI (produce a file, tail the alert topic), on kafka-python.

Idempotence is off on purpose: kafka-python 3 turns it on by default and some Kafka-protocol
brokers (Tansu among them) refuse idempotent producers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from stream_guard.adapters.credentials import KafkaSecurity, redacted
from stream_guard.errors import ServiceUnreachable


def bootstrap(url: str) -> list[str]:
    """`kafka://a:9092,b:9092` → `["a:9092", "b:9092"]`."""
    return [part.split("://", 1)[-1].rstrip("/") for part in url.split(",")]


def producer(broker_url: str, security: KafkaSecurity | None = None, **settings: Any) -> KafkaProducer:
    """`security`: TLS and SASL settings from the topology (`credentials.kafka_security`); plaintext without.
    `settings`: more KafkaProducer settings, over the defaults here."""
    try:
        return KafkaProducer(**_connection(broker_url, security), **{**PRODUCER_DEFAULTS, **settings})
    except KafkaError as exc:
        raise ServiceUnreachable(f"cannot reach the Kafka broker at {redacted(broker_url)} ({exc})") from None


PRODUCER_DEFAULTS: dict[str, Any] = {"enable_idempotence": False, "acks": 1, "linger_ms": 5,
                                     "batch_size": 256 * 1024, "max_block_ms": 10_000}
# Without idempotence, a retried request whose first attempt the broker did write (it stalled past the
# request timeout, then caught up) writes its records twice. So a file is produced with no retries, one
# request in flight, and a request timeout long enough to ride out a stall of a minute or two; a request
# that fails anyway is counted as not acknowledged rather than sent again.
NO_DUPLICATES: dict[str, Any] = {"acks": "all", "retries": 0, "max_in_flight_requests_per_connection": 1}
REQUEST_TIMEOUT_MS = 120_000


@dataclass
class Delivery:
    """What the broker acknowledged of a `produce` run, and what it did not."""

    acknowledged: int = 0
    failed: int = 0
    first_error: str | None = None
    stopped_at: int | None = None   # sending stopped after this many messages: the broker could not take more
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def ack(self, _metadata: object) -> None:
        with self._lock:
            self.acknowledged += 1

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self.failed += 1
            self.first_error = self.first_error or f"{type(error).__name__}: {error}"

    def describe(self, topic: str) -> str:
        """One line for the user: what is on `topic` for sure, and what may not be."""
        line = f"{self.acknowledged:,} messages acknowledged by the broker on {topic}"
        if self.failed:
            line += (f"; {self.failed:,} not acknowledged (first error: {self.first_error}): they may or may not "
                     f"be on the topic, and were not sent again so that none is written twice")
        if self.stopped_at is not None:
            line += f"; sending stopped after {self.stopped_at:,} messages (the rest of the file was not sent)"
        return line

    @property
    def complete(self) -> bool:
        return not self.failed and self.stopped_at is None


def produce(broker_url: str, topic: str, payloads: Iterable[bytes], rate: float | None = None,
            on_progress: Callable[[int], None] | None = None, security: KafkaSecurity | None = None,
            request_timeout_ms: int = REQUEST_TIMEOUT_MS) -> Delivery:
    """Send each payload once as one message (no key: spread over partitions); `rate` is messages per
    second. Nothing is retried, so nothing is duplicated: the result counts what the broker acknowledged."""
    client = producer(broker_url, security, **NO_DUPLICATES, request_timeout_ms=request_timeout_ms,
                      delivery_timeout_ms=request_timeout_ms + 10_000)
    delivery = Delivery()
    try:
        _send_all(client, topic, payloads, delivery, rate, on_progress)
        client.flush()
    finally:
        client.close()
    return delivery


def _send_all(client: KafkaProducer, topic: str, payloads: Iterable[bytes], delivery: Delivery,
              rate: float | None, on_progress: Callable[[int], None] | None) -> None:
    started = time.monotonic()
    for sent, payload in enumerate(payloads, start=1):
        try:
            client.send(topic, payload).add_callback(delivery.ack).add_errback(delivery.fail)
        except KafkaError as exc:  # no metadata or no buffer space within max_block_ms: the broker is away
            delivery.fail(exc)
            delivery.stopped_at = sent - 1
            return
        if rate and (ahead := sent / rate - (time.monotonic() - started)) > 0:
            time.sleep(ahead)
        if on_progress and sent % 1000 == 0:
            on_progress(sent)


def records(broker_url: str, topic: str, from_beginning: bool, idle_timeout_s: float | None = None,
            stop: threading.Event | None = None, security: KafkaSecurity | None = None) -> Iterator[dict[str, Any]]:
    """Decoded JSON records of a topic as they arrive, until `stop` is set or `idle_timeout_s` of silence.

    Without `from_beginning`, records written before the call are skipped by their timestamp rather
    than by seeking to the end: some Kafka-protocol brokers report wrong end offsets.
    """
    since_ms = 0 if from_beginning else int(time.time() * 1000)
    consumer = KafkaConsumer(topic, **_connection(broker_url, security), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest", consumer_timeout_ms=200)
    last = time.monotonic()
    try:
        while not (stop and stop.is_set()):
            for message in consumer:
                last = time.monotonic()
                if message.timestamp >= since_ms:
                    yield _decoded(message.value)
                if stop and stop.is_set():
                    return
            if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                return
    finally:
        consumer.close()


def missing_topics(broker_url: str, topics: Iterable[str], security: KafkaSecurity | None = None) -> list[str]:
    """Those of `topics` the broker does not list. Only reads the cluster's metadata: asking for every
    topic creates none, even on a broker that creates topics on first use."""
    consumer = KafkaConsumer(**_connection(broker_url, security), group_id=None, request_timeout_ms=10_000)
    try:
        known = consumer.topics()
    finally:
        consumer.close()
    return [topic for topic in topics if topic not in known]


def _connection(broker_url: str, security: KafkaSecurity | None) -> dict[str, Any]:
    """Bootstrap servers (the URL without any login) and the TLS / SASL settings."""
    if security is None:
        return {"bootstrap_servers": bootstrap(broker_url)}
    return {"bootstrap_servers": bootstrap(security.broker), **security.kafka_python()}


def _decoded(value: bytes) -> dict[str, Any]:
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {"schema": "unreadable", "raw": value.decode("utf-8", "replace")}
    return record if isinstance(record, dict) else {"schema": "unreadable", "raw": record}
