"""The worker's status page: plain server-rendered HTML from the `/status` JSON, nothing else.

Pure functions of plain data (the dict `/status` returns, and SVG strings drawn by
`stream_guard.views.distributions`), so the page and the API always show the same numbers. The HTML has
inline CSS only: no script, font, stylesheet or image is fetched, and it works offline. Every
string that comes from a topology, an event or an alert is escaped.

>>> page = index_page({"app": "a<b", "monitors": {}})
>>> "<title>stream_guard · a&lt;b</title>" in page and "<script" not in page
True
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from stream_guard.views.distributions import COLOURS, number

SEGMENT_ALL = "all"
MONITOR_WIDE = "*"


def index_page(status: Mapping[str, Any]) -> str:
    """Every monitor of the worker, each with its latest window, checks and alerts."""
    monitors = status.get("monitors", {})
    nav = " · ".join(f'<a href="{_monitor_href(name)}">{_e(name)}</a>' for name in monitors)
    body = [f"<h1>stream_guard worker · {_e(status.get('app', ''))}</h1>",
            f"<p class='dim'>monitors: {nav or 'none'} · JSON: <a href='/status'>/status</a> · "
            f"Prometheus: <a href='/metrics'>/metrics</a></p>", _legend()]
    body += [monitor_section(name, data) for name, data in monitors.items()]
    return _document(f"stream_guard · {status.get('app', '')}", body)


def monitor_page(app: str, name: str, data: Mapping[str, Any]) -> str:
    """One monitor on a page of its own."""
    body = [f"<p><a href='/'>← all monitors of {_e(app)}</a></p>", _legend(), monitor_section(name, data)]
    return _document(f"stream_guard · {name}", body)


def feature_page(app: str, name: str, feature: str, segment: str, data: Mapping[str, Any], svg: str | None) -> str:
    """One feature of a monitor's latest window: its checks, and its reference and current distributions."""
    where = "" if segment == SEGMENT_ALL else f" [{segment}]"
    window = data.get("latest_window")
    checks = [c for c in (window or {}).get("checks", []) if c["feature"] == feature and c["segment"] == segment]
    body = [f"<p><a href='/'>{_e(app)}</a> · <a href='{_monitor_href(name)}'>{_e(name)}</a></p>",
            f"<h1>{_e(name)} · {_e(feature)}{_e(where)}</h1>"]
    if window is None:
        body.append("<p>No window has been evaluated by this worker yet.</p>")
    else:
        body.append(f"<p>Latest window {_e(window['start'])} to {_e(window['end'])}, "
                    f"{window['events']:,} events.</p>")
        body.append(f"<figure>{svg}<figcaption>{_e(feature)}{_e(where)}: reference (grey) and this window (red)"
                    f"</figcaption></figure>" if svg else "<p class='dim'>No distribution to draw: the feature "
                    "has no values in this window or in its reference.</p>")
        body.append(checks_table(name, checks, link=False))
    return _document(f"stream_guard · {name} · {feature}", body)


def not_found_page(message: str) -> str:
    return _document("stream_guard · not found", [f"<h1>Not found</h1><p>{_e(message)}</p><p><a href='/'>home</a></p>"])


def monitor_section(name: str, data: Mapping[str, Any]) -> str:
    window = data.get("latest_window")
    last = data.get("last_evaluated_window")
    parts = [f"<section class='monitor' id='monitor-{_e(name)}'>",
             f"<h2><a href='{_monitor_href(name)}'>{_e(name)}</a></h2>",
             "<table class='facts'>",
             _fact("watermark", data.get("watermark") or "none yet"),
             _fact("last evaluated window", f"{last['start']} to {last['end']}" if last else "none yet"),
             _fact("evaluates the monitor's windows", _yes_no(data.get("evaluating"))),
             _fact("alert series firing", data.get("firing", 0)),
             _fact("seconds since the last event", number(data.get("seconds_since_last_event"))),
             "</table>", "<h3>Partitions</h3>", partitions_table(data.get("partitions", {}))]
    if window is None:
        why = ("another worker (the owner of the source's partition 0) evaluates this monitor"
               if data.get("evaluating") is False else "no window has been evaluated by this worker yet")
        parts.append(f"<h3>Latest window</h3><p class='dim'>None here: {why}.</p>")
    else:
        parts.append(f"<h3>Latest window: {_e(window['start'])} to {_e(window['end'])} · "
                     f"{window['events']:,} events · evaluated at {_e(window['evaluated_at'])}</h3>")
        parts.append(checks_table(name, window["checks"], link=True))
    parts += ["<h3>Firing now</h3>", firing_table(data.get("firing_alerts", [])),
              "<h3>Recent alerts</h3>", alerts_table(data.get("recent_alerts", [])), "</section>"]
    return "\n".join(parts)


