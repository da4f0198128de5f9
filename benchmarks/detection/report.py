"""The detection benchmark's page: the acceptance checks, an overview, one table per scenario."""

from __future__ import annotations

from typing import Any

from benchmarks.detection import guard, performance
from benchmarks.detection.scenarios import Scale, Scenario, drift_shift

SG_ROWS = ("stream_guard warning", "stream_guard critical", "stream_guard fixed warning", "stream_guard fixed critical")
BASELINES = ("always-fire", "never-fire")
SETTING_TITLES = {"rolling": "rolling reference of the previous 10 windows",
                  "fixed": "fixed reference: the first 10 windows"}


def sg_row(setting: str, level: str) -> str:
    """The results row of stream_guard at `level` under a reference setting."""
    return f"stream_guard {level}" if setting == "rolling" else f"stream_guard {setting} {level}"


def acceptance(results: dict[str, Any], setting: str) -> list[dict[str, Any]]:
    """The issue's criteria, each with what stream_guard did under a reference setting."""
    out = []
    for name, sc in results["scenarios"].items():
        row = sc["rows"][sg_row(setting, "critical")]
        evaluations = sc["stream_guard"][setting]["evaluations"]
        if sc["kind"] == "sudden":
            ok = row["detections"] == 1 and row["delay_windows"] <= 1
            detail = (f"critical in changed window {row['delay_windows'] + 1}" if row["detections"]
                      else "never critical; " + closest(name, evaluations, sc["change_window"], sc["windows"]))
            out.append({"scenario": name, "criterion": "critical within 2 windows of the change", "passed": ok,
                        "detail": detail})
        elif sc["kind"] == "gradual":
            change = sc["change_window"]
            one_sd = change + 29     # drift_shift(29) == 1.0: the first window at 1 sd
            shift = drift_shift(row["delay_windows"]) if row["detections"] else None
            ok = shift is not None and shift < 1.0
            detail = (f"critical in changed window {row['delay_windows'] + 1}, at a shift of {shift:.2f} sd"
                      if shift is not None else "never critical; " + closest(name, evaluations, change, one_sd)
                      + f" (before 1 sd, windows {change}–{one_sd - 1})")
            out.append({"scenario": name, "criterion": "critical before the drift reaches 1 sd", "passed": ok,
                        "detail": detail})
        else:
            firing = sc["stream_guard"][setting]["firing"]
            criticals = [f for f in firing if f["severity"] == "critical"]
            out.append({"scenario": name, "criterion": "no critical alert", "passed": not criticals,
                        "detail": f"{len(criticals)} critical alerts, {len(firing) - len(criticals)} warnings"})
    return out


def over_seeds(results: dict[str, Any]) -> list[str]:
    """The acceptance on every seed of `--seeds`, stream_guard alone (`seeds.py`)."""
    if "seeds" not in results:
        return []
    from benchmarks.detection.seeds import Outcome
    seeds = results["seeds"]["seeds"]
    best = best_peer(results)
    against = f"the best peer's false alarms over the controls with seed 11 ({best[0]}: {best[1]})" if best else (
        "the best peer's false alarms (no peer ran)")
    lines = ["## Acceptance over seeds (stream_guard alone, default thresholds)", "",
             f"Seeds {', '.join(map(str, seeds))}, the same stream lengths (`seeds.py`). Each cell: the changed "
             "window (from 1) in which stream_guard was first critical (the gradual drift: with its shift there), or "
             f"`miss`; on the controls, its critical alerts and warnings, which must be 0 and fewer than {against}.",
             "", "| scenario | reference | " + " | ".join(f"seed {s}" for s in seeds) + " | |",
             "|---|---|" + "---|" * (len(seeds) + 1)]
    for row in results["seeds"]["rows"]:
        outcomes = [Outcome(**o) for o in row["outcomes"]]
        verdict = "pass" if all(o.passed(best[1] if best else None) for o in outcomes) else "**FAIL**"
        lines.append(f"| {row['scenario']} | {row['setting']} | " + " | ".join(o.text() for o in outcomes)
                     + f" | {verdict} |")
    return lines + [""]


