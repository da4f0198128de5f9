"""`stream-guard reference build | list | show | delete`: snapshot references stored in Redis."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stream_guard.cli.common import command, counted, on_redis, one_monitor, usage
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.topology.file import load_topology, with_overrides
from stream_guard.errors import StreamGuardError


def reference_parser(commands: Any) -> None:
    group = commands.add_parser(
        "reference", help="snapshot references: build one from a file, list, show, delete",
        description="Snapshot references are named, immutable profiles of a data set (a training set, say), "
                    "stored in Redis per monitor. A monitor compares with one through "
                    "`reference: {kind: snapshot, name: NAME}`, or names it among several "
                    "(`references: {recent: {kind: rolling}, training: {kind: snapshot, name: NAME}}`) for the "
                    "checks that say `reference: training`.")
    actions = group.add_subparsers(title="actions", metavar="ACTION")
    build = command(actions, "build", "profile a file (.jsonl, .jsonl.gz, .csv, .parquet) and store it",
                    _reference_build)
    build.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file")
    build.add_argument("file", metavar="FILE", type=Path, nargs="?",
                       help="rows with the monitor's fields, by field path (features.amount) or feature name")
    build.add_argument("--from", dest="from_file", metavar="EVENTS", type=Path,
                       help="the same file, named by option instead (give FILE or --from, not both)")
    build.add_argument("--name", required=True, help="the snapshot's name, e.g. train-2026-11")
    build.add_argument("--monitor", metavar="M", help="whose features (default: the only monitor)")
    build.add_argument("--redis", metavar="URL", help="Redis URL (env SG_REDIS; else the topology's)")
    for action, help_, run in (("list", "list the stored snapshots", _reference_list),
                               ("show", "one snapshot: source, rows, and each feature's profile", _reference_show),
                               ("delete", "delete a stored snapshot", _reference_delete)):
        sub = command(actions, action, help_, run)
        sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file")
        if action != "list":
            sub.add_argument("name", metavar="NAME", help="the snapshot's name, as `reference list` shows it")
        sub.add_argument("--monitor", metavar="M", help="whose snapshots (default: every monitor's)"
                         if action == "list" else "whose snapshot (default: the only monitor)")
        sub.add_argument("--redis", metavar="URL", help="Redis URL (env SG_REDIS; else the topology's)")
    group.set_defaults(run=lambda args: usage(group))


def _snapshot_store(topology: Any) -> Any:
    from stream_guard.adapters.redis_store import RedisStateStore
    from stream_guard.adapters.snapshot_store import SnapshotStore
    return SnapshotStore(RedisStateStore.for_topology(topology))


def _reference_build(args: argparse.Namespace) -> int:

    from stream_guard.offline.references import build_from_file

    if (args.file is None) == (args.from_file is None):
        raise StreamGuardError("reference build needs the file to profile, as FILE or --from EVENTS (one of them)")
    args.file = args.file or args.from_file
    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = one_monitor(topology, args.monitor)
    console = Console(stderr=True, soft_wrap=True)
    with console.status("profiling…") as status:
        snapshot, report = build_from_file(monitor, args.file, args.name,
                                           progress=lambda n: status.update(f"profiling… {n:,} rows"))
    store = _snapshot_store(topology)

    if not on_redis(store.state, lambda: store.save(monitor.name, snapshot)):
        raise StreamGuardError(f"monitor {monitor.name} already has a snapshot named {args.name!r}; snapshots never "
                               f"change: delete it first (stream-guard reference delete) or choose another name")
    skipped = f"; {counted(report.skipped, 'row')} skipped ({'; '.join(report.examples)})" if report.skipped else ""
    console.print(f"snapshot {args.name!r} of monitor {monitor.name}: {counted(snapshot.rows, 'row')} of "
                  f"{args.file.name}, {counted(len(monitor.all_features()), 'feature')}{skipped}{_pca(snapshot)}")
    note = labels_note(monitor, snapshot)
    if note:
        console.print(note)
    return 0


def labels_note(monitor: Any, snapshot: Any) -> str | None:
    """What the snapshot holds for estimated_performance: its labelled rows, or why it holds none."""
    from stream_guard.core.labels.reference_labels import label_path

    path = label_path(monitor)
    if monitor.model is None or monitor.model.task != "binary" or path is None:
        return None
    if snapshot.labels is None:
        return (f"no row carries a usable label at {path!r}: estimated_performance will take the scores as "
                f"calibrated")
    left = snapshot.rows - snapshot.labels.labelled
    accuracy = snapshot.labels.metric("accuracy")
    return (f"labels at {path!r}: {snapshot.labels.labelled:,} labelled rows calibrate estimated_performance "
            f"(realized accuracy {accuracy:.3f})" + (f"; {left:,} rows without a score or label" if left else ""))


def _reference_list(args: argparse.Namespace) -> int:

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitors = [one_monitor(topology, args.monitor)] if args.monitor else topology.monitors
    store = _snapshot_store(topology)

    async def read() -> list[tuple[str, Any]]:
        return [(m.name, s) for m in monitors for s in await store.all(m.name)]

    found = on_redis(store.state, read)
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
    monitor = one_monitor(topology, args.monitor)
    store = _snapshot_store(topology)

    snapshot = on_redis(store.state, lambda: store.load(monitor.name, args.name))
    if snapshot is None:
        raise _no_snapshot(store, monitor.name, args.name)
    console = Console(soft_wrap=True)
    console.print(f"snapshot {snapshot.name!r} of monitor {monitor.name}: {counted(snapshot.rows, 'row')} of "
                  f"{snapshot.source}, built {iso(snapshot.created_at)}{_pca(snapshot)}")
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
    note = labels_note(monitor, snapshot)
    if note:
        console.print(note)
    return 0


def _pca(snapshot: Any) -> str:
    """`; PCA of a, b, c: 2 components, 97% of their variance` for a snapshot the multivariate check can use."""
    model = snapshot.multivariate
    return "" if model is None else (f"; PCA of {', '.join(model.features)}: {model.kept} components, "
                                     f"{model.explained:.0%} of their variance")


def _reference_delete(args: argparse.Namespace) -> int:

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = one_monitor(topology, args.monitor)
    store = _snapshot_store(topology)

    if not on_redis(store.state, lambda: store.delete(monitor.name, args.name)):
        raise _no_snapshot(store, monitor.name, args.name)
    print(f"deleted snapshot {args.name!r} of monitor {monitor.name}")
    return 0


def _no_snapshot(store: Any, monitor: str, name: str) -> StreamGuardError:
    """A name that is not stored: say which ones are, or how to build one (a typo is the usual cause)."""
    async def names() -> list[str]:
        return sorted(snapshot.name for snapshot in await store.all(monitor))

    stored = on_redis(store.state, names)
    known = (f"its snapshots: {', '.join(stored)}" if stored else
             "it has none stored: build one with `stream-guard reference build TOPOLOGY FILE --name NAME`")
    return StreamGuardError(f"monitor {monitor} has no snapshot named {name!r}; {known}")
