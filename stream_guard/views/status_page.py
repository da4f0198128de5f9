"""The worker's status page: plain server-rendered HTML from the `/status` JSON, nothing else.

It is read at the moment of a page, so it leads with what is wrong: one summary sentence, then what is
firing now (severity, feature, check, the alert's summary, since when in event time and in wall time,
how far event time is behind the clock), then each monitor's checks (freshness and volume included),
then the partitions and the recent alerts. A feature's page adds each check's values over the last
windows, thresholds drawn, and the feature's alert timeline.

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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from stream_guard.core.topology.sizes import format_size
from stream_guard.views.distributions import COLOURS, number
from stream_guard.views.sparklines import CheckValue, sparkline_svg

SEGMENT_ALL = "all"
MONITOR_WIDE = "*"
RANK = {"critical": 0, "warning": 1, "info": 2}


def index_page(status: Mapping[str, Any]) -> str:
    """Every monitor of the worker: what is firing first, then each monitor's checks, partitions and alerts."""
    monitors = status.get("monitors", {})
    nav = " · ".join(f'<a href="{_monitor_href(name)}">{_e(name)}</a>' for name in monitors)
    body = [f"<h1>stream_guard worker · {_e(status.get('app', ''))}</h1>", summary_paragraph(monitors),
            "<h2>Firing now</h2>", firing_table(_all_firing(monitors), with_monitor=True),
            f"<p class='dim'>monitors: {nav or 'none'} · JSON: <a href='/status'>/status</a> · "
            f"Prometheus: <a href='/metrics'>/metrics</a></p>", _legend()]
    body += [monitor_section(name, data) for name, data in monitors.items()]
    return _document(f"stream_guard · {status.get('app', '')}", body)


def monitor_page(app: str, name: str, data: Mapping[str, Any]) -> str:
    """One monitor on a page of its own, what is firing first."""
    body = [f"<p><a href='/'>← all monitors of {_e(app)}</a></p>", f"<h1>{_e(name)}</h1>",
            summary_paragraph({name: data}), "<h2>Firing now</h2>",
            firing_table(_all_firing({name: data}), with_monitor=False), _legend(),
            monitor_section(name, data, title=False)]
    return _document(f"stream_guard · {name}", body)


def feature_page(app: str, name: str, feature: str, segment: str, data: Mapping[str, Any], svg: str | None,
                 history: Mapping[str, Sequence[Any]] | None = None,
                 alerts: Sequence[Mapping[str, Any]] = ()) -> str:
    """One feature: what fires on it now, each check over the last windows, the distributions of the latest
    window, its checks, and the feature's alert timeline (kept after it resolved)."""
    where = "" if segment == SEGMENT_ALL else f" [{segment}]"
    window = data.get("latest_window")
    checks = [c for c in (window or {}).get("checks", []) if c["feature"] == feature and c["segment"] == segment]
    firing = [f for f in _all_firing({name: data}) if f["feature"] == feature]
    body = [f"<p><a href='/'>{_e(app)}</a> · <a href='{_monitor_href(name)}'>{_e(name)}</a></p>",
            f"<h1>{_e(name)} · {_e(feature)}{_e(where)}</h1>",
            "<h2>Firing now</h2>", firing_table(firing, with_monitor=False),
            "<h2>Check history</h2>", history_table(history or {})]
    if window is None:
        body.append("<p>No window has been evaluated by this worker yet.</p>")
    else:
        body.append(f"<h2>Latest window: {_e(window['start'])} to {_e(window['end'])}, "
                    f"{window['events']:,} events</h2>")
        body.append(f"<figure>{svg}<figcaption>{_e(feature)}{_e(where)}: reference (grey) and this window (red)"
                    f"</figcaption></figure>" if svg else "<p class='dim'>No distribution to draw: the feature "
                    "has no values in this window or in its reference.</p>")
        body.append(checks_table(name, checks, link=False))
    body += ["<h2>Alert timeline</h2>", alerts_table(alerts)]
    return _document(f"stream_guard · {name} · {feature}", body)


def summary_sentence(monitors: Mapping[str, Mapping[str, Any]]) -> str:
    """What is wrong, in one sentence: how many alerts fire at which severities, the worst first.

    >>> summary_sentence({"m": {"firing_alerts": [], "behind_seconds": 3.0}})
    'Nothing is firing on 1 monitor. Event time is 3 s behind the clock.'
    >>> for part in summary_sentence({"m": {"behind_seconds": 95.0, "firing_alerts": [
    ...     {"feature": "age", "check": "freshness", "severity": "warning", "since": "2026-11-23T05:47:00Z"},
    ...     {"feature": "amount", "check": "psi", "severity": "critical", "since": "2026-11-23T05:48:00Z"}]}
    ...     }).split("; "):
    ...     print(part)
    2 alerts firing (1 critical, 1 warning)
    worst: m amount psi, critical since 05:48:00 event time. Event time is 1.6 min behind the clock.
    """
    firing = _all_firing(monitors)
    behind = max((d["behind_seconds"] for d in monitors.values() if d.get("behind_seconds") is not None),
                  default=None)
    lag = "" if behind is None else f" Event time is {_age(behind)} behind the clock."
    lag += dead_letter_clause(monitors)
    if not firing:
        count = len(monitors)
        return f"Nothing is firing on {count} monitor{'s' if count != 1 else ''}.{lag}"
    counts = ", ".join(f"{n} {s}" for s in RANK if (n := sum(f["severity"] == s for f in firing)))
    worst = firing[0]
    feature = "(whole monitor)" if worst["feature"] == MONITOR_WIDE else worst["feature"]
    since = f" since {worst['since'][11:19]} event time" if worst.get("since") else ""
    plural = "s" if len(firing) != 1 else ""
    return (f"{len(firing)} alert{plural} firing ({counts}); worst: {worst['monitor']} {feature} {worst['check']}, "
            f"{worst['severity']}{since}.{lag}")


