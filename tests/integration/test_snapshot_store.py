"""Snapshot references stored in a real Redis: build, list, show, delete, and use from `replay`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
import redis

from stream_guard.cli.main import main
from stream_guard.runtime.local_stack import LocalStack

from ..unit.test_references import serving, topology, training, write_training

pytestmark = pytest.mark.integration


def test_build_list_show_use_and_delete_a_snapshot(tmp_path: Path, local_stack: LocalStack,
                                                   redis_client: redis.Redis,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    write_training(tmp_path / "train.csv", training(rng, 5_000))
    path = tmp_path / "t.yaml"
    path.write_text(topology("{kind: snapshot, name: train-v1}", window="10m"))
    redis_flag = ["--redis", local_stack.redis_url]

    assert main(["reference", "build", str(path), str(tmp_path / "train.csv"), "--name", "train-v1", *redis_flag]) == 0
    assert "snapshot 'train-v1' of monitor m: 5,000 rows of train.csv, 2 features" in capsys.readouterr().err
    assert redis_client.hkeys("sg:{refs/m}:snapshots") == [b"train-v1"]

    # snapshots never change: building the same name again is refused and leaves the stored one alone
    # (this time in the `--monitor M --from EVENTS` form of the CLI contract)
    assert main(["reference", "build", str(path), "--monitor", "m", "--from", str(tmp_path / "train.csv"),
                 "--name", "train-v1", *redis_flag]) == 1
    assert "already has a snapshot named 'train-v1'" in capsys.readouterr().err

    assert main(["reference", "list", str(path), *redis_flag]) == 0
    listed = capsys.readouterr().out
    assert "train-v1" in listed and "5,000" in listed and "train.csv" in listed
    assert main(["reference", "show", str(path), "train-v1", *redis_flag]) == 0
    shown = capsys.readouterr().out
    assert "5,000 rows of train.csv" in shown and "desktop 7" in shown and "mobile 3" in shown

    # replay finds the stored snapshot by name and grades a skewed stream against it
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in serving(training(rng, 3_000, shift=0.6))))
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(path), str(events), "--evaluations-out", str(out), "--quiet", *redis_flag]) == 0
    evaluations = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {(e["feature"], e["check"]) for e in evaluations if e["severity"] == "critical"} == {
        ("load", "numeric_drift"), ("load", "mean_shift")}

    assert main(["reference", "delete", str(path), "train-v1", *redis_flag]) == 0
    assert capsys.readouterr().out == "deleted snapshot 'train-v1' of monitor m\n"
    assert main(["replay", str(path), str(events), "--quiet", *redis_flag]) == 1
    assert capsys.readouterr().err.endswith(
        "stream-guard: monitor m: no snapshot named 'train-v1' in Redis at "
        f"{local_stack.redis_url}; build it with `stream-guard reference build TOPOLOGY FILE --monitor m "
        "--name train-v1`\n")


def test_show_and_delete_of_a_name_not_stored_list_the_names_that_are(tmp_path: Path, local_stack: LocalStack,
                                                                     redis_client: redis.Redis,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(topology("{kind: snapshot, name: train-v1}", window="10m").replace("app: ", "app: names-", 1))
    redis_flag = ["--redis", local_stack.redis_url]
    assert main(["reference", "show", str(path), "train-v1", *redis_flag]) == 1
    assert capsys.readouterr().err == (
        "stream-guard: monitor m has no snapshot named 'train-v1'; it has none stored: build one with "
        "`stream-guard reference build TOPOLOGY FILE --name NAME`\n")
    write_training(tmp_path / "train.csv", training(np.random.default_rng(3), 500))
    for name in ("train-v2", "train-v1b"):
        assert main(["reference", "build", str(path), str(tmp_path / "train.csv"), "--name", name, *redis_flag]) == 0
    capsys.readouterr()
    for action in ("show", "delete"):
        assert main(["reference", action, str(path), "train-v1", *redis_flag]) == 1
        assert capsys.readouterr().err == \
            "stream-guard: monitor m has no snapshot named 'train-v1'; its snapshots: train-v1b, train-v2\n"
