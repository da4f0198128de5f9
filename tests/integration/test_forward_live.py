"""`stream-guard forward` on the real local broker, posting to a real HTTP server that plays Alertmanager."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.runtime.local_stack import LocalStack
from tests.integration.live import LiveTopology, fresh_topology


class FakeAlertmanager:
    """Records every POST as (path, JSON body, status answered); answers 503 to the first `fail_first` ones."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any, int]] = []
        self.fail_first = 0
        self.answer = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                failing = sum(1 for _, _, status in owner.posts if status == 503) < owner.fail_first
                status = 503 if failing else owner.answer
                owner.posts.append((self.path, body, status))
                reply = b'{"error":"bad alert"}' if status == 400 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, path: str) -> list[Any]:
        return [body for p, body, status in self.posts if p == path and status == 200]


@pytest.fixture
def alertmanager() -> Iterator[FakeAlertmanager]:
    fake = FakeAlertmanager()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def alert(n: int, status: str = "firing", severity: str = "warning") -> dict[str, Any]:
    return {"schema": "stream_guard.alert/v1", "id": f"id-{n}", "fingerprint": "fp-amount", "status": status,
            "monitor": "fraud-model", "segment": "all", "feature": "amount", "check": "missing_rate",
            "metric": "rate", "severity": severity,
            "window": {"start": f"2026-11-23T05:0{n}:00Z", "end": f"2026-11-23T05:0{n + 1}:00Z"},
            "reference": {"kind": "rolling", "start": None, "end": None}, "value": 0.1 * n, "threshold": 0.05,
            "n_current": 100, "n_reference": 400, "summary": f"record {n}",
            "emitted_at": f"2026-11-23T05:0{n + 1}:05Z"}


DIGEST = {"schema": "stream_guard.digest/v1", "id": "d-1", "monitor": "fraud-model",
          "window": {"start": "2026-11-23T05:01:00Z", "end": "2026-11-23T05:02:00Z"}, "firing": []}


def sent(bodies: list[Any]) -> list[tuple[str, str, str]]:
    """(severity, startsAt, endsAt) of every Alertmanager alert POSTed, with a still-firing endsAt as "ahead"."""
    now = datetime.now(UTC).isoformat()
    return [(a["labels"]["severity"], a["startsAt"], "ahead" if a["endsAt"] > now else a["endsAt"])
            for body in bodies for a in body]


def publish(stack: LocalStack, topic: str, records: list[dict[str, Any]]) -> None:
    kafka_io.produce(stack.broker_url, topic, [orjson.dumps(r) for r in records])


def forward(stack: LocalStack, topology: LiveTopology, fake: FakeAlertmanager, *extra: str
            ) -> subprocess.CompletedProcess[str]:
    hook = fake.url.replace("http://", "http://hook:s3cret@") + "/hook"
    command = [sys.executable, "-m", "stream_guard", "forward", str(topology.path), "--broker", stack.broker_url,
               "--alertmanager", fake.url, "--webhook", hook,
               "--backoff", "0.1", "--idle-exit", "3", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_forwards_each_record_once_across_a_restart_and_retries_a_503(
        local_stack: LocalStack, tmp_path: Path, alertmanager: FakeAlertmanager) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    first = [alert(1), DIGEST, alert(2, severity="critical")]
    publish(local_stack, topology.alerts, first)
    alertmanager.fail_first = 2

    run = forward(local_stack, topology, alertmanager, "--from-beginning")

    assert run.returncode == 0, run.stderr
    app = topology.app
    assert sent(alertmanager.delivered("/api/v2/alerts")) == [   # no alert at a severity that never fired
        ("warning", "2026-11-23T05:02:05Z", "ahead"),
        ("warning", "2026-11-23T05:02:05Z", "2026-11-23T05:03:05Z"), ("critical", "2026-11-23T05:03:05Z", "ahead")]
    assert alertmanager.delivered("/hook") == [alert(1), alert(2, severity="critical")]
    assert [status for _, _, status in alertmanager.posts].count(503) == 2
    assert f"POST {alertmanager.url}/api/v2/alerts failed (HTTP 503); retry 1/5 in 0.1s" in run.stderr
    assert "forwarded 2 alerts" in run.stderr

    before = len(alertmanager.posts)
    publish(local_stack, topology.alerts, [alert(3, status="resolved", severity="critical")])
    again = forward(local_stack, topology, alertmanager)

    assert again.returncode == 0, again.stderr
    new = alertmanager.posts[before:]
    # the restarted forwarder learnt from the records before its offset that the critical was firing:
    # it may re-send it, then resolves it, and sends the records before its offset nowhere else
    resent = sent([body for path, body, _ in new if path == "/api/v2/alerts"])
    assert resent[-1] == ("critical", "2026-11-23T05:03:05Z", "2026-11-23T05:04:05Z")
    assert set(resent[:-1]) <= {("critical", "2026-11-23T05:03:05Z", "ahead")}
    assert [body for path, body, _ in new if path == "/hook"] == [alert(3, status="resolved", severity="critical")]
    assert f"group {app}-forwarder resumes at offset 3" in again.stderr


def test_a_4xx_stops_the_forwarder_without_committing_and_never_shows_the_webhook_password(
        local_stack: LocalStack, tmp_path: Path, alertmanager: FakeAlertmanager) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    publish(local_stack, topology.alerts, [alert(1)])
    alertmanager.answer = 400

    run = forward(local_stack, topology, alertmanager, "--from-beginning")

    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"stream-guard: alertmanager {alertmanager.url}/api/v2/alerts refused the request with HTTP 400: "
        '{"error":"bad alert"}; fix the request or the receiver, then restart: nothing past this record was committed')
    assert len(alertmanager.posts) == 1

    alertmanager.answer = 200
    retried = forward(local_stack, topology, alertmanager)
    assert retried.returncode == 0, retried.stderr
    assert alertmanager.delivered("/hook") == [alert(1)]
    assert "s3cret" not in run.stderr + retried.stderr
    assert "http://hook:***@127.0.0.1" in retried.stderr