def best_peer(results: dict[str, Any]) -> tuple[str, int] | None:
    """The peer with the fewest false alarms over the controls, and how many (as `controls` counts them)."""
    totals: dict[str, int] = {}
    for sc in results["scenarios"].values():
        if sc["kind"] == "control":
            for tool, row in sc["rows"].items():
                if tool not in SG_ROWS and tool not in BASELINES:
                    totals[tool] = totals.get(tool, 0) + row["false_alarms"]
    if not totals:
        return None
    best = min(totals, key=lambda t: totals[t])
    return best, totals[best]


def closest(name: str, evaluations: list[dict[str, Any]], first: int, end: int) -> str:
    """The check on the changed feature that came nearest its critical threshold in [first, end)."""
    from benchmarks.detection.scenarios import scenario
    s = scenario(name)
    best: tuple[float, str, float, float] | None = None
    for e in evaluations:
        threshold = guard.critical_threshold(s, e["check"])
        if first <= e["window"] < end and e["value"] is not None and threshold:
            ratio = e["value"] / threshold
            if best is None or ratio > best[0]:
                best = (ratio, e["check"], e["value"], threshold)
    if best is None:
        return "no check on the feature had a value"
    return f"highest: {best[1]} {best[2]:.3g} against a critical threshold of {best[3]:g} ({best[0]:.0%} of it)"


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    detected = "miss" if row["misses"] else (f"{row['delay_windows']}" if row["detections"] else "")
    fa = row["false_alarms"]
    return f"{detected} · {fa}" if detected else f"{fa}"


def render(results: dict[str, Any], scenarios: list[Scenario], scale: Scale) -> str:
    tools = [r for r in next(iter(results["scenarios"].values()))["rows"]]
    lines = ["# Detection quality: stream_guard and its peers", "",
             "Generated by `benchmarks/detection/run.py`; do not edit by hand (the reading of these figures is in",
             "[README.md](README.md)).", "",
             f"- Command: `{results['command']}` ({results['seconds']:.0f} s)",
             f"- Machine: {results['machine']}",
             f"- stream_guard {results['stream_guard']}; "
             + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
             f"- Streams: {scale.per_window:,} events per window (the seasonal control: 1,000 ± 40% per hour), "
             f"change after {scale.before} windows, {scale.after} windows after a sudden change, "
             f"{scale.drift} of gradual drift, {scale.control} windows of control, "
             f"{scale.seasonal_days} days of hourly windows; seed 11", ""]
    problems = {**results.get("skipped", {}), **results.get("peer_errors", {})}
    if problems:
        lines += [f"- **{tool}**: {problem}" for tool, problem in problems.items()] + [""]
    for setting, checked in results["acceptance"].items():
        lines += [f"## Acceptance (stream_guard, default thresholds, {SETTING_TITLES[setting]})", "",
                  "| scenario | criterion | | what happened |", "|---|---|---|---|"]
        for a in checked:
            verdict = "pass" if a["passed"] else "**FAIL**"
            lines.append(f"| {a['scenario']} | {a['criterion']} | {verdict} | {a['detail']} |")
        lines.append("")
    lines += over_seeds(results)
    lines += ["## Overview", "",
              "`stream_guard` rows use the rolling reference, `stream_guard fixed` rows the fixed one.", "",
              "Each cell: delay in windows of the first alarm after the change (0: in the first changed window) "
              "or `miss`, then ` · ` the number of false alarms; controls show false alarms only.", "",
              "| scenario | " + " | ".join(tools) + " |", "|---|" + "---:|" * len(tools)]
    for name, sc in results["scenarios"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(sc["rows"].get(t)) for t in tools) + " |")
    lines += ["", "## False alarms on the controls", ""] + controls(results) + [""]
    lines += ["## Where a peer detects a change sooner than stream_guard", "",
              "Against stream_guard at warning level with the rolling reference: a peer *beats* it on a scenario "
              "when it detects a change stream_guard misses, or detects it after fewer events, with no more false "
              "alarms on that scenario. "
              "Peers that are sooner only at the price of more false alarms are listed after.", ""]
    better, noisier = beaten(results)
    lines += ["**Beats stream_guard:**", "", *better, "", "**Sooner, with more false alarms:**", "", *noisier, ""]
    lines += ["## Per scenario", "",
              "Delays are those of the detection (events: from the first changed event through the one the alarm "
              "was raised on; a window tool raises its alarm on its window's last event). False alarms: every "
              "alarm that is not a detection, per 10,000 events and per 1,000 windows; `repeats` counts those "
              "that fell inside the change's tolerance after its detection (alarms again for the same change).",
              ""]
    for s in scenarios:
        sc = results["scenarios"][s.name]
        change = "no change" if sc["change_window"] is None else (
            f"change at window {sc['change_window']}, tolerance {sc['tolerance']} windows")
        lines += [f"### {s.name}: {s.description}", "",
                  f"{sc['windows']} windows, {sc['events']:,} events, {change}.", "",
                  "| tool | detections | misses | delay (windows) | delay (events) | false alarms | per 10k events "
                  "| per 1k windows | repeats | seconds |", "|---|" + "---:|" * 9]
        for tool, r in sc["rows"].items():
            lines.append(f"| {tool} | {r['detections']} | {r['misses']} | {_num(r['delay_windows'])} | "
                         f"{_num(r['delay_events'])} | {r['false_alarms']} | {r['false_alarms_per_10k_events']:.2f} | "
                         f"{r['false_alarms_per_1k_windows']:.1f} | {r['repeats']} | {_num(r['seconds'], 1)} |")
        lines.append("")
    lines += ["## The topology", "", "Every scenario but the seasonal control (whose reference is "
              "`{kind: seasonal, period: 1d}` and window `1h` under both settings) and River's (whose features are "
              "its generator's), with the rolling reference:", "",
              "```yaml", guard.topology_yaml(scenarios[0]).rstrip(), "```", "",
              "and with the fixed reference:", "", "```yaml",
              yaml_reference(guard.topology_yaml(scenarios[0], "fixed")), "```", ""]
    if "performance" in results:
        lines += [*performance.render(results["performance"]), ""]
    return "\n".join(lines)


