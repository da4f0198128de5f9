"""In-process fold rate of 25-feature events, per message (JSON, Avro, Protobuf) and batched, next to a bare
orjson decode.

No Kafka, no Redis: `PartitionFolder.fold` on records built from `benchmarks/workload.py` events,
so it measures decoding, column extraction and sketch updates only. Each figure is the best of
`--repeat` runs (the machine is shared). Run from the repository root:

    PYTHONPATH=$PWD python -m benchmarks.fold_speed [--events 200000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections.abc import Callable

import orjson

from benchmarks import wire_formats, workload
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.decoding.writer_schemas import WriterSchemas
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.topology.monitor import MonitorSpec

PER_BATCHED_MESSAGE = 500     # events per JSON array, as in benchmarks/run.py
BATCHED_WINDOW = 50_000       # events per window in the batched run, as in benchmarks/run.py


def monitor(fmt: str) -> MonitorSpec:
    features = {n: {"type": "numeric", "field": f"features.{n}"} for n in workload.NUMERIC}
    features.update({c: {"type": "categorical", "field": f"features.{c}"} for c in workload.CATEGORICAL})
    return MonitorSpec.model_validate({"name": "bench", "source": {"topic": "t", "timestamp": "ts", "format": fmt},
                                       "window": {"size": "1m"}, "features": features})


def records(fmt: str, count: int) -> list[RawRecord]:
    per_window = workload.PER_MESSAGE_WINDOW if fmt == "json" else BATCHED_WINDOW
    per_message = 1 if fmt == "json" else PER_BATCHED_MESSAGE
    payloads = workload.messages(workload.events(count, workload.START, per_window), per_message)
    return [RawRecord(p, 0, i) for i, p in enumerate(payloads)]


def framed(fmt: str, count: int) -> tuple[list[RawRecord], WriterSchemas]:
    """The per-message events as Confluent-framed Avro or Protobuf records, and their writer schema."""
    events = workload.events(count, workload.START, workload.PER_MESSAGE_WINDOW)
    payloads, text = (wire_formats.avro_payloads if fmt == "avro" else wire_formats.protobuf_payloads)(events)
    schemas = WriterSchemas.for_monitor(monitor(fmt))
    schemas.learn({wire_formats.SCHEMA_ID: text})
    return [RawRecord(p, 0, i) for i, p in enumerate(payloads)], schemas


def fold_all(fmt: str, raw: list[RawRecord], schemas: WriterSchemas | None = None) -> PartitionFolder:
    folder = PartitionFolder(monitor(fmt), 0, schemas=schemas)
    step = folder.monitor.source.messages_per_batch()   # what the worker hands to one fold
    for i in range(0, len(raw), step):
        folder.fold(raw[i:i + step])
    return folder


def decode_all(raw: list[RawRecord]) -> None:
    gc.disable()
    try:
        for record in raw:
            orjson.loads(record.value)  # type: ignore[arg-type]
    finally:
        gc.enable()


def best_rate(events: int, run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return events / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one batched fold instead")
    args = parser.parse_args()
    batched = records("json_array", args.events)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(fold_all, "json_array", batched)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    single = records("json", args.events)
    avro, avro_schemas = framed("avro", args.events)
    proto, proto_schemas = framed("protobuf", args.events)
    rates = {
        "per-message fold": best_rate(args.events, lambda: fold_all("json", single), args.repeat),
        "per-message fold (avro)": best_rate(args.events, lambda: fold_all("avro", avro, avro_schemas), args.repeat),
        "per-message fold (protobuf)": best_rate(args.events, lambda: fold_all("protobuf", proto, proto_schemas),
                                                 args.repeat),
        "batched fold (json_array)": best_rate(args.events, lambda: fold_all("json_array", batched), args.repeat),
        "batched orjson decode only": best_rate(args.events, lambda: decode_all(batched), args.repeat),
    }
    for name, rate in rates.items():
        print(f"{name:28s} {rate:>10,.0f} events/s")
    ratio = rates["batched fold (json_array)"] / rates["batched orjson decode only"]
    print(f"{'batched fold / decode':28s} {ratio:>10.2f}")


if __name__ == "__main__":
    main()
