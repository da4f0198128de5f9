"""The multivariate check through a real Redis: the PCA stored with a snapshot, the errors' profile
stored with each partition's window, read back and merged by the evaluator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.cli.main import main
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.multivariate import RECONSTRUCTION
from stream_guard.core.profiles.profile import NumericProfile, WindowProfile
from stream_guard.core.topology.file import load_topology
from stream_guard.offline.references import build_from_file
from stream_guard.runtime.local_stack import LocalStack

from ..unit.test_multivariate import TOPOLOGY, rows, severities, write_stream

pytestmark = pytest.mark.integration


def test_a_stored_snapshot_carries_its_pca_and_replay_grades_a_correlation_break_against_it(
        tmp_path: Path, local_stack: LocalStack, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    train = np.random.default_rng(40)
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows(train, 20_000)))
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(reference="{kind: snapshot, name: train}"))
    flag = ["--redis", local_stack.redis_url]
    assert main(["reference", "build", str(path), str(tmp_path / "train.jsonl"), "--name", "train", *flag]) == 0
    assert ("snapshot 'train' of monitor m: 20,000 rows of train.jsonl, 6 features; PCA of a, b, c, d, e: "
            "4 components, 96% of their variance") in capsys.readouterr().err
    assert main(["reference", "show", str(path), "train", *flag]) == 0
    assert "PCA of a, b, c, d, e: 4 components" in capsys.readouterr().out

    write_stream(tmp_path / "e.jsonl", windows=10, broken_from=6, seed=41)
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(path), str(tmp_path / "e.jsonl"), "--evaluations-out", str(out), "--quiet",
                 *flag]) == 0
    evaluations = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert severities(evaluations, "multivariate") == ["ok"] * 6 + ["critical"] * 3
    assert {e["severity"] for e in evaluations if e["check"] != "multivariate"} == {"ok"}


def test_partitions_store_the_errors_with_their_window_and_the_evaluator_merges_them(
        tmp_path: Path, local_stack: LocalStack, redis_client: redis.Redis) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(reference="{kind: snapshot, file: train.jsonl}"))
    train = np.random.default_rng(50)
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows(train, 5_000)))
    topology = load_topology(path)
    monitor = topology.monitors[0]
    snapshot = build_from_file(monitor, tmp_path / "train.jsonl", "train.jsonl")[0]
    write_stream(tmp_path / "e.jsonl", windows=1, broken_from=0, seed=51, per_window=600)
    lines = (tmp_path / "e.jsonl").read_bytes().splitlines()
    workers = [MonitorEngine(monitor, snapshot=snapshot) for _ in range(2)]
    for i, line in enumerate(lines):   # two workers, one partition each
        workers[i % 2].fold([RawRecord(line, i % 2, i // 2, "t")])
    start = next(iter(workers[0].folders[0].windows))
    store = RedisStateStore.for_topology(topology, local_stack.redis_url)

    async def through_redis() -> list[WindowProfile]:
        try:
            for partition, worker in enumerate(workers):
                await store.save_partition(monitor.name, partition, worker.folders[partition].changes())
            return await store.partition_profiles(monitor.name, [0, 1], start)
        finally:
            await store.close()

    stored = asyncio.run(through_redis())
    errors = [p.features[RECONSTRUCTION] for p in stored]
    assert [(isinstance(e, NumericProfile), e.n) for e in errors] == [(True, 300), (True, 300)]
    (check,) = [e for e in MonitorEngine(monitor, snapshot=snapshot).close_window(start, stored, start).evaluations
                if e.check == "multivariate"]
    local = MonitorEngine(monitor, snapshot=snapshot)     # the same events folded in one place, never stored
    local.fold([RawRecord(line, 0, i, "t") for i, line in enumerate(lines)])
    (expected,) = [e for e in local.close_window(start, local.local_profiles(start), start).evaluations
                   if e.check == "multivariate"]
    assert (check.n_current, check.severity) == (600, "critical")
    assert check.value == pytest.approx(expected.value, rel=1e-9)
