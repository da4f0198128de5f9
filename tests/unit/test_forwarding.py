"""What `stream-guard forward` sends: Alertmanager alerts built from alert records, webhook bodies, retries."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream_guard.adapters.forwarder import DeliveryFailed, HttpTarget, deliver
from stream_guard.core.alerting.alertmanager_feed import AlertmanagerFeed, emitted_ms
from stream_guard.core.alerting.forwarding import RetryPolicy, webhook_bodies

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
DIGEST: dict[str, Any] = {"schema": "stream_guard.digest/v1", "id": "5e0f", "monitor": "fraud-model", "firing": [],
                          "emitted_at": "2026-11-23T05:48:05.210Z"}

LABELS = {"alertname": "StreamGuardNumericDrift", "kind": "data-quality", "app": "demo-guard",
          "monitor": "fraud-model", "segment": "all", "feature": "amount", "check": "numeric_drift"}
FIRING_NOTES = {"summary": FIRING["summary"], "window": "2026-11-23T05:47:00Z/2026-11-23T05:48:00Z",
                "alert_id": "9f0c11", "value": "2.16", "threshold": "0.25", "metric": "psi"}
MINUTE = 60_000
T0 = emitted_ms(FIRING)          # the forwarder reads each record a moment after the worker wrote it


def at(record: dict[str, Any], severity: str, emitted: str, status: str = "firing") -> dict[str, Any]:
    return {**record, "severity": severity, "status": status, "emitted_at": emitted}


def sent(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(severity, startsAt, endsAt) of each alert, in order."""
    return [(a["labels"]["severity"], a["startsAt"], a["endsAt"]) for a in alerts]


def test_a_firing_record_is_sent_at_its_severity_only_ending_four_intervals_ahead() -> None:
    feed = AlertmanagerFeed("demo-guard", "http://guard.internal:6066/", resend_every=MINUTE)
    assert feed.take(FIRING, T0 + 300) == [
        {"labels": {**LABELS, "severity": "critical"}, "annotations": FIRING_NOTES,
         "startsAt": "2026-11-23T05:48:05.210Z", "endsAt": "2026-11-23T05:52:05.510Z",
         "generatorURL": "http://guard.internal:6066/monitors/fraud-model/features/amount"}]


def test_a_resolve_ends_the_held_alert_at_the_resolve_time_without_generator_url_when_no_status_url() -> None:
    feed = AlertmanagerFeed("demo-guard")
    feed.take(FIRING, T0)
    assert orjson.dumps(feed.take(RESOLVED, emitted_ms(RESOLVED) + 300)).decode() == (
        '[{"labels":{"alertname":"StreamGuardNumericDrift","kind":"data-quality","app":"demo-guard","monitor":"fraud-model",'
        '"segment":"all","feature":"amount","check":"numeric_drift","severity":"critical"},'
        '"annotations":{"summary":"Resolved. amount: PSI 0.0116 against the previous 4 windows is within bounds '
        '(below 0.1).","window":"2026-11-23T05:49:00Z/2026-11-23T05:50:00Z","alert_id":"77ab33",'
        '"value":"0.0116","threshold":"0.1","metric":"psi"},'
        '"startsAt":"2026-11-23T05:48:05.210Z","endsAt":"2026-11-23T05:50:05.500Z"}]')
    assert feed.held == {}


def test_a_resolve_of_a_series_never_sent_as_firing_is_not_sent() -> None:
    feed = AlertmanagerFeed("demo-guard")
    assert feed.take(RESOLVED, T0) == []
    assert feed.take({**RESOLVED, "feature": "age"}, T0) == []


def test_a_severity_change_is_one_resolve_of_the_old_severity_and_no_severity_that_never_fired_is_sent() -> None:
    feed = AlertmanagerFeed("demo-guard", resend_every=MINUTE)
    warning = at(FIRING, "warning", "2026-11-23T05:48:05Z")
    critical = at(FIRING, "critical", "2026-11-23T05:49:05Z")
    resolved = at(FIRING, "critical", "2026-11-23T05:50:05Z", "resolved")
    assert sent(feed.take(warning, emitted_ms(warning))) == [
        ("warning", "2026-11-23T05:48:05Z", "2026-11-23T05:52:05Z")]
    assert sent(feed.take(critical, emitted_ms(critical))) == [
        ("warning", "2026-11-23T05:48:05Z", "2026-11-23T05:49:05Z"),
        ("critical", "2026-11-23T05:49:05Z", "2026-11-23T05:53:05Z")]
    assert sent(feed.take(resolved, emitted_ms(resolved))) == [
        ("critical", "2026-11-23T05:49:05Z", "2026-11-23T05:50:05Z")]


