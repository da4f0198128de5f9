"""The `stream-guard` command line. Exit codes: 0 ok, 1 a service or run failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stream_guard.core.alerting.alerts import iso
from stream_guard.core.topology.file import load_topology, with_overrides
from stream_guard.errors import StreamGuardError, TopologyError

EPILOG = """\
examples:
  stream-guard demo --seconds 90                  see it work: broker, Redis, worker, faults, alerts
  stream-guard validate topologies/*.yaml          check topology files (FILE:LINE: message per error)
  stream-guard replay topologies/demo.yaml events.jsonl --alerts-out alerts.jsonl
  stream-guard local up                            a broker and a Redis on loopback for your own worker
  stream-guard worker topologies/demo.yaml --broker kafka://127.0.0.1:9092 --redis redis://127.0.0.1:6379/0
  stream-guard alerts tail topologies/demo.yaml --no-digests
  stream-guard forward topologies/demo.yaml --alertmanager http://alertmanager:9093
  stream-guard calibrate topologies/demo.yaml clean.jsonl     thresholds from clean history, as YAML
  stream-guard reference build topologies/demo.yaml train.parquet --name train-v1
  stream-guard history topologies/demo.yaml --feature amount   recent check values as sparklines

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
    _calibrate_parser(commands)
    _reference_parser(commands)
    _history_parser(commands)
    _worker_parser(commands)
    _local_parser(commands)
    _demo_parser(commands)
    _produce_parser(commands)
    _alerts_parser(commands)
    _forward_parser(commands)
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
    sub.add_argument("--digests-out", metavar="F", type=Path,
                     help="write the window digests (one per window with anything firing) as JSON Lines")
    sub.add_argument("--report", metavar="F", type=Path,
                     help="write a self-contained HTML report: every window's grades, alerts, distribution plots")
    sub.add_argument("--quiet", action="store_true", help="print the summary only, not each alert")
    sub.add_argument("--redis", metavar="URL",
                     help="where stored snapshot references are read from (env SG_REDIS; else the topology's)")


def _replay(args: argparse.Namespace) -> int:
    from stream_guard.offline.replay import replay
    from stream_guard.views.console import print_alert
    from stream_guard.views.report import ReportBuilder

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    if not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    console = Console(stderr=True, soft_wrap=True)
    snapshots = _snapshots(topology, args.topology, console)
    report = ReportBuilder(f"stream_guard replay of {args.events.name} through {args.topology.name}") \
        if args.report else None
    outs = [_jsonl(path) for path in (args.alerts_out, args.evaluations_out, args.dead_letters_out, args.digests_out)]

    def on_alert(record: dict[str, Any]) -> None:
        outs[0](record)
        if not args.quiet:
            print_alert(console, record)

    try:
        with console.status("replaying…") as status:
            summary = replay(topology, args.events, on_alert, outs[1], outs[2],
                             progress=lambda n: status.update(f"replaying… {n:,} lines"), on_digest=outs[3],
                             snapshots=snapshots, on_window=report.on_window if report else None)
    finally:
        for out in outs:
            out(None)
    _print_replay_summary(console, summary)
    if report is not None:
        args.report.write_text(report.render(), encoding="utf-8")
        console.print(f"report written to {args.report}")
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
                  f"{summary.evaluated_events:,} events); alerts: {alerts}; {summary.digests} window digests")
    if summary.open_windows:
        console.print(f"{summary.open_windows} window(s) still open at the end of the file, not evaluated "
                      f"({summary.open_events:,} events; their end plus grace was not reached)", style="dim")


# calibrate --------------------------------------------------------------------------------------

def _calibrate_parser(commands: Any) -> None:
    sub = _command(commands, "calibrate",
                   "propose check thresholds from clean history for a target false-alarm rate", _calibrate)
    sub.description = (
        "Replay EVENTS (history believed clean) through TOPOLOGY, collect every check's values and print\n"
        "thresholds as topology YAML to paste under the monitor: warning where clean windows would cross\n"
        "it at --rate per window and feature, critical at a hundredth of that. Progress goes to stderr.")
    sub.formatter_class = argparse.RawDescriptionHelpFormatter
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("events", metavar="EVENTS", type=Path, help="clean history: one JSON event per line")
    sub.add_argument("--rate", type=float, default=0.001, metavar="R",
                     help="warnings per window per feature on clean data (default 0.001: one in 1,000)")
    sub.add_argument("--out", type=Path, metavar="F", help="write the YAML to F instead of standard output")


def _calibrate(args: argparse.Namespace) -> int:
    from stream_guard.offline.calibrate import as_yaml, propose
    from stream_guard.offline.replay import replay

    if not 0 < args.rate < 0.5:
        raise StreamGuardError(f"--rate {args.rate} must be between 0 and 0.5, e.g. 0.001")
    topology = with_overrides(load_topology(args.topology))
    if not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    console = Console(stderr=True, soft_wrap=True)
    evaluations: list[dict[str, Any]] = []
    with console.status("replaying…") as status:
        summary = replay(topology, args.events, lambda record: None, evaluations.append, lambda record: None,
                         progress=lambda n: status.update(f"replaying… {n:,} lines"),
                         snapshots=_snapshots(topology, args.topology, console))
    _print_replay_summary(console, summary)
    text = as_yaml(propose(evaluations, args.rate), args.events.name, summary.windows, args.rate)
    if args.out:
        args.out.write_text(text)
        console.print(f"thresholds written to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def _snapshots(topology: Any, path: Path, console: Console) -> dict[str, Any]:
    """Snapshot references for replay and calibrate: built from `file:` now, or read from Redis."""
    import asyncio

    from stream_guard.offline.references import snapshots_for

    if not any(m.reference.kind == "snapshot" for m in topology.monitors):
        return {}
    with console.status("loading snapshot references…"):
        return asyncio.run(snapshots_for(topology, path))


# reference --------------------------------------------------------------------------------------

def _reference_parser(commands: Any) -> None:
    group = commands.add_parser(
        "reference", help="snapshot references: build one from a file, list, show, delete",
        description="Snapshot references are named, immutable profiles of a data set (a training set, say), "
                    "stored in Redis per monitor. A monitor compares with one through "
                    "`reference: {kind: snapshot, name: NAME}`.")
    actions = group.add_subparsers(title="actions", metavar="ACTION")
    build = _command(actions, "build", "profile a file (.jsonl, .jsonl.gz, .csv, .parquet) and store it",
                     _reference_build)
    build.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file")
    build.add_argument("file", metavar="FILE", type=Path,
                       help="rows with the monitor's fields, by field path (features.amount) or feature name")
    build.add_argument("--name", required=True, help="the snapshot's name, e.g. train-2026-11")
    build.add_argument("--monitor", metavar="M", help="whose features (default: the only monitor)")
    build.add_argument("--redis", metavar="URL", help="Redis URL (env SG_REDIS; else the topology's)")
    for action, help_, run in (("list", "list the stored snapshots", _reference_list),
                               ("show", "one snapshot: source, rows, and each feature's profile", _reference_show),
                               ("delete", "delete a stored snapshot", _reference_delete)):
        sub = _command(actions, action, help_, run)
        sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file")
        if action != "list":
            sub.add_argument("name", metavar="NAME")
        sub.add_argument("--monitor", metavar="M", help="whose snapshots (default: every monitor's)"
                         if action == "list" else "whose snapshot (default: the only monitor)")
        sub.add_argument("--redis", metavar="URL", help="Redis URL (env SG_REDIS; else the topology's)")
    group.set_defaults(run=lambda args: _usage(group))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _one_monitor(topology: Any, name: str | None) -> Any:
    if name:
        try:
            return topology.monitor(name)
        except KeyError as exc:
            raise StreamGuardError(str(exc.args[0])) from None
    if len(topology.monitors) > 1:
        raise StreamGuardError(f"the topology has {len(topology.monitors)} monitors; choose one with --monitor "
                               f"({', '.join(m.name for m in topology.monitors)})")
    return topology.monitors[0]


def _snapshot_store(topology: Any) -> Any:
    from stream_guard.adapters.redis_store import RedisStateStore, SnapshotStore
    return SnapshotStore(RedisStateStore.for_topology(topology))


def _on_redis(state: Any, call: Any) -> Any:
    """Run `call()` (a coroutine function) once Redis answers (else ServiceUnreachable naming the URL),
    closing the connection however it ends."""
    import asyncio

    async def run() -> Any:
        try:
            await state.ping()
            return await call()
        finally:
            await state.close()

    return asyncio.run(run())


def _reference_build(args: argparse.Namespace) -> int:

    from stream_guard.offline.references import build_from_file

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = _one_monitor(topology, args.monitor)
    console = Console(stderr=True, soft_wrap=True)
    with console.status("profiling…") as status:
        snapshot, report = build_from_file(monitor, args.file, args.name,
                                           progress=lambda n: status.update(f"profiling… {n:,} rows"))
    store = _snapshot_store(topology)

    if not _on_redis(store.state, lambda: store.save(monitor.name, snapshot)):
        raise StreamGuardError(f"monitor {monitor.name} already has a snapshot named {args.name!r}; snapshots never "
                               f"change: delete it first (stream-guard reference delete) or choose another name")
    skipped = f"; {report.skipped:,} rows skipped ({'; '.join(report.examples)})" if report.skipped else ""
    console.print(f"snapshot {args.name!r} of monitor {monitor.name}: {snapshot.rows:,} rows of {args.file.name}, "
                  f"{len(snapshot.profile.features)} features{skipped}")
    return 0


def _reference_list(args: argparse.Namespace) -> int:

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitors = [_one_monitor(topology, args.monitor)] if args.monitor else topology.monitors
    store = _snapshot_store(topology)

    async def read() -> list[tuple[str, Any]]:
        return [(m.name, s) for m in monitors for s in await store.all(m.name)]

    found = _on_redis(store.state, read)
    if not found:
        print("no snapshots stored")
        return 0
    table = Table("monitor", "name", "rows", "source", "created")
    for monitor, snapshot in found:
        table.add_row(monitor, snapshot.name, f"{snapshot.rows:,}", snapshot.source, iso(snapshot.created_at))
    Console(soft_wrap=True).print(table)
    return 0


def _reference_show(args: argparse.Namespace) -> int:

    from stream_guard.core.profiles.profile import NumericProfile

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = _one_monitor(topology, args.monitor)
    store = _snapshot_store(topology)

    snapshot = _on_redis(store.state, lambda: store.load(monitor.name, args.name))
    if snapshot is None:
        raise StreamGuardError(f"monitor {monitor.name} has no snapshot named {args.name!r}")
    console = Console(soft_wrap=True)
    console.print(f"snapshot {snapshot.name!r} of monitor {monitor.name}: {snapshot.rows:,} rows of "
                  f"{snapshot.source}, built {iso(snapshot.created_at)}")
    table = Table("feature", "values", "missing", "invalid", "profile")
    for name, feature in sorted(snapshot.profile.features.items()):
        if isinstance(feature, NumericProfile):
            q = feature.sketch.get_quantiles([0.05, 0.5, 0.95]) if feature.n else [float("nan")] * 3
            shape = f"mean {feature.mean():.4g}, p5 {q[0]:.4g}, median {q[1]:.4g}, p95 {q[2]:.4g}"
        else:
            top = sorted(feature.frequencies().items(), key=lambda kv: -kv[1])[:4]
            shape = ", ".join(f"{v} {n / max(feature.n, 1):.0%}" for v, n in top)
        table.add_row(name, f"{feature.n:,}", f"{feature.missing:,}", f"{feature.invalid:,}", shape)
    console.print(table)
    return 0


def _reference_delete(args: argparse.Namespace) -> int:

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = _one_monitor(topology, args.monitor)
    store = _snapshot_store(topology)

    if not _on_redis(store.state, lambda: store.delete(monitor.name, args.name)):
        raise StreamGuardError(f"monitor {monitor.name} has no snapshot named {args.name!r}")
    print(f"deleted snapshot {args.name!r} of monitor {monitor.name}")
    return 0


# history ----------------------------------------------------------------------------------------

SPARKS = "▁▂▃▄▅▆▇█"
SEVERITY_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "critical": "bold red"}


def _history_parser(commands: Any) -> None:
    sub = _command(commands, "history", "a check's value over recent windows, as a sparkline per feature",
                   _history)
    sub.description = ("Reads the check values the workers kept in Redis (state.retention, 7 days by default) and "
                       "draws one line per feature and check: a sparkline over the windows, oldest on the left, "
                       "coloured by severity, then the latest and the largest value.")
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file")
    sub.add_argument("--monitor", metavar="M", help="which monitor (default: the only one)")
    sub.add_argument("--feature", metavar="F", help="only this feature (`*` for the monitor's volume)")
    sub.add_argument("--check", metavar="C", help="only this check, e.g. numeric_drift")
    sub.add_argument("--windows", type=int, default=60, metavar="N", help="how many recent windows (default 60)")
    sub.add_argument("--redis", metavar="URL", help="Redis URL (env SG_REDIS; else the topology's)")


def _history(args: argparse.Namespace) -> int:

    from stream_guard.adapters.redis_store import RedisStateStore

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = _one_monitor(topology, args.monitor)
    store = RedisStateStore.for_topology(topology)

    windows = _on_redis(store, lambda: store.history(monitor.name, max(args.windows, 1)))
    keys = sorted({(f, c) for w in windows for f, c, _, _ in w["checks"]
                   if (args.feature is None or f == args.feature) and (args.check is None or c == args.check)})
    if not keys:
        wanted = [f"feature {args.feature!r}" if args.feature else "", f"check {args.check!r}" if args.check else ""]
        what = " and ".join(filter(None, wanted))
        raise StreamGuardError(f"no evaluated windows of monitor {monitor.name}{' for ' + what if what else ''} "
                               f"in Redis at {redacted_url(topology.redis.url)}")
    grid: dict[tuple[str, str], list[tuple[str, float | None]]] = {k: [("ok", None)] * len(windows) for k in keys}
    for i, window in enumerate(windows):
        for feature, check, severity, value in window["checks"]:
            if (feature, check) in grid:
                grid[(feature, check)][i] = (severity, value)
    console = Console(soft_wrap=True)
    console.print(f"{monitor.name}: {len(windows)} windows from {iso(windows[0]['start'])} to "
                  f"{iso(windows[-1]['start'] + monitor.window.size)}")
    width = max(len(f"{f}/{c}") for f, c in keys)
    for (feature, check), points in grid.items():
        line = Text(f"{feature}/{check}".ljust(width + 2))
        for mark, severity in sparkline(points):
            line.append(mark, style=SEVERITY_STYLE.get(severity, ""))
        values = [v for _, v in points if v is not None]
        line.append(f"  latest {_num(values[-1] if values else None)}  max {_num(max(values, default=None))}")
        console.print(line)
    return 0


def sparkline(points: list[tuple[str, float | None]]) -> list[tuple[str, str]]:
    """One bar per window, scaled to the largest value; a blank where nothing was computed.

    >>> "".join(mark for mark, _ in sparkline([("ok", 0.0), ("ok", 0.5), ("critical", 1.0), ("ok", None)]))
    '▁▅█ '
    """
    top = max((v for _, v in points if v is not None), default=0.0) or 1.0
    return [(" " if v is None else SPARKS[round(max(v, 0.0) / top * (len(SPARKS) - 1))], severity)
            for severity, v in points]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def redacted_url(url: str) -> str:
    from stream_guard.adapters.credentials import redacted
    return redacted(url)


# worker -----------------------------------------------------------------------------------------

def _worker_parser(commands: Any) -> None:
    sub = _command(commands, "worker", "run a worker: consume the sources, keep state in Redis, publish alerts",
                   _worker)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    _services(sub)
    sub.add_argument("--web-port", type=int, metavar="N", help="port of /status (default: the topology's, 6066)")
    sub.add_argument("--web-host", metavar="ADDR",
                     help="address /status listens on (default: the topology's web.host, 127.0.0.1); "
                          "0.0.0.0 in a container")
    sub.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])


def _worker(args: argparse.Namespace) -> int:
    from stream_guard.runtime.worker import run_worker

    topology = with_overrides(load_topology(args.topology), args.broker, args.redis)
    if args.web_host:
        topology = topology.model_copy(update={"web": topology.web.model_copy(update={"host": args.web_host})})
    run_worker(topology, args.web_port, args.loglevel, topology_path=args.topology)
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
    from stream_guard.runtime.local_stack import create_topics, local_stack, serve_until_stopped, stop_signals_interrupt

    with stop_signals_interrupt(), local_stack(args.broker_port, args.redis_port) as stack:
        if args.topology:
            topology = load_topology(args.topology)
            create_topics(stack.bootstrap(), _topics_of(topology))
        print(f"broker  {stack.broker_url}\nredis   {stack.redis_url}", flush=True)
        print(f"export SG_BROKER={stack.broker_url} SG_REDIS={stack.redis_url}", flush=True)
        print("press Ctrl-C to stop (logs in " + str(stack.workdir) + ")", flush=True)
        serve_until_stopped()
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
    from stream_guard.adapters.credentials import kafka_security
    from stream_guard.adapters.kafka_io import produce
    from stream_guard.offline.replay import open_events

    topology = with_overrides(load_topology(args.topology), args.broker)
    monitor = topology.monitor(args.monitor) if args.monitor else topology.monitors[0]
    if not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    console = Console(stderr=True, soft_wrap=True)
    with open_events(args.events) as handle, console.status("producing…") as status:
        lines = (line.rstrip(b"\r\n") for line in handle)
        delivery = produce(topology.kafka.broker, monitor.source.topic, lines, args.rate,
                           on_progress=lambda n: status.update(f"producing… {n:,} messages"),
                           security=kafka_security(topology.kafka))
    console.print(delivery.describe(monitor.source.topic))
    return 0 if delivery.complete else 1


# alerts tail ------------------------------------------------------------------------------------

def _alerts_parser(commands: Any) -> None:
    alerts = commands.add_parser("alerts", help="read the alert topic", description="read the alert topic")
    actions = alerts.add_subparsers(title="actions", metavar="ACTION")
    sub = _command(actions, "tail", "print alerts (and window digests, dimmed) as they arrive on the topology's "
                   "alert topic", _alerts_tail)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("--from-beginning", action="store_true", help="start at the oldest alert on the topic")
    sub.add_argument("--json", action="store_true", help="print the raw alert records, one per line")
    sub.add_argument("--no-digests", action="store_true", help="leave out the window digests (stream_guard.digest/v1)")
    sub.add_argument("--details", action="store_true",
                     help="print each alert's evaluation under its line: ids, metric, value, threshold, p-values, "
                          "sample sizes, reference")
    sub.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without a new alert")
    _services(sub, redis=False)


def _alerts_tail(args: argparse.Namespace) -> int:
    from stream_guard.adapters.credentials import kafka_security
    from stream_guard.adapters.kafka_io import records
    from stream_guard.runtime.preflight import check_broker
    from stream_guard.views.console import print_tail

    topology = with_overrides(load_topology(args.topology), args.broker)
    check_broker(topology.kafka.broker)
    console = Console(soft_wrap=True)
    for record in records(topology.kafka.broker, topology.alerts.topic, args.from_beginning, args.idle_exit,
                          security=kafka_security(topology.kafka)):
        print_tail(console, record, args.json, not args.no_digests, args.details)
    return 0


# forward ----------------------------------------------------------------------------------------

FORWARD_EPILOG = """\
examples:
  stream-guard forward topologies/demo.yaml --alertmanager http://alertmanager:9093
  stream-guard forward topologies/demo.yaml --webhook https://hooks.example.com/sg --digests
  stream-guard forward topologies/demo.yaml --alertmanager http://am:9093 --webhook http://u:PASS@bot:8080/in

Delivery is at-least-once: the group's offset is committed only after every target accepted a
record, so a restart re-sends at most the records in flight. 5xx, 408, 429 and connection errors are
retried with backoff; a 4xx, or a failure after the last retry, stops the forwarder (exit 1) before
committing past the record. A user:password@ in a URL is sent as Basic auth and shown as ***.
"""


def _forward_parser(commands: Any) -> None:
    sub = _command(commands, "forward", "send alert records to Alertmanager and to webhooks, at least once",
                   _forward)
    sub.formatter_class = argparse.RawDescriptionHelpFormatter
    sub.epilog = FORWARD_EPILOG
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("--alertmanager", metavar="URL",
                     help="Alertmanager base URL, e.g. http://alertmanager:9093 (alerts go to /api/v2/alerts)")
    sub.add_argument("--webhook", metavar="URL", action="append", default=[],
                     help="POST each alert record, unchanged, to URL (repeat for several)")
    sub.add_argument("--digests", action="store_true", help="also POST window digests to the webhooks")
    sub.add_argument("--from-beginning", action="store_true",
                     help="on the group's first start, begin at the oldest record (default: records from now on)")
    sub.add_argument("--group", metavar="ID", help="consumer group storing the offsets (default: APP-forwarder)")
    sub.add_argument("--retries", type=int, default=5, metavar="N",
                     help="retries of a failed POST before stopping (default 5)")
    sub.add_argument("--backoff", type=float, default=0.5, metavar="S",
                     help="first wait between retries, doubled each time up to 10s (default 0.5)")
    sub.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without a new record")
    _services(sub, redis=False)


def _forward(args: argparse.Namespace) -> int:
    from stream_guard.adapters.forwarder import ForwardOptions, group_of, run_forwarder
    from stream_guard.core.alerting.forwarding import RetryPolicy
    from stream_guard.runtime.preflight import check_broker

    if not args.alertmanager and not args.webhook:
        raise StreamGuardError("nothing to forward to: give --alertmanager URL and/or --webhook URL")
    if args.retries < 0 or args.backoff < 0:
        raise StreamGuardError("--retries and --backoff cannot be negative")
    for url in [args.alertmanager, *args.webhook]:
        if url and not url.startswith(("http://", "https://")):
            raise StreamGuardError(f"{redacted_url(url)} is not an http:// or https:// URL")
    topology = with_overrides(load_topology(args.topology), args.broker)
    check_broker(topology.kafka.broker)
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    options = ForwardOptions(args.alertmanager, args.webhook, args.group, args.from_beginning, args.digests,
                             RetryPolicy(args.retries + 1, args.backoff), args.idle_exit)
    if args.alertmanager:
        quiet = [m.name for m in topology.monitors if m.alerting.repeat == 0]
        if quiet:
            console.print(f"note: monitors {', '.join(quiet)} have alerting.repeat 0: their firing alerts are sent "
                          "once, and Alertmanager resolves them itself after its resolve_timeout", style="yellow")
    targets = ", ".join(redacted_url(u) for u in [args.alertmanager, *args.webhook] if u)
    console.print(f"forwarding {topology.alerts.topic} (group {group_of(topology, options)}) to {targets}")
    counts = run_forwarder(topology, options, lambda line: console.print(line, markup=False))
    console.print(f"forwarded {counts.alerts} alerts" + (f" and {counts.digests} digests" if args.digests else ""))
    return 0
