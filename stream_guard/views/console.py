"""How alerts and digests look in a terminal: one line each, coloured by severity.

`--details` adds the evaluation fields under each alert line; `--json` prints records as they are instead.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console
from rich.text import Text

from stream_guard.core.alerting.digest import DIGEST_SCHEMA

ALERT_SCHEMA = "stream_guard.alert/v1"
STYLES = {"critical": "bold red", "warning": "yellow", "info": "cyan", "ok": "green"}


def window_bounds(window: dict[str, str]) -> tuple[str, str]:
    """A window's start and end times of day, as precise as its bounds need: minutes, seconds or ms.

    >>> window_bounds({"start": "2026-11-23T08:04:00Z", "end": "2026-11-23T08:05:00Z"})
    ('08:04', '08:05')
    >>> window_bounds({"start": "2026-11-23T00:00:01Z", "end": "2026-11-23T00:00:02Z"})
    ('00:00:01', '00:00:02')
    >>> window_bounds({"start": "2026-11-23T00:00:01Z", "end": "2026-11-23T00:00:01.500Z"})
    ('00:00:01.000', '00:00:01.500')
    """
    times = [window[key][11:].removesuffix("Z") for key in ("start", "end")]
    if any("." in t for t in times):
        start, end = (t if "." in t else t + ".000" for t in times)
        return start, end
    if any(not t.endswith(":00") for t in times):
        return times[0], times[1]
    return times[0][:5], times[1][:5]


def alert_line(alert: dict[str, Any]) -> Text:
    """`08:04–08:05  CRITICAL  firing    fraud-model/amount  numeric_drift  <summary>`"""
    start, end = window_bounds(alert["window"])
    severity = alert["severity"]
    status = alert["status"]
    line = Text()
    line.append(f"{start}–{end}  ", style="dim")
    line.append(f"{severity.upper():<8}", style=STYLES.get(severity, "") if status == "firing" else "green")
    line.append(f"  {status:<8}  ", style="bold" if status == "firing" else "green")
    line.append(f"{alert['monitor']}/{alert['feature']}", style="bold")
    line.append(f"  {alert['check']}  ", style="dim")
    line.append(alert["summary"])
    return line


def digest_line(digest: dict[str, Any]) -> Text:
    """`08:04–08:05  digest    2 firing  fraud-model  amount numeric_drift critical 2.16 · age missing_rate ...`"""
    start, end = window_bounds(digest["window"])
    line = Text(style="dim")
    line.append(f"{start}–{end}  {'digest':<8}  {str(len(digest['firing'])) + ' firing':<8}  ")
    line.append(digest["monitor"], style="bold")
    line.append("  ")
    for i, entry in enumerate(digest["firing"]):
        value = "n/a" if entry["value"] is None else f"{entry['value']:.3g}"
        line.append(" · " if i else "")
        line.append(f"{entry['feature']} {entry['check']} ")
        line.append(entry["severity"], style=STYLES.get(entry["severity"], ""))
        line.append(f" {value}")
    return line


def alert_details(alert: dict[str, Any]) -> list[str]:
    """The evaluation behind an alert, a few indented lines to print under its line (fields it lacks are left out).

    >>> for line in alert_details({"id": "9f0c", "fingerprint": "3b1e", "segment": "all", "metric": "psi",
    ...                            "value": 2.16, "threshold": 0.25, "n_current": 1200, "n_reference": 4800}):
    ...     print(line)
        id 9f0c  fingerprint 3b1e  segment all
        metric psi  value 2.16  threshold 0.25
        n_current 1,200  n_reference 4,800
    """
    reference = alert.get("reference") or {}
    span = _span(reference.get("start"), reference.get("end"))
    rows = [
        [("id", alert.get("id")), ("fingerprint", alert.get("fingerprint")), ("segment", alert.get("segment")),
         ("repeat", alert.get("repeat"))],
        [("metric", alert.get("metric")), ("value", _number(alert.get("value"))),
         ("threshold", _number(alert.get("threshold"))), ("importance", _number(alert.get("importance"))),
         ("p", _number(alert.get("p_value"))), ("p_adjusted", _number(alert.get("p_adjusted")))],
        [("n_current", _count(alert.get("n_current"))), ("n_reference", _count(alert.get("n_reference"))),
         ("reference", " ".join(filter(None, [reference.get("kind"), span])) or None),
         ("emitted_at", alert.get("emitted_at"))],
    ]
    lines = ["    " + "  ".join(f"{key} {value}" for key, value in row if value is not None) for row in rows]
    for member in alert.get("features") or []:
        value = _number(member.get("value")) or "n/a"
        lines.append(f"    · {member['feature']} {member['check']} {member['severity']} {value}")
    return [line for line in lines if line.strip()]


def _number(value: Any) -> str | None:
    return None if value is None else f"{value:.4g}"


def _count(value: Any) -> str | None:
    return None if value is None else f"{value:,}"


def _span(start: str | None, end: str | None) -> str | None:
    return f"{start}–{end}" if start and end else None


def print_alert(console: Console, alert: dict[str, Any], details: bool = False) -> None:
    console.print(alert_line(alert), highlight=False, soft_wrap=True)
    if details:
        for line in alert_details(alert):
            console.print(Text(line, style="dim"), highlight=False, soft_wrap=True)


def print_record(console: Console, record: dict[str, Any], digests: bool = True, details: bool = False) -> None:
    """An alert (with its evaluation fields under it if `details`) or, unless `digests` is false, a digest as
    one line; other records are skipped."""
    if record.get("schema") == ALERT_SCHEMA:
        print_alert(console, record, details)
    elif record.get("schema") == DIGEST_SCHEMA and digests:
        console.print(digest_line(record), highlight=False, soft_wrap=True)


def print_tail(console: Console, record: dict[str, Any], as_json: bool = False, digests: bool = True,
               details: bool = False) -> None:
    """One record as `alerts tail` shows it: unchanged JSON on one line for machines, or the coloured line."""
    if not digests and record.get("schema") == DIGEST_SCHEMA:
        return
    if as_json:
        sys.stdout.write(orjson.dumps(record).decode() + "\n")
        sys.stdout.flush()
    else:
        print_record(console, record, digests, details)
