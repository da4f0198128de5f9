"""Realized performance with late labels: how soon the `performance` check is critical after a binary
model's accuracy drops, how many of the changed window's predictions are labelled by then, and what it
raises on clean traffic.

    .venv/bin/python benchmarks/detection/performance.py [--quick]   # rewrites its section of RESULTS.md

`run.py` runs it too, and the page it renders carries the same section. The streams come from
`stream_guard.offline.label_scenario`: one-minute windows, a score per request, its label 0/1 some
windows later (`min_delay`–`max_delay`, uniform), a share of requests never labelled. From the change
window on, the scores of `broken_share` of the requests stop following their outcome (drawn for another
request's): the score distribution stays the same, so no distribution check can see it; only the
labels show it. Each stream goes through `replay --labels` in this process, for five seeds; the
monitor grades accuracy with the default thresholds (a drop of 0.05 warns, 0.1 is critical) against
its previous 10 labelled windows (one scenario grades ROC AUC with the thresholds of the issue's example).

The peers have no part here: none of them joins late labels on a stream.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stream_guard.core.topology.file import load_topology  # noqa: E402
from stream_guard.offline.label_scenario import START_MS, label_topology, label_traffic  # noqa: E402
from stream_guard.offline.replay import replay  # noqa: E402

HERE = Path(__file__).resolve().parent
WINDOW = 60_000
SEEDS = (11, 12, 13, 14, 15)
BEGIN, END = "<!-- performance: benchmarks/detection/performance.py -->", "<!-- /performance -->"


@dataclass(frozen=True)
class LabelScenario:
    name: str
    description: str
    broken_share: float | None      # None: a control, nothing changes
    min_delay: int                  # windows a label comes after its prediction, at least
    max_delay: int                  # and at most
    labelled: float = 1.0           # the share of predictions that ever get a label
    check: str = "{metric: accuracy, warning: 0.05, critical: 0.1}"   # the default thresholds

    def windows(self, before: int, after: int) -> int:
        """Long enough for the changed windows' labels to come and be credited at a tick."""
        return before + after + self.max_delay + 2


SCENARIOS = [
    LabelScenario("accuracy_drop", "half the scores stop following the outcome; labels 0–3 windows late",
                  0.5, 0, 3),
    LabelScenario("accuracy_drop_small", "a fifth of the scores stop following the outcome; labels 0–3 windows "
                  "late", 0.2, 0, 3),
    LabelScenario("roc_auc_drop_small", "a fifth of the scores stop following the outcome, graded on ROC AUC "
                  "(the issue's 0.03 / 0.08); labels 0–3 windows late", 0.2, 0, 3,
                  check="{metric: roc_auc, warning: 0.03, critical: 0.08}"),
    LabelScenario("accuracy_drop_sparse_labels", "half the scores; a fifth of the predictions ever labelled, "
                  "0–6 windows late", 0.5, 0, 6, labelled=0.2),
    LabelScenario("accuracy_drop_slow_labels", "half the scores; labels 2–8 windows late", 0.5, 2, 8),
    LabelScenario("performance_control", "no change; labels 0–3 windows late", None, 0, 3),
    LabelScenario("performance_control_sparse", "no change; a fifth labelled, 0–6 windows late", None, 0, 6,
                  labelled=0.2),
]


def topology_text(s: LabelScenario) -> str:
    """The label scenario's monitor with the detection benchmark's rolling reference of 10 windows."""
    text = label_topology("detection-labels", max_delay=f"{s.max_delay + 2}m")
    return text.replace("reference: {kind: rolling, windows: 5}", "reference: {kind: rolling, windows: 10}").replace(
        "performance: {metric: accuracy, warning: 0.05, critical: 0.1}", f"performance: {s.check}")


