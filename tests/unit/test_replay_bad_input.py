"""`replay` over a file mixing good lines with every kind of bad one: each bad line is accounted for."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import orjson
import pytest

from stream_guard.cli.main import main

from ..bad_input import MixedStream, file_bytes, mixed_stream, topology_text
from .test_topology_file import REPO

DEMO = REPO / "topologies" / "demo.yaml"


@pytest.fixture(scope="module")
def stream() -> MixedStream:
    return mixed_stream()


Records = list[dict[str, object]]


def replay(tmp_path: Path, stream: MixedStream) -> tuple[int, Records, Records]:
    """Replay the mixed file through the CLI; its exit code, dead letters and evaluations."""
    topology, events = tmp_path / "topology.yaml", tmp_path / "mixed.jsonl"
    topology.write_text(topology_text(DEMO.read_text()))
    events.write_bytes(file_bytes(stream))
    dead, evaluations = tmp_path / "dead.jsonl", tmp_path / "evaluations.jsonl"
    code = main(["replay", str(topology), str(events), "--dead-letters-out", str(dead),
                 "--evaluations-out", str(evaluations), "--quiet"])
    return code, jsonl(dead), jsonl(evaluations)


def jsonl(path: Path) -> Records:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def payload_of(letter: dict[str, object]) -> bytes:
    if "payload_base64" in letter:
        return base64.b64decode(str(letter["payload_base64"]))
    return str(letter["payload"]).encode()


def test_the_mixed_file_holds_every_kind_of_bad_line(stream: MixedStream) -> None:
    assert set(stream.dead) == {"empty", "invalid_json", "not_utf8", "too_deep", "oversized", "not_an_object",
                                "missing_timestamp", "invalid_timestamp", "future", "too_old", "late"}


def test_replay_dead_letters_exactly_the_bad_lines_each_with_its_reason(tmp_path: Path, stream: MixedStream) -> None:
    code, dead, _ = replay(tmp_path, stream)
    assert code == 0
    assert len(dead) == sum(stream.dead.values())
    assert Counter(letter["reason"] for letter in dead) == stream.dead
    for letter in dead:
        line = stream.lines[int(str(letter["offset"]))]
        assert stream.reasons[line] == letter["reason"], letter
        if letter.get("truncated"):
            assert line.startswith(payload_of(letter)) and letter["payload_size"] == len(line)
        else:
            assert payload_of(letter) == line


def test_replay_folds_and_evaluates_exactly_the_good_lines(tmp_path: Path, stream: MixedStream,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, evaluations = replay(tmp_path, stream)
    err = capsys.readouterr().err
    evaluated = sum(int(str(e["n_current"])) for e in evaluations
                    if e["feature"] == "amount" and e["check"] == "missing_rate")
    lines, bad = len(stream.lines), sum(stream.dead.values())
    assert code == 0
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(stream.dead.items()))
    assert f"{lines:,} lines: {lines:,} events read, {stream.good:,} folded, {bad} dead letters ({reasons})" in err
    assert f"checks, {evaluated:,} events)" in err
    assert f"({stream.good - evaluated:,} events; their end plus grace was not reached)" in err
    assert stream.good + bad == lines
