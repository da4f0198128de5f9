"""`stream-guard demo` end to end: its own broker, Redis, worker and traffic, as a newcomer runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from stream_guard.cli.main import main
from stream_guard.offline import scenario

from .live import DEMO

pytestmark = pytest.mark.integration

ALERT_FIELDS = {"schema", "id", "fingerprint", "monitor", "segment", "feature", "check", "severity", "status",
                "window", "reference", "value", "threshold", "n_current", "n_reference", "summary", "emitted_at"}


def run_demo(tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    alerts = tmp_path / "alerts.jsonl"
    command = [str(Path(sys.executable).parent / "stream-guard"), "demo", "--alerts-out", str(alerts), *flags]
    # run from an unrelated directory: the demo must find its topology by itself
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    records = [orjson.loads(line) for line in alerts.read_bytes().splitlines()] if alerts.exists() else []
    return done, records


def test_demo_raises_a_critical_alert_for_each_fault_and_replay_gives_the_same_ids(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    done, alerts = run_demo(tmp_path, "--seconds", "75", "--events-out", str(events))
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(set(a) >= ALERT_FIELDS for a in alerts)
    firing = {(a["feature"], a["check"], a["severity"]) for a in alerts if a["status"] == "firing"}
    assert firing == ({(f.feature, check, "critical") for f in scenario.FAULTS for check in f.checks}
                      | {(f.feature, check, "warning") for f in scenario.FAULTS for check in f.warnings})
    assert "0 warning/critical alerts on features with no fault injected" in done.stdout

    replayed = tmp_path / "replayed.jsonl"
    assert main(["replay", str(DEMO), str(events), "--alerts-out", str(replayed), "--quiet"]) == 0
    replay_ids = [orjson.loads(line)["id"] for line in replayed.read_bytes().splitlines()]
    assert replay_ids[: len(alerts)] == [a["id"] for a in alerts]


def test_demo_without_faults_writes_no_warning_or_critical_alert(tmp_path: Path) -> None:
    done, alerts = run_demo(tmp_path, "--seconds", "45", "--no-faults")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [a for a in alerts if a["severity"] in ("warning", "critical")] == []
    assert "no faults: every window is drawn from the same distributions" in done.stdout


def test_demo_stopped_by_sigterm_leaves_no_broker_redis_or_worker_behind(tmp_path: Path) -> None:
    import re
    import signal
    import socket
    import time

    command = [str(Path(sys.executable).parent / "stream-guard"), "demo", "--seconds", "120"]
    demo = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert demo.stdout is not None
    seen = ""
    ports: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "traffic:" not in seen:
        seen += demo.stdout.readline()
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", seen)]
    assert len(ports) == 3, seen   # broker, Redis, the worker's status page
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=30) == 130
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers after SIGTERM\n{seen}"