def run_one(s: LabelScenario, per_window: int, before: int, after: int, seed: int, scratch: Path) -> dict[str, Any]:
    """One stream through `replay --labels`: what fired, when, and the accuracy before and after."""
    events, labels = label_traffic(windows=s.windows(before, after), per_window=per_window,
                                   broken_from=before if s.broken_share else None,
                                   broken_share=s.broken_share or 1.0, min_delay=s.min_delay * WINDOW,
                                   max_delay=s.max_delay * WINDOW, labelled=s.labelled, seed=seed)
    paths = {name: scratch / f"{s.name}-{seed}.{name}.jsonl" for name in ("events", "labels", "topology")}
    for name, rows in (("events", events), ("labels", labels)):
        paths[name].write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    paths["topology"].write_text(topology_text(s))
    alerts: list[dict[str, Any]] = []
    began = time.perf_counter()
    replay(load_topology(paths["topology"]), paths["events"], alerts.append, lambda r: None, lambda r: None,
           labels=paths["labels"])
    seconds = time.perf_counter() - began
    firing = [a for a in alerts if a["status"] == "firing"]
    performance = [a for a in firing if a["check"] == "performance"]
    return {"seed": seed, "seconds": seconds, "events": len(events), "labels": len(labels),
            "accuracy": accuracy(events, labels, before), "roc_auc": roc_auc(events, labels, before),
            "first": {level: first(performance, level, before) for level in ("warning", "critical")},
            "false_alarms": {level: sum(1 for a in performance if index(a) < before and a["severity"] in severities)
                             for level, severities in (("warning", ("warning", "critical")),
                                                       ("critical", ("critical",)))},
            "info_before": sum(1 for a in performance if index(a) < before and a["severity"] == "info"),
            "other_checks": sorted({f"{a['feature']} {a['check']}" for a in firing if a["check"] != "performance"})}


def index(alert: dict[str, Any]) -> int:
    return (_ms(alert["window"]["start"]) - START_MS) // WINDOW


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def first(performance: list[dict[str, Any]], level: str, change: int) -> dict[str, Any] | None:
    """The first alert at `level` or worse naming a changed window: which one, when, on how many labels."""
    severities = ("warning", "critical") if level == "warning" else ("critical",)
    for a in performance:
        if a["severity"] in severities and index(a) >= change:
            changed_end = START_MS + (change + 1) * WINDOW
            return {"window": index(a) - change + 1,
                    "after_windows": round((_ms(a["emitted_at"]) - changed_end) / WINDOW, 2),
                    "coverage": round(a["coverage"]["labelled"] / a["coverage"]["predicted"], 3)}
    return None


def accuracy(events: list[dict[str, Any]], labels: list[dict[str, Any]], change: int) -> list[float]:
    """The model's accuracy over every labelled prediction before the change and from it on."""
    return [round(float(np.mean((scores >= 0.5) == outcomes)), 3) if len(scores) else 0.0
            for scores, outcomes in _halves(events, labels, change)]


def roc_auc(events: list[dict[str, Any]], labels: list[dict[str, Any]], change: int) -> list[float]:
    """The model's ROC AUC over every labelled prediction before the change and from it on (Mann-Whitney)."""
    out = []
    for scores, outcomes in _halves(events, labels, change):
        ranks = np.empty(len(scores))
        ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
        positives = int(outcomes.sum())
        negatives = len(scores) - positives
        wins = ranks[outcomes].sum() - positives * (positives + 1) / 2
        out.append(round(float(wins / (positives * negatives)), 3) if positives and negatives else 0.0)
    return out


