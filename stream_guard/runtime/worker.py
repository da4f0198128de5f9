"""`stream-guard worker`: check the services, build the Faust app, run it until stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

import faust
from kafka.errors import KafkaError

from stream_guard.adapters import kafka_io
from stream_guard.adapters.credentials import kafka_security, redis_options
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.schema_registry import REGISTRY_FORMATS
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import StreamGuardError
from stream_guard.offline.references import reference_file_problems, snapshots_for
from stream_guard.runtime.app import broker_address, build_app
from stream_guard.runtime.broker_watch import BrokerWatch
from stream_guard.runtime.log_summary import RepeatSummary, summarise
from stream_guard.runtime.preflight import check_broker, check_redis

log = logging.getLogger("stream_guard.worker")
STOP_LIMIT_S = 14.0   # a stop signal ends the process within this, whatever the broker does (docs: under 15 s)


class BoundedStopWorker(faust.Worker):
    """A Faust worker whose stop on a signal cannot outlast `STOP_LIMIT_S`: with the broker gone, the
    Kafka client's own shutdown can wait a minute for requests that will never be answered."""

    _stop_limit: threading.Timer | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._stop_limit is None:
            self._stop_limit = threading.Timer(STOP_LIMIT_S, _exit_now, args=(signal,))
            self._stop_limit.daemon = True
            self._stop_limit.start()
        super()._schedule_shutdown(signal)

    def cancel_stop_limit(self) -> None:
        """The stop finished in time: the limit need not end the process."""
        if self._stop_limit is not None:
            self._stop_limit.cancel()
            self._stop_limit.join()


def _exit_now(received: signal.Signals) -> None:
    log.warning(f"stopping on {received.name} took over {STOP_LIMIT_S:g}s (the Kafka client is still waiting for "
                f"the broker); exiting now: what Redis stored is kept, the rest is read again from Kafka")
    logging.shutdown()
    os._exit(0)


def run_worker(topology: Topology, web_port: int | None, loglevel: str = "info",
               topology_path: Path | None = None) -> None:
    """Run one worker for every monitor of the topology; returns when the worker stops."""
    needs_registry = [m.name for m in topology.monitors if m.source.format in REGISTRY_FORMATS]
    if needs_registry and topology.schema_registry is None:
        raise StreamGuardError(f"monitor {needs_registry[0]} reads records in the Confluent wire format: give the "
                               "Schema Registry as schema_registry: {url: ...} in the topology, --schema-registry "
                               "URL or SG_SCHEMA_REGISTRY")
    missing = reference_file_problems(topology, topology_path or Path("topology.yaml"))
    if missing:   # before the services: the fix is in the topology, whatever they say
        raise StreamGuardError(missing[0])
    check_broker(topology.kafka.broker)
    check_redis(topology.redis.url, options=redis_options(topology.redis))
    print(startup_line(topology, web_port), file=sys.stderr, flush=True)
    _warn_of_missing_topics(topology)
    # snapshot references are found (or built from their file) before Faust starts, so a missing one
    # is a one-line error rather than a crashed worker
    snapshots = asyncio.run(snapshots_for(topology, topology_path or Path("topology.yaml")))
    app, runtimes = build_app(topology, web_port=web_port,
                              datadir=tempfile.mkdtemp(prefix=f"sg-worker-{topology.app}-"))
    for name, found in snapshots.items():
        runtimes[name].engine.use_snapshots(found)
    watch = watch_broker(topology)
    for runtime in runtimes.values():   # a partition's silence while the broker is away does not make it idle
        runtime.reading_blocked = watch.unreachable
    threading.excepthook = _log_thread_death
    worker = BoundedStopWorker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        worker.cancel_stop_limit()
        watch.stop()


def startup_line(topology: Topology, web_port: int | None) -> str:
    """What a person starting a worker needs first: what it reads, where, and where its status page is
    (Faust's own start-up lines name none of these)."""
    monitors = ", ".join(m.name for m in topology.monitors)
    port = web_port if web_port is not None else topology.web.port
    return (f"stream-guard worker: app {topology.app}, monitors {monitors}; broker {redacted(topology.kafka.broker)}, "
            f"Redis {redacted(topology.redis.url)}; status page http://{topology.web.host}:{port}/ "
            f"(JSON /status, Prometheus /metrics)")


def missing_topics_line(missing: list[str], broker: str) -> str:
    """The warning for topics the broker does not have yet (tests/unit/test_worker_startup.py has it whole).

    >>> missing_topics_line(["a", "b"], "kafka://h:9092")[:76]
    'stream-guard worker: topics a, b are not on the broker at kafka://h:9092 yet'
    """
    names = ", ".join(missing)
    which = f"topic {names} is" if len(missing) == 1 else f"topics {names} are"
    it = "it" if len(missing) == 1 else "them"
    return (f"stream-guard worker: {which} not on the broker at {redacted(broker)} yet; the worker creates no "
            f"topic: create {it} with the partitions you want (stream-guard local up --topology F does, on the "
            "local stack). A broker that creates topics on first use gives them its default partition count.")


def _warn_of_missing_topics(topology: Topology) -> None:
    try:
        missing = kafka_io.missing_topics(topology.kafka.broker, sorted(topology.topics()),
                                          kafka_security(topology.kafka))
    except (KafkaError, OSError, ValueError):
        return   # a best-effort warning: the broker watch says when the broker cannot be reached
    if missing:
        print(missing_topics_line(missing, topology.kafka.broker), file=sys.stderr, flush=True)


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


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    # the default hook prints the traceback to stderr, which Faust turns into a WARNING line per write
    name = args.thread.name if args.thread else "a thread"
    detail = f": {args.exc_value}" if str(args.exc_value) else ""
    log.warning(f"thread {name} ended with {args.exc_type.__name__}{detail}")
