"""How `alerts tail` shows records: one coloured line per alert, details on demand, raw JSON for machines."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from rich.console import Console

from stream_guard.views.console import alert_details, alert_line, print_tail

ALERT: dict[str, Any] = {
    "schema": "stream_guard.alert/v1", "id": "9f0c11", "fingerprint": "3b1e22", "status": "firing",
    "monitor": "fraud-model", "segment": "all", "feature": "amount", "check": "numeric_drift", "metric": "psi",
    "severity": "critical", "window": {"start": "2026-11-23T05:47:00Z", "end": "2026-11-23T05:48:00Z"},
    "reference": {"kind": "rolling", "start": "2026-11-23T05:43:00Z", "end": "2026-11-23T05:47:00Z"},
    "value": 2.16, "threshold": 0.25, "p_value": 0.0, "p_adjusted": 1.234e-5, "n_current": 1200,
    "n_reference": 4800, "summary": "amount: PSI 2.16 reaches critical (threshold 0.25).",
    "emitted_at": "2026-11-23T05:48:05.210Z"}
DIGEST: dict[str, Any] = {
    "schema": "stream_guard.digest/v1", "monitor": "fraud-model",
    "window": {"start": "2026-11-23T05:47:00Z", "end": "2026-11-23T05:48:00Z"},
    "firing": [{"feature": "amount", "check": "numeric_drift", "severity": "critical", "value": 2.16}]}


def rendered(record: dict[str, Any], **options: Any) -> str:
    out = io.StringIO()
    print_tail(Console(file=out, width=200, color_system=None), record, **options)
    return out.getvalue()


def test_an_alert_is_one_line_with_its_severity_coloured() -> None:
    line = alert_line(ALERT)
    assert line.plain == ("05:47–05:48  CRITICAL  firing    fraud-model/amount  numeric_drift  "
                          "amount: PSI 2.16 reaches critical (threshold 0.25).")
    severity_span = next(span for span in line.spans if line.plain[span.start:span.end] == "CRITICAL")
    assert severity_span.style == "bold red"
    warning = alert_line({**ALERT, "severity": "warning"})
    assert [s.style for s in warning.spans if warning.plain[s.start:s.end] == "WARNING "] == ["yellow"]


def test_a_resolved_alert_is_green() -> None:
    line = alert_line({**ALERT, "status": "resolved"})
    assert [s.style for s in line.spans if line.plain[s.start:s.end].strip() in ("CRITICAL", "resolved")] == [
        "green", "green"]


def test_details_list_the_evaluation_fields_under_the_line() -> None:
    assert alert_details(ALERT) == [
        "    id 9f0c11  fingerprint 3b1e22  segment all",
        "    metric psi  value 2.16  threshold 0.25  p 0  p_adjusted 1.234e-05",
        "    n_current 1,200  n_reference 4,800  reference rolling 2026-11-23T05:43:00Z–2026-11-23T05:47:00Z  "
        "emitted_at 2026-11-23T05:48:05.210Z"]


def test_details_of_a_repeated_source_level_alert_list_its_members() -> None:
    record = {"id": "a1", "fingerprint": "f1", "segment": "all", "repeat": 2, "value": None,
              "features": [{"feature": "balance", "check": "missing_rate", "severity": "critical", "value": 0.31},
                           {"feature": "fees", "check": "missing_rate", "severity": "warning", "value": None}]}
    assert alert_details(record) == ["    id a1  fingerprint f1  segment all  repeat 2",
                                     "    · balance missing_rate critical 0.31",
                                     "    · fees missing_rate warning n/a"]


def test_tail_prints_details_only_when_asked() -> None:
    assert rendered(ALERT).count("\n") == 1
    text = rendered(ALERT, details=True)
    assert text.splitlines()[1:] == alert_details(ALERT)


def test_tail_json_prints_each_record_unchanged_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert rendered(ALERT, as_json=True) == ""
    assert rendered(DIGEST, as_json=True) == ""
    lines = capsys.readouterr().out.splitlines()
    assert [orjson.loads(line) for line in lines] == [ALERT, DIGEST]


def test_tail_leaves_digests_out_when_asked_in_both_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert rendered(DIGEST, digests=False) == ""
    assert rendered(DIGEST, as_json=True, digests=False) == ""
    assert capsys.readouterr().out == ""
    assert rendered(DIGEST).startswith("05:47–05:48  digest    1 firing  fraud-model  amount numeric_drift critical")


def test_a_one_second_window_is_printed_with_its_seconds() -> None:
    second = {**ALERT, "window": {"start": "2026-11-23T00:00:01Z", "end": "2026-11-23T00:00:02Z"}}
    assert alert_line(second).plain.startswith("00:00:01–00:00:02  CRITICAL")
