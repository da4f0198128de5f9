"""False alarms of the default checks on a long clean stream, per 10,000 windows.

    .venv/bin/python benchmarks/clean_noise.py [--windows 10000] [--per-window 1000] [--cusum]

One monitor on its defaults (rolling reference of 10 windows) over clean traffic: a normal, a
heavy-tailed lognormal, a uniform and an integer Poisson feature, and a categorical one with nine
values (the rarest at 2%). Every window comes from the same distributions, so every warning and
critical is a false alarm. Prints, per check, the windows graded warning or worse and critical, and
the largest value seen.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_guard.core.decoding.records import RawRecord  # noqa: E402
from stream_guard.core.engine import MonitorEngine  # noqa: E402
from stream_guard.core.topology.topology import Topology  # noqa: E402

MINUTE = 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE
VALUES = [f"v{i}" for i in range(9)]
SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.03, 0.02])
FEATURES = {"normal": "numeric", "lognormal": "numeric", "uniform": "numeric", "count": "numeric",
            "category": "categorical"}


def topology(cusum: bool = False) -> Topology:
    monitor = {"name": "clean", "source": {"topic": "t", "timestamp": "ts"}, "window": {"size": "1m"},
               "features": {n: {"type": t} for n, t in FEATURES.items()},
               **({"checks": {"cusum": {"enabled": True}}} if cusum else {})}
    return Topology.model_validate({"version": 1, "app": "noise", "monitors": [monitor]})


def window(w: int, per_window: int, rng: np.random.Generator) -> list[RawRecord]:
    n = rng.poisson(per_window)
    columns = [rng.normal(50, 10, n).round(3), rng.lognormal(3, 0.8, n).round(3), rng.uniform(0, 1, n).round(4),
               rng.poisson(3, n), rng.choice(VALUES, n, p=SHARES)]
    times = START + w * MINUTE + np.sort(rng.integers(0, MINUTE, n))
    return [RawRecord(orjson.dumps({"ts": int(times[i]), "normal": float(columns[0][i]),
                                    "lognormal": float(columns[1][i]), "uniform": float(columns[2][i]),
                                    "count": int(columns[3][i]), "category": str(columns[4][i])}), 0, w * 10**6 + i,
                      "t") for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--per-window", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cusum", action="store_true", help="with the cusum check (off by default) on")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    engine = MonitorEngine(topology(args.cusum).monitors[0])
    graded: dict[str, Counter[str]] = defaultdict(Counter)
    largest: dict[str, float] = defaultdict(float)
    evaluated = 0
    for w in range(args.windows + 1):
        engine.fold(window(w, args.per_window, rng))
        for start in engine.due_windows():
            evaluated += 1
            for e in engine.close_window(start, engine.local_profiles(start), emitted_at=0).evaluations:
                graded[e.check][e.severity] += 1
                largest[e.check] = max(largest[e.check], e.value or 0.0)
        if w % 1000 == 0:
            print(f"{w:,} windows", file=sys.stderr, flush=True)
    scale = 10_000 / evaluated
    print(f"{evaluated:,} clean windows of about {args.per_window:,} events; per 10,000 windows:\n")
    print("| check | evaluations | warning or worse | critical | largest value |")
    print("|---|---:|---:|---:|---:|")
    for check, counts in sorted(graded.items()):
        loud = counts["warning"] + counts["critical"]
        print(f"| `{check}` | {sum(counts.values()):,} | {loud * scale:.1f} | {counts['critical'] * scale:.1f} | "
              f"{largest[check]:.3g} |")


if __name__ == "__main__":
    main()
