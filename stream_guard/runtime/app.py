"""The Faust app factory: one thin agent per monitor, a timer, and the web views (`runtime/web.py`).

Nothing is created at import time; `build_app` makes the app from a loaded topology.

Faust does not commit the source topics' offsets (they are consumed with acks off): each runtime
commits a partition's offset itself, right after Redis stored the state up to it, so Kafka's committed
offset never runs ahead of Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import faust
from faust.types import TP
from yarl import URL

from stream_guard.adapters.credentials import KafkaSecurity, kafka_security
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.adapters.schema_registry import RegistryClient
from stream_guard.core.alerting.alerts import dumps
from stream_guard.core.decoding.records import PAYLOAD_PREFIX, DeadLetter
from stream_guard.core.topology.schema_registry import REGISTRY_FORMATS
from stream_guard.core.topology.topology import Topology
from stream_guard.runtime.faust_internals import commit_offsets, consumer_position, kafka_consumer
from stream_guard.runtime.faust_tuning import set_fetch_max_wait
from stream_guard.runtime.fetch_path import FetchTransport, Handed, add_fold_agent, install_fetch_path
from stream_guard.runtime.labels import add_label_agents
from stream_guard.runtime.metrics import WorkerMetrics
from stream_guard.runtime.monitor_runtime import MonitorRuntime
from stream_guard.runtime.retrying import wall_clock_ms
from stream_guard.runtime.schema_loading import with_schemas
from stream_guard.runtime.web import ObservedPublisher, WorkerObserver, add_views
from stream_guard.views.live_view import MonitorView

log = logging.getLogger("stream_guard.worker")
TICK_SECONDS = 0.25
COMMIT_TIMEOUT_S = 3.0         # an offset commit the broker has not taken by then is given up (Redis has them)
SHUTDOWN_FLUSH_SECONDS = 10.0   # how long a stopping worker waits for Redis to store its last state
DEAD_LETTER_MAX_BYTES = 900_000  # under the producer's 1 MB request limit, with room for the envelope


class KafkaPublisher:
    """Sends alerts (keyed by fingerprint), digests and dead letters (keyed by monitor) through Faust's producer."""

    def __init__(self, app: faust.App, topology: Topology) -> None:
        self._app = app
        self._alerts = app.topic(topology.alerts.topic, key_serializer="raw", value_serializer="raw")
        self._dead = app.topic(topology.alerts.dead_letter_topic, key_serializer="raw", value_serializer="raw")

    async def alerts(self, records: Sequence[dict[str, Any]]) -> None:
        for record in records:
            key = record.get("fingerprint") or record["monitor"]
            await self._alerts.send(key=key.encode(), value=dumps(record))

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            value = dumps(letter.to_json())
            if len(value) > DEAD_LETTER_MAX_BYTES:  # a payload that grew past the limit once escaped
                value = dumps(letter.to_json(payload_limit=PAYLOAD_PREFIX))
            await self._dead.send(key=letter.monitor.encode(), value=value)

    async def flush(self) -> None:
        """Wait until everything sent so far is on the broker."""
        await self._app.producer.flush()


