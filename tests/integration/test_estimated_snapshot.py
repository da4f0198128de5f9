"""A labelled snapshot in a real Redis calibrates `estimated_performance`; one built without labels still serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import redis

from stream_guard.cli.main import main
from stream_guard.offline.score_scenario import scored_events, training_rows
from stream_guard.runtime.local_stack import LocalStack

from ..unit.test_estimated_performance import MINUTE, START, TOPOLOGY

pytestmark = pytest.mark.integration


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def estimated(path: Path, events: Path, redis_flag: list[str], out: Path) -> list[dict[str, Any]]:
    assert main(["replay", str(path), str(events), "--evaluations-out", str(out), "--quiet", *redis_flag]) == 0
    return [e for line in out.read_bytes().splitlines()
            if (e := orjson.loads(line))["check"] == "estimated_performance"]


def test_a_labelled_snapshot_built_into_redis_calibrates_the_check_before_any_label_arrives(
        tmp_path: Path, local_stack: LocalStack, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(21)
    train = write(tmp_path / "train.jsonl", training_rows(rng, 20_000))
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(reference="{kind: snapshot, name: train-v1}"))
    redis_flag = ["--redis", local_stack.redis_url]

    assert main(["reference", "build", str(path), str(train), "--name", "train-v1", *redis_flag]) == 0
    err = capsys.readouterr().err
    assert "labels at 'label': 20,000 labelled rows calibrate estimated_performance (realized accuracy 0.8" in err
    assert main(["reference", "show", str(path), "train-v1", *redis_flag]) == 0
    assert "20,000 labelled rows calibrate estimated_performance" in capsys.readouterr().out

    shifted = write(tmp_path / "e.jsonl", scored_events(rng, START, 10, MINUTE, 2_000, uncertainty=0.6,
                                                        from_window=5))
    found = estimated(path, shifted, redis_flag, tmp_path / "v.jsonl")
    assert [e["severity"] for e in found] == ["ok"] * 5 + ["critical"] * 4
    assert "calibrated on 20,000 labelled rows of snapshot 'train-v1'" in found[-1]["summary"]


def test_a_snapshot_without_labels_leaves_the_scores_taken_as_calibrated_and_says_so(
        tmp_path: Path, local_stack: LocalStack, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(22)
    train = write(tmp_path / "train.jsonl", [{k: v for k, v in r.items() if k != "label"}
                                             for r in training_rows(rng, 5_000)])
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(reference="{kind: snapshot, name: unlabelled}"))
    redis_flag = ["--redis", local_stack.redis_url]

    assert main(["reference", "build", str(path), str(train), "--name", "unlabelled", *redis_flag]) == 0
    assert ("no row carries a usable label at 'label': estimated_performance will take the scores as calibrated"
            in capsys.readouterr().err)
    clean = write(tmp_path / "e.jsonl", scored_events(rng, START, 4, MINUTE, 2_000))
    found = estimated(path, clean, redis_flag, tmp_path / "v.jsonl")
    assert [e["severity"] for e in found] == ["ok"] * 3
    assert "scores taken as calibrated (snapshot 'unlabelled' holds no labels)" in found[0]["summary"]
