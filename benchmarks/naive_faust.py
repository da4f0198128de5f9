"""Faust's own ceiling: an agent that only decodes each message. Prints JSON with the measured rate;
the caller stops the process once it has read that line.

    python benchmarks/naive_faust.py BROKER TOPIC COUNT WEB_PORT
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import faust
import orjson


def main() -> None:
    broker, topic, count, web_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # a new consumer group each run, so it never starts from an earlier run's committed offsets
    app = faust.App(f"naive-{web_port}-{os.getpid()}", broker=broker, value_serializer="raw", web_port=web_port,
                    web_host="127.0.0.1", store="memory://", consumer_auto_offset_reset="earliest",
                    topic_disable_leader=True, broker_session_timeout=6, broker_heartbeat_interval=1,
                    datadir=tempfile.mkdtemp(prefix="sg-naive-"))
    source = app.topic(topic, value_type=bytes, value_serializer="raw")
    seen = {"n": 0, "first": 0.0}

    @app.agent(source)
    async def decode(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            if seen["n"] == 0:
                seen["first"] = time.perf_counter()
            orjson.loads(value)
            seen["n"] += 1
            if seen["n"] == count:
                elapsed = time.perf_counter() - seen["first"]
                print(orjson.dumps({"events": count, "seconds": elapsed}).decode(), flush=True)

    worker = faust.Worker(app, loglevel=sys.argv[5] if len(sys.argv) > 5 else "error", quiet=True,
                          redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