class FaustSource:
    """A monitor's source topic as this worker's consumer sees it: its assignment, the topic's
    partition count, and offset commits made by stream_guard rather than by Faust."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self.app = app
        self.topic = topic
        self._count: int | None = None
        self._commit_failing = False

    def assigned(self) -> set[int]:
        """The partitions of the topic this worker owns right now (empty before the first assignment)."""
        try:
            return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topic}
        except Exception:  # the consumer does not exist before the worker has started
            return set()

    def owns(self, partition: int) -> bool:
        return partition in self.assigned()

    def high_watermark(self, partition: int) -> int | None:
        """The partition's log end as the consumer's last fetch reported it (None before one)."""
        return _highwater(self.app)(self.topic, partition)

    async def rewind(self, partition: int) -> None:
        """Fetch the partition from offset 0 next (a log that restarted; `runtime/log_restarts.py`)."""
        await self.app.consumer.seek(TP(self.topic, partition), 0)

    def unread_end(self, partition: int) -> int | None:
        """Where the records of the partition this worker has to fold end, as far as its consumer knows: the
        log's end (the high watermark of its last fetch) until the consumer has read that far; then the
        offset after the last record the fetch path handed over (what lies between is transaction markers,
        nothing to fold). None before the first fetch, or when the consumer has read to the log's end with no
        record handed over (all it read was transaction markers)."""
        end = self.high_watermark(partition)
        if end is None:
            return None
        tp = TP(self.topic, partition)
        position = consumer_position(self.app, tp)
        if position is None or position < end:
            return end
        handed = self._handed(tp)
        return None if handed is None else min(end, handed.end)

    def read_from(self, partition: int) -> int | None:
        """Where the consumer began reading the partition since it was given it (records below never come
        to this worker; `core.ownership.unread`): the first offset the fetch path handed over, else the
        consumer's position (where it starts: Kafka's committed offset). None while it has neither."""
        tp = TP(self.topic, partition)
        handed = self._handed(tp)
        return handed.first if handed is not None else consumer_position(self.app, tp)

    def _handed(self, tp: TP) -> Handed | None:
        transport = self.app.transport
        return transport.handed_now(tp) if isinstance(transport, FetchTransport) else None

    def partitions(self) -> int | None:
        """The topic's partition count from the consumer's cluster metadata (every member has it; Faust's
        `topic_partitions` only knows it on the group leader), or None before the consumer has it."""
        try:
            found = kafka_consumer(self.app).partitions_for_topic(self.topic)
        except Exception:  # the consumer does not exist before the worker has started
            found = None
        if found:
            self._count = len(found)
        return self._count

    async def commit(self, offsets: dict[int, int]) -> None:
        """Commit next-offsets-to-read; partitions no longer assigned are left out (their new owner
        reads from what Redis stored)."""
        mine = self.assigned()
        chosen = {TP(self.topic, p): o for p, o in offsets.items() if p in mine}
        if chosen:
            await self._bounded_commit(chosen)

    async def _bounded_commit(self, offsets: dict[TP, int]) -> None:
        """A commit the broker does not take within `COMMIT_TIMEOUT_S` is given up, said once per outage:
        Redis holds the offsets that count (an owner resumes from them), Kafka's are only kept behind them."""
        try:
            await asyncio.wait_for(commit_offsets(self.app, offsets), COMMIT_TIMEOUT_S)
        except TimeoutError:
            if not self._commit_failing:
                log.warning(f"{self.topic}: the broker did not take an offset commit within {COMMIT_TIMEOUT_S:g}s; "
                            f"the offsets stored in Redis are the ones a worker resumes from")
            self._commit_failing = True
            return
        self._commit_failing = False


def faust_credentials(security: KafkaSecurity) -> Any:
    """`broker_credentials` for `faust.App`: SASL or SSL credentials, or None for plaintext."""
    if security.mechanism is not None:
        return faust.SASLCredentials(username=security.username, password=security.password,
                                     mechanism=security.mechanism, ssl_context=security.ssl_context)
    if security.ssl_context is not None:
        return faust.SSLCredentials(security.ssl_context)
    return None


