"""`stream-guard forward`: read the alert topic in a consumer group and POST each record to Alertmanager
and to generic webhooks, committing the offset only after every target accepted it (at-least-once).

What is sent is decided in `stream_guard.core.alerting.forwarding` and `alertmanager_feed`; this module
does the Kafka and HTTP I/O. The partitions of the alert topic are assigned directly (no group
membership, so no rebalance wait); the group only stores the offsets. Run one forwarder per group.

Alertmanager is sent the alerts held firing again every `resend_every` seconds. A group that resumes
reads its partitions' earlier records again first, without sending them, to learn which alerts it had
left firing: a restart neither lets Alertmanager end them nor forgets to resolve them.
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
from stream_guard.core.alerting.alertmanager_feed import RESEND_EVERY_MS, AlertmanagerFeed
from stream_guard.core.alerting.forwarding import (
    ALERT_SCHEMA,
    DIGEST_SCHEMA,
    RetryPolicy,
    alertmanager_endpoint,
    excerpt,
    verdict,
    webhook_bodies,
)
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import ServiceUnreachable, StreamGuardError

Log = Callable[[str], None]
Clock = Callable[[], int]


def wall_ms() -> int:
    return int(time.time() * 1000)


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
    resend_every: float = RESEND_EVERY_MS / 1000   # seconds between re-sends of the alerts held firing


@dataclass
class ForwardCounts:
    alerts: int = 0
    digests: int = 0
    skipped: int = 0                     # written before a first start without --from-beginning


def group_of(topology: Topology, options: ForwardOptions) -> str:
    return options.group or f"{topology.app}-forwarder"


@dataclass
class Resume:
    """Where a partition's forwarding starts."""

    adopt_below: int = 0             # offsets below were forwarded by an earlier run: only learn from them
    skip_before: int | None = None   # ms; older records predate the group's first start (None: skip nothing)


@dataclass
class Forwarding:
    """One run's targets, its Alertmanager feed and its counts."""

    options: ForwardOptions
    alertmanager: HttpTarget | None
    webhooks: list[HttpTarget]
    feed: AlertmanagerFeed
    log: Log
    clock: Clock
    counts: ForwardCounts = field(default_factory=ForwardCounts)

    def records(self, records: list[dict[str, Any]]) -> None:
        """POST a batch of records to every target; raise `DeliveryFailed` if one refuses it."""
        now = self.clock()
        alerts = [alert for record in records for alert in self.feed.take(record, now)]
        if self.alertmanager and alerts:
            deliver(self.alertmanager, alerts, self.options.policy, self.log)
        for target in self.webhooks:
            for body in webhook_bodies(records, self.options.digests):
                deliver(target, body, self.options.policy, self.log)
        self.counts.alerts += sum(r.get("schema") == ALERT_SCHEMA for r in records)
        self.counts.digests += sum(r.get("schema") == DIGEST_SCHEMA for r in records) if self.options.digests else 0

    def resend_if_due(self) -> None:
        """Send Alertmanager the alerts held firing again, once `resend_every` has passed."""
        now = self.clock()
        if self.alertmanager and self.feed.due(now):
            deliver(self.alertmanager, self.feed.resend(now), self.options.policy, self.log)


def run_forwarder(topology: Topology, options: ForwardOptions, log: Log,
                  stop: threading.Event | None = None, clock: Clock = wall_ms) -> ForwardCounts:
    """Forward until `stop` is set, `idle_exit` seconds pass without a record, or a delivery fails (raises)."""
    alertmanager = (HttpTarget("alertmanager", alertmanager_endpoint(options.alertmanager), options.timeout)
                    if options.alertmanager else None)
    webhooks = [HttpTarget("webhook", url, options.timeout) for url in options.webhooks]
    feed = AlertmanagerFeed(topology.app, topology.web.url, int(options.resend_every * 1000))
    run = Forwarding(options, alertmanager, webhooks, feed, log, clock)
    consumer, resume = _consumer(topology, options, log)
    last = time.monotonic()
    try:
        while not (stop and stop.is_set()):
            for tp, messages in consumer.poll(timeout_ms=300, max_records=200).items():
                _forward_partition(consumer, tp, messages, resume[tp], run)
                last = time.monotonic()
            run.resend_if_due()
            if options.idle_exit is not None and time.monotonic() - last > options.idle_exit:
                break
    finally:
        consumer.close(autocommit=False)
    return run.counts


def _forward_partition(consumer: KafkaConsumer, tp: TopicPartition, messages: list[Any], resume: Resume,
                       run: Forwarding) -> None:
    """Forward one partition's polled records and commit past them; records forwarded before are only learnt."""
    fresh = [m for m in messages if m.offset >= resume.adopt_below]
    for message in messages[:len(messages) - len(fresh)]:
        run.feed.adopt(_decoded(message.value))
    if not fresh:
        return
    kept = [m for m in fresh if resume.skip_before is None or m.timestamp >= resume.skip_before]
    run.counts.skipped += len(fresh) - len(kept)
    if kept and resume.skip_before is not None:
        # the group's first position, stored before the first delivery: should that fail,
        # a restart resumes here instead of skipping the record as older than itself
        consumer.commit({tp: OffsetAndMetadata(kept[0].offset, "", -1)})
        resume.skip_before = None
    run.records([_decoded(m.value) for m in kept])
    consumer.commit({tp: OffsetAndMetadata(fresh[-1].offset + 1, "", -1)})


def _consumer(topology: Topology, options: ForwardOptions, log: Log) -> tuple[KafkaConsumer, dict[Any, Resume]]:
    """A consumer on every partition of the alert topic, each at its oldest record, and where to resume.

    A partition the group has committed is forwarded from that offset, the records before it only
    learnt from. One it has never committed is forwarded from the oldest record; without
    `from_beginning` the records written before now are skipped by timestamp (some Kafka-protocol
    brokers report wrong end offsets, so seeking to the end is not trusted).
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
    consumer.seek_to_beginning(*assigned)
    now_ms = wall_ms()
    resume: dict[Any, Resume] = {}
    for tp in assigned:
        committed = consumer.committed(tp)
        if committed is None:
            resume[tp] = Resume(skip_before=0 if options.from_beginning else now_ms)
            log(f"{topic}[{tp.partition}]: group {group} has no committed offset; starting at "
                + ("the oldest record" if options.from_beginning else "records published from now on"))
        else:
            resume[tp] = Resume(adopt_below=committed)
            log(f"{topic}[{tp.partition}]: group {group} resumes at offset {committed} (the records before it "
                "are read again, not sent, for the alerts they left firing)")
    return consumer, resume