def yaml_reference(text: str) -> str:
    """The `reference:` block of a topology's YAML."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "reference:")
    indent = len(lines[at]) - len(lines[at].lstrip())
    end = next((i for i, line in enumerate(lines[at + 1:]) if len(line) - len(line.lstrip()) <= indent), None)
    block = lines[at:at + 1 + (end if end is not None else len(lines))]
    return "\n".join(line[indent:] for line in block)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def controls(results: dict[str, Any]) -> list[str]:
    control = {n: sc for n, sc in results["scenarios"].items() if sc["kind"] == "control"}
    totals: dict[str, int] = {}
    for sc in control.values():
        for tool, row in sc["rows"].items():
            totals[tool] = totals.get(tool, 0) + row["false_alarms"]
    windows = sum(sc["windows"] for sc in control.values())
    peers = {t: n for t, n in totals.items() if t not in SG_ROWS and t not in BASELINES}
    lines = [f"Over the {len(control)} controls ({windows} windows): "
             + ", ".join(f"{t} {n}" for t, n in totals.items()) + "."]
    if peers:
        best = min(peers, key=lambda t: peers[t])
        for setting, title in SETTING_TITLES.items():
            sg = totals.get(sg_row(setting, "warning"), 0)
            verdict = "fewer than" if sg < peers[best] else "as many as" if sg == peers[best] else "more than"
            lines += ["", f"stream_guard's warnings and criticals with the {title} ({sg}) are {verdict} the false "
                      f"alarms of the best peer, {best} ({peers[best]})."]
    return lines


def beaten(results: dict[str, Any]) -> tuple[list[str], list[str]]:
    better, noisier = [], []
    for name, sc in results["scenarios"].items():
        if sc["kind"] == "control":
            continue
        sg = sc["rows"]["stream_guard warning"]
        for tool, row in sc["rows"].items():
            if tool in SG_ROWS or tool in BASELINES or not row["detections"]:
                continue
            if not sg["detections"] or row["delay_events"] < sg["delay_events"]:
                sg_text = (f"{sg['delay_events']:,.0f} events" if sg["detections"] else "a miss")
                line = (f"- {name}: {tool} after {row['delay_events']:,.0f} events (stream_guard: {sg_text}); "
                        f"{row['false_alarms']} false alarms (stream_guard: {sg['false_alarms']})")
                (better if row["false_alarms"] <= sg["false_alarms"] else noisier).append(line)
    return better or ["None."], noisier or ["None."]