def build_app(topology: Topology, web_port: int | None = None,
              datadir: str | None = None) -> tuple[faust.App, dict[str, MonitorRuntime]]:
    """The Faust app for a topology, and the per-monitor runtimes it drives."""
    security = kafka_security(topology.kafka)
    app = faust.App(
        topology.app,
        broker=security.broker,
        broker_credentials=faust_credentials(security),
        value_serializer="raw",
        store="memory://",
        datadir=datadir or f"/tmp/sg-worker-{topology.app}",
        web_host=topology.web.host,
        web_port=web_port if web_port is not None else topology.web.port,
        web_enabled=True,
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        broker_session_timeout=topology.kafka.session_timeout / 1000,
        broker_heartbeat_interval=topology.kafka.heartbeat_interval / 1000,
        broker_rebalance_timeout=topology.kafka.session_timeout / 1000,
        producer_acks=-1,
        broker_max_poll_records=max(m.source.messages_per_batch() for m in topology.monitors),
    )
    transport = install_fetch_path(app)
    set_fetch_max_wait(app, topology.kafka.fetch_max_wait)
    store = RedisStateStore.for_topology(topology)
    runtimes: dict[str, MonitorRuntime] = {}
    metrics = WorkerMetrics(runtimes, _highwater(app), topology.app, [m.name for m in topology.monitors])
    views = {m.name: MonitorView(m) for m in topology.monitors}
    observer = WorkerObserver(views, metrics, wall_clock_ms)
    publisher = ObservedPublisher(KafkaPublisher(app, topology), observer)
    runtimes.update({m.name: MonitorRuntime(m, topology.state, store, publisher, FaustSource(app, m.source.topic))
                     for m in topology.monitors})
    for runtime in runtimes.values():
        runtime.observer = observer
    registry = _schema_registry(topology)
    for monitor in topology.monitors:
        add_fold_agent(app, transport, monitor, with_schemas(runtimes[monitor.name], registry))
    add_label_agents(app, topology, runtimes, store, publisher, lambda topic: FaustSource(app, topic), transport)

    @app.task
    async def restore_state() -> None:
        await store.ping()
        for runtime in runtimes.values():
            await runtime.start()

    def of_source(runtime: MonitorRuntime, tps: Any) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == runtime.monitor.source.topic}

    # Faust calls signal receivers with (sender, partitions, signal=...)
    async def revoked(*args: Any, **_: Any) -> None:
        for runtime in runtimes.values():
            await runtime.revoked(of_source(runtime, args[1]))

    async def assigned(*args: Any, **_: Any) -> None:
        for runtime in runtimes.values():
            await runtime.assigned(of_source(runtime, args[1]))

    async def flush_all(*_: Any, **__: Any) -> None:
        for runtime in runtimes.values():
            await runtime.flush(deadline=SHUTDOWN_FLUSH_SECONDS)

    # the next owner of a partition, or the next run, must find everything folded so far in Redis
    app.on_partitions_revoked.connect(revoked)
    app.on_partitions_assigned.connect(assigned)
    app.on_before_shutdown.connect(flush_all)

    @app.timer(TICK_SECONDS)
    async def close_due_windows() -> None:
        for runtime in runtimes.values():
            await runtime.tick()

    add_views(app, topology.app, runtimes, views, metrics)
    return app, runtimes


def _schema_registry(topology: Topology) -> RegistryClient | None:
    """The registry client, when a monitor reads a registry format (`run_worker` checks one is configured)."""
    if topology.schema_registry is None or all(m.source.format not in REGISTRY_FORMATS for m in topology.monitors):
        return None
    return RegistryClient(topology.schema_registry)


def _highwater(app: faust.App) -> Callable[[str, int], int | None]:
    """The high watermark of an assigned partition as the consumer last fetched it (None if unknown)."""

    def highwater(topic: str, partition: int) -> int | None:
        try:
            tp = next((tp for tp in app.consumer.assignment() if tp.topic == topic and tp.partition == partition), None)
            return None if tp is None else app.consumer.highwater(tp)
        except Exception:  # the consumer does not exist before the worker has started
            return None

    return highwater


def broker_address(url: str) -> tuple[str, int]:
    """Host and port of the first broker in a `kafka://host:port[,host:port]` URL."""
    first = url.split(",")[0]
    parsed = URL(first if "://" in first else f"kafka://{first}")
    return parsed.host or "127.0.0.1", parsed.port or 9092
