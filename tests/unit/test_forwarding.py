"""What `stream-guard forward` sends: Alertmanager alerts built from alert records, webhook bodies, retries."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream_guard.adapters.forwarder import DeliveryFailed, HttpTarget, deliver
from stream_guard.core.alerting.forwarding import (
    RetryPolicy,
    alertmanager_alerts,
    alertmanager_batch,
    webhook_bodies,
)

FIRING: dict[str, Any] = {
    "schema": "stream_guard.alert/v1", "id": "9f0c11", "fingerprint": "3b1e22", "status": "firing",
    "monitor": "fraud-model", "segment": "all", "feature": "amount", "check": "numeric_drift",
    "metric": "psi", "severity": "critical",
    "window": {"start": "2026-11-23T05:47:00Z", "end": "2026-11-23T05:48:00Z"},
    "reference": {"kind": "rolling", "start": "2026-11-23T05:43:00Z", "end": "2026-11-23T05:47:00Z"},
    "value": 2.16, "threshold": 0.25, "p_value": 0.0, "p_adjusted": 0.0, "n_current": 1200, "n_reference": 4800,
    "summary": "amount: PSI 2.16 against the previous 4 windows reaches critical (threshold 0.25).",
    "emitted_at": "2026-11-23T05:48:05.210Z"}
RESOLVED: dict[str, Any] = {
    **FIRING, "id": "77ab33", "status": "resolved", "value": 0.0116, "threshold": 0.1,
    "window": {"start": "2026-11-23T05:49:00Z", "end": "2026-11-23T05:50:00Z"},
    "summary": "Resolved. amount: PSI 0.0116 against the previous 4 windows is within bounds (below 0.1).",
    "emitted_at": "2026-11-23T05:50:05.5Z"}
DIGEST: dict[str, Any] = {"schema": "stream_guard.digest/v1", "id": "5e0f", "monitor": "fraud-model", "firing": []}

LABELS = {"alertname": "StreamGuardNumericDrift", "app": "demo-guard", "monitor": "fraud-model", "segment": "all",
          "feature": "amount", "check": "numeric_drift"}
FIRING_NOTES = {"summary": FIRING["summary"], "window": "2026-11-23T05:47:00Z/2026-11-23T05:48:00Z",
                "alert_id": "9f0c11", "value": "2.16", "threshold": "0.25", "metric": "psi"}


def test_a_firing_record_fires_its_severity_and_ends_the_series_other_severities() -> None:
    at = "2026-11-23T05:48:05.210Z"
    assert alertmanager_alerts(FIRING, "demo-guard", "http://guard.internal:6066/") == [
        {"labels": {**LABELS, "severity": "critical"}, "annotations": FIRING_NOTES, "startsAt": at,
         "generatorURL": "http://guard.internal:6066/monitors/fraud-model/features/amount"},
        {"labels": {**LABELS, "severity": "info"}, "annotations": FIRING_NOTES, "startsAt": at, "endsAt": at,
         "generatorURL": "http://guard.internal:6066/monitors/fraud-model/features/amount"},
        {"labels": {**LABELS, "severity": "warning"}, "annotations": FIRING_NOTES, "startsAt": at, "endsAt": at,
         "generatorURL": "http://guard.internal:6066/monitors/fraud-model/features/amount"},
    ]


def test_a_resolved_record_ends_the_alert_at_its_severity_and_omits_generator_url_without_a_status_url() -> None:
    at = "2026-11-23T05:50:05.5Z"
    assert orjson.dumps(alertmanager_alerts(RESOLVED, "demo-guard")).decode() == (
        '[{"labels":{"alertname":"StreamGuardNumericDrift","app":"demo-guard","monitor":"fraud-model",'
        '"segment":"all","feature":"amount","check":"numeric_drift","severity":"critical"},'
        '"annotations":{"summary":"Resolved. amount: PSI 0.0116 against the previous 4 windows is within bounds '
        '(below 0.1).","window":"2026-11-23T05:49:00Z/2026-11-23T05:50:00Z","alert_id":"77ab33",'
        '"value":"0.0116","threshold":"0.1","metric":"psi"},'
        f'"startsAt":"{at}","endsAt":"{at}"}}]')


def test_a_source_level_alert_links_to_its_monitor_and_carries_the_source_label() -> None:
    record = {**FIRING, "feature": "source:ledger-etl", "check": "source", "source": "ledger-etl",
              "value": None, "metric": None}
    first = alertmanager_alerts(record, "demo-guard", "http://guard:6066")[0]
    assert first["labels"] == {"alertname": "StreamGuardSource", "app": "demo-guard", "monitor": "fraud-model",
                               "segment": "all", "feature": "source:ledger-etl", "check": "source",
                               "severity": "critical", "source": "ledger-etl"}
    assert first["generatorURL"] == "http://guard:6066/monitors/fraud-model"
    assert set(first["annotations"]) == {"summary", "window", "alert_id", "threshold"}


def test_a_batch_holds_the_alerts_of_alert_records_only_in_order() -> None:
    batch = alertmanager_batch([FIRING, DIGEST, RESOLVED], "demo-guard")
    assert [(a["labels"]["severity"], "endsAt" in a) for a in batch] == [
        ("critical", False), ("info", True), ("warning", True), ("critical", True)]


def test_webhooks_get_the_records_unchanged_and_digests_only_when_asked() -> None:
    assert webhook_bodies([FIRING, DIGEST, RESOLVED]) == [FIRING, RESOLVED]
    assert webhook_bodies([FIRING, DIGEST, {"schema": "unreadable"}], digests=True) == [FIRING, DIGEST]


class ScriptedTarget(HttpTarget):
    """Answers from a script of (status, body) instead of the network."""

    def __init__(self, answers: list[tuple[int | None, bytes]], url: str = "http://u:s3cret@am:9093/api/v2/alerts"):
        super().__init__("alertmanager", url)
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "bodies", [])

    def post(self, body: bytes) -> tuple[int | None, bytes, str]:
        self.bodies.append(body)  # type: ignore[attr-defined]
        status, answer = self.answers.pop(0)  # type: ignore[attr-defined]
        return status, answer, "connection refused" if status is None else f"HTTP {status}"


def test_5xx_and_connection_errors_are_retried_with_backoff_and_logged_without_the_password() -> None:
    target = ScriptedTarget([(503, b"busy"), (None, b""), (200, b"")])
    logs: list[str] = []
    waits: list[float] = []
    deliver(target, [1], RetryPolicy(attempts=4, first=0.5, cap=10), logs.append, waits.append)
    assert waits == [0.5, 1.0]
    assert logs == ["POST http://u:***@am:9093/api/v2/alerts failed (HTTP 503: busy); retry 1/3 in 0.5s",
                    "POST http://u:***@am:9093/api/v2/alerts failed (connection refused); retry 2/3 in 1s"]
    assert target.bodies == [b"[1]"] * 3  # type: ignore[attr-defined]


def test_a_failure_after_the_last_retry_stops_with_a_message_naming_the_redacted_url() -> None:
    target = ScriptedTarget([(502, b""), (502, b"")])
    with pytest.raises(DeliveryFailed) as caught:
        deliver(target, [1], RetryPolicy(attempts=2, first=0.1), lambda line: None, lambda s: None)
    assert str(caught.value) == (
        "alertmanager http://u:***@am:9093/api/v2/alerts failed 2 times, last with HTTP 502; stopping without "
        "committing past this record, so a restart sends it again")


def test_a_4xx_is_permanent_and_reports_the_response_body() -> None:
    target = ScriptedTarget([(400, b'{"code":400,\n "message":"start time must be before end time"}')])
    with pytest.raises(DeliveryFailed) as caught:
        deliver(target, [1], RetryPolicy(), lambda line: None, lambda s: None)
    assert str(caught.value) == (
        'alertmanager http://u:***@am:9093/api/v2/alerts refused the request with HTTP 400: {"code":400, '
        '"message":"start time must be before end time"}; fix the request or the receiver, then restart: '
        "nothing past this record was committed")
    assert len(target.bodies) == 1  # type: ignore[attr-defined]
