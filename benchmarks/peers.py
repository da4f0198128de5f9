"""The peer tools on the benchmark's events: whylogs profiles, River drift detectors, Evidently reports.

Runs in its own virtualenv, so pandas, pyarrow and Evidently's pins never enter the project's:

    make peers-venv                                            # creates .venv-peers
    .venv-peers/bin/python benchmarks/peers.py [EVENTS.jsonl] [--quick]

EVENTS.jsonl holds one JSON event per line (`benchmarks/run.py` passes the events it produced to the
per-message topic); without it the same events are generated here. Each tool runs in a child
process of its own over the first events of the file, one one-minute window of event time at a
time, the way the tool is normally used. Its time covers reading and decoding the JSON lines,
building the tool's input and the tool's own work; each stage is also timed alone. Prints one JSON
line with the results.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module, metadata
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import workload  # noqa: E402

REFERENCE_WINDOWS = 5     # stream_guard's benchmark topology compares with the previous 5 windows
DECODE_CHUNK = 1000
# events each tool is given, full run and --quick: the slow ones see fewer, enough for a steady rate
EVENTS = {"whylogs": (100_000, 30_000), "river_adwin": (30_000, 10_000), "river_kswin": (1_000, 200),
          "river_page_hinkley": (100_000, 30_000), "evidently_preset": (50_000, 20_000),
          "evidently_drift_count": (60_000, 30_000)}
MODULES = {"whylogs": ["pandas", "whylogs"], "river_adwin": ["river.drift"], "river_kswin": ["river.drift"],
           "river_page_hinkley": ["river.drift"], "evidently_preset": ["pandas", "evidently", "evidently.presets"],
           "evidently_drift_count": ["pandas", "evidently", "evidently.metrics"]}
QUIET = {"WHYLOGS_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}   # both tools send usage statistics otherwise

Spent = defaultdict[str, float]   # seconds per stage


@contextmanager
def stage(spent: Spent, name: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        spent[name] += time.perf_counter() - began


def windows(path: Path, limit: int, spent: Spent) -> Iterator[list[dict[str, Any]]]:
    """The first `limit` events of `path`, decoded, as one list per one-minute window of event time."""
    current: list[dict[str, Any]] = []
    start = None
    with open(path, "rb") as handle:
        lines = islice(handle, limit)
        while chunk := list(islice(lines, DECODE_CHUNK)):
            with stage(spent, "decode"):
                events = [orjson.loads(line) for line in chunk]
            for event in events:
                window = event["ts"] - event["ts"] % workload.WINDOW_MS
                if window != start and current:
                    yield current
                    current = []
                start = window
                current.append(event)
    if current:
        yield current


def features_frame(events: list[dict[str, Any]]) -> Any:
    import pandas as pd
    return pd.DataFrame([event["features"] for event in events])


# the tools: each returns what it found, and counts its time in `spent` ----------------------------

def profile_with_whylogs(path: Path, limit: int, spent: Spent) -> dict[str, Any]:
    """`why.log(frame)` per window, and the previous 5 window profiles merged into its reference.

    whylogs compares nothing itself: the merged reference is what a comparison would start from."""
    import whylogs as why

    views: list[Any] = []
    events = 0
    for batch in windows(path, limit, spent):
        with stage(spent, "convert"):
            frame = features_frame(batch)
        with stage(spent, "tool"):
            view = why.log(frame).view()
        if views:
            with stage(spent, "merge"):
                functools.reduce(lambda a, b: a.merge(b), views)
        views = [*views, view][-REFERENCE_WINDOWS:]
        events += len(batch)
    return {"events": events, "columns_profiled": len(views[-1].get_columns())}


def river_detectors(make: Callable[[], Any]) -> Callable[[Path, int, Spent], dict[str, Any]]:
    """One detector per numeric feature, `update(value)` per event; counts the drift signals it raises."""
    def run(path: Path, limit: int, spent: Spent) -> dict[str, Any]:
        detectors = {name: make() for name in workload.NUMERIC}
        events = signals = 0
        for batch in windows(path, limit, spent):
            with stage(spent, "tool"):
                for event in batch:
                    features = event["features"]
                    for name, detector in detectors.items():
                        detector.update(features[name])
                        signals += detector.drift_detected
            events += len(batch)
        return {"events": events, "updates": events * len(detectors), "drift_signals": signals}
    return run


def evidently_report(make: Callable[[], Any]) -> Callable[[Path, int, Spent], dict[str, Any]]:
    """`Report(metrics).run(current, reference)` per window, the previous window as reference.

    The first window only becomes the reference, so `events` counts the windows that got a report
    while the time covers all of them."""
    return functools.partial(_report_windows, make)


def _report_windows(make: Callable[[], Any], path: Path, limit: int, spent: Spent) -> dict[str, Any]:
    report = make()
    reference = None
    events = 0
    drifted: list[float] = []
    for batch in windows(path, limit, spent):
        with stage(spent, "convert"):
            frame = features_frame(batch)
        if reference is not None:
            with stage(spent, "tool"):
                snapshot = report.run(frame, reference)
                drifted.append(drifted_columns(snapshot.dict()))
            events += len(batch)
        reference = frame
    return {"events": events, "reports": len(drifted), "drifted_columns": drifted}


def drifted_columns(snapshot: dict[str, Any]) -> float:
    counts = [m["value"]["count"] for m in snapshot["metrics"] if m["metric_name"].startswith("DriftedColumnsCount")]
    return float(counts[0])


def data_drift_preset() -> Any:
    """Evidently's data-drift preset: a drift test per column, their count, and the report's widgets."""
    from evidently import Report
    from evidently.presets import DataDriftPreset
    return Report([DataDriftPreset()])


def drifted_columns_count() -> Any:
    """Only the metric that counts drifted columns: the same per-column tests, no per-column results."""
    from evidently import Report
    from evidently.metrics import DriftedColumnsCount
    return Report([DriftedColumnsCount()])


def warm_up(tool: str) -> None:
    """A first tiny call outside the timing: the first call of whylogs and Evidently sets up caches."""
    events = workload.events(200, workload.START, 100)
    frame = features_frame(events)
    if tool == "whylogs":
        import whylogs as why
        why.log(frame)
    elif tool.startswith("evidently"):
        make = data_drift_preset if tool == "evidently_preset" else drifted_columns_count
        make().run(frame[:100], frame[100:])


def _river(name: str) -> Callable[[], Any]:
    def make() -> Any:
        from river import drift
        if name == "KSWIN":
            return drift.KSWIN(seed=1)
        return getattr(drift, name)()
    return make


TOOLS: dict[str, Callable[[Path, int, Spent], dict[str, Any]]] = {
    "whylogs": profile_with_whylogs,
    "river_adwin": river_detectors(_river("ADWIN")),
    "river_kswin": river_detectors(_river("KSWIN")),
    "river_page_hinkley": river_detectors(_river("PageHinkley")),
    "evidently_preset": evidently_report(data_drift_preset),
    "evidently_drift_count": evidently_report(drifted_columns_count),
}


# one tool in a child process ----------------------------------------------------------------------

def measure(tool: str, path: Path, limit: int) -> dict[str, Any]:
    for module in MODULES[tool]:
        import_module(module)
    warm_up(tool)
    rss_ready = _rss_bytes()
    spent: Spent = defaultdict(float)
    began = time.perf_counter()
    found = TOOLS[tool](path, limit, spent)
    seconds = time.perf_counter() - began
    return {**found, "seconds": seconds, **{f"{name}_s": value for name, value in spent.items()},
            "rss_ready_bytes": rss_ready, "peak_rss_bytes": peak_rss_bytes()}


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The process's peak resident memory (VmHWM: unlike ru_maxrss, it starts anew at exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_child(tool: str, path: Path, limit: int) -> dict[str, Any]:
    command = [sys.executable, __file__, str(path), "--tool", tool, "--limit", str(limit)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env={**os.environ, **QUIET}, check=True)
    return orjson.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("whylogs", "river", "evidently", "pandas", "numpy")}


def write_events(path: Path, count: int) -> None:
    """The per-message run's events of `benchmarks/run.py`, one JSON object per line."""
    lines = workload.messages(workload.events(count, workload.START, workload.PER_MESSAGE_WINDOW), 1)
    path.write_bytes(b"\n".join(lines) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", type=Path, nargs="?", help="JSON Lines events (default: generate them)")
    parser.add_argument("--quick", action="store_true", help="fewer events per tool")
    parser.add_argument("--tool", choices=sorted(TOOLS), help=argparse.SUPPRESS)   # the child's side
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tool:
        print(orjson.dumps(measure(args.tool, args.events, args.limit)).decode(), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="sg-peers-") as scratch:
        path = args.events
        if path is None:
            path = Path(scratch) / "events.jsonl"
            write_events(path, max(n[1] if args.quick else n[0] for n in EVENTS.values()))
        results: dict[str, Any] = {"versions": versions()}
        for tool, sizes in EVENTS.items():
            print(f"  peer {tool}…", file=sys.stderr, flush=True)
            results[tool] = run_child(tool, path, sizes[1] if args.quick else sizes[0])
            print(f"    {results[tool]['events'] / results[tool]['seconds']:,.0f} events/s", file=sys.stderr,
                  flush=True)
    print(orjson.dumps(results).decode(), flush=True)


if __name__ == "__main__":
    main()
