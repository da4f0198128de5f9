"""What the forwarder holds firing in Alertmanager, and what it sends next. Pure: the clock is passed in.

Alertmanager expects its clients to re-send every active alert (Prometheus does so every minute, with
`endsAt` four intervals ahead): an alert nobody re-sends ends at its `endsAt`. stream_guard publishes a
firing record only when something changes, so the forwarder keeps the alerts it sent as firing and
re-sends them every `resend_every` ms with `endsAt` `ENDS_AHEAD` intervals ahead of its clock. Then:

- a `resolved` record ends the alert the forwarder holds for the series, at the severity it holds;
  a resolve for a series it never sent as firing is not sent (Alertmanager would list it resolved);
- a firing record at a new severity ends the held severity's alert and starts the new one, since
  `severity` is a label and Alertmanager sees two alerts;
- a firing record at the held severity refreshes the alert and keeps its first `startsAt`.

>>> feed = AlertmanagerFeed("app", resend_every=60_000)
>>> warn = {"schema": ALERT_SCHEMA, "status": "firing", "monitor": "m", "segment": "all", "feature": "x",
...         "check": "missing_rate", "severity": "warning", "summary": "x: 9% missing.", "id": "a1",
...         "emitted_at": "2026-11-23T05:00:05Z", "window": {"start": "2026-11-23T04:59:00Z",
...                                                    "end": "2026-11-23T05:00:00Z"}}
>>> now = 1795410005000   # 2026-11-23T05:00:05Z
>>> [(a["labels"]["severity"], a["startsAt"], a["endsAt"]) for a in feed.take(warn, now)]
[('warning', '2026-11-23T05:00:05Z', '2026-11-23T05:04:05Z')]
>>> feed.due(now + 59_999), feed.due(now + 60_000)
(False, True)
>>> [(a["labels"]["severity"], a["endsAt"]) for a in feed.resend(now + 60_000)]
[('warning', '2026-11-23T05:05:05Z')]
>>> crit = {**warn, "severity": "critical", "id": "a2", "emitted_at": "2026-11-23T05:01:05Z"}
>>> for a in feed.take(crit, now + 60_000):   # escalation: the warning ends as the critical starts
...     print(a["labels"]["severity"], a["startsAt"], a["endsAt"])
warning 2026-11-23T05:00:05Z 2026-11-23T05:01:05Z
critical 2026-11-23T05:01:05Z 2026-11-23T05:05:05Z
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stream_guard.core.alerting.alerts import iso
from stream_guard.core.alerting.forwarding import ALERT_SCHEMA, alert_annotations, generator_url, labels

RESEND_EVERY_MS = 60_000
ENDS_AHEAD = 4          # intervals: an alert outlives three lost re-sends, as Prometheus' alerts do

Series = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HeldAlert:
    """One alert the forwarder sent as firing: the latest firing record of its series, and when it started."""

    record: dict[str, Any]
    severity: str
    starts_at: int          # epoch ms


@dataclass
class AlertmanagerFeed:
    """The alerts held firing in Alertmanager by one forwarder, and the POST bodies that keep them so."""

    app: str
    status_url: str | None = None
    resend_every: int = RESEND_EVERY_MS
    held: dict[Series, HeldAlert] = field(default_factory=dict)
    last_resend: int | None = None

    def take(self, record: dict[str, Any], now: int) -> list[dict[str, Any]]:
        """The alerts to POST for a new alert record at `now` (epoch ms); other records give none."""
        if record.get("schema") != ALERT_SCHEMA:
            return []
        key, at = series(record, self.app), emitted_ms(record)
        before = self.held.pop(key, None)
        sent = []
        if before is not None and (record["status"] == "resolved" or before.severity != record["severity"]):
            sent.append(self._ended(before, record, min(at, now)))
        elif before is not None:
            at = before.starts_at
        if record["status"] == "firing":
            self.last_resend = now if self.last_resend is None else self.last_resend
            self.held[key] = HeldAlert(record, record["severity"], at)
            sent.append(self._firing(self.held[key], now))
        return sent

    def adopt(self, record: dict[str, Any]) -> None:
        """Learn what a record already forwarded (before a restart) left firing, without sending anything."""
        if record.get("schema") == ALERT_SCHEMA:
            self.take(record, emitted_ms(record))

    def due(self, now: int) -> bool:
        """Whether the held alerts are to be sent again."""
        return bool(self.held) and (self.last_resend is None or now - self.last_resend >= self.resend_every)

    def resend(self, now: int) -> list[dict[str, Any]]:
        """Every held alert again, its `endsAt` moved ahead of `now`."""
        self.last_resend = now
        return [self._firing(held, now) for held in self.held.values()]

    def _firing(self, held: HeldAlert, now: int) -> dict[str, Any]:
        ends = max(now, held.starts_at) + ENDS_AHEAD * self.resend_every
        return self._alert(held.record, held.severity, held.starts_at, ends)

    def _ended(self, held: HeldAlert, record: dict[str, Any], at: int) -> dict[str, Any]:
        return self._alert(record, held.severity, held.starts_at, max(at, held.starts_at))

    def _alert(self, record: dict[str, Any], severity: str, starts: int, ends: int) -> dict[str, Any]:
        body: dict[str, Any] = {"labels": labels(record, self.app, severity),
                                "annotations": alert_annotations(record), "startsAt": iso(starts),
                                "endsAt": iso(ends)}
        link = generator_url(record, self.status_url)
        if link:
            body["generatorURL"] = link
        return body


def series(record: dict[str, Any], app: str) -> Series:
    """What Alertmanager identifies an alert by, less `severity`: one stream_guard series."""
    return tuple(sorted((k, v) for k, v in labels(record, app, "").items() if k != "severity"))


def emitted_ms(record: dict[str, Any]) -> int:
    """The record's `emitted_at` (ISO-8601, the worker's wall clock) in epoch ms."""
    return int(datetime.fromisoformat(record["emitted_at"]).timestamp() * 1000)
