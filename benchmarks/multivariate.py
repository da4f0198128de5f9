"""The multivariate check: its cost per event, its false alarms on clean traffic, its detection delay.

    .venv/bin/python benchmarks/multivariate.py cost  [--batch 2000] [--repeat 20]
    .venv/bin/python benchmarks/multivariate.py noise [--windows 2000] [--per-window 1000] [--features 5]

`cost`: what a fold adds for the check, at 5 and 20 numeric features: the reconstruction errors of a
decoded batch (`ReconstructionModel.batch_errors`: standardise, impute, two matrix products) and their
fold into the window's error profile (a KLL update and the sums), timed on their own over the same
decoded batch, best of `--repeat`; and the whole batched fold with and without the check, for scale.

`noise`: one monitor against a snapshot of 20,000 clean rows (two of its features correlated at 0.8,
the others independent, each with its own marginal), then `--windows` clean windows (every warning and
critical of `multivariate` is a false alarm), then 20 windows where the correlated feature's values are
shuffled within each window (marginals unchanged): the windows until the check is critical.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_guard.core.decoding.decoder import BatchDecoder  # noqa: E402
from stream_guard.core.decoding.records import RawRecord  # noqa: E402
from stream_guard.core.engine import MonitorEngine  # noqa: E402
from stream_guard.core.profiles.folding import PartitionFolder  # noqa: E402
from stream_guard.core.profiles.multivariate import ERROR_SPEC  # noqa: E402
from stream_guard.core.profiles.profile import NumericProfile  # noqa: E402
from stream_guard.core.profiles.snapshot import Snapshot, build_snapshot  # noqa: E402
from stream_guard.core.topology.monitor import MonitorSpec  # noqa: E402

MINUTE = 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE
PER_MESSAGE = 500    # events per JSON array message, as in benchmarks/fold_speed.py


def monitor(features: int) -> MonitorSpec:
    return MonitorSpec.model_validate({
        "name": "mv", "source": {"topic": "t", "timestamp": "ts", "format": "json_array"},
        "window": {"size": "1m", "grace": "0s"}, "reference": {"kind": "snapshot", "name": "train"},
        "features": {f"f{i}": {"type": "numeric"} for i in range(features)}})


def rows(rng: np.random.Generator, n: int, features: int, broken: bool = False) -> np.ndarray:
    """f0 and f1 correlated at 0.8; the rest independent: normal, lognormal and uniform in turn."""
    z = rng.normal(size=(n, 2))
    columns = [50 + 10 * z[:, 0], 3 + 2 * (0.8 * z[:, 0] + 0.6 * z[:, 1])]
    makers = (lambda: rng.normal(-5, 3, n), lambda: rng.lognormal(1, 0.5, n), lambda: rng.uniform(0, 10, n))
    columns += [makers[i % 3]() for i in range(features - 2)]
    if broken:
        columns[1] = rng.permutation(columns[1])
    return np.column_stack(columns).round(4)


def events(values: np.ndarray, first_time: int, span: int) -> list[dict[str, Any]]:
    names = [f"f{i}" for i in range(values.shape[1])]
    times = first_time + (np.arange(len(values)) * span) // max(len(values), 1)
    return [{"ts": int(t), **dict(zip(names, row))} for t, row in zip(times.tolist(), values.tolist())]


def messages(batch: list[dict[str, Any]], offset: int) -> list[RawRecord]:
    return [RawRecord(orjson.dumps(batch[i:i + PER_MESSAGE]), 0, offset + k)
            for k, i in enumerate(range(0, len(batch), PER_MESSAGE))]


def snapshot(spec: MonitorSpec, rng: np.random.Generator, features: int) -> Snapshot:
    train = [dict(zip([f"f{i}" for i in range(features)], row)) for row in rows(rng, 20_000, features).tolist()]
    return build_snapshot(spec, [train], "train", "train", 0)


def best(run: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def cost(args: argparse.Namespace) -> None:
    print("| numeric features | components kept | errors (ns/event) | fold of the errors (ns/event) | "
          "batched fold without / with the check (events/s) |")
    print("|---:|---:|---:|---:|---:|")
    for features in (5, 20):
        print(cost_row(features, args.batch, args.repeat))


def cost_row(features: int, size: int, repeat: int) -> str:
    rng = np.random.default_rng(features)
    spec = monitor(features)
    model = snapshot(spec, rng, features).multivariate
    assert model is not None
    batch = BatchDecoder(spec).decode(messages(events(rows(rng, size, features), START, MINUTE), 0))
    errors, where = model.batch_errors(batch.columns), np.arange(size)
    project = best(lambda: model.batch_errors(batch.columns), repeat)
    fold = best(lambda: NumericProfile().fold(errors, where, ERROR_SPEC), repeat)
    stream = messages(events(rows(rng, 100_000, features), START, MINUTE), 0)

    def fold_all(with_check: bool) -> None:
        folder = PartitionFolder(spec, 0, reconstruction=model if with_check else None)
        step = spec.source.messages_per_batch()
        for i in range(0, len(stream), step):
            folder.fold(stream[i:i + step])

    runs = {False: float("inf"), True: float("inf")}
    for _ in range(max(repeat // 2, 2)):    # alternated, so both see the same load
        for check in (False, True):
            runs[check] = min(runs[check], best(lambda check=check: fold_all(check), 1))
    return (f"| {features} | {model.kept} | {project / size * 1e9:.0f} | {fold / size * 1e9:.0f} | "
            f"{100_000 / runs[False]:,.0f} / {100_000 / runs[True]:,.0f} |")


def noise(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    spec = monitor(args.features)
    engine = MonitorEngine(spec, snapshot=snapshot(spec, rng, args.features))
    graded: Counter[str] = Counter()
    loud_other: Counter[str] = Counter()
    largest, detected, after = 0.0, None, []
    offset = 0
    for w in range(args.windows + 21):
        broken = w >= args.windows
        batch = events(rows(rng, rng.poisson(args.per_window), args.features, broken), START + w * MINUTE, MINUTE)
        raw = messages(batch, offset)
        offset += len(raw)
        engine.fold(raw)
        for start in engine.due_windows():
            index = (start - START) // MINUTE
            for e in engine.close_window(start, engine.local_profiles(start), emitted_at=0).evaluations:
                if e.check != "multivariate":
                    loud_other[e.check] += e.severity in ("warning", "critical") and index < args.windows
                elif index < args.windows:
                    graded[e.severity] += 1
                    largest = max(largest, e.value or 0.0)
                else:
                    after.append(e.value or 0.0)
                    if detected is None and e.severity == "critical":
                        detected = index - args.windows + 1
    model = engine.snapshot.multivariate if engine.snapshot else None
    print(f"{sum(graded.values()):,} clean windows of about {args.per_window:,} events, {args.features} numeric "
          f"features ({model.kept if model else '?'} components kept): multivariate warning or worse "
          f"{graded['warning'] + graded['critical']}, critical {graded['critical']}, largest value {largest:.3g}; "
          f"other checks warning or worse: {dict(+loud_other) or 'none'}")
    print(f"correlation break (f1 shuffled within each window): critical in changed window {detected}; "
          f"values {min(after):.3g} to {max(after):.3g} over {len(after)} changed windows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("cost", "noise"))
    parser.add_argument("--batch", type=int, default=2000, help="events per decoded batch (cost)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--windows", type=int, default=2000, help="clean windows (noise)")
    parser.add_argument("--per-window", type=int, default=1000)
    parser.add_argument("--features", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    cost(args) if args.what == "cost" else noise(args)


if __name__ == "__main__":
    main()
