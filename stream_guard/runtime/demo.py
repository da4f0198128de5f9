"""`stream-guard demo`: the embedded broker, a real Redis, a worker and a traffic generator, all on loopback.

The generator plays the scenario of `stream_guard.offline.scenario` at `speed` times real time (one-minute
windows pass every few seconds), and the demo prints alerts (and, dimmed, window digests) from the alert
topic as they arrive.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table

from stream_guard.adapters import kafka_io
from stream_guard.core.alerting.digest import DIGEST_SCHEMA
from stream_guard.core.topology.file import with_overrides
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import StreamGuardError
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack, create_topics, free_port, local_stack
from stream_guard.views.console import print_record

SLICES_PER_WINDOW = 20


@dataclass(frozen=True)
class DemoOptions:
    topology_path: Path
    seconds: float
    faults: bool
    speed: float
    events_per_window: int
    alerts_out: Path | None
    events_out: Path | None


def run_demo(topology: Topology, options: DemoOptions, console: Console) -> int:
    console.rule("[bold]stream_guard demo")
    deadline = time.monotonic() + options.seconds
    with local_stack() as stack:
        console.print(f"broker  [bold]{stack.broker_url}[/]   redis  [bold]{stack.redis_url}[/]   (embedded, loopback)")
        topology = with_overrides(topology, stack.broker_url, stack.redis_url)
        create_topics(stack.bootstrap(), topology.topics())
        worker, web_port, log_path = _start_worker(options.topology_path, stack)
        try:
            console.print(f"worker  status page http://127.0.0.1:{web_port}/  (JSON /status, Prometheus /metrics)   "
                          f"log {log_path}")
            if not _wait_ready(worker, web_port, deadline, console):
                return _worker_failed(console, log_path)
            _introduce(console, topology, options)
            alerts = _run_traffic(topology, stack, options, deadline, console)
        finally:
            _stop(worker)
    _report(console, alerts, options)
    return 0


def _introduce(console: Console, topology: Topology, options: DemoOptions) -> None:
    monitor = topology.monitors[0]
    seconds = scenario.WINDOW_MS / 1000 / options.speed
    console.print(f"traffic: {options.events_per_window:,} events per one-minute window to {monitor.source.topic}; "
                  f"event time runs {options.speed:g}× faster than the clock (a window every {seconds:g}s).")
    if options.faults:
        for fault in scenario.FAULTS:
            console.print(f"  scripted: windows {fault.first_window}–{fault.last_window}: {fault.description}")
    else:
        console.print("  no faults: every window is drawn from the same distributions")
    console.print(f"each window closes {monitor.window.grace / 1000:g}s (event time) after its end; "
                  "its alerts appear below as they reach the alert topic.")


def _start_worker(topology_path: Path, stack: LocalStack) -> tuple[subprocess.Popen[bytes], int, Path]:
    web_port = free_port()
    log_path = stack.workdir / "worker.log"
    log: IO[bytes] = open(log_path, "wb")
    command = [sys.executable, "-m", "stream_guard", "worker", str(topology_path), "--broker", stack.broker_url,
               "--redis", stack.redis_url, "--web-port", str(web_port)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), web_port, log_path


def _wait_ready(worker: subprocess.Popen[bytes], web_port: int, deadline: float, console: Console) -> bool:
    with console.status("worker joining the consumer group…"):
        while time.monotonic() < deadline and worker.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/status", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                time.sleep(0.3)
    return False


def _worker_failed(console: Console, log_path: Path) -> int:
    tail = log_path.read_text(errors="replace").splitlines()[-15:]
    console.print("[red]the worker stopped before it was ready; the end of its log:[/]")
    console.print("\n".join(tail), highlight=False, markup=False)
    return 1


def _run_traffic(topology: Topology, stack: LocalStack, options: DemoOptions, deadline: float,
                 console: Console) -> list[dict[str, Any]]:
    stop = threading.Event()
    arrived: queue.Queue[dict[str, Any]] = queue.Queue()
    listener = threading.Thread(target=_listen, args=(stack, topology.alerts.topic, arrived, stop), daemon=True)
    listener.start()
    generator = threading.Thread(target=_generate, args=(topology, stack, options, stop, console), daemon=True)
    generator.start()
    alerts: list[dict[str, Any]] = []
    sink = open(options.alerts_out, "wb") if options.alerts_out else None
    try:
        while time.monotonic() < deadline:
            if not generator.is_alive():
                raise StreamGuardError("the traffic generator stopped unexpectedly (see the error above)")
            try:
                alert = arrived.get(timeout=0.2)
            except queue.Empty:
                continue
            print_record(console, alert)
            if alert.get("schema") == DIGEST_SCHEMA:
                continue
            alerts.append(alert)
            if sink:
                sink.write(orjson.dumps(alert) + b"\n")
                sink.flush()
    finally:
        stop.set()
        if sink:
            sink.close()
    return alerts


def window_line(number: int, start_ms: int, events: int, label: str) -> str:
    """One produced window, numbered as the scripted faults are (`windows 4–5`), with its start time.

    >>> window_line(4, 1_796_449_620_000, 1200, "amount ×2.5: an upstream unit change")
    '▸ window 4 (05:47)  1,200 events  amount ×2.5: an upstream unit change'
    """
    clock = time.strftime("%H:%M", time.gmtime(start_ms / 1000))
    return f"▸ window {number} ({clock})  {events:,} events  {label}"


def _listen(stack: LocalStack, topic: str, arrived: queue.Queue[dict[str, Any]], stop: threading.Event) -> None:
    for record in kafka_io.records(stack.broker_url, topic, from_beginning=True, stop=stop):
        arrived.put(record)


def _generate(topology: Topology, stack: LocalStack, options: DemoOptions, stop: threading.Event,
              console: Console) -> None:
    topic = topology.monitors[0].source.topic
    window_ms = scenario.WINDOW_MS
    start_ms = (int(time.time() * 1000) // window_ms - 25) * window_ms
    real_window = window_ms / 1000 / options.speed
    client = kafka_io.producer(stack.broker_url)
    events_sink = open(options.events_out, "wb") if options.events_out else None
    began = time.monotonic()
    window = 0
    try:
        while not stop.is_set():
            events = scenario.window_events(window, start_ms, options.events_per_window, faults=options.faults)
            faults = scenario.active_faults(window, options.faults)
            label = "; ".join(f.description for f in faults) or "normal traffic"
            console.print(f"[dim]{window_line(window, start_ms + window * window_ms, len(events), label)}[/]",
                          highlight=False)
            step = len(events) // SLICES_PER_WINDOW + 1
            for i in range(0, len(events), step):
                for event in events[i:i + step]:
                    payload = orjson.dumps(event)
                    client.send(topic, payload)
                    if events_sink:
                        events_sink.write(payload + b"\n")
                client.flush()
                due = began + real_window * (window + (i + step) / len(events))
                while not stop.is_set() and (left := due - time.monotonic()) > 0:
                    time.sleep(min(0.05, left))
            window += 1
    finally:
        client.close()
        if events_sink:
            events_sink.close()


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _report(console: Console, alerts: list[dict[str, Any]], options: DemoOptions) -> None:
    console.rule("[bold]summary")
    firing = [a for a in alerts if a["status"] == "firing"]
    if options.faults:
        table = Table("injected fault", "expected alert", "what fired")
        for fault in scenario.FAULTS:
            expected = (*fault.checks, *fault.warnings)
            hits = sorted({a["severity"] for a in firing if a["feature"] == fault.feature and a["check"] in expected},
                          key=("info", "warning", "critical").index)
            table.add_row(fault.description, f"{fault.feature} / {', '.join(expected)}",
                          ", ".join(hits) if hits else "[red]nothing yet: run longer (--seconds)[/]")
        console.print(table)
    loud = [a for a in firing if a["severity"] in ("warning", "critical")]
    faulted = {f.feature for f in scenario.FAULTS} if options.faults else set()
    stray = [a for a in loud if a["feature"] not in faulted]
    console.print(f"{len(alerts)} alert records ({len(firing)} firing, {len(alerts) - len(firing)} resolved); "
                  f"{len(stray)} warning/critical alerts on features with no fault injected.")
    if options.alerts_out:
        console.print(f"alerts written to {options.alerts_out}")
    if options.events_out:
        console.print(f"events written to {options.events_out}; replay them with: "
                      f"stream-guard replay {options.topology_path} {options.events_out}")
