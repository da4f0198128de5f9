"""`stream-guard forward` into a real Alertmanager (Debian's `prometheus-alertmanager`), whose webhook
notifications a receiver records: what an on-call engineer is told, with the forwarder re-sending every
second (so each alert ends 4 s ahead unless re-sent). The alert escalates from warning to critical and
resolves: Alertmanager must hold it firing throughout and never hear of an `info` alert.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.runtime.local_stack import LocalStack, free_port

from .live import LiveTopology, fresh_topology
from .test_forward_live import publish

pytestmark = pytest.mark.integration

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
# resolve_timeout only ends alerts sent without endsAt: kept short so a forwarder that sent none would fail
CONFIG = """\
global:
  resolve_timeout: 3s
route:
  receiver: hook
  group_by: [app, monitor, segment, feature, check]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Receiver:
    """Records Alertmanager's webhook notifications."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                owner.notifications.append(orjson.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def told(self) -> list[tuple[str, str]]:
        """(status, severity) of every alert in every notification, in order."""
        return [(a["status"], a["labels"]["severity"]) for n in self.notifications for a in n["alerts"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[str]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=receiver.url))
    port = free_port()
    process = subprocess.Popen([ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "alertmanager.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, lambda: "Alertmanager did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return int(response.status) == 200
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, describe: Callable[[], object]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, describe()
        time.sleep(0.2)


def active(url: str) -> list[tuple[str, str]]:
    """(severity, state) of the alerts Alertmanager holds active now."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts?active=true&silenced=false&inhibited=false") as response:
        return [(a["labels"]["severity"], a["status"]["state"]) for a in orjson.loads(response.read())]


def record(status: str, severity: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"schema": "stream_guard.alert/v1", "id": f"{status}-{severity}", "fingerprint": "fp", "status": status,
            "monitor": "fraud-model", "segment": "all", "feature": "age", "check": "freshness", "metric": "seconds",
            "severity": severity, "window": {"start": now, "end": now}, "reference": {"kind": "rolling"},
            "value": 90.0, "threshold": 60.0, "n_current": 0, "n_reference": 0,
            "summary": f"age: {severity} {status}", "emitted_at": now}


def test_alertmanager_keeps_a_firing_alert_that_is_re_sent_and_is_told_of_no_phantom_resolve(
        local_stack: LocalStack, tmp_path: Path, alertmanager: str, receiver: Receiver) -> None:
    topology: LiveTopology = fresh_topology(local_stack, tmp_path)
    forwarder = subprocess.Popen(
        [sys.executable, "-m", "stream_guard", "forward", str(topology.path), "--broker", local_stack.broker_url,
         "--alertmanager", alertmanager, "--from-beginning", "--resend-interval", "1", "--idle-exit", "120"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "forward.log", "wb"))
    try:
        publish(local_stack, topology.alerts, [record("firing", "warning")])
        wait_until(lambda: receiver.told() == [("firing", "warning")], 30, receiver.told)
        time.sleep(9)   # more than twice the 4 s each alert is sent to last: only re-sends keep it firing
        assert active(alertmanager) == [("warning", "active")]
        assert receiver.told() == [("firing", "warning")]

        publish(local_stack, topology.alerts, [record("firing", "critical")])
        wait_until(lambda: len(receiver.notifications) == 2, 30, receiver.told)
        assert sorted(receiver.told()[1:]) == [("firing", "critical"), ("resolved", "warning")]

        publish(local_stack, topology.alerts, [record("resolved", "critical")])
        wait_until(lambda: len(receiver.notifications) == 3, 30, receiver.told)
        last = receiver.told()[3:]
        assert ("resolved", "critical") in last and {status for status, _ in last} == {"resolved"}
        assert active(alertmanager) == []
        assert {severity for _, severity in receiver.told()} == {"warning", "critical"}
    finally:
        forwarder.terminate()
        forwarder.wait(timeout=30)