def partitions_table(partitions: Mapping[str, Mapping[str, Any]]) -> str:
    if not partitions:
        return "<p class='dim'>No partition has delivered a record to this worker yet.</p>"
    head = _row("th", ["partition", "consumed", "folded", "dead-lettered", "filtered", "next offset", "watermark",
                       "seconds since last event"])
    rows = []
    for partition, p in partitions.items():
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in p.get("dead_lettered_by_reason", {}).items())
        dead = f"{p.get('dead_lettered', 0):,}" + (f" ({reasons})" if reasons else "")
        rows.append(_row("td", [partition, f"{p.get('consumed', 0):,}", f"{p.get('folded', 0):,}", dead,
                                f"{p.get('filtered', 0):,}", f"{p.get('offset', 0):,}", p.get("watermark") or "",
                                number(p.get("seconds_since_last_event"))]))
    return f"<table class='partitions'>{head}{''.join(rows)}</table>"


def checks_table(monitor: str, checks: Iterable[Mapping[str, Any]], link: bool) -> str:
    """One row per check of the window, coloured by its severity."""
    head = _row("th", ["feature", "segment", "check", "metric", "severity", "value", "threshold", "p-value",
                       "n current", "n reference"])
    rows = []
    for c in checks:
        feature = "(whole monitor)" if c["feature"] == MONITOR_WIDE else c["feature"]
        cell = _e(feature)
        if link and c["feature"] != MONITOR_WIDE:
            cell = f"<a href='{_feature_href(monitor, c['feature'], c['segment'])}'>{cell}</a>"
        severity = c["severity"]
        values = [number(c.get("value")), number(c.get("threshold")), number(c.get("p_value")),
                  f"{c['n_current']:,}", f"{c['n_reference']:,}"]
        rows.append(f"<tr class='check sev-{_e(severity)}' data-severity='{_e(severity)}' "
                    f"title='{_e(c.get('summary', ''))}'><td>{cell}</td><td>{_e(c['segment'])}</td>"
                    f"<td>{_e(c['check'])}</td><td>{_e(c['metric'])}</td>"
                    f"<td class='severity'>{_e(severity)}</td>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>")
    if not rows:
        return "<p class='dim'>No checks.</p>"
    return f"<table class='checks'>{head}{''.join(rows)}</table>"


def firing_table(firing: Iterable[Mapping[str, Any]]) -> str:
    rows = [f"<tr class='sev-{_e(f['severity'])}'><td>{_e(f['feature'])}</td><td>{_e(f['check'])}</td>"
            f"<td class='severity'>{_e(f['severity'])}</td><td>{_e(f.get('since') or '')}</td></tr>" for f in firing]
    if not rows:
        return "<p class='dim'>Nothing is firing.</p>"
    return ("<table class='firing'>" + _row("th", ["feature", "check", "severity", "firing since (window start)"])
            + "".join(rows) + "</table>")


def alerts_table(alerts: Iterable[Mapping[str, Any]]) -> str:
    """Alert records, newest first: their status (firing or resolved), severity and summary."""
    rows = []
    for a in alerts:
        window = a.get("window", {})
        rows.append(f"<tr class='alert sev-{_e(a['severity'])}' data-status='{_e(a['status'])}'>"
                    f"<td>{_e(a.get('emitted_at', ''))}</td><td>{_e(a['status'])}</td>"
                    f"<td class='severity'>{_e(a['severity'])}</td><td>{_e(a.get('segment', ''))}</td>"
                    f"<td>{_e(a['feature'])}</td><td>{_e(a['check'])}</td><td>{_e(window.get('start', ''))}</td>"
                    f"<td>{number(a.get('value'))}</td><td>{_e(a.get('summary', ''))}</td></tr>")
    if not rows:
        return "<p class='dim'>No alert published by this worker yet.</p>"
    head = _row("th", ["emitted", "status", "severity", "segment", "feature", "check", "window", "value", "summary"])
    return f"<table class='alerts'>{head}{''.join(rows)}</table>"


def _yes_no(flag: Any) -> str:
    return "unknown" if flag is None else "yes" if flag else "no"


def _fact(label: str, value: Any) -> str:
    return f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>"


def _row(tag: str, cells: Iterable[Any]) -> str:
    return "<tr>" + "".join(f"<{tag}>{_e(c)}</{tag}>" for c in cells) + "</tr>"


def _legend() -> str:
    return "<p class='legend'>" + "".join(f"<span class='chip sev-{s}'>{s}</span>" for s in COLOURS) + "</p>"


def _monitor_href(name: str) -> str:
    return _e(f"/monitors/{quote(name, safe='')}")


def _feature_href(monitor: str, feature: str, segment: str) -> str:
    href = f"/monitors/{quote(monitor, safe='')}/features/{quote(feature, safe='')}"
    return _e(href if segment == SEGMENT_ALL else f"{href}?segment={quote(segment, safe='')}")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _document(title: str, body: list[str]) -> str:
    severity_css = "\n".join(f".sev-{s} {{ background: {c}; }}" for s, c in COLOURS.items())
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>\n'
            f"<style>\n{_CSS}\n{severity_css}\n</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


_CSS = """body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: .4em 0 1em; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
table.facts th { font-weight: normal; color: #555; }
section.monitor { border-top: 2px solid #888; margin-top: 1.5em; }
.chip { padding: 0 6px; margin: 0 2px; border-radius: 3px; } .dim { color: #777; }
figure { margin: 0; } figcaption { font-size: 12px; color: #444; }"""
