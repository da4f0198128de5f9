"""How fast a live worker takes labels off the label topic into its join.

    .venv/bin/python -m benchmarks.label_intake [--n 200000] [--rounds 2]

Starts the embedded local stack, puts N label events (`{"ts", "request_id", "label"}`) on the label
topic of `label_scenario.label_topology` before the worker starts (no prediction: every label waits in
the join), starts `stream-guard worker`, and polls its `/status` every 50 ms: labels per second from
the first `waiting_labels` seen to N. Each round uses a topology of its own. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from stream_guard.adapters import kafka_io
from stream_guard.core.topology.file import load_topology
from stream_guard.offline.label_scenario import START_MS, label_topology
from stream_guard.runtime.local_stack import LocalStack, create_topics, free_port, local_stack


def status(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as response:
            return orjson.loads(response.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def waiting(port: int) -> int:
    found = status(port)
    return 0 if found is None else int(found["monitors"]["scorer"]["labels"]["waiting_labels"])


def one_round(stack: LocalStack, workdir: Path, n: int, round_: int) -> float:
    app = f"intake-{round_}-{time.time_ns() % 10**9}"
    path = workdir / f"{app}.yaml"
    path.write_text(label_topology(app, stack.broker_url, stack.redis_url, max_delay="7d"))
    create_topics(stack.bootstrap(), load_topology(path).topics())
    labels = (orjson.dumps({"ts": START_MS + i, "request_id": f"req-{i:07d}", "label": i % 2}) for i in range(n))
    kafka_io.produce(stack.broker_url, f"{app}.labels", labels)
    port = free_port()
    with open(workdir / f"{app}.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "stream_guard", "worker", str(path), "--web-port", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while (first := waiting(port)) == 0:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker took no label"
            time.sleep(0.05)
        began = time.monotonic()
        while (seen := waiting(port)) < n:
            assert time.monotonic() < deadline and worker.poll() is None, f"{seen:,} of {n:,} labels taken"
            time.sleep(0.05)
        return (n - first) / (time.monotonic() - began)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-intake-") as scratch, local_stack() as stack:
        rates = [one_round(stack, Path(scratch), args.n, r) for r in range(args.rounds)]
    print(json.dumps({"labels": args.n, "labels_per_second": [round(r) for r in rates]}))


if __name__ == "__main__":
    main()
