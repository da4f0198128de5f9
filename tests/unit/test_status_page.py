"""The worker's status page, `/status` additions and `/metrics`, from a runtime driven without Faust."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_guard.adapters.memory_store import MemoryStateStore
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.records import DeadLetter, RawRecord
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.topology.services import StateSpec
from stream_guard.offline import scenario
from stream_guard.runtime.metrics import WorkerMetrics
from stream_guard.runtime.monitor_runtime import MonitorRuntime
from stream_guard.runtime.web import WorkerObserver, monitor_status, runtime_status, worker_status
from stream_guard.views import status_page
from stream_guard.views.live_view import MonitorView

from .builders import monitor, records
from .test_engine import DEMO, START

NOW = START + 10 * 60_000


class NoPublisher:
    async def alerts(self, records: Any) -> None: ...
    async def dead_letters(self, letters: list[DeadLetter]) -> None: ...


@pytest.fixture(scope="module")
def worker() -> tuple[MonitorRuntime, MonitorView, WorkerMetrics]:
    """The demo monitor after its fifth window (amount shifted: critical), two bad records among the events."""
    runtime = MonitorRuntime(DEMO, StateSpec(), MemoryStateStore(), NoPublisher(),
                             clock=lambda: NOW)
    view = MonitorView(DEMO)
    runtime._retrying.errors = 2
    metrics = WorkerMetrics({DEMO.name: runtime}, lambda topic, p: {0: 8000, 1: 5}.get(p), "demo-guard", [DEMO.name])
    observer = WorkerObserver({DEMO.name: view}, metrics, lambda: NOW)
    lines = [orjson.dumps(e) for e in scenario.stream(6, START, 1200)]
    lines[10:10] = [b"{broken", b"[1]"]
    runtime.freshness.received({0}, NOW - 1500)
    engine = runtime.engine
    for i in range(0, len(lines), 1000):
        engine.fold([RawRecord(line, 0, i + j, "fraud.features") for j, line in enumerate(lines[i:i + 1000])])
        for start in engine.due_windows():
            if start > START + 4 * 60_000:
                continue
            result = engine.close_window(start, engine.local_profiles(start), emitted_at=NOW)
            observer.window_closed(engine, result, 0.02)
            observer.published(result.alerts + ([result.digest] if result.digest else []))
    observer.flushed(DEMO.name, 0.003)
    return runtime, view, metrics


def test_status_json_keeps_its_fields_and_adds_the_latest_windows_checks_and_alerts(worker: Any) -> None:
    runtime, view, _ = worker
    status = monitor_status(runtime, view)
    assert status["last_evaluated_window"] == {"start": iso(START + 4 * 60_000), "end": iso(START + 5 * 60_000)}
    assert status["partitions"]["0"]["dead_lettered"] == 2
    window = status["latest_window"]
    assert (window["start"], window["events"], window["evaluated_at"]) == (iso(START + 4 * 60_000), 1200, iso(NOW))
    critical = {(c["feature"], c["check"]) for c in window["checks"] if c["severity"] == "critical"}
    assert critical == {("amount", "numeric_drift"), ("amount", "mean_shift")}
    assert [(a["status"], a["feature"], a["check"]) for a in status["recent_alerts"]] == [
        ("firing", "amount", "outside_reference"), ("firing", "amount", "mean_shift"),
        ("firing", "amount", "numeric_drift")]
    assert [(f["feature"], f["check"], f["severity"], f["since"]) for f in status["firing_alerts"]] == [
        ("amount", "mean_shift", "critical", iso(START + 4 * 60_000)),
        ("amount", "numeric_drift", "critical", iso(START + 4 * 60_000)),
        ("amount", "outside_reference", "warning", iso(START + 4 * 60_000))]
    assert orjson.loads(orjson.dumps(worker_status("demo-guard", {DEMO.name: runtime}, {DEMO.name: view})))


def test_the_page_colours_each_check_by_severity_and_lists_the_fired_alerts(worker: Any) -> None:
    runtime, view, _ = worker
    page = status_page.index_page(worker_status("demo-guard", {DEMO.name: runtime}, {DEMO.name: view}))
    rows = re.findall(r"<tr class='check sev-(\w+)' data-severity='\w+'.*?><td><a href='([^']+)'>(\w+)</a></td>"
                      r"<td>all</td><td>(\w+)</td>", page)
    by_check = {(feature, check): severity for severity, _, feature, check in rows}
    assert by_check[("amount", "numeric_drift")] == "critical"
    assert by_check[("amount", "mean_shift")] == "critical"
    assert by_check[("country", "categorical_drift")] == "ok"
    assert ("/monitors/fraud-model/features/amount") in {href for _, href, _, _ in rows}
    assert len(re.findall(r"<tr class='alert sev-critical' data-status='firing'>", page)) == 2
    assert "consumed" in page and "invalid_json 1, not_an_object 1" in page
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", page)


def test_a_feature_page_draws_reference_and_current_together(worker: Any) -> None:
    runtime, view, _ = worker
    data = monitor_status(runtime, view)
    numeric = status_page.feature_page("demo-guard", DEMO.name, "amount", "all", data, view.plot("amount"))
    assert numeric.count("<polyline") == 2 and "cumulative share" in numeric
    shown = re.findall(r"<tr class='check sev-(\w+)'.*?><td>amount</td><td>all</td><td>(\w+)</td>", numeric)
    rank = {"critical": 0, "warning": 1, "info": 2, "ok": 3}   # worst first
    expected = sorted([(c["severity"], c["check"]) for c in data["latest_window"]["checks"]
                       if c["feature"] == "amount"], key=lambda sc: rank[sc[0]])
    assert shown == expected and ("critical", "numeric_drift") in shown and len(shown) >= 3
    categorical = view.plot("country")
    assert categorical is not None and "<rect" in categorical and "<polyline" not in categorical
    assert view.plot("no-such-feature") is None


def test_every_string_from_outside_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    alert = {"status": "firing", "severity": "critical", "segment": hostile, "feature": hostile, "check": "slo",
             "window": {"start": "2026-01-01T00:00:00Z"}, "value": 1.0, "summary": hostile, "emitted_at": "x"}
    page = status_page.index_page({"app": hostile, "monitors": {hostile: {"recent_alerts": [alert], "partitions": {}}}})
    assert "<script" not in page
    assert page.count("&lt;script&gt;") >= 5
    assert "href='/monitors/%3Cscript%3Ealert%281%29%3C%2Fscript%3E'" in page


def test_metrics_read_the_runtimes_counts_at_scrape_time(worker: Any) -> None:
    runtime, _, metrics = worker
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics.exposition().decode()) for s in family.samples}
    counts = runtime_status(runtime)["partitions"]["0"]
    part = (("monitor", "fraud-model"), ("partition", "0"))
    assert samples[("stream_guard_events_consumed_total", part)] == counts["consumed"] == 6 * 1200 + 2
    assert samples[("stream_guard_events_folded_total", part)] == counts["folded"] == 6 * 1200
    assert samples[("stream_guard_events_filtered_total", part)] == 0
    assert samples[("stream_guard_dead_letters_total", (*part, ("reason", "invalid_json")))] == 1
    assert samples[("stream_guard_dead_letters_total", (*part, ("reason", "not_an_object")))] == 1
    lag = (("monitor", "fraud-model"), ("partition", "0"), ("topic", "fraud.features"))
    assert samples[("stream_guard_consumer_lag", lag)] == 8000 - counts["offset"]
    assert samples[("stream_guard_seconds_since_last_event", part)] == 1.5
    assert samples[("stream_guard_watermark_timestamp_seconds", (("monitor", "fraud-model"),))] == \
        runtime.engine.watermark() / 1000
    monitor = (("monitor", "fraud-model"),)
    assert samples[("stream_guard_firing_alerts", (*monitor, ("severity", "critical")))] == 2
    assert samples[("stream_guard_firing_alerts", (*monitor, ("severity", "warning")))] == 1   # outside_reference
    assert samples[("stream_guard_alerts_total", (*monitor, ("severity", "critical"), ("status", "firing")))] == 2
    assert samples[("stream_guard_windows_evaluated_total", monitor)] == 5
    assert samples[("stream_guard_evaluation_duration_seconds_count", monitor)] == 5
    assert samples[("stream_guard_flush_duration_seconds_count", monitor)] == 1
    assert samples[("stream_guard_redis_errors_total", ())] == 2


def test_a_partition_with_unknown_highwater_has_no_lag_sample(worker: Any) -> None:
    _, _, metrics = worker
    text = metrics.exposition().decode()
    assert 'stream_guard_consumer_lag{monitor="fraud-model",partition="0",topic="fraud.features"}' in text
    assert 'partition="1"' not in text   # the runtime never saw partition 1


def test_a_seasonal_reference_is_drawn_even_when_closing_dropped_its_window_from_the_history() -> None:
    spec = monitor(reference={"kind": "seasonal", "period": "2m"})
    engine, view = MonitorEngine(spec), MonitorView(spec)
    events = [{"ts": START + i * 100, "f": {"x": i % 50, "c": "a"}} for i in range(4 * 600 + 100)]
    engine.fold(records(events))
    for start in engine.due_windows():
        view.window_closed(engine, engine.close_window(start, engine.local_profiles(start), emitted_at=0), 0)
    assert view.latest is not None and view.latest.result.start == START + 3 * 60_000
    assert START + 60_000 not in engine.history   # the window one period earlier is gone from the engine
    assert view.plot("x") is not None and view.plot("c") is not None


def test_metrics_served_are_exactly_the_ones_the_rules_and_dashboard_query(worker: Any) -> None:
    from tests.metrics_contract import METRICS

    _, _, metrics = worker
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    served = {name + ("_total" if f.type == "counter" else ""): f for name, f in families.items()}
    assert set(served) == set(METRICS)
    for name, family in served.items():
        assert family.type == METRICS[name].kind, name
        labels = {k for s in family.samples for k in s.labels} - {"le"}
        assert labels == METRICS[name].labels, name


# the page at the moment of an incident ----------------------------------------------------------

def index(worker: Any) -> str:
    runtime, view, _ = worker
    return status_page.index_page(worker_status("demo-guard", {DEMO.name: runtime}, {DEMO.name: view}))


def test_the_page_opens_with_a_summary_sentence_then_what_fires_then_the_checks(worker: Any) -> None:
    page = index(worker)
    summary = re.search(r"<p class='summary sev-critical' id='summary'>(.*?)</p>", page)
    assert summary is not None
    behind = (NOW - worker[0].engine.watermark()) / 60_000
    assert summary.group(1) == ("3 alerts firing (2 critical, 1 warning); worst: fraud-model amount mean_shift, "
                                f"critical since "
                                f"{iso(START + 4 * 60_000)[11:19]} event time. Event time is {behind:.2g} min "
                                "behind the clock. 2 events dead-lettered so far (invalid_json 1, not_an_object 1).")
    order = [page.index(marker) for marker in ("id='summary'", "<table class='firing'>", "<table class='checks'>",
                                               "<table class='partitions'>", "<table class='alerts'>")]
    assert order == sorted(order)


def test_with_nothing_firing_the_summary_still_says_how_many_events_were_dead_lettered() -> None:
    partitions = {"0": {"dead_lettered_by_reason": {}}, "1": {"dead_lettered_by_reason": {"late": 776}},
                  "2": {"dead_lettered_by_reason": {"late": 805}}}
    monitors = {"fraud-model": {"firing_alerts": [], "behind_seconds": 384.0, "partitions": partitions}}
    assert status_page.summary_sentence(monitors) == ("Nothing is firing on 1 monitor. Event time is 6.4 min behind "
                                                      "the clock. 1,581 events dead-lettered so far (late 1,581).")
    partitions["1"]["dead_lettered_by_reason"] = partitions["2"]["dead_lettered_by_reason"] = {}
    assert status_page.summary_sentence(monitors) == \
        "Nothing is firing on 1 monitor. Event time is 6.4 min behind the clock."


def test_a_series_firing_from_before_a_restart_shows_its_check_now_instead_of_an_empty_summary() -> None:
    freshness = {"segment": "all", "feature": "*", "check": "freshness", "metric": "seconds_since_last_event",
                 "severity": "warning", "value": None, "threshold": 120.0, "p_value": None, "n_current": 0,
                 "n_reference": 0,
                 "summary": "events: not computed: partitions 0, 1, 2 have sent nothing since they were assigned "
                            "37s ago, which cannot lower the firing warning."}
    restored = {"fingerprint": "9cafe620d0f83a0e", "feature": "*", "check": "freshness", "severity": "warning",
                "since": "2026-12-05T16:25:00Z", "fired_at": None, "summary": None}
    page = status_page.index_page({"app": "a", "monitors": {"m": {
        "firing_alerts": [restored], "freshness": freshness, "partitions": {}, "recent_alerts": []}}})
    row = re.search(r"<tr class='firing sev-warning'.*?</tr>", page)
    assert row is not None
    assert ("<td>now: events: not computed: partitions 0, 1, 2 have sent nothing since they were assigned 37s ago, "
            "which cannot lower the firing warning.</td>") in row.group(0)
    assert "<td>not kept</td>" in row.group(0)


def test_each_firing_row_says_what_why_and_since_when_in_event_and_wall_time(worker: Any) -> None:
    page = index(worker)
    rows = re.findall(r"<tr class='firing sev-(\w+)' data-severity='\w+'><td class='severity'>\w+</td>"
                      r"<td>([^<]*)</td><td><a href='([^']*)'>(\w+)</a></td><td>(\w+)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", page)
    assert [(r[0], r[1], r[2], r[3], r[4], r[6], r[7]) for r in rows] == [
        ("critical", "fraud-model", "/monitors/fraud-model/features/amount", "amount", check,
         iso(START + 4 * 60_000), iso(NOW)) for check in ("mean_shift", "numeric_drift")] + [
        ("warning", "fraud-model", "/monitors/fraud-model/features/amount", "amount", "outside_reference",
         iso(START + 4 * 60_000), iso(NOW))]
    assert all(r[5].startswith("amount: ") for r in rows) and all(r[8].endswith(" min") for r in rows)


def test_the_checks_table_shows_freshness_and_volume_worst_first(worker: Any) -> None:
    rows = re.findall(r"<tr class='check sev-(\w+)' data-severity='\w+'.*?><td>(?:<a [^>]*>)?([^<]+)(?:</a>)?</td>"
                      r"<td>all</td><td>(\w+)</td>", index(worker))
    checks = [check for _, _, check in rows]
    assert checks[0] in ("mean_shift", "numeric_drift") and {"freshness", "volume"} <= set(checks)
    assert ("ok", "(whole monitor)", "freshness") in rows
    assert [severity for severity, _, _ in rows][:2] == ["critical", "critical"]


def test_resolved_alerts_are_not_coloured_as_firing_ones() -> None:
    alert = {"status": "resolved", "severity": "critical", "segment": "all", "feature": "amount", "check": "slo",
             "window": {"start": "2026-01-01T00:00:00Z"}, "value": 1.0, "summary": "Resolved.", "emitted_at": "x"}
    assert "<tr class='alert resolved' data-status='resolved'>" in status_page.alerts_table([alert])


def test_a_feature_page_has_each_checks_history_with_thresholds_and_the_features_alert_timeline(worker: Any) -> None:
    runtime, view, _ = worker
    data = monitor_status(runtime, view)
    history = view.check_history("amount")
    page = status_page.feature_page("demo-guard", DEMO.name, "amount", "all", data, view.plot("amount"), history,
                                    view.feature_alerts("amount"))
    assert [len(points) for points in history.values()] == [5] * len(history)
    assert [p.severity for p in history["numeric_drift"]][-1] == "critical"
    assert page.count("<tr class='history'") == len(history) and page.count("stroke-dasharray") >= len(history)
    timeline = page[page.index("<h2>Alert timeline</h2>"):]
    assert len(re.findall(r"<tr class='alert sev-critical' data-status='firing'>", timeline)) == 2
    assert page.index("<table class='firing'>") < page.index("<table class='history'>") < page.index("<figure>")


def test_category_bars_carry_their_shares(worker: Any) -> None:
    _, view, _ = worker
    bars = view.plot("country")
    assert bars is not None and re.search(r">\d+(\.\d)?% → \d+(\.\d)?%</text>", bars)


def test_after_a_restart_the_checks_table_shows_the_firing_freshness_severity_not_ok() -> None:
    before = MonitorRuntime(DEMO, StateSpec(), MemoryStateStore(), NoPublisher(), clock=lambda: NOW)
    before.freshness.assigned({0}, NOW - 200_000)
    fired = before.engine.book.apply([before.freshness.observation(NOW, before.engine.book)])  # type: ignore[list-item]
    assert [(a["status"], a["severity"]) for a in fired] == [("firing", "warning")]
    saved = before.engine.checkpoint()   # what the store keeps, and the next worker restores
    restarted = MonitorRuntime(DEMO, StateSpec(), MemoryStateStore(), NoPublisher(), clock=lambda: NOW + 60_000)
    restarted.engine.restore(replace(saved, book=orjson.loads(orjson.dumps(saved.book))))
    restarted.freshness.assigned({0}, NOW + 25_000)   # nothing received since the restart
    status = monitor_status(restarted, MonitorView(DEMO))
    assert (status["freshness"]["severity"], status["freshness"]["value"]) == ("warning", None)
    assert status["freshness"]["summary"] == ("events: not computed: partition 0 has sent nothing since it was "
                                              "assigned 35s ago, which cannot lower the firing warning.")
    page = status_page.index_page({"app": "demo-guard", "monitors": {DEMO.name: status}})
    rows = re.findall(r"<tr class='check sev-(\w+)' data-severity='\w+'.*?><td>(?:<a [^>]*>)?([^<]+)(?:</a>)?</td>"
                      r"<td>all</td><td>(\w+)</td>", page)
    assert rows == [("warning", "(whole monitor)", "freshness")]
