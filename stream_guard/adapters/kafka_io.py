"""Small synchronous Kafka clients for the CLI (produce a file, tail the alert topic), on kafka-python.

Idempotence is off on purpose: kafka-python 3 turns it on by default and some Kafka-protocol
brokers (Tansu among them) refuse idempotent producers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from stream_guard.adapters.credentials import KafkaSecurity, redacted
from stream_guard.errors import ServiceUnreachable


def bootstrap(url: str) -> list[str]:
    """`kafka://a:9092,b:9092` → `["a:9092", "b:9092"]`."""
    return [part.split("://", 1)[-1].rstrip("/") for part in url.split(",")]


def producer(broker_url: str, security: KafkaSecurity | None = None) -> KafkaProducer:
    """`security`: TLS and SASL settings from the topology (`credentials.kafka_security`); plaintext without."""
    try:
        return KafkaProducer(**_connection(broker_url, security), enable_idempotence=False, acks=1,
                             linger_ms=5, batch_size=256 * 1024, max_block_ms=10_000)
    except KafkaError as exc:
        raise ServiceUnreachable(f"cannot reach the Kafka broker at {redacted(broker_url)} ({exc})") from None


def produce(broker_url: str, topic: str, payloads: Iterable[bytes], rate: float | None = None,
            on_progress: Callable[[int], None] | None = None, security: KafkaSecurity | None = None) -> int:
    """Send each payload as one message (no key: spread over partitions); `rate` is messages per second."""
    client = producer(broker_url, security)
    sent = 0
    started = time.monotonic()
    try:
        for payload in payloads:
            client.send(topic, payload)
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if on_progress and sent % 1000 == 0:
                on_progress(sent)
        client.flush()
    finally:
        client.close()
    return sent


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