def dead_letter_clause(monitors: Mapping[str, Mapping[str, Any]]) -> str:
    """The events dead-lettered so far, by reason, most first; nothing when there are none. Nothing
    fires for them, so without this the page's first line would read as if every event had been used.

    >>> dead_letter_clause({"m": {"partitions": {"0": {"dead_lettered_by_reason": {"late": 776}},
    ...                                          "1": {"dead_lettered_by_reason": {"late": 805, "invalid_json": 2}}}}})
    ' 1,583 events dead-lettered so far (late 1,581, invalid_json 2).'
    """
    reasons: Counter[str] = Counter()
    for data in monitors.values():
        for counts in (data.get("partitions") or {}).values():
            reasons.update(counts.get("dead_lettered_by_reason") or {})
    total = sum(reasons.values())
    if not total:
        return ""
    by_reason = ", ".join(f"{reason} {count:,}" for reason, count in reasons.most_common())
    return f" {total:,} event{'s' if total != 1 else ''} dead-lettered so far ({by_reason})."


def summary_paragraph(monitors: Mapping[str, Mapping[str, Any]]) -> str:
    firing = _all_firing(monitors)
    level = firing[0]["severity"] if firing else "ok"
    return f"<p class='summary sev-{_e(level)}' id='summary'>{_e(summary_sentence(monitors))}</p>"


def history_table(history: Mapping[str, Sequence[CheckValue]]) -> str:
    """Each check of a feature over the last windows: a sparkline with its threshold, and the latest value."""
    if not history:
        return "<p class='dim'>No window has been evaluated by this worker yet.</p>"
    rows = []
    for check, points in history.items():
        last = points[-1]
        rows.append(f"<tr class='history' data-check='{_e(check)}'><td>{_e(check)}</td>"
                    f"<td class='spark'>{sparkline_svg(points)}</td><td>{number(last.value)}</td>"
                    f"<td>{number(last.threshold)}</td><td class='severity sev-{_e(last.severity)}'>"
                    f"{_e(last.severity)}</td></tr>")
    head = _row("th", ["check", f"value over the last {max(len(p) for p in history.values())} windows "
                                "(dashed: threshold)", "latest", "threshold", "severity"])
    return f"<table class='history'>{head}{''.join(rows)}</table>"


def not_found_page(message: str) -> str:
    return _document("stream_guard · not found", [f"<h1>Not found</h1><p>{_e(message)}</p><p><a href='/'>home</a></p>"])


def monitor_section(name: str, data: Mapping[str, Any], title: bool = True) -> str:
    """A monitor's checks (worst first, freshness included), its facts, partitions and recent alerts."""
    window = data.get("latest_window")
    last = data.get("last_evaluated_window")
    parts = [f"<section class='monitor' id='monitor-{_e(name)}'>"]
    if title:
        parts.append(f"<h2><a href='{_monitor_href(name)}'>{_e(name)}</a></h2>")
    fresh = [data["freshness"]] if data.get("freshness") else []
    if window is None:
        why = ("another worker (the owner of the source's partition 0) evaluates this monitor"
               if data.get("evaluating") is False else "no window has been evaluated by this worker yet")
        parts.append(f"<h3>Checks</h3><p class='dim'>No window here: {why}.</p>")
        parts.append(checks_table(name, fresh, link=False) if fresh else "")
    else:
        parts.append(f"<h3>Checks: freshness now, the rest in the latest window, {_e(window['start'])} to "
                     f"{_e(window['end'])} · {window['events']:,} events · evaluated at "
                     f"{_e(window['evaluated_at'])}</h3>")
        parts.append(checks_table(name, [*fresh, *window["checks"]], link=True))
    thin = data.get("thin_windows") or {}
    if thin.get("summary"):
        parts.append(f"<p class='thin sev-warning'>Thin windows: of the last {_e(thin['windows'])} windows "
                     f"this worker evaluated, {_e(thin['summary'])}.</p>")
    parts += ["<h3>Worker</h3><table class='facts'>",
              _fact("watermark (event time)", data.get("watermark") or "none yet"),
              _fact("event time behind the clock", _age(data.get("behind_seconds"))),
              _fact("last evaluated window", f"{last['start']} to {last['end']}" if last else "none yet"),
              _fact("evaluates the monitor's windows", _yes_no(data.get("evaluating"))),
              _fact("alert series firing", data.get("firing", 0)),
              _fact("seconds since the last event", number(data.get("seconds_since_last_event"))),
              _fact("window state", state_sentence(data.get("state"))),
              "</table>", "<h3>Partitions</h3>", partitions_table(data.get("partitions", {})),
              "<h3>Recent alerts</h3>", alerts_table(data.get("recent_alerts", [])), "</section>"]
    return "\n".join(parts)


