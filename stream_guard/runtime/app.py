"""The Faust app factory: one thin agent per monitor, a timer, and the `/status` page.

Nothing is created at import time; `build_app` makes the app from a loaded topology.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import faust
from yarl import URL

from stream_guard.adapters.credentials import kafka_security
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.alerts import dumps
from stream_guard.core.config import MonitorSpec, Topology
from stream_guard.core.events import PAYLOAD_PREFIX, DeadLetter, RawRecord
from stream_guard.runtime.faust_tuning import set_fetch_max_wait
from stream_guard.runtime.monitor_runtime import MonitorRuntime

TICK_SECONDS = 0.25
DEAD_LETTER_MAX_BYTES = 900_000  # under the producer's 1 MB request limit, with room for the envelope


class KafkaPublisher:
    """Sends alerts (keyed by fingerprint), digests and dead letters (keyed by monitor) through Faust's producer."""

    def __init__(self, app: faust.App, topology: Topology) -> None:
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


def build_app(topology: Topology, web_port: int | None = None,
              datadir: str | None = None) -> tuple[faust.App, dict[str, MonitorRuntime]]:
    """The Faust app for a topology, and the per-monitor runtimes it drives."""
    security = kafka_security(topology.kafka)
    app = faust.App(
        topology.app,
        broker=security.broker,
        broker_credentials=security.faust_credentials(),
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
    )
    set_fetch_max_wait(app, topology.kafka.fetch_max_wait)
    store = RedisStateStore.for_topology(topology)
    publisher = KafkaPublisher(app, topology)
    runtimes = {m.name: MonitorRuntime(m, topology.state, store, publisher, _assignment(app, m.source.topic))
                for m in topology.monitors}
    for monitor in topology.monitors:
        _add_agent(app, monitor, runtimes[monitor.name])

    @app.task
    async def restore_state() -> None:
        await store.ping()
        for runtime in runtimes.values():
            await runtime.start()

    async def flush_all(*_: Any, **__: Any) -> None:
        for runtime in runtimes.values():
            await runtime.flush()

    # the next owner of a partition, or the next run, must find everything folded so far in Redis
    app.on_partitions_revoked.connect(flush_all)
    app.on_before_shutdown.connect(flush_all)

    @app.timer(TICK_SECONDS)
    async def close_due_windows() -> None:
        for runtime in runtimes.values():
            await runtime.tick()

    @app.page("/status")
    async def status(web: Any, request: Any) -> Any:
        return web.json({"app": topology.app,
                         "monitors": {name: r.status() for name, r in runtimes.items()}})

    return app, runtimes


def _add_agent(app: faust.App, monitor: MonitorSpec, runtime: MonitorRuntime) -> None:
    topic = app.topic(monitor.source.topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    size, within = monitor.source.messages_per_batch(), monitor.source.batch_within / 1000

    async def fold(stream: Any) -> None:
        async for events in stream.take_events(size, within=within):
            await runtime.on_records([_raw(e.message) for e in events])

    app.agent(topic, name=f"stream_guard.fold.{monitor.name}")(fold)


def _assignment(app: faust.App, topic: str) -> Callable[[], set[int]]:
    """The partitions of `topic` this worker owns right now (empty before the first assignment)."""

    def assigned() -> set[int]:
        try:
            return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}
        except Exception:  # the consumer does not exist before the worker has started
            return set()

    return assigned


def _raw(message: Any) -> RawRecord:
    return RawRecord(message.value, message.partition, message.offset, message.topic)


def broker_address(url: str) -> tuple[str, int]:
    """Host and port of the first broker in a `kafka://host:port[,host:port]` URL."""
    first = url.split(",")[0]
    parsed = URL(first if "://" in first else f"kafka://{first}")
    return parsed.host or "127.0.0.1", parsed.port or 9092
