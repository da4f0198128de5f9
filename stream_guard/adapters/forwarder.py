"""`stream-guard forward`: read the alert topic in a consumer group and POST each record to Alertmanager
and to generic webhooks, committing the offset only after every target accepted it (at-least-once).

What is sent is decided in `stream_guard.core.alerting.forwarding`; this module does the Kafka and HTTP I/O.
The partitions of the alert topic are assigned directly (no group membership, so no rebalance wait);
the group only stores the offsets. Run one forwarder per group.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from stream_guard.adapters.credentials import kafka_security, redacted
from stream_guard.adapters.kafka_io import _connection, _decoded
from stream_guard.core.alerting.forwarding import (
    ALERT_SCHEMA,
    DIGEST_SCHEMA,
    RetryPolicy,
    alertmanager_batch,
    alertmanager_endpoint,
    excerpt,
    verdict,
    webhook_bodies,
)
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import ServiceUnreachable, StreamGuardError

Log = Callable[[str], None]


class DeliveryFailed(StreamGuardError):
    """A target refused a record (4xx) or stayed unreachable through every retry; nothing past it is committed."""


@dataclass(frozen=True)
class HttpTarget:
    """One receiver. A `user:password@` in the URL becomes a Basic Authorization header and is never logged."""

    kind: str                    # "alertmanager" or "webhook"
    url: str
    timeout: float = 10.0

    @property
    def shown(self) -> str:
        return redacted(self.url)

    def post(self, body: bytes) -> tuple[int | None, bytes, str]:
        """(HTTP status or None when no response came, response body, error text)."""
        parts = urlsplit(self.url)
        headers = {"Content-Type": "application/json", "User-Agent": "stream-guard-forward"}
        url = self.url
        if parts.username is not None:
            login = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(login).decode()
            url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), response.read(), ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return None, b"", str(reason)


def deliver(target: HttpTarget, payload: Any, policy: RetryPolicy, log: Log,
            sleep: Callable[[float], None] = time.sleep) -> None:
    """POST `payload` as JSON until it is accepted; raise `DeliveryFailed` on a 4xx or after the last retry."""
    body = orjson.dumps(payload)
    delays = policy.delays()
    for attempt in range(len(delays) + 1):
        status, answer, error = target.post(body)
        outcome = verdict(status)
        if outcome == "delivered":
            return
        if outcome == "permanent":
            raise DeliveryFailed(f"{target.kind} {target.shown} refused the request with HTTP {status}: "
                                 f"{excerpt(answer) or '(empty body)'}; fix the request or the receiver, "
                                 "then restart: nothing past this record was committed")
        problem = error + (f": {excerpt(answer)}" if answer else "")
        if attempt == len(delays):
            raise DeliveryFailed(f"{target.kind} {target.shown} failed {attempt + 1} times, last with {problem}; "
                                 "stopping without committing past this record, so a restart sends it again")
        log(f"POST {target.shown} failed ({problem}); retry {attempt + 1}/{len(delays)} in {delays[attempt]:g}s")
        sleep(delays[attempt])


@dataclass
class ForwardOptions:
    alertmanager: str | None = None
    webhooks: list[str] = field(default_factory=list)
    group: str | None = None
    from_beginning: bool = False
    digests: bool = False
    policy: RetryPolicy = RetryPolicy()
    idle_exit: float | None = None       # seconds without a record before returning (tests, one-off runs)
    timeout: float = 10.0


@dataclass
class ForwardCounts:
    alerts: int = 0
    digests: int = 0
    skipped: int = 0                     # written before a first start without --from-beginning


def group_of(topology: Topology, options: ForwardOptions) -> str:
    return options.group or f"{topology.app}-forwarder"


def run_forwarder(topology: Topology, options: ForwardOptions, log: Log,
                  stop: threading.Event | None = None) -> ForwardCounts:
    """Forward until `stop` is set, `idle_exit` seconds pass without a record, or a delivery fails (raises)."""
    targets = ([HttpTarget("alertmanager", alertmanager_endpoint(options.alertmanager), options.timeout)]
               if options.alertmanager else [])
    targets += [HttpTarget("webhook", url, options.timeout) for url in options.webhooks]
    consumer, skip_before = _consumer(topology, options, log)
    counts = ForwardCounts()
    last = time.monotonic()
    try:
        while not (stop and stop.is_set()):
            batches = consumer.poll(timeout_ms=300, max_records=200)
            for tp, messages in batches.items():
                kept = [m for m in messages if m.timestamp >= skip_before.get(tp, 0)]
                counts.skipped += len(messages) - len(kept)
                if kept and tp in skip_before:
                    # the group's first position, stored before the first delivery: should that fail,
                    # a restart resumes here instead of skipping the record as older than itself
                    consumer.commit({tp: OffsetAndMetadata(kept[0].offset, "", -1)})
                    del skip_before[tp]
                _deliver_batch([_decoded(m.value) for m in kept], targets, topology, options, log, counts)
                consumer.commit({tp: OffsetAndMetadata(messages[-1].offset + 1, "", -1)})
                last = time.monotonic()
            if options.idle_exit is not None and time.monotonic() - last > options.idle_exit:
                break
    finally:
        consumer.close(autocommit=False)
    return counts


def _deliver_batch(records: list[dict[str, Any]], targets: list[HttpTarget], topology: Topology,
                   options: ForwardOptions, log: Log, counts: ForwardCounts) -> None:
    alerts = alertmanager_batch(records, topology.app, topology.web.url)
    bodies = webhook_bodies(records, options.digests)
    for target in targets:
        if target.kind == "alertmanager":
            if alerts:
                deliver(target, alerts, options.policy, log)
        else:
            for body in bodies:
                deliver(target, body, options.policy, log)
    counts.alerts += sum(r.get("schema") == ALERT_SCHEMA for r in records)
    counts.digests += sum(r.get("schema") == DIGEST_SCHEMA for r in records) if options.digests else 0


def _consumer(topology: Topology, options: ForwardOptions, log: Log) -> tuple[KafkaConsumer, dict[Any, int]]:
    """A consumer on every partition of the alert topic, each at its committed offset, or at the start.

    A partition the group has never committed starts at the oldest record; without `from_beginning`
    the records written before now are skipped by timestamp (some Kafka-protocol brokers report wrong
    end offsets, so seeking to the end is not trusted).
    """
    topic = topology.alerts.topic
    group = group_of(topology, options)
    security = kafka_security(topology.kafka)
    try:
        consumer = KafkaConsumer(**_connection(topology.kafka.broker, security), group_id=group,
                                 enable_auto_commit=False, auto_offset_reset="earliest")
        partitions = consumer.partitions_for_topic(topic)
    except KafkaError as exc:
        raise ServiceUnreachable(f"cannot reach the Kafka broker at {redacted(topology.kafka.broker)} ({exc})") \
            from None
    if not partitions:
        consumer.close()
        raise StreamGuardError(f"the alert topic {topic!r} does not exist on {redacted(topology.kafka.broker)}; "
                               "create it (the worker publishes there) or check alerts.topic in the topology")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    now_ms = int(time.time() * 1000)
    skip_before: dict[Any, int] = {}
    for tp in assigned:
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
            skip_before[tp] = 0 if options.from_beginning else now_ms
            log(f"{topic}[{tp.partition}]: group {group} has no committed offset; starting at "
                + ("the oldest record" if options.from_beginning else "records published from now on"))
        else:
            consumer.seek(tp, committed)
            log(f"{topic}[{tp.partition}]: group {group} resumes at offset {committed}")
    return consumer, skip_before
