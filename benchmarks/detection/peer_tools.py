"""The peers' side of the detection benchmark: each tool's alarms on each scenario's events.

Runs in the peers' virtualenv (`make peers-venv`), one tool per process, started by
`benchmarks/detection/run.py`:

    .venv-peers/bin/python benchmarks/detection/peer_tools.py --tool river_adwin --manifest M.json
    .venv-peers/bin/python benchmarks/detection/peer_tools.py --agrawal OUT.jsonl --windows 40 --change 25
    .venv-peers/bin/python benchmarks/detection/peer_tools.py --versions

Every tool runs at its defaults, and sees the scenario the way it is normally used:

- River's ADWIN, KSWIN and Page–Hinkley: one detector per numeric feature, one `update` per event
  (missing values skipped); an alarm is an event on which any detector reports a drift. They take
  numbers only, so categorical features and the event count are not theirs to watch.
- Evidently: `Report([DriftedColumnsCount()])` per window, the current window against the
  reference windows stream_guard uses (the previous 10, from 3 on; or the same hour a day back);
  an alarm is a window with at least one drifted column.
- whylogs: a profile per window, the reference windows' profiles merged, `calculate_drift_scores`;
  a warning-level alarm is a window with a column in POSSIBLE_DRIFT or DRIFT, a critical-level
  one a column in DRIFT.
- Alibi Detect: `TabularDrift` (KS per numeric feature, χ² per categorical one, Bonferroni over
  features, p = 0.05) fitted on the reference windows, per window; rows with a missing value are
  left out (it takes no NaN).

Prints one JSON object: per scenario, per level, the alarms as window numbers (`windows`) or as
1-based event positions (`events`), and the tool's seconds.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

Window = dict[str, list[Any]]     # one window's columns
Found = dict[str, dict[str, list[int]]]   # level -> {"windows": [...]} or {"events": [...]}


def read_windows(entry: dict[str, Any]) -> list[Window]:
    """The scenario's events as columns, one dict per window (every window of the stream)."""
    names = [*entry["numeric"], *entry["categorical"]]
    windows: list[Window] = [{n: [] for n in names} for _ in range(entry["windows"])]
    with open(entry["path"], "rb") as handle:
        for line in handle:
            event = orjson.loads(line)
            columns = windows[(event["ts"] - entry["start"]) // entry["window_ms"]]
            for name in names:
                columns[name].append(event.get(name))
    return windows


def reference_windows(entry: dict[str, Any], window: int) -> list[int]:
    """The windows `window` is compared with: stream_guard's reference for the scenario."""
    spec = entry["reference"]
    if spec["kind"] == "seasonal":
        back = window - spec["period_windows"]
        return [back] if back >= 0 else []
    earlier = list(range(max(window - spec["windows"], 0), window))
    return earlier if len(earlier) >= spec["min_windows"] else []


# River ---------------------------------------------------------------------------------------------

def river(name: str) -> Callable[[dict[str, Any], list[Window]], Found]:
    def run(entry: dict[str, Any], windows: list[Window]) -> Found:
        from river import drift
        detectors = {n: drift.KSWIN(seed=1) if name == "KSWIN" else getattr(drift, name)() for n in entry["numeric"]}
        alarms: list[int] = []
        position = 0
        for columns in windows:
            rows = zip(*(columns[n] for n in detectors))
            for values in rows:
                position += 1
                fired = False
                for detector, value in zip(detectors.values(), values):
                    if value is not None:
                        detector.update(value)
                        fired = fired or detector.drift_detected
                if fired:
                    alarms.append(position)
        return {"any": {"events": alarms}}
    return run


# window tools ---------------------------------------------------------------------------------------

def frame(entry: dict[str, Any], columns: Window) -> Any:
    import pandas as pd
    data = {n: pd.Series(columns[n], dtype="float64") for n in entry["numeric"]}
    data.update({n: pd.Series(columns[n], dtype="object") for n in entry["categorical"]})
    return pd.DataFrame(data)


def per_window(judge: Callable[[dict[str, Any], Any, Any], set[str]], prepare: Callable[..., Any],
               combine: Callable[[list[Any]], Any]) -> Callable[[dict[str, Any], list[Window]], Found]:
    """A tool that judges each window against its reference windows; `judge` gives the levels hit."""
    def run(entry: dict[str, Any], windows: list[Window]) -> Found:
        prepared = [prepare(entry, columns) for columns in windows]
        found: dict[str, list[int]] = {}
        for window, current in enumerate(prepared):
            reference = reference_windows(entry, window)
            if not reference:
                continue
            for level in judge(entry, current, combine([prepared[w] for w in reference])):
                found.setdefault(level, []).append(window)
        return {level: {"windows": hits} for level, hits in found.items()}
    return run


def evidently_judge(entry: dict[str, Any], current: Any, reference: Any) -> set[str]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount
    definition = DataDefinition(numerical_columns=list(entry["numeric"]),
                                categorical_columns=list(entry["categorical"]))
    snapshot = Report([DriftedColumnsCount()]).run(Dataset.from_pandas(current, data_definition=definition),
                                                   Dataset.from_pandas(reference, data_definition=definition))
    count = snapshot.dict()["metrics"][0]["value"]["count"]
    return {"any"} if count >= 1 else set()


def concat(frames: list[Any]) -> Any:
    import pandas as pd
    return pd.concat(frames, ignore_index=True)


def whylogs_profile(entry: dict[str, Any], columns: Window) -> Any:
    import whylogs as why
    return why.log(frame(entry, columns)).view()


def whylogs_judge(entry: dict[str, Any], current: Any, reference: Any) -> set[str]:
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores
    scores = calculate_drift_scores(target_view=current, reference_view=reference, with_thresholds=True)
    categories = {s["drift_category"] for s in scores.values() if s}
    levels = set()
    if categories & {"POSSIBLE_DRIFT", "DRIFT"}:
        levels.add("warning")
    if "DRIFT" in categories:
        levels.add("critical")
    return levels


def merge_views(views: list[Any]) -> Any:
    return functools.reduce(lambda a, b: a.merge(b), views)


def alibi_rows(entry: dict[str, Any], columns: Window) -> Any:
    """Numeric columns as they are, categories as fixed codes; rows with a missing value dropped."""
    import numpy as np
    codes = entry["codes"]
    numbers = [np.array(columns[n], dtype="float64") for n in entry["numeric"]]   # None -> nan
    labels = [np.array([codes.get(v, -1) for v in columns[n]], dtype="float64") for n in entry["categorical"]]
    rows = np.column_stack([*numbers, *labels]) if numbers or labels else np.empty((0, 0))
    return rows[~np.isnan(rows).any(axis=1)]


def alibi_judge(entry: dict[str, Any], current: Any, reference: Any) -> set[str]:
    from alibi_detect.cd import TabularDrift
    first = len(entry["numeric"])
    categories = {first + i: None for i in range(len(entry["categorical"]))}
    detector = TabularDrift(reference, p_val=0.05, categories_per_feature=categories)
    return {"any"} if detector.predict(current)["data"]["is_drift"] else set()


def stack(arrays: list[Any]) -> Any:
    import numpy as np
    return np.vstack(arrays)


TOOLS: dict[str, Callable[[dict[str, Any], list[Window]], Found]] = {
    "river_adwin": river("ADWIN"),
    "river_kswin": river("KSWIN"),
    "river_page_hinkley": river("PageHinkley"),
    "evidently": per_window(evidently_judge, frame, concat),
    "whylogs": per_window(whylogs_judge, whylogs_profile, merge_views),
    "alibi_tabular": per_window(alibi_judge, alibi_rows, stack),
}


def run_tool(tool: str, manifest: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in manifest:
        windows = read_windows(entry)
        began = time.perf_counter()
        out[entry["name"]] = {"alarms": TOOLS[tool](entry, windows), "seconds": time.perf_counter() - began}
    return out


# the River generator scenario -----------------------------------------------------------------------

AGRAWAL_NUMERIC = ["salary", "commission", "age", "hvalue", "loan", "label"]
AGRAWAL_CATEGORICAL = ["elevel", "car", "zipcode"]


def agrawal_events(windows: int, change: int, per_window: int, start: int, window_ms: int,
                   seed: int = 11) -> Iterator[dict[str, Any]]:
    """River's Agrawal loan-approval generator, switching classification function 0 → 2 at the
    change (ConceptDriftStream, width 250, centred 250 events into the change
    window, so 2% of the events just before it come from the new function; a narrower width
    overflows River's sigmoid this far into the stream): the features keep their
    distribution, the approval rate (`label`, the model's 0/1 output here) falls from 67% to 53%."""
    from river.datasets import synth
    source = synth.ConceptDriftStream(stream=synth.Agrawal(classification_function=0, seed=seed),
                                      drift_stream=synth.Agrawal(classification_function=2, seed=seed + 1),
                                      position=change * per_window + 250, width=250, seed=seed)
    for index, (x, y) in enumerate(source.take(windows * per_window)):
        window, i = divmod(index, per_window)
        event = {"ts": start + window * window_ms + i * window_ms // per_window, "label": int(y)}
        event.update({k: round(float(x[k]), 2) for k in ("salary", "commission", "hvalue", "loan")})
        event.update({"age": int(x["age"]), **{k: f"{k}{int(x[k])}" for k in AGRAWAL_CATEGORICAL}})
        yield event


def versions() -> dict[str, str]:
    names = ("river", "evidently", "whylogs", "alibi-detect", "pandas", "numpy", "scipy")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", choices=sorted(TOOLS))
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--agrawal", type=Path, help="write the Agrawal scenario's events here")
    parser.add_argument("--windows", type=int)
    parser.add_argument("--change", type=int)
    parser.add_argument("--per-window", type=int, default=1000)
    parser.add_argument("--start", type=int)
    parser.add_argument("--window-ms", type=int, default=60_000)
    parser.add_argument("--versions", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.versions:
        result: Any = versions()
    elif args.agrawal:
        with open(args.agrawal, "wb") as out:
            for event in agrawal_events(args.windows, args.change, args.per_window, args.start, args.window_ms):
                out.write(orjson.dumps(event) + b"\n")
        result = {"written": str(args.agrawal)}
    else:
        result = run_tool(args.tool, orjson.loads(args.manifest.read_bytes()))
    sys.stdout.flush()
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    main()
