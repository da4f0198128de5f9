"""`stream-guard worker`: check the services, build the Faust app, run it until stopped."""

from __future__ import annotations

import tempfile

import faust

from stream_guard.core.config import Topology
from stream_guard.runtime.app import build_app
from stream_guard.runtime.preflight import check_broker, check_redis


def run_worker(topology: Topology, web_port: int | None, loglevel: str = "info") -> None:
    """Run one worker for every monitor of the topology; returns when the worker stops."""
    check_broker(topology.kafka.broker)
    check_redis(topology.redis.url)
    app, _ = build_app(topology, web_port=web_port,
                       datadir=tempfile.mkdtemp(prefix=f"sg-worker-{topology.app}-"))
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
