"""`stream-guard history --feature/--check`: a name the topology does not have is reported as a typo,
before Redis is asked, rather than as an empty history."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.cli.main import main

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
NOWHERE = "redis://127.0.0.1:1/0"   # never reached: the names are checked first


def test_an_unknown_feature_is_named_with_the_closest_one_and_the_features(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(DEMO), "--feature", "amout", "--redis", NOWHERE]) == 1
    assert capsys.readouterr().err == (
        "stream-guard: monitor fraud-model has no feature 'amout' (did you mean 'amount'?); its features: age, "
        "amount, country, device, score, tenure_days (`*` for the monitor as a whole)\n")


def test_an_unknown_check_is_named_with_the_closest_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(DEMO), "--check", "numeric_drif", "--redis", NOWHERE]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stream-guard: no check is named 'numeric_drif' (did you mean 'numeric_drift'?); "
                          "the checks: cardinality, categorical_drift, ")


def test_known_names_go_on_to_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(DEMO), "--feature", "*", "--check", "state_cap", "--redis", NOWHERE]) == 1
    assert capsys.readouterr().err.startswith("stream-guard: cannot reach Redis at redis://127.0.0.1:1/0")
