"""What `stream-guard forward` sends where: the labels, annotations and link of an Alertmanager alert,
records as webhook bodies, and how a delivery outcome is judged. Pure: no network, no clock (the I/O is
`adapters/forwarder.py`; which alerts Alertmanager is sent when is `alertmanager_feed`).

Alertmanager identifies an alert by its labels. A stream_guard series (its `fingerprint`) keeps its
labels from window to window except `severity`, which changes when the series escalates or
de-escalates.

>>> record = {"monitor": "m", "segment": "all", "feature": "amount", "check": "numeric_drift"}
>>> labels(record, "app", "warning")["alertname"]
'StreamGuardNumericDrift'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

ALERT_SCHEMA = "stream_guard.alert/v1"
DIGEST_SCHEMA = "stream_guard.digest/v1"
SEVERITIES = ("info", "warning", "critical")
ALERTMANAGER_PATH = "/api/v2/alerts"
EXCERPT_CHARS = 300
DATA_QUALITY = "data-quality"   # the `kind` label of every alert forward sends

Verdict = Literal["delivered", "retry", "permanent"]


def alert_name(check: str) -> str:
    """Alertmanager's `alertname`: `StreamGuard` and the check in CamelCase.

    >>> alert_name("numeric_drift"), alert_name("source")
    ('StreamGuardNumericDrift', 'StreamGuardSource')
    """
    return "StreamGuard" + "".join(part.capitalize() for part in check.split("_"))


def labels(record: dict[str, Any], app: str, severity: str) -> dict[str, str]:
    """The labels that identify the series in Alertmanager (and that its routes match on).

    `kind: data-quality` tells them from the worker-health rules of deploy/prometheus (`kind: worker-health`).
    """
    found = {"alertname": alert_name(record["check"]), "kind": DATA_QUALITY, "app": app,
             "monitor": record["monitor"], "segment": record["segment"], "feature": record["feature"],
             "check": record["check"], "severity": severity}
    if record.get("source"):
        found["source"] = str(record["source"])
    return found


def alert_annotations(record: dict[str, Any]) -> dict[str, str]:
    """What a person reads in the notification; annotations do not identify the alert."""
    window = record["window"]
    notes = {"summary": record["summary"], "window": f"{window['start']}/{window['end']}",
             "alert_id": record["id"]}
    for key in ("value", "threshold"):
        if record.get(key) is not None:
            notes[key] = f"{record[key]:.6g}"
    if record.get("metric"):
        notes["metric"] = str(record["metric"])
    return notes


def generator_url(record: dict[str, Any], status_url: str | None) -> str | None:
    """The worker's status page for the record's feature (or its monitor, for `*` and source-level alerts)."""
    if not status_url:
        return None
    page = f"{status_url.rstrip('/')}/monitors/{quote(record['monitor'], safe='')}"
    feature = record["feature"]
    if feature != "*" and not feature.startswith("source:"):
        page += f"/features/{quote(feature, safe='')}"
    return page


def webhook_bodies(records: Iterable[dict[str, Any]], digests: bool = False) -> list[dict[str, Any]]:
    """The records a generic webhook receives, unchanged, one POST each: alerts, and digests if asked."""
    wanted = {ALERT_SCHEMA, DIGEST_SCHEMA} if digests else {ALERT_SCHEMA}
    return [r for r in records if r.get("schema") in wanted]


def alertmanager_endpoint(url: str) -> str:
    """`http://am:9093` → `http://am:9093/api/v2/alerts`; a URL already ending in the path is kept.

    >>> alertmanager_endpoint("http://am:9093/"), alertmanager_endpoint("http://am:9093/api/v2/alerts")
    ('http://am:9093/api/v2/alerts', 'http://am:9093/api/v2/alerts')
    """
    base = url.rstrip("/")
    return base if base.endswith(ALERTMANAGER_PATH) else base + ALERTMANAGER_PATH


def verdict(status: int | None) -> Verdict:
    """How a response is judged: 2xx delivered; no response, 408, 429 or 5xx worth retrying; other 4xx final.

    >>> [verdict(s) for s in (200, 204, None, 503, 429, 400, 404)]
    ['delivered', 'delivered', 'retry', 'retry', 'retry', 'permanent', 'permanent']
    """
    if status is None or status >= 500 or status in (408, 429):
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    return "permanent"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff: `attempts` tries in all, waiting `first`, 2×, 4×… up to `cap` s."""

    attempts: int = 6
    first: float = 0.5
    cap: float = 10.0

    def delays(self) -> list[float]:
        """The waits between tries.

        >>> RetryPolicy(attempts=5, first=0.5, cap=3.0).delays()
        [0.5, 1.0, 2.0, 3.0]
        """
        return [min(self.first * 2 ** i, self.cap) for i in range(max(self.attempts - 1, 0))]


def excerpt(body: bytes) -> str:
    """The start of a response body, on one line, for an error message."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"
