"""`replay --report`: a self-contained HTML report with the grades, the alerts and the distributions."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from stream_guard.cli.main import main
from stream_guard.core.alerting.alerts import iso
from stream_guard.offline import scenario

from .test_topology_file import REPO

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000


def test_the_report_shows_each_faulty_window_with_its_alerts_and_plots_and_needs_no_network(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in scenario.stream(11, START, 1200)))
    report = tmp_path / "report.html"
    assert main(["replay", str(REPO / "topologies" / "demo.yaml"), str(events), "--report", str(report),
                 "--quiet"]) == 0
    text = report.read_text()
    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<script|<link|<img|src=|href=|@import|url\(", text)
    assert text.count("<svg") == len(re.findall(r"<figure>", text))
    sections = re.findall(r"<h3>fraud-model · (\S+) to", text)
    assert sections == [iso(START + w * 60_000) for w in (4, 5, 6, 7, 8, 9)]   # the faults' windows
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", text)
    assert captions[0] == "amount: numeric_drift critical"          # the faulty window's plot of amount
    assert "country: categorical_drift critical" in captions
    # the missing values are not in the plot: the caption says so
    assert "age: missing_rate critical (the values present: the check is not about their distribution)" in captions
    assert "<polyline" in text and "cumulative share" in text         # numeric: the two CDFs
    assert ">XK</text>" in text                                        # categorical: the new value's bars