def test_a_repeated_firing_record_refreshes_the_alert_and_keeps_its_first_starts_at() -> None:
    feed = AlertmanagerFeed("demo-guard", resend_every=MINUTE)
    feed.take(FIRING, T0)
    repeat = {**FIRING, "id": "9f0c12", "repeat": 1, "summary": "still", "emitted_at": "2026-11-23T05:51:05Z"}
    [alert] = feed.take(repeat, T0 + 3 * MINUTE)
    assert (alert["startsAt"], alert["endsAt"], alert["annotations"]["summary"]) == (
        "2026-11-23T05:48:05.210Z", "2026-11-23T05:55:05.210Z", "still")


def test_held_alerts_are_re_sent_every_interval_with_ends_at_moved_ahead_until_resolved() -> None:
    feed = AlertmanagerFeed("demo-guard", resend_every=MINUTE)
    feed.take(FIRING, T0)
    other = {**FIRING, "feature": "age", "severity": "warning", "emitted_at": "2026-11-23T05:48:35Z"}
    feed.take(other, T0 + 30_000)
    assert [feed.due(T0 + MINUTE - 1), feed.due(T0 + MINUTE)] == [False, True]
    assert [(a["labels"]["feature"], a["startsAt"], a["endsAt"]) for a in feed.resend(T0 + MINUTE)] == [
        ("amount", "2026-11-23T05:48:05.210Z", "2026-11-23T05:53:05.210Z"),
        ("age", "2026-11-23T05:48:35Z", "2026-11-23T05:53:05.210Z")]
    assert [feed.due(T0 + 2 * MINUTE - 1), feed.due(T0 + 2 * MINUTE)] == [False, True]
    feed.take(RESOLVED, T0 + 2 * MINUTE)
    feed.take({**other, "status": "resolved"}, T0 + 2 * MINUTE)
    assert feed.due(T0 + 10 * MINUTE) is False


def test_records_forwarded_before_a_restart_are_learnt_without_sending_and_re_sent_at_once() -> None:
    feed = AlertmanagerFeed("demo-guard", resend_every=MINUTE)
    feed.adopt(FIRING)
    feed.adopt({**FIRING, "feature": "age"})
    feed.adopt({**RESOLVED, "feature": "age"})
    feed.adopt(DIGEST)
    now = T0 + 30 * MINUTE
    assert feed.due(now)
    assert sent(feed.resend(now)) == [("critical", "2026-11-23T05:48:05.210Z", "2026-11-23T06:22:05.210Z")]


def test_a_resolve_never_ends_after_the_forwarders_clock_nor_before_the_alert_started() -> None:
    feed = AlertmanagerFeed("demo-guard", resend_every=MINUTE)
    feed.take(FIRING, T0)
    ahead = {**RESOLVED, "emitted_at": "2026-11-23T06:00:00Z"}     # the worker's clock runs ahead
    assert sent(feed.take(ahead, T0 + 1000))[0][2] == "2026-11-23T05:48:06.210Z"
    feed.take(FIRING, T0)
    early = {**RESOLVED, "emitted_at": "2026-11-23T05:40:00Z"}
    assert sent(feed.take(early, T0 + 1000))[0][2] == "2026-11-23T05:48:05.210Z"


def test_a_source_level_alert_links_to_its_monitor_and_carries_the_source_label() -> None:
    record = {**FIRING, "feature": "source:ledger-etl", "check": "source", "source": "ledger-etl",
              "value": None, "metric": None}
    [first] = AlertmanagerFeed("demo-guard", "http://guard:6066").take(record, T0)
    assert first["labels"] == {"alertname": "StreamGuardSource", "kind": "data-quality", "app": "demo-guard",
                               "monitor": "fraud-model", "segment": "all", "feature": "source:ledger-etl",
                               "check": "source", "severity": "critical", "source": "ledger-etl"}
    assert first["generatorURL"] == "http://guard:6066/monitors/fraud-model"
    assert set(first["annotations"]) == {"summary", "window", "alert_id", "threshold"}


def test_digests_and_unreadable_records_send_nothing_to_alertmanager() -> None:
    feed = AlertmanagerFeed("demo-guard")
    assert feed.take(DIGEST, T0) == [] and feed.take({"schema": "unreadable", "raw": "x"}, T0) == []


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
