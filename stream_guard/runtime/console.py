"""How alerts look in a terminal: one line each, coloured by severity; `--json` prints records as they are."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

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


def print_alert(console: Console, alert: dict[str, Any]) -> None:
    console.print(alert_line(alert), highlight=False, soft_wrap=True)
