"""`stream-guard replay` reads Avro object container files, and gives the alerts the same events give as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import orjson

from stream_guard.cli.main import main
from stream_guard.offline import scenario
from tests.registry_events import avro_schema

REPO = Path(__file__).resolve().parents[2]
START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000


def test_replay_of_an_avro_file_gives_the_alerts_of_the_same_events_as_json_lines(tmp_path: Path) -> None:
    events = list(scenario.stream(11, START, 600))
    jsonl, avro = tmp_path / "events.jsonl", tmp_path / "events.avro"
    jsonl.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    with open(avro, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(json.loads(avro_schema())), events, codec="deflate")
    alerts = []
    for path in (jsonl, avro):
        out_path = tmp_path / f"alerts-{path.suffix}.jsonl"
        assert main(["replay", str(REPO / "topologies" / "demo.yaml"), str(path), "--alerts-out", str(out_path),
                     "--quiet"]) == 0
        alerts.append([orjson.loads(line)["id"] for line in out_path.read_bytes().splitlines()])
    assert alerts[0] and alerts[0] == alerts[1]


def test_replay_of_a_file_that_is_not_avro_says_so(tmp_path: Path, capsys: object) -> None:
    bad = tmp_path / "bad.avro"
    bad.write_bytes(b"not avro at all")
    assert main(["replay", str(REPO / "topologies" / "demo.yaml"), str(bad), "--quiet"]) == 1
