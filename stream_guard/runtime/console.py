"""How alerts and digests look in a terminal: one line each, coloured by severity.

`--json` prints records as they are instead.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from stream_guard.core.digest import DIGEST_SCHEMA

ALERT_SCHEMA = "stream_guard.alert/v1"
STYLES = {"critical": "bold red", "warning": "yellow", "info": "cyan", "ok": "green"}


def alert_line(alert: dict[str, Any]) -> Text:
    """`08:04–08:05  CRITICAL  firing    fraud-model/amount  numeric_drift  <summary>`"""
    start = alert["window"]["start"][11:16]
    end = alert["window"]["end"][11:16]
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
    start = digest["window"]["start"][11:16]
    end = digest["window"]["end"][11:16]
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


def print_alert(console: Console, alert: dict[str, Any]) -> None:
    console.print(alert_line(alert), highlight=False, soft_wrap=True)


def print_record(console: Console, record: dict[str, Any], digests: bool = True) -> None:
    """An alert or (unless `digests` is false) a digest as one line; other records are skipped."""
    if record.get("schema") == ALERT_SCHEMA:
        print_alert(console, record)
    elif record.get("schema") == DIGEST_SCHEMA and digests:
        console.print(digest_line(record), highlight=False, soft_wrap=True)
