"""Detection quality: stream_guard and its peers on seeded streams with known change points.

    make detection                                   # everything, writes benchmarks/detection/RESULTS.md
    .venv/bin/python benchmarks/detection/run.py --quick

Each scenario's events are written once as JSON Lines; stream_guard replays them in this process
(the `replay` engine), each peer tool reads the same file in the peers' virtualenv, one process per
tool, two at a time. Every tool's alarms are scored by `scoring.py`. The raw alarms and scores go to
`results.json` beside the page.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.detection import guard, performance, report  # noqa: E402
from benchmarks.detection.scenarios import FULL, QUICK, SCENARIOS, START, Scale, Scenario, stream  # noqa: E402
from benchmarks.detection.scoring import Alarm, Timeline, event_alarms, score, window_alarms  # noqa: E402

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEER_TOOLS = ["river_kswin", "evidently", "whylogs", "alibi_tabular", "river_adwin", "river_page_hinkley"]
# KSWIN runs a KS test on every update (about 280 µs here): 5 minutes on the quick run's events alone
SLOW_TOOLS = {"river_kswin"}
QUIET = {"WHYLOGS_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}


def peers(*args: str) -> Any:
    command = [str(PEERS_PYTHON), str(HERE / "peer_tools.py"), *args]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, env={**os.environ, **QUIET})
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def prepare(s: Scenario, scale: Scale, scratch: Path) -> dict[str, Any]:
    """Write the scenario's events; its manifest entry for the peers."""
    path = scratch / f"{s.name}.jsonl"
    windows = s.windows(scale)
    if s.external:
        peers("--agrawal", str(path), "--windows", str(windows), "--change", str(s.change_window(scale)),
              "--per-window", str(scale.per_window), "--start", str(START), "--window-ms", str(s.window_ms()))
        counts = [scale.per_window] * windows
    else:
        counts = guard.write_events(path, stream(s, scale))
    codes = {v: i for i, v in enumerate(["a", "b", "c", "d", "e", "f", "g"])}
    return {"name": s.name, "path": str(path), "numeric": list(s.numeric), "categorical": list(s.categorical),
            "window_ms": s.window_ms(), "start": START, "windows": windows, "counts": counts,
            "reference": s.reference(), "codes": codes}


def timeline(s: Scenario, scale: Scale, counts: list[int]) -> Timeline:
    change = s.change_window(scale)
    return Timeline(counts, [change] if change is not None else [], s.tolerance(scale))


def run_guard(s: Scenario, entry: dict[str, Any], line: Timeline, setting: str) -> dict[str, Any]:
    began = time.perf_counter()
    by_level, firing, evaluations = guard.alarms(s, Path(entry["path"]), line, setting)
    return {"levels": by_level, "seconds": time.perf_counter() - began, "firing": firing, "evaluations": evaluations}


def run_peers(manifest: list[dict[str, Any]], scratch: Path, tools: list[str], quiet: bool) -> dict[str, Any]:
    """The peer tools' alarms per scenario, two tools at a time (the machine has two cores)."""
    path = scratch / "manifest.json"
    path.write_bytes(orjson.dumps(manifest))

    def one(tool: str) -> tuple[str, Any]:
        began = time.perf_counter()
        try:
            found = peers("--tool", tool, "--manifest", str(path))
        except subprocess.CalledProcessError as exc:
            found = {"error": f"{tool} failed with exit status {exc.returncode}"}
        if not quiet:
            print(f"  {tool}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        return tool, found

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, tools))


def peer_alarms(line: Timeline, found: dict[str, Any]) -> dict[str, list[Alarm]]:
    out = {}
    for level, hits in found.items():
        out[level] = (window_alarms(line, hits["windows"]) if "windows" in hits else event_alarms(line, hits["events"]))
    return out


