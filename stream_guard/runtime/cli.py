"""The `stream-guard` command line. Exit codes: 0 ok, 1 a service or run failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from stream_guard.core.topology_file import load_topology, with_overrides
from stream_guard.errors import StreamGuardError, TopologyError

EPILOG = """\
examples:
  stream-guard demo --seconds 90                  see it work: broker, Redis, worker, faults, alerts
  stream-guard validate topologies/*.yaml          check topology files (FILE:LINE: message per error)
  stream-guard replay topologies/demo.yaml events.jsonl --alerts-out alerts.jsonl
  stream-guard local up                            a broker and a Redis on loopback for your own worker
  stream-guard worker topologies/demo.yaml --broker kafka://127.0.0.1:9092 --redis redis://127.0.0.1:6379/0
  stream-guard alerts tail topologies/demo.yaml

--broker / --redis override the topology file; so do SG_BROKER / SG_REDIS when the flags are absent.
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except TopologyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except StreamGuardError as exc:
        print(f"stream-guard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream-guard", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Streaming data-quality and drift monitor: feature events on Kafka in, graded alerts out.")
    parser.add_argument("--version", action="version", version=f"stream-guard {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _validate_parser(commands)
    _replay_parser(commands)
    _worker_parser(commands)
    _local_parser(commands)
    _demo_parser(commands)
    _produce_parser(commands)
    _alerts_parser(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stream-guard")
    except PackageNotFoundError:
        return "unknown"


def _command(commands: Any, name: str, help_: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_, description=help_)
    sub.set_defaults(run=run)
    return sub


def _services(sub: argparse.ArgumentParser, redis: bool = True) -> None:
    sub.add_argument("--broker", metavar="URL", help="Kafka bootstrap URL, e.g. kafka://127.0.0.1:9092 (env SG_BROKER)")
    if redis:
        sub.add_argument("--redis", metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0 (env SG_REDIS)")


# validate ---------------------------------------------------------------------------------------

def _validate_parser(commands: Any) -> None:
    sub = _command(commands, "validate", "check topology files; prints FILE:LINE: message per error, exit 2 if any",
                   _validate)
    sub.add_argument("topologies", nargs="+", metavar="TOPOLOGY", type=Path)


def _validate(args: argparse.Namespace) -> int:
    problems: list[str] = []
    for path in args.topologies:
        try:
            topology = load_topology(path)
        except TopologyError as exc:
            problems.extend(exc.problems)
            continue
        features = sum(len(m.all_features()) for m in topology.monitors)
        print(f"{path}: ok ({len(topology.monitors)} monitors, {features} features)")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 2 if problems else 0


# replay -----------------------------------------------------------------------------------------

def _replay_parser(commands: Any) -> None:
    sub = _command(commands, "replay", "run the engine over a .jsonl / .jsonl.gz file, without Kafka or Redis",
                   _replay)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("events", metavar="EVENTS", type=Path, help="one JSON event per line")
    sub.add_argument("--alerts-out", metavar="F", type=Path, help="write alerts as JSON Lines")
    sub.add_argument("--evaluations-out", metavar="F", type=Path, help="write every evaluation as JSON Lines")
    sub.add_argument("--dead-letters-out", metavar="F", type=Path, help="write unusable events as JSON Lines")
    sub.add_argument("--quiet", action="store_true", help="print the summary only, not each alert")


def _replay(args: argparse.Namespace) -> int:
    from stream_guard.replay import replay
    from stream_guard.runtime.console import print_alert

    topology = load_topology(args.topology)
    if not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    console = Console(stderr=True, soft_wrap=True)
    outs = [_jsonl(path) for path in (args.alerts_out, args.evaluations_out, args.dead_letters_out)]

    def on_alert(record: dict[str, Any]) -> None:
        outs[0](record)
        if not args.quiet:
            print_alert(console, record)

    try:
        with console.status("replaying…") as status:
            summary = replay(topology, args.events, on_alert, outs[1], outs[2],
                             progress=lambda n: status.update(f"replaying… {n:,} lines"))
    finally:
        for out in outs:
            out(None)
    _print_replay_summary(console, summary)
    return 0


def _jsonl(path: Path | None) -> Callable[[dict[str, Any] | None], None]:
    """A sink writing one JSON record per line; calling it with None closes the file."""
    if path is None:
        return lambda record: None
    handle = open(path, "wb")

    def write(record: dict[str, Any] | None) -> None:
        if record is None:
            handle.close()
        else:
            handle.write(orjson.dumps(record) + b"\n")

    return write


def _print_replay_summary(console: Console, summary: Any) -> None:
    dead = ", ".join(f"{reason} {n:,}" for reason, n in sorted(summary.dead_letters.items()))
    total_dead = sum(summary.dead_letters.values())
    alerts = ", ".join(f"{n} {sev} {status}" for (status, sev), n in sorted(summary.alerts.items())) or "none"
    console.print(f"{summary.lines:,} lines: {summary.consumed:,} events read, {summary.folded:,} folded, "
                  f"{total_dead:,} dead letters" + (f" ({dead})" if dead else ""))
    console.print(f"{summary.windows} windows evaluated ({summary.evaluations:,} checks, "
                  f"{summary.evaluated_events:,} events); alerts: {alerts}")
    if summary.open_windows:
        console.print(f"{summary.open_windows} window(s) still open at the end of the file, not evaluated "
                      f"({summary.open_events:,} events; their end plus grace was not reached)", style="dim")


# worker -----------------------------------------------------------------------------------------

def _worker_parser(commands: Any) -> None:
    sub = _command(commands, "worker", "run a worker: consume the sources, keep state in Redis, publish alerts",
                   _worker)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    _services(sub)
    sub.add_argument("--web-port", type=int, metavar="N", help="port of /status (default: the topology's, 6066)")
    sub.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])


def _worker(args: argparse.Namespace) -> int:
    from stream_guard.runtime.worker import run_worker

    topology = with_overrides(load_topology(args.topology), args.broker, args.redis)
    run_worker(topology, args.web_port, args.loglevel)
    return 0


# local up ---------------------------------------------------------------------------------------

def _local_parser(commands: Any) -> None:
    local = commands.add_parser("local", help="the embedded local stack (broker + Redis on loopback)",
                                description="the embedded local stack (broker + Redis on loopback)")
    actions = local.add_subparsers(title="actions", metavar="ACTION")
    sub = _command(actions, "up", "start a Kafka-protocol broker and a real Redis on loopback until Ctrl-C", _local_up)
    sub.add_argument("--broker-port", type=int, metavar="N", help="default: a free port")
    sub.add_argument("--redis-port", type=int, metavar="N", help="default: a free port")
    sub.add_argument("--topology", type=Path, metavar="F", help="also create the topics this topology uses")


def _local_up(args: argparse.Namespace) -> int:
    import time

    from stream_guard.runtime.local_stack import create_topics, local_stack

    with local_stack(args.broker_port, args.redis_port) as stack:
        if args.topology:
            topology = load_topology(args.topology)
            create_topics(stack.bootstrap(), _topics_of(topology))
        print(f"broker  {stack.broker_url}\nredis   {stack.redis_url}", flush=True)
        print(f"export SG_BROKER={stack.broker_url} SG_REDIS={stack.redis_url}", flush=True)
        print("press Ctrl-C to stop (logs in " + str(stack.workdir) + ")", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _topics_of(topology: Any) -> dict[str, int]:
    topics = {m.source.topic: m.source.partitions for m in topology.monitors}
    topics.update({topology.alerts.topic: 1, topology.alerts.dead_letter_topic: 1})
    return topics


# demo -------------------------------------------------------------------------------------------

def _demo_parser(commands: Any) -> None:
    sub = _command(commands, "demo", "all-in-one: broker + Redis + worker + traffic with scripted faults; "
                   "shows alerts live", _demo)
    sub.add_argument("--seconds", type=float, default=90, metavar="N", help="stop after N seconds (default 90)")
    sub.add_argument("--no-faults", action="store_true", help="the same traffic with no fault injected")
    sub.add_argument("--alerts-out", type=Path, metavar="F", help="write the alerts as JSON Lines")
    sub.add_argument("--events-out", type=Path, metavar="F", help="write the events produced, to replay later")
    sub.add_argument("--speed", type=float, default=15, metavar="X",
                     help="event time runs X times faster than the clock (default 15: a 1m window every 4s)")
    sub.add_argument("--events-per-window", type=int, default=1200, metavar="N")
    sub.add_argument("--topology", type=Path, default=None, metavar="F", help="default: topologies/demo.yaml")


def _demo(args: argparse.Namespace) -> int:
    from stream_guard.runtime.demo import DemoOptions, run_demo

    path = args.topology or demo_topology_path()
    options = DemoOptions(path, args.seconds, not args.no_faults, args.speed, args.events_per_window,
                          args.alerts_out, args.events_out)
    return run_demo(load_topology(path), options, Console(soft_wrap=True))


def demo_topology_path() -> Path:
    """`topologies/demo.yaml` of the working directory, else of the source tree this package runs from."""
    local = Path("topologies/demo.yaml")
    return local if local.is_file() else Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"


# produce ----------------------------------------------------------------------------------------

def _produce_parser(commands: Any) -> None:
    sub = _command(commands, "produce", "send a .jsonl / .jsonl.gz file to a monitor's source topic", _produce)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("events", metavar="EVENTS", type=Path)
    sub.add_argument("--rate", type=float, metavar="N", help="messages per second (default: as fast as possible)")
    sub.add_argument("--monitor", metavar="M", help="whose source topic (default: the first monitor's)")
    _services(sub, redis=False)


def _produce(args: argparse.Namespace) -> int:
    from stream_guard.replay import open_events
    from stream_guard.runtime.kafka_io import produce

    topology = with_overrides(load_topology(args.topology), args.broker)
    monitor = topology.monitor(args.monitor) if args.monitor else topology.monitors[0]
    if not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    console = Console(stderr=True, soft_wrap=True)
    with open_events(args.events) as handle, console.status("producing…") as status:
        lines = (line.rstrip(b"\r\n") for line in handle)
        sent = produce(topology.kafka.broker, monitor.source.topic, lines, args.rate,
                       on_progress=lambda n: status.update(f"producing… {n:,} messages"))
    console.print(f"{sent:,} messages sent to {monitor.source.topic}")
    return 0


# alerts tail ------------------------------------------------------------------------------------

def _alerts_parser(commands: Any) -> None:
    alerts = commands.add_parser("alerts", help="read the alert topic", description="read the alert topic")
    actions = alerts.add_subparsers(title="actions", metavar="ACTION")
    sub = _command(actions, "tail", "print alerts as they arrive on the topology's alert topic", _alerts_tail)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("--from-beginning", action="store_true", help="start at the oldest alert on the topic")
    sub.add_argument("--json", action="store_true", help="print the raw alert records, one per line")
    sub.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without a new alert")
    _services(sub, redis=False)


def _alerts_tail(args: argparse.Namespace) -> int:
    from stream_guard.runtime.console import print_alert
    from stream_guard.runtime.kafka_io import records
    from stream_guard.runtime.preflight import check_broker

    topology = with_overrides(load_topology(args.topology), args.broker)
    check_broker(topology.kafka.broker)
    console = Console(soft_wrap=True)
    for record in records(topology.kafka.broker, topology.alerts.topic, args.from_beginning, args.idle_exit):
        if args.json:
            sys.stdout.write(orjson.dumps(record).decode() + "\n")
            sys.stdout.flush()
        elif record.get("schema") == "stream_guard.alert/v1":
            print_alert(console, record)
    return 0
