"""`stream-guard worker`, `local up` and `demo`: the running services."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from stream_guard.cli.common import command, registry_flag, service_flags, usage
from stream_guard.core.topology.file import load_topology, with_overrides

# worker -----------------------------------------------------------------------------------------

def worker_parser(commands: Any) -> None:
    sub = command(commands, "worker", "run a worker: consume the sources, keep state in Redis, publish alerts",
                  _worker)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    service_flags(sub)
    registry_flag(sub)
    sub.add_argument("--web-port", type=int, metavar="N", help="port of /status (default: the topology's, 6066)")
    sub.add_argument("--web-host", metavar="ADDR",
                     help="address /status listens on (default: the topology's web.host, 127.0.0.1); "
                          "0.0.0.0 in a container")
    sub.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"],
                     help="how much the worker logs (default info: a line per closed window and per partition "
                          "every minute)")


def _worker(args: argparse.Namespace) -> int:
    from stream_guard.runtime.worker import run_worker

    topology = with_overrides(load_topology(args.topology), args.broker, args.redis)
    topology = topology.with_schema_registry(args.schema_registry)
    if args.web_host:
        topology = topology.model_copy(update={"web": topology.web.model_copy(update={"host": args.web_host})})
    run_worker(topology, args.web_port, args.loglevel, topology_path=args.topology)
    return 0


# local up ---------------------------------------------------------------------------------------

def local_parser(commands: Any) -> None:
    local = commands.add_parser("local", help="the embedded local stack (broker + Redis on loopback)",
                                description="the embedded local stack (broker + Redis on loopback)")
    actions = local.add_subparsers(title="actions", metavar="ACTION")
    local.set_defaults(run=lambda args: usage(local))
    sub = command(actions, "up", "start a Kafka-protocol broker and a real Redis on loopback until Ctrl-C", _local_up)
    sub.add_argument("--broker-port", type=int, metavar="N", help="default: a free port")
    sub.add_argument("--redis-port", type=int, metavar="N", help="default: a free port")
    sub.add_argument("--topology", type=Path, metavar="F", help="also create the topics this topology uses")


def _local_up(args: argparse.Namespace) -> int:
    from stream_guard.runtime.local_stack import create_topics, local_stack, serve_until_stopped, stop_signals_interrupt

    with stop_signals_interrupt(), local_stack(args.broker_port, args.redis_port) as stack:
        topics = load_topology(args.topology).topics() if args.topology else {}
        if topics:
            create_topics(stack.bootstrap(), topics)
        print(f"broker  {stack.broker_url}\nredis   {stack.redis_url}", flush=True)
        print(f"export SG_BROKER={stack.broker_url} SG_REDIS={stack.redis_url}", flush=True)
        print(topics_line(topics), flush=True)
        print("press Ctrl-C to stop (logs in " + str(stack.workdir) + ")", flush=True)
        serve_until_stopped()
    return 0


def topics_line(topics: dict[str, int]) -> str:
    """What `local up` created, or that a worker will need its topics created (it creates none).

    >>> print(topics_line({"fraud.features": 3, "stream-guard.alerts": 1}))
    topics  fraud.features (3 partitions), stream-guard.alerts (1 partition)
    >>> print(topics_line({}))
    topics  none created: pass --topology F to create a topology's source, label, alert and dead-letter topics
    """
    if not topics:
        return ("topics  none created: pass --topology F to create a topology's source, label, alert and "
                "dead-letter topics")
    return "topics  " + ", ".join(f"{name} ({n} partition{'s' if n != 1 else ''})" for name, n in topics.items())


# demo -------------------------------------------------------------------------------------------

def demo_parser(commands: Any) -> None:
    sub = command(commands, "demo", "all-in-one: broker + Redis + worker + traffic with scripted faults; "
                  "shows alerts live", _demo)
    sub.add_argument("--seconds", type=float, default=90, metavar="N", help="stop after N seconds (default 90)")
    sub.add_argument("--no-faults", action="store_true", help="the same traffic with no fault injected")
    sub.add_argument("--alerts-out", type=Path, metavar="F", help="write the alerts as JSON Lines")
    sub.add_argument("--events-out", type=Path, metavar="F", help="write the events produced, to replay later")
    sub.add_argument("--speed", type=float, default=15, metavar="X",
                     help="event time runs X times faster than the clock (default 15: a 1m window every 4s)")
    sub.add_argument("--events-per-window", type=int, default=1200, metavar="N",
                     help="events produced per one-minute window (default 1200)")
    sub.add_argument("--topology", type=Path, default=None, metavar="F", help="default: topologies/demo.yaml")


def _demo(args: argparse.Namespace) -> int:
    from stream_guard.runtime.demo import DemoOptions, run_demo
    from stream_guard.runtime.local_stack import stop_signals_interrupt

    path = args.topology or demo_topology_path()
    options = DemoOptions(path, args.seconds, not args.no_faults, args.speed, args.events_per_window,
                          args.alerts_out, args.events_out)
    with stop_signals_interrupt():   # SIGTERM/SIGHUP stop the worker, broker and Redis as Ctrl-C does
        return run_demo(load_topology(path), options, Console(soft_wrap=True))


def demo_topology_path() -> Path:
    """`topologies/demo.yaml` of the working directory, else of the source tree this package runs from."""
    local = Path("topologies/demo.yaml")
    return local if local.is_file() else Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
