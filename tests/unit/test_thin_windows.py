"""Thin windows said out loud: `validate --events FILE` and the status page name the monitors whose
windows mostly hold fewer than `min_samples` events, with the window size that would reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.cli.main import main
from stream_guard.core.engine import MonitorEngine
from stream_guard.views import status_page
from stream_guard.views.live_view import MonitorView

from .builders import monitor, records

START = 1_800_000_000_000 - 1_800_000_000_000 % 3_600_000
TOPOLOGY = """version: 1
app: thin
monitors:
  - name: sparse
    source: {topic: t, timestamp: ts}
    window: {size: 1m}
    features:
      x: {type: numeric, field: f.x}
  - name: dense
    source: {topic: t, timestamp: ts}
    window: {size: 10m}
    min_samples: 500
    features:
      x: {type: numeric, field: f.x}
"""


def events(per_minute: int, minutes: int) -> list[dict[str, Any]]:
    step = 60_000 // per_minute
    return [{"ts": START + i * step, "f": {"x": i % 7}} for i in range(per_minute * minutes)]


def test_validate_with_events_reports_windows_thin_windows_and_dead_letters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TOPOLOGY)
    lines = [orjson.dumps(e) for e in events(120, 30)]
    lines[100:100] = [b"{broken", b"not json either", b'{"f": {"x": 1}}', b"[1, 2]"]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert main(["validate", str(tmp_path / "t.yaml"), "--events", str(tmp_path / "e.jsonl")]) == 0
    assert capsys.readouterr().out.replace(str(tmp_path), "D").splitlines() == [
        "D/t.yaml: ok (2 monitors, 2 features)",
        "monitor sparse: 3,604 events read, 3,600 folded into 29 windows of 1m (and 1 still open at the end of "
        "the file, 120 events)",
        "  thin windows: 29 of 29 windows held fewer than min_samples (200) events, so their checks grade info at "
        "most; a window of 1m40s would hold about 200 at this rate",
        "  dead letters: 4 (invalid_json 2, missing_timestamp 1, not_an_object 1)",
        "monitor dense: 3,604 events read, 3,600 folded into 2 windows of 10m (and 1 still open at the end of "
        "the file, 1,200 events)",
        "  thin windows: 0 of 2 (0%) under min_samples (500); a window of 4m10s holds about 500 at this rate",
        "  dead letters: 4 (invalid_json 2, missing_timestamp 1, not_an_object 1)",
    ]


def test_validate_without_events_is_as_before_and_a_missing_events_file_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TOPOLOGY)
    assert main(["validate", str(tmp_path / "t.yaml")]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/t.yaml: ok (2 monitors, 2 features)\n"
    assert main(["validate", str(tmp_path / "t.yaml"), "--events", str(tmp_path / "none.jsonl")]) == 1
    assert capsys.readouterr().err == f"stream-guard: {tmp_path}/none.jsonl: no such events file\n"


def test_validate_help_teaches_what_events_reports(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "their checks can grade info at most, so a monitor whose windows are mostly that thin never alerts" in text
    assert "stream-guard validate topologies/demo.yaml --events sample.jsonl.gz" in text


def view_after(per_minute: int, minutes: int) -> MonitorView:
    spec = monitor(min_samples=200)
    engine, view = MonitorEngine(spec), MonitorView(spec)
    engine.fold(records(events(per_minute, minutes)))
    for start in engine.due_windows():
        view.window_closed(engine, engine.close_window(start, engine.local_profiles(start), emitted_at=0), now=0)
    return view


def test_the_status_page_says_when_most_recent_windows_are_thin() -> None:
    view = view_after(50, 40)   # 50 events a minute against min_samples 200; the last 30 windows are kept
    assert view.thin_json() == {
        "windows": 30, "thin": 30, "min_samples": 200, "window_reaching_seconds": 240,
        "summary": "30 of 30 windows held fewer than min_samples (200) events, so their checks grade info at most; "
                   "a window of 4m would hold about 200 at this rate"}
    page = status_page.monitor_section("m", {"latest_window": view.window_json(), "thin_windows": view.thin_json()})
    assert ("<p class='thin sev-warning'>Thin windows: of the last 30 windows this worker evaluated, 30 of 30 "
            "windows held fewer than min_samples (200) events, so their checks grade info at most; a window of 4m "
            "would hold about 200 at this rate.</p>") in page


def test_the_status_page_says_nothing_of_windows_that_are_full_enough() -> None:
    view = view_after(300, 6)
    assert view.thin_json() == {"windows": 5, "thin": 0, "min_samples": 200, "window_reaching_seconds": 40,
                                "summary": None}
    page = status_page.monitor_section("m", {"latest_window": view.window_json(), "thin_windows": view.thin_json()})
    assert "Thin windows" not in page
    assert MonitorView(monitor()).thin_json() is None
