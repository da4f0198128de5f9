"""`replay --report`: one self-contained HTML file (inline CSS and SVG, no scripts, no network) that
a person can open and share: every window's grades at a glance, then for each window with a warning
or critical, its alerts and the reference and current distributions drawn together from the sketches.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.alerting.alerts import SEVERITY_RANK, iso
from stream_guard.core.engine import MonitorEngine, WindowResult
from stream_guard.core.judging.evaluation import MONITOR_WIDE, SEGMENT_ALL
from stream_guard.views.distributions import COLOURS, distribution_svg, feature_pair
from stream_guard.views.distributions import number as _num

MAX_PLOTS_PER_WINDOW = 12
# checks whose change is not in the distribution of the values present: their plot shows those values
# unchanged, which the caption says, lest the plot read as the alert's evidence
NOT_IN_THE_VALUES = ("missing_rate", "invalid_rate", "slo", "schema_drift", "performance")


@dataclass
class _Section:
    monitor: str
    start: int
    end: int
    events: int
    alerts: list[dict[str, Any]]
    loud: list[dict[str, Any]]
    plots: list[tuple[str, str]]   # (title, svg)


@dataclass
class ReportBuilder:
    title: str
    grid: dict[str, dict[tuple[str, str], dict[int, str]]] = field(default_factory=lambda: defaultdict(dict))
    windows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    sections: list[_Section] = field(default_factory=list)

    def on_window(self, engine: MonitorEngine, result: WindowResult) -> None:
        """Record one closed window (call right after `close_window`)."""
        monitor = engine.monitor.name
        self.windows[monitor].append(result.start)
        for evaluation in result.evaluations:
            cell = self.grid[monitor].setdefault((evaluation.segment, evaluation.feature), {})
            if SEVERITY_RANK[evaluation.severity] >= SEVERITY_RANK.get(cell.get(result.start, "ok"), 0):
                cell[result.start] = evaluation.severity
        loud = [e.to_json() for e in result.evaluations if e.severity in ("warning", "critical")]
        if not loud and not result.alerts:
            return
        plots: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for e in sorted(loud, key=lambda r: -SEVERITY_RANK[r["severity"]]):
            key = (e["segment"], e["feature"])
            if e["feature"] == MONITOR_WIDE or key in seen or len(plots) >= MAX_PLOTS_PER_WINDOW:
                continue
            seen.add(key)
            svg = self._plot(engine, result, e["segment"], e["feature"])
            if svg:
                where = "" if e["segment"] == SEGMENT_ALL else f" [{e['segment']}]"
                aside = " (the values present: the check is not about their distribution)" \
                    if e["check"] in NOT_IN_THE_VALUES else ""
                plots.append((f"{e['feature']}{where}: {e['check']} {e['severity']}{aside}", svg))
        self.sections.append(_Section(monitor, result.start, result.end, result.events, result.alerts, loud, plots))

    def _plot(self, engine: MonitorEngine, result: WindowResult, segment: str, feature: str) -> str | None:
        pair = feature_pair(engine.monitor, result.closed.profile, list(engine.history.values()), engine.snapshot,
                            segment, feature)
        return distribution_svg(*pair) if pair else None

    def render(self) -> str:
        parts = [_HEAD.replace("{title}", html.escape(self.title)), f"<h1>{html.escape(self.title)}</h1>"]
        total_alerts = sum(len(s.alerts) for s in self.sections)
        parts.append(f"<p>{sum(len(w) for w in self.windows.values())} windows evaluated, "
                     f"{len(self.sections)} with a warning or critical grade or an alert, "
                     f"{total_alerts} alert records. Colours: " + "".join(
                         f'<span class="chip" style="background:{c}">{s}</span>' for s, c in COLOURS.items()) + "</p>")
        for monitor, rows in self.grid.items():
            parts.append(self._grid(monitor, rows))
        for section in self.sections:
            parts.append(self._section(section))
        parts.append("</body></html>\n")
        return "\n".join(parts)

    def _grid(self, monitor: str, rows: dict[tuple[str, str], dict[int, str]]) -> str:
        starts = self.windows[monitor]
        head = "".join(f'<th title="{iso(s)}"></th>' for s in starts)
        lines = [f"<h2>{html.escape(monitor)}: the worst grade per window</h2>",
                 f'<table class="grid"><tr><th>feature</th>{head}</tr>']
        for (segment, feature), cells in sorted(rows.items()):
            name = "(whole monitor)" if feature == MONITOR_WIDE else feature
            label = name if segment == SEGMENT_ALL else f"{name} [{segment}]"
            tds = "".join(f'<td style="background:{COLOURS[cells.get(s, "ok")]}" '
                          f'title="{iso(s)} {cells.get(s, "ok")}"></td>' for s in starts)
            lines.append(f"<tr><th>{html.escape(label)}</th>{tds}</tr>")
        lines.append(f"</table><p class='dim'>{iso(starts[0])} to {iso(starts[-1])}, "
                     f"one column per window</p>" if starts else "</table>")
        return "\n".join(lines)

    def _section(self, section: _Section) -> str:
        lines = [f"<h3>{html.escape(section.monitor)} · {iso(section.start)} to {iso(section.end)} · "
                 f"{section.events:,} events</h3>"]
        if section.alerts:
            lines.append("<table class='alerts'><tr><th>status</th><th>severity</th><th>segment</th><th>feature</th>"
                         "<th>check</th><th>value</th><th>summary</th></tr>")
            for a in section.alerts:
                lines.append(f"<tr><td>{a['status']}</td><td style='background:{COLOURS[a['severity']]}'>"
                             f"{a['severity']}</td><td>{html.escape(a['segment'])}</td>"
                             f"<td>{html.escape(a['feature'])}</td><td>{a['check']}</td><td>{_num(a['value'])}</td>"
                             f"<td>{html.escape(a['summary'])}</td></tr>")
            lines.append("</table>")
        if section.plots:
            lines.append("<div class='plots'>" + "".join(
                f"<figure>{svg}<figcaption>{html.escape(title)}</figcaption></figure>"
                for title, svg in section.plots) + "</div>")
        return "\n".join(lines)


_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table.grid td { width: 6px; height: 14px; padding: 0; }
table.grid th { text-align: right; font-weight: normal; padding-right: 6px; white-space: nowrap; }
table.alerts { border-collapse: collapse; margin: .5em 0; }
table.alerts td, table.alerts th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #444; }
.chip { padding: 0 6px; margin: 0 2px; border-radius: 3px; } .dim { color: #777; font-size: 12px; }
</style></head><body>"""
