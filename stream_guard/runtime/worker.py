"""`stream-guard worker`: check the services, build the Faust app, run it until stopped."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import faust

from stream_guard.adapters.credentials import redis_options
from stream_guard.core.topology.schema_registry import REGISTRY_FORMATS
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import StreamGuardError
from stream_guard.offline.references import snapshots_for
from stream_guard.runtime.app import build_app
from stream_guard.runtime.preflight import check_broker, check_redis


def run_worker(topology: Topology, web_port: int | None, loglevel: str = "info",
               topology_path: Path | None = None) -> None:
    """Run one worker for every monitor of the topology; returns when the worker stops."""
    needs_registry = [m.name for m in topology.monitors if m.source.format in REGISTRY_FORMATS]
    if needs_registry and topology.schema_registry is None:
        raise StreamGuardError(f"monitor {needs_registry[0]} reads records in the Confluent wire format: give the "
                               "Schema Registry as schema_registry: {url: ...} in the topology, --schema-registry "
                               "URL or SG_SCHEMA_REGISTRY")
    check_broker(topology.kafka.broker)
    check_redis(topology.redis.url, options=redis_options(topology.redis))
    # snapshot references are found (or built from their file) before Faust starts, so a missing one
    # is a one-line error rather than a crashed worker
    snapshots = asyncio.run(snapshots_for(topology, topology_path or Path("topology.yaml")))
    app, runtimes = build_app(topology, web_port=web_port,
                              datadir=tempfile.mkdtemp(prefix=f"sg-worker-{topology.app}-"))
    for name, snapshot in snapshots.items():
        runtimes[name].engine.snapshot = snapshot
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
