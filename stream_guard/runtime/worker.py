"""`stream-guard worker`: check the services, build the Faust app, run it until stopped."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import faust

from stream_guard.adapters.credentials import kafka_security, redis_options
from stream_guard.core.topology.config import Topology
from stream_guard.offline.references import snapshots_for
from stream_guard.runtime.app import broker_address, build_app
from stream_guard.runtime.broker_watch import BrokerWatch
from stream_guard.runtime.log_summary import RepeatSummary, summarise
from stream_guard.runtime.preflight import check_broker, check_redis

log = logging.getLogger("stream_guard.worker")
def run_worker(topology: Topology, web_port: int | None, loglevel: str = "info",
               topology_path: Path | None = None) -> None:
    """Run one worker for every monitor of the topology; returns when the worker stops."""
    check_broker(topology.kafka.broker)
    check_redis(topology.redis.url, options=redis_options(topology.redis))
    # snapshot references are found (or built from their file) before Faust starts, so a missing one
    # is a one-line error rather than a crashed worker
    snapshots = asyncio.run(snapshots_for(topology, topology_path or Path("topology.yaml")))
    app, runtimes = build_app(topology, web_port=web_port,
                              datadir=tempfile.mkdtemp(prefix=f"sg-worker-{topology.app}-"))
    for name, snapshot in snapshots.items():
        runtimes[name].engine.snapshot = snapshot
    watch = watch_broker(topology)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        watch.stop()


def watch_broker(topology: Topology) -> BrokerWatch:
    """Summarise the Kafka client's repeated errors and say when the broker goes and comes back."""
    summary = RepeatSummary()
    summarise(summary)
    security = kafka_security(topology.kafka)
    host, port = broker_address(security.broker)

    def summarised() -> str:
        held = summary.take_suppressed()
        return f" ({held:,} repeated Kafka client errors were summarised meanwhile)" if held else ""

    watch = BrokerWatch(topology.kafka.broker, host, port, security.ssl_context, on_back=summarised)
    watch.start()
    return watch
