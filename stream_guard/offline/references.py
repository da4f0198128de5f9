"""Snapshot references: built from files, stored in Redis, found again for `replay` and the worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from stream_guard.adapters.credentials import redacted
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.adapters.reference_files import FORMATS, ReadReport, file_format, read_rows
from stream_guard.adapters.snapshot_store import SnapshotStore
from stream_guard.core.profiles.snapshot import Snapshot, SnapshotBuilder
from stream_guard.core.topology.file import at_key, key_lines
from stream_guard.core.topology.monitor import MonitorSpec, ReferenceSpec
from stream_guard.core.topology.topology import Topology
from stream_guard.core.topology.yaml_tree import Loc
from stream_guard.errors import StreamGuardError


def build_from_file(monitor: MonitorSpec, path: Path, name: str,
                    progress: Callable[[int], None] | None = None) -> tuple[Snapshot, ReadReport]:
    """Profile every row of `path` for `monitor`'s features."""
    report = ReadReport()
    builder = SnapshotBuilder(monitor)
    for rows in read_rows(path, monitor, report):
        builder.add(rows)
        if progress:
            progress(report.rows)
    if builder.rows == 0:
        raise StreamGuardError(f"{path}: no rows to build a reference from"
                               + (f" ({report.skipped} skipped, e.g. {report.examples[0]})" if report.skipped else ""))
    return builder.build(name, path.name, int(time.time() * 1000)), report


def reference_file(topology_path: Path, spec: ReferenceSpec) -> Path:
    """A `file:` snapshot's path: as written, or relative to the topology file's folder."""
    assert spec.file is not None
    given = Path(spec.file)
    return given if given.is_absolute() or given.exists() else topology_path.parent / given


async def stored_snapshot(topology: Topology, monitor: MonitorSpec, redis_url: str | None = None,
                          spec: ReferenceSpec | None = None) -> Snapshot:
    """A `name:` snapshot (of `spec`, by default the monitor's reference) from Redis, or an error saying
    how to build it."""
    name = (spec or monitor.reference).name
    assert name is not None
    url = redis_url or topology.redis.url
    state = RedisStateStore.for_topology(topology, url)
    try:
        await state.ping()
        snapshot = await SnapshotStore(state).load(monitor.name, name)
    finally:
        await state.close()
    if snapshot is None:
        raise StreamGuardError(
            f"monitor {monitor.name}: no snapshot named {name!r} in Redis at {redacted(url)}; build it with "
            f"`stream-guard reference build TOPOLOGY FILE --monitor {monitor.name} --name {name}`")
    return snapshot


def reference_file_problems(topology: Topology, topology_path: Path) -> list[str]:
    """`FILE:LINE: message` for every `file:` snapshot reference whose file is missing or of no known type."""
    lines: dict[Loc, int] | None = None
    problems = []
    for index, monitor in enumerate(topology.monitors):
        for name, spec in monitor.reference_specs().items():
            message = _file_problem(topology_path, spec)
            if message is not None:
                lines = key_lines(topology_path) if lines is None else lines
                where = ("references", name, "file") if monitor.references else ("reference", "file")
                problems.append(at_key(topology_path, lines, ("monitors", index, *where), message))
    return problems


def _file_problem(topology_path: Path, spec: ReferenceSpec) -> str | None:
    given = spec.file
    if spec.kind != "snapshot" or given is None:
        return None
    path = reference_file(topology_path, spec)
    if not path.is_file():
        folder = topology_path.parent
        where = (f"relative to the current folder and to {folder}, the topology file's folder"
                 if folder.resolve() != Path.cwd().resolve() else "relative to the current folder")
        return f"reference file {given} does not exist" + ("" if Path(given).is_absolute() else f" ({where})")
    try:
        file_format(path)
    except StreamGuardError:
        return f"reference file {given} is of no known type; reference files are {', '.join(FORMATS)}"
    return None


async def snapshots_for(topology: Topology, topology_path: Path,
                        redis_url: str | None = None) -> dict[str, dict[str, Snapshot]]:
    """The snapshot of every reference that is one, by monitor name, then by reference name
    (`MonitorSpec.reference_specs`: the single `reference:` is named `reference`)."""
    problems = reference_file_problems(topology, topology_path)
    if problems:
        raise StreamGuardError(problems[0])
    out: dict[str, dict[str, Snapshot]] = {}
    for monitor in topology.monitors:
        for name, spec in monitor.reference_specs().items():
            if spec.kind != "snapshot":
                continue
            if spec.file is not None:
                found = build_from_file(monitor, reference_file(topology_path, spec), spec.file)[0]
            else:
                found = await stored_snapshot(topology, monitor, redis_url, spec)
            out.setdefault(monitor.name, {})[name] = found
    return out
