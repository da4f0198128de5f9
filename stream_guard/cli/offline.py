"""`stream-guard validate`, `replay` and `calibrate`: topologies and event files, without Kafka."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from stream_guard.cli.common import command, counted
from stream_guard.core.topology.file import key_lines, load_topology, warning_at, with_overrides
from stream_guard.core.topology.never_run import never_run
from stream_guard.core.topology.sizes import format_size
from stream_guard.errors import StreamGuardError, TopologyError

# validate ---------------------------------------------------------------------------------------

def validate_parser(commands: Any) -> None:
    sub = command(commands, "validate", "check topology files; prints FILE:LINE: message per error, exit 2 if any",
                  _validate)
    sub.description = (
        "Check topology files: every problem is printed as FILE:LINE: message, and the exit code is 2 if\n"
        "there is any (0 otherwise). With --events, also read a file of sample events through each\n"
        "monitor's decoder and windows, as replay would, without running any check, and report per monitor:\n"
        "  - events read and folded, and the windows they make;\n"
        "  - how many windows hold fewer than min_samples events: their checks can grade info at most, so\n"
        "    a monitor whose windows are mostly that thin never alerts; the report gives the window size\n"
        "    that would hold min_samples at the file's rate (or lower min_samples);\n"
        "  - dead letters by reason (invalid_json, missing_timestamp, late, ...): what the worker would\n"
        "    send to the dead-letter topic instead of profiling.")
    sub.epilog = ("examples:\n"
                  "  stream-guard validate topologies/*.yaml\n"
                  "  stream-guard validate topologies/demo.yaml --events sample.jsonl.gz")
    sub.formatter_class = argparse.RawDescriptionHelpFormatter
    sub.add_argument("topologies", nargs="+", metavar="TOPOLOGY", type=Path, help="topology YAML files")
    sub.add_argument("--events", metavar="FILE", type=Path,
                     help="sample events (.jsonl, .jsonl.gz or .avro, as replay reads them) to check against "
                          "each topology: events, windows, thin windows, dead letters per monitor")


def _validate(args: argparse.Namespace) -> int:
    """Errors (exit 2) and warnings (printed as `FILE:LINE: warning: ...`, exit 0) of every file given."""
    from stream_guard.offline.references import reference_file_problems

    problems: list[str] = []
    if args.events is not None and not args.events.is_file():
        raise StreamGuardError(f"{args.events}: no such events file")
    warnings: list[str] = []
    for path in args.topologies:
        try:
            topology = load_topology(path)
        except TopologyError as exc:
            problems.extend(exc.problems)
            continue
        missing = reference_file_problems(topology, path)
        problems.extend(missing)
        findings = sorted(never_run(topology), key=lambda f: f[0])
        lines = key_lines(path) if findings else {}
        warnings.extend(warning_at(path, lines, loc, message) for loc, message in findings)
        if not missing:
            features = sum(len(m.all_features()) for m in topology.monitors)
            print(f"{path}: ok ({counted(len(topology.monitors), 'monitor')}, {counted(features, 'feature')})")
            if args.events is not None:
                from stream_guard.offline.event_check import check_events

                for report in check_events(topology, args.events):
                    print("\n".join(report.lines()))
    for line in [*problems, *warnings]:
        print(line, file=sys.stderr)
    return 2 if problems else 0


# replay -----------------------------------------------------------------------------------------

def replay_parser(commands: Any) -> None:
    sub = command(commands, "replay", "run the engine over a .jsonl / .jsonl.gz / .avro file, without Kafka or Redis",
                  _replay)
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file, e.g. topologies/demo.yaml")
    sub.add_argument("events", metavar="EVENTS", type=Path,
                     help="one JSON event per line, or an Avro object container file (.avro)")
    sub.add_argument("--alerts-out", metavar="F", type=Path, help="write alerts as JSON Lines")
    sub.add_argument("--evaluations-out", metavar="F", type=Path, help="write every evaluation as JSON Lines")
    sub.add_argument("--dead-letters-out", metavar="F", type=Path, help="write unusable events as JSON Lines")
    sub.add_argument("--digests-out", metavar="F", type=Path,
                     help="write the window digests (one per window with anything firing) as JSON Lines")
    sub.add_argument("--report", metavar="F", type=Path,
                     help="write a self-contained HTML report: every window's grades, alerts, distribution plots")
    sub.add_argument("--labels", metavar="LABELS", type=Path,
                     help="label events (.jsonl or .jsonl.gz) for the monitors that declare labels: (performance)")
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
    if args.labels is not None and not args.labels.is_file():
        raise StreamGuardError(f"{args.labels}: no such labels file")
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
                             snapshots=snapshots, on_window=report.on_window if report else None,
                             labels=args.labels)
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
    console.print(f"{counted(summary.lines, 'line')}: {counted(summary.consumed, 'event')} read, {summary.folded:,} "
                  f"folded, {counted(total_dead, 'dead letter')}" + (f" ({dead})" if dead else ""))
    console.print(f"{counted(summary.windows, 'window')} evaluated ({counted(summary.evaluations, 'check')}, "
                  f"{counted(summary.evaluated_events, 'event')}); alerts: {alerts}; "
                  f"{counted(summary.digests, 'window digest')}")
    for monitor, counts in getattr(summary, "join", {}).items():
        console.print(f"{monitor}: {summary.labels:,} label lines; not joined: {counts.expired:,} predictions "
                      f"unlabelled past max_delay, {counts.unmatched:,} labels without a prediction, "
                      f"{counts.overflow:,} over max_pending, {counts.duplicates:,} duplicates, "
                      f"{counts.invalid:,} unreadable")
    for name, thin in summary.thin.items():
        if thin.mostly_thin():
            console.print(f"monitor {name}: {thin.sentence()}", style="yellow")
    for name, over in getattr(summary, "over_cap", {}).items():
        console.print(f"monitor {name}: {counted(over.windows, 'window')} reached the state cap (max_window_bytes "
                      f"{format_size(over.cap)}; the largest about {format_size(over.peak_bytes)}): "
                      f"{over.pooled_events:,} events lost their segment's own profile and were folded into "
                      "segment other (see the state_cap alerts)", style="yellow")
    if summary.open_windows:
        console.print(f"{counted(summary.open_windows, 'window')} still open at the end of the file, not evaluated "
                      f"({counted(summary.open_events, 'event')}; their end plus grace was not reached)", style="dim")


# calibrate --------------------------------------------------------------------------------------

def calibrate_parser(commands: Any) -> None:
    sub = command(commands, "calibrate",
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
    from stream_guard.offline.calibrate import as_yaml, propose, with_never_computed
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
    allowances = {m.name: m.checks.cusum.allowance for m in topology.monitors}
    proposals = with_never_computed(propose(evaluations, args.rate, allowances), evaluations)
    text = as_yaml(proposals, args.events.name, summary.windows, args.rate)
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

    if not any(s.kind == "snapshot" for m in topology.monitors for s in m.reference_specs().values()):
        return {}
    with console.status("loading snapshot references…"):
        return asyncio.run(snapshots_for(topology, path))
