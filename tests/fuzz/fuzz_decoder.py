"""Coverage-guided fuzzing (atheris, libFuzzer) of the message decoder and of folding, in every source format.

One input is a format byte, then messages separated by 0xFE bytes. It must decode and fold without an
exception, every event a message counts for must be decoded or dead-lettered exactly once, and the
partition's counts must balance. Run from the repository root (atheris is not a project dependency):

    .venv/bin/pip install atheris
    .venv/bin/python -m tests.fuzz.fuzz_decoder tests/fuzz/corpus/decoder -max_total_time=600 -max_len=2048
"""

from __future__ import annotations

import sys

from stream_guard.core.decoding.decoder import BatchDecoder
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.topology.monitor import MonitorSpec

FORMATS = ("json", "json_array", "ndjson")
NOW = 1_800_000_000_000


def _monitor(fmt: str, general: bool) -> MonitorSpec:
    x = {"type": "numeric", "field": "f.x", **({"min": 0} if general else {})}
    c = {"type": "categorical", "field": "f.c", **({"allowed": ["a", "b"]} if general else {})}
    return MonitorSpec.model_validate({
        "name": "m", "source": {"topic": "t", "timestamp": "ts", "format": fmt},
        "window": {"size": "1m", "grace": "5s"}, "features": {"x": x, "c": c},
        **({"segment_by": ["region"], "rules": ["x <= 1000"]} if general else {})})


MONITORS = {(fmt, general): _monitor(fmt, general) for fmt in FORMATS for general in (False, True)}


def check(data: bytes) -> None:
    """Decode and fold `data`'s messages; raise AssertionError when an event is lost or counted twice."""
    if not data:
        return
    fmt, general = FORMATS[data[0] % 3], bool(data[0] & 4)
    spec = MONITORS[(fmt, general)]
    records = [RawRecord(m, 0, i, "t") for i, m in enumerate(data[1:].split(b"\xfe"))]
    batch = BatchDecoder(spec).decode(records)
    seen = [(r.offset, i) for r, i in zip(batch.records, batch.indexes, strict=True)]
    seen += [(d.record.offset, d.index) for d in batch.dead_letters]
    assert len(seen) == len(set(seen)) == batch.consumed, "an event decoded or dead-lettered twice, or lost"
    assert {o for o, _ in seen} == set(range(len(records))), "a message neither decoded nor dead-lettered"
    folder = PartitionFolder(spec, 0)
    folder.fold(records, now=NOW)
    counts = folder.counts
    assert counts.consumed == counts.folded + counts.dead_lettered + counts.filtered == batch.consumed


def main() -> None:
    import atheris

    atheris.instrument_all()   # coverage of the Python code, which libFuzzer steers by
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