TOOL_ROWS = [   # (row name, tool, level); stream_guard's tools are named for their reference setting
    ("stream_guard warning", "rolling", "warning"), ("stream_guard critical", "rolling", "critical"),
    ("stream_guard fixed warning", "fixed", "warning"), ("stream_guard fixed critical", "fixed", "critical"),
    ("Evidently", "evidently", "any"), ("whylogs POSSIBLE_DRIFT", "whylogs", "warning"),
    ("whylogs DRIFT", "whylogs", "critical"), ("Alibi TabularDrift", "alibi_tabular", "any"),
    ("River ADWIN", "river_adwin", "any"), ("River KSWIN", "river_kswin", "any"),
    ("River Page-Hinkley", "river_page_hinkley", "any"), ("always-fire", "always", "any"),
    ("never-fire", "never", "any"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter streams (about 2 minutes in all)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    parser.add_argument("--no-peers", action="store_true", help="stream_guard and the baselines only")
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    began = time.perf_counter()
    have_peers = PEERS_PYTHON.exists() and not args.no_peers
    scenarios = [s for s in SCENARIOS if have_peers or not s.external]
    with tempfile.TemporaryDirectory(prefix="sg-detect-") as scratch_name:
        scratch = Path(scratch_name)
        manifest = [prepare(s, scale, scratch) for s in scenarios]
        print(f"events written: {sum(sum(e['counts']) for e in manifest):,}", file=sys.stderr, flush=True)
        lines = {s.name: timeline(s, scale, e["counts"]) for s, e in zip(scenarios, manifest)}
        guarded = {setting: {s.name: run_guard(s, e, lines[s.name], setting) for s, e in zip(scenarios, manifest)}
                   for setting in guard.SETTINGS}
        seconds = sum(g["seconds"] for per in guarded.values() for g in per.values())
        print(f"stream_guard: {seconds:.1f} s", file=sys.stderr, flush=True)
        tools = [t for t in PEER_TOOLS if not (args.quick and t in SLOW_TOOLS)]
        found = run_peers(manifest, scratch, tools, quiet=False) if have_peers else {}
        versions = peers("--versions") if have_peers else {}
    results: dict[str, Any] = {"scenarios": {}, "versions": versions, "quick": args.quick,
                               "scale": scale.__dict__,
                               "skipped": {t: "left out of --quick: a KS test per update" for t in PEER_TOOLS
                                           if have_peers and t not in found},
                               "peer_errors": {t: f["error"] for t, f in found.items()
                                                                        if "error" in f}}
    for s in scenarios:
        line = lines[s.name]
        every_window = list(range(len(line.window_events)))
        alarms: dict[str, dict[str, list[Alarm]]] = {"always": {"any": window_alarms(line, every_window)},
                                                     "never": {"any": []}}
        for setting in guard.SETTINGS:
            alarms[setting] = guarded[setting][s.name]["levels"]
        for tool, per_scenario in found.items():
            if "error" not in per_scenario:
                alarms[tool] = peer_alarms(line, per_scenario[s.name]["alarms"])
        rows = {}
        for row, tool, level in TOOL_ROWS:
            if tool in alarms:
                result = score(line, alarms[tool].get(level, []))
                rows[row] = {**result.as_row(), "repeats": result.repeats,
                             "seconds": (guarded[tool][s.name]["seconds"] if tool in guarded
                                         else found.get(tool, {}).get(s.name, {}).get("seconds"))}
        results["scenarios"][s.name] = {
            "name": s.name, "description": s.description, "kind": s.kind, "change_window": s.change_window(scale),
            "windows": len(line.window_events), "events": sum(line.window_events), "tolerance": line.tolerance,
            "rows": rows,
            "stream_guard": {setting: {"firing": guarded[setting][s.name]["firing"],
                                       "evaluations": guarded[setting][s.name]["evaluations"]}
                             for setting in guard.SETTINGS}}
    results["performance"] = performance.measure(scale.per_window, scale.before, scale.after)
    results["seconds"] = time.perf_counter() - began
    results["command"] = "make detection" + (" ARGS=--quick" if args.quick else "")
    results["machine"] = machine()
    results["stream_guard"] = stream_guard_version()
    results["acceptance"] = {setting: report.acceptance(results, setting) for setting in guard.SETTINGS}
    args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    args.out.write_text(report.render(results, scenarios, scale))
    print(f"wrote {args.out} in {results['seconds']:.0f} s", file=sys.stderr)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) // 1024 // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    return (f"{platform.machine()} {cpu}, {os.cpu_count()} cores, {memory} GiB, Python {platform.python_version()}, "
            f"{datetime.now(UTC):%Y-%m-%d}")


def stream_guard_version() -> str:
    from importlib import metadata
    try:
        version = metadata.version("stream-guard")
    except metadata.PackageNotFoundError:
        version = "?"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return f"{version} (commit {commit.strip() or '?'})"


if __name__ == "__main__":
    main()
