"""stream_guard alone on the detection scenarios, over several seeds: is the acceptance a property of
the defaults or of seed 11?

    .venv/bin/python benchmarks/detection/seeds.py [--seeds 11 12 13 14 15] [--full]

Per scenario and reference setting: the changed window (from 1) in which stream_guard was first
critical, on each seed, or `miss`; the gradual drift's shift there in sd; on the controls the number
of critical alerts and warnings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.detection import guard  # noqa: E402
from benchmarks.detection.scenarios import FULL, QUICK, SCENARIOS, Scale, Scenario, stream  # noqa: E402
from benchmarks.detection.scoring import Timeline, score  # noqa: E402


def outcome(s: Scenario, scale: Scale, seed: int, setting: str, scratch: Path) -> str:
    path = scratch / f"{s.name}-{seed}.jsonl"
    counts = guard.write_events(path, stream(s, scale, seed))
    change = s.change_window(scale)
    line = Timeline(counts, [change] if change is not None else [], s.tolerance(scale))
    by_level, firing, _ = guard.alarms(s, path, line, setting)
    if change is None:
        critical = sum(f["severity"] == "critical" for f in firing)
        return f"{critical} crit, {len(firing) - critical} warn"
    found = score(line, by_level["critical"])
    if not found.detections:
        return "miss"
    delay = found.delays_windows[0]
    return f"{delay + 1} ({s.shift_sd(change + delay, scale):.2f} sd)" if s.kind == "gradual" else f"{delay + 1}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--full", action="store_true", help="the full run's stream lengths")
    args = parser.parse_args()
    scale = FULL if args.full else QUICK
    print("| scenario | reference | " + " | ".join(f"seed {s}" for s in args.seeds) + " |")
    print("|---|---|" + "---|" * len(args.seeds))
    with tempfile.TemporaryDirectory(prefix="sg-seeds-") as scratch:
        for s in (s for s in SCENARIOS if not s.external):
            for setting in guard.SETTINGS:
                cells = [outcome(s, scale, seed, setting, Path(scratch)) for seed in args.seeds]
                print(f"| {s.name} | {setting} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