def state_sentence(state: Mapping[str, Any] | None) -> str:
    """The cap on a window's stored bytes, the largest open window, and what went over the cap."""
    if not state:
        return "unknown"
    largest = max(state["open_window_bytes"].values(), default=0)
    text = f"largest open window about {format_size(largest)} of the {format_size(state['max_window_bytes'])} cap"
    last = state.get("last_over_cap")
    if not state["windows_over_cap"] or last is None:
        return text + "; no evaluated window went over it"
    return (text + f"; CAP REACHED in {state['windows_over_cap']} evaluated window(s), last {last['start']} "
            f"(about {format_size(last['peak_bytes'])}; {last['pooled_events']:,} events pooled into `other`)")


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
    for c in sorted(checks, key=lambda c: RANK.get(c["severity"], 3)):
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


def firing_table(firing: Sequence[Mapping[str, Any]], with_monitor: bool) -> str:
    """The series firing now, worst first: what, why (the alert's summary), since when, how far behind."""
    if not firing:
        return "<p class='dim firing-none'>Nothing is firing.</p>"
    head = ["severity", *(["monitor"] if with_monitor else []), "feature", "check", "summary",
            "since (event time)", "fired at (wall clock)", "event time behind"]
    rows = []
    for f in firing:
        feature = "(whole monitor)" if f["feature"] == MONITOR_WIDE else _e(f["feature"])
        if f["feature"] != MONITOR_WIDE and not f["feature"].startswith("source:"):
            feature = f"<a href='{_feature_href(f['monitor'], f['feature'], f.get('segment', SEGMENT_ALL))}'>" \
                      f"{feature}</a>"
        cells = [*([_e(f["monitor"])] if with_monitor else []), feature, _e(f["check"]), _e(f.get("summary") or ""),
                 _e(f.get("since") or ""), _e(f.get("fired_at") or "not kept"), _e(_age(f.get("behind_seconds")))]
        rows.append(f"<tr class='firing sev-{_e(f['severity'])}' data-severity='{_e(f['severity'])}'>"
                    f"<td class='severity'>{_e(f['severity'])}</td>" + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    return "<table class='firing'>" + _row("th", head) + "".join(rows) + "</table>"


def _all_firing(monitors: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every monitor's firing series, each with its monitor and how far its event time is behind, worst first."""
    found = [{**f, "monitor": name, "behind_seconds": data.get("behind_seconds"),
              "summary": f.get("summary") or _summary_now(data, f)}
             for name, data in monitors.items() for f in data.get("firing_alerts", [])]
    return sorted(found, key=lambda f: (RANK.get(f["severity"], 3), f.get("since") or "", f["monitor"]))


def _summary_now(data: Mapping[str, Any], firing: Mapping[str, Any]) -> str | None:
    """For a series whose alert record was not kept (it fired before this worker started), the summary
    of the same check now, marked as such, so the row still says why."""
    current = [data.get("freshness") or {}, *((data.get("latest_window") or {}).get("checks") or [])]
    for check in current:
        if (check.get("feature"), check.get("check"), check.get("segment", SEGMENT_ALL)) == \
                (firing["feature"], firing["check"], firing.get("segment", SEGMENT_ALL)) and check.get("summary"):
            return f"now: {check['summary']}"
    return None


def _age(seconds: Any) -> str:
    """`12 s`, `4.5 min`, `2.1 h`, `n/a`."""
    if seconds is None:
        return "n/a"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.2g} min" if seconds < 5400 else f"{seconds / 3600:.2g} h"


def alerts_table(alerts: Iterable[Mapping[str, Any]]) -> str:
    """Alert records, newest first: their status (firing or resolved), severity and summary."""
    rows = []
    for a in alerts:
        window = a.get("window", {})
        colour = f"sev-{_e(a['severity'])}" if a["status"] == "firing" else "resolved"
        rows.append(f"<tr class='alert {colour}' data-status='{_e(a['status'])}'>"
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
figure { margin: 0; } figcaption { font-size: 12px; color: #444; }
p.summary { font-size: 17px; padding: .5em .8em; border-left: 6px solid #888; background: #f6f6f6; }
p.summary.sev-critical { border-left-color: #d93025; } p.summary.sev-warning { border-left-color: #c79100; }
p.summary.sev-ok { border-left-color: #3c8c3c; }
table.firing td { padding: 4px 8px; } table.firing { font-size: 15px; }
tr.resolved { background: #f2f2f2; color: #666; }
td.spark { padding: 0 4px; line-height: 0; }"""