def _halves(events: list[dict[str, Any]], labels: list[dict[str, Any]],
            change: int) -> list[tuple[np.ndarray, np.ndarray]]:
    outcome = {label["request_id"]: bool(label["label"]) for label in labels}
    halves: list[tuple[list[float], list[bool]]] = [([], []), ([], [])]
    for e in events:
        if e["request_id"] in outcome:
            half = halves[(e["ts"] - START_MS) // WINDOW >= change]
            half[0].append(e["score"])
            half[1].append(outcome[e["request_id"]])
    return [(np.array(scores), np.array(outcomes, dtype=bool)) for scores, outcomes in halves]


def measure(per_window: int, before: int, after: int, seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    """Every label scenario on every seed."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sg-labels-") as scratch:
        runs = {s.name: [run_one(s, per_window, before, after, seed, Path(scratch)) for seed in seeds]
                for s in SCENARIOS}
    return {"per_window": per_window, "before": before, "after": after, "seeds": list(seeds),
            "seconds": time.perf_counter() - began, "runs": runs}


def _span(values: list[float | int]) -> str:
    low, high = min(values), max(values)
    return f"{low:g}" if low == high else f"{low:g}–{high:g}"


def _detection(runs: list[dict[str, Any]], level: str) -> tuple[str, str, str]:
    found = [r["first"][level] for r in runs if r["first"][level] is not None]
    missed = len(runs) - len(found)
    if not found:
        return f"missed ({missed} of {len(runs)})", "", ""
    window = _span([f["window"] for f in found]) + (f" ({missed} missed)" if missed else "")
    return window, _span([f["after_windows"] for f in found]), _span([round(100 * f["coverage"]) for f in found])


def render(results: dict[str, Any]) -> list[str]:
    """The section of RESULTS.md, between its markers."""
    lines = [BEGIN, "## Realized performance with late labels (`performance`, stream_guard only)", "",
             f"Generated by `benchmarks/detection/performance.py` ({results['seconds']:.0f} s; `run.py` runs it too). "
             f"{results['per_window']:,} predictions per one-minute window, the change after {results['before']} "
             f"windows, seeds {', '.join(map(str, results['seeds']))}; accuracy against the previous 10 labelled "
             "windows, default thresholds (a drop of 0.05 warns, 0.1 is critical; ROC AUC where named: 0.03, 0.08). "
             "*Changed window*: the first "
             "window an alert names, 1 being the window of the change; *after*: event time from the end of the "
             "change's window to the tick that raised it, in windows (a tick is a window's end + 5 s grace); "
             "*labelled*: the share of that window's predictions labelled then. Ranges are over the seeds.", "",
             "| scenario | accuracy before → after | ROC AUC before → after | critical: changed window "
             "| after (windows) | labelled % | warning: changed window | after (windows) | false warnings / criticals "
             "| other checks firing |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in SCENARIOS:
        runs = results["runs"][s.name]
        before, after = (_span([r["accuracy"][i] for r in runs]) for i in (0, 1))
        auc_before, auc_after = (_span([r["roc_auc"][i] for r in runs]) for i in (0, 1))
        critical, warning = _detection(runs, "critical"), _detection(runs, "warning")
        if s.broken_share is None:
            critical = warning = ("n/a (control)", "", "")
        false = (f"{sum(r['false_alarms']['warning'] for r in runs)} / "
                 f"{sum(r['false_alarms']['critical'] for r in runs)}")
        others = sorted({c for r in runs for c in r["other_checks"]})
        lines.append(f"| {s.name}: {s.description} | {before} → {after} | {auc_before} → {auc_after} | "
                     f"{critical[0]} | {critical[1]} | "
                     f"{critical[2]} | {warning[0]} | {warning[1]} | {false} | {', '.join(others) or 'none'} |")
    lines += ["", "False alarms count warning-or-critical (and critical) alerts naming a window before the change, "
              "or any window of a control, summed over the seeds. `replay --labels` gives the live worker's alert "
              "ids (tests/integration/test_labels_live.py), so these are the live figures in event time.", "", END]
    return lines


def replace_section(page: str, section: list[str]) -> str:
    """The page with its performance section replaced (or added at the end)."""
    text = "\n".join(section)
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if pattern.search(page):
        return pattern.sub(lambda _: text, page)
    return page.rstrip("\n") + "\n\n" + text + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the quick run's change point (after 14 windows)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    from benchmarks.detection.scenarios import FULL, QUICK
    scale = QUICK if args.quick else FULL
    results = measure(scale.per_window, scale.before, scale.after)
    (HERE / "performance.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    section = render(results)
    print("\n".join(section))
    args.out.write_text(replace_section(args.out.read_text() if args.out.exists() else "", section))


if __name__ == "__main__":
    main()
