"""A live worker's `/metrics`, `/status` and status page, the page rendered by headless Chromium.

One worker serves every assertion (each start costs about 10 s): it folds six windows of the faulty
scenario with five bad records, and evaluates windows 0 to 4; window 4 is the one where `amount`
shifts, so its two checks on `amount` are critical and two alerts fire.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_guard.adapters import kafka_io
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.reasons import DEAD_LETTER_REASONS
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack

from .live import LiveTopology, Worker, fresh_topology
from .test_live_path import BAD_LINES, START, consumed_and_closed

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
MONITOR = "fraud-model"
EVENTS = 6 * 1200


@pytest.fixture(scope="module")
def topology(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> LiveTopology:
    return fresh_topology(local_stack, tmp_path_factory.mktemp("status-page"))


@pytest.fixture(scope="module")
def worker(local_stack: LocalStack, topology: LiveTopology) -> Iterator[Worker]:
    directory = topology.path.parent
    lines = [orjson.dumps(e) for e in scenario.stream(6, START, 1200)]
    for i, bad in enumerate(BAD_LINES):
        lines.insert(500 + 1000 * i, bad)
    kafka_io.produce(local_stack.broker_url, topology.source, lines)
    running = Worker(local_stack, topology, directory)
    try:
        running.wait_for(consumed_and_closed(EVENTS + len(BAD_LINES), window=4))
        yield running
    finally:
        running.stop()


def get(worker: Worker, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="sg-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=True)


def test_metrics_counters_equal_the_status_counts_exactly(worker: Worker, topology: LiveTopology) -> None:
    code, content_type, body = get(worker, "/metrics")
    status = worker.status()
    assert status is not None
    assert code == 200 and content_type.startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    partitions = status["monitors"][MONITOR]["partitions"]
    assert sorted(partitions) == ["0", "1", "2"]
    for partition, counts in partitions.items():
        labels = (("monitor", MONITOR), ("partition", partition))
        assert samples[("stream_guard_events_consumed_total", labels)] == counts["consumed"]
        assert samples[("stream_guard_events_folded_total", labels)] == counts["folded"]
        assert samples[("stream_guard_events_filtered_total", labels)] == counts["filtered"] == 0
        dead = {dict(key)["reason"]: value for (name, key), value in samples.items()
                if name == "stream_guard_dead_letters_total" and dict(key)["partition"] == partition}
        assert {reason: n for reason, n in dead.items() if n} == counts["dead_lettered_by_reason"]
        assert set(dead) == set(DEAD_LETTER_REASONS)   # every reason at 0 until it occurs
        lag = (("monitor", MONITOR), ("partition", partition), ("topic", topology.source))
        assert samples[("stream_guard_consumer_lag", lag)] == 0   # everything is folded
    assert sum(p["consumed"] for p in partitions.values()) == EVENTS + len(BAD_LINES)
    assert sum(samples[k] for k in samples if k[0] == "stream_guard_dead_letters_total") == len(BAD_LINES)
    monitor = (("monitor", MONITOR),)
    alerts = {(dict(k)["severity"], dict(k)["status"]): v for (name, k), v in samples.items()
              if name == "stream_guard_alerts_total"}
    fired = {("critical", "firing"): 2, ("warning", "firing"): 1}   # amount: drift, mean; outside_reference
    assert alerts == {(severity, status): fired.get((severity, status), 0)
                      for severity in ("info", "warning", "critical") for status in ("firing", "resolved")}
    assert samples[("stream_guard_windows_evaluated_total", monitor)] == 5
    assert samples[("stream_guard_evaluation_duration_seconds_count", monitor)] == 5
    assert samples[("stream_guard_flush_duration_seconds_count", monitor)] >= 5
    assert samples[("stream_guard_firing_alerts", (*monitor, ("severity", "critical")))] == 2
    assert samples[("stream_guard_redis_errors_total", ())] == 0


def test_status_json_holds_the_latest_windows_checks_and_the_fired_alerts(worker: Worker) -> None:
    code, _, body = get(worker, f"/status?monitor={MONITOR}")
    assert code == 200
    data = orjson.loads(body)["monitors"][MONITOR]
    assert data["latest_window"]["start"] == iso(START + 4 * 60_000)
    checks = data["latest_window"]["checks"]
    critical = sorted((c["feature"], c["check"]) for c in checks if c["severity"] == "critical")
    assert critical == [("amount", "mean_shift"), ("amount", "numeric_drift")]
    assert [(a["status"], a["severity"], a["feature"], a["check"]) for a in data["recent_alerts"]] == [
        ("firing", "warning", "amount", "outside_reference"), ("firing", "critical", "amount", "mean_shift"),
        ("firing", "critical", "amount", "numeric_drift")]
    assert get(worker, "/status?monitor=nope")[0] == 404
    assert get(worker, f"/monitors/{MONITOR}/features/nope")[0] == 404


def test_chromium_renders_the_fired_alerts_and_the_feature_rows_with_their_severities(worker: Worker) -> None:
    dom = chromium("--dump-dom", f"http://127.0.0.1:{worker.web_port}/").stdout
    alerts = re.findall(r'<tr class="alert sev-(\w+)" data-status="(\w+)">.*?<td>(\w+)</td><td>(\w+)</td><td>'
                        + re.escape(iso(START + 4 * 60_000)), dom)
    assert sorted(alerts) == [("critical", "firing", "amount", "mean_shift"),
                              ("critical", "firing", "amount", "numeric_drift"),
                              ("warning", "firing", "amount", "outside_reference")]
    rows = re.findall(r'<tr class="check sev-(\w+)" data-severity="\w+"[^>]*><td>(?:<a [^>]+>)?([^<]+)(?:</a>)?</td>'
                      r"<td>all</td><td>(\w+)</td>", dom)
    graded = {(feature, check): severity for severity, feature, check in rows}
    assert graded[("amount", "numeric_drift")] == graded[("amount", "mean_shift")] == "critical"
    assert graded[("country", "categorical_drift")] == "ok"
    assert graded[("(whole monitor)", "volume")] == "ok"
    assert graded[("(whole monitor)", "freshness")] == "ok"
    assert {f for f, _ in graded} >= {"amount", "age", "country", "score"}


def test_chromium_shows_the_summary_and_what_fires_before_the_checks(worker: Worker) -> None:
    dom = chromium("--dump-dom", f"http://127.0.0.1:{worker.web_port}/").stdout
    summary = re.search(r'<p class="summary sev-critical" id="summary">(.*?)</p>', dom)
    assert summary is not None and summary.group(1).startswith(
        "3 alerts firing (2 critical, 1 warning); worst: fraud-model amount mean_shift, critical since 08:04:00 "
        "event time.")
    firing = re.findall(r'<tr class="firing sev-critical" data-severity="critical">.*?<a [^>]+>amount</a></td>'
                        r"<td>(\w+)</td><td>amount: ", dom)
    assert firing == ["mean_shift", "numeric_drift"]
    assert dom.index('id="summary"') < dom.index('<table class="firing">') < dom.index('<table class="checks">')


def test_chromium_screenshots_a_feature_page_with_both_distributions(worker: Worker, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{worker.web_port}/monitors/{MONITOR}/features/amount"
    _, _, page = get(worker, url.split(str(worker.web_port), 1)[1])
    figure = page.split(b"<figure>")[1].split(b"</figure>")[0]
    assert figure.count(b"<polyline") == 2
    assert page.count(b"<tr class='history'") >= 3 and b"stroke-dasharray" in page
    timeline = page.split(b"<h2>Alert timeline</h2>")[1]
    assert timeline.count(b"data-status='firing'") == 3   # numeric_drift, mean_shift, outside_reference
    png = tmp_path / "amount.png"
    chromium(f"--screenshot={png}", "--window-size=1280,1600", "--hide-scrollbars", url)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"status page screenshot: {png}")
