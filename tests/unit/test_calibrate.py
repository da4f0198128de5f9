"""`stream-guard calibrate`: proposed thresholds hold the target false-alarm rate and paste back in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from stream_guard.cli.main import main
from stream_guard.core.topology.file import load_topology
from stream_guard.offline import calibrate

from .test_grading import TOPOLOGY, stream


def records(values: np.ndarray, check: str = "numeric_drift", metric: str = "psi") -> list[dict[str, object]]:
    return [{"monitor": "m", "check": check, "metric": metric, "value": float(v)} for v in values]


@pytest.mark.parametrize("degrees", [4, 9, 20])
def test_a_proposed_warning_is_crossed_at_about_the_target_rate_on_fresh_clean_data(degrees: int) -> None:
    rng = np.random.default_rng(degrees)
    # a PSI-like statistic of clean windows: a scaled chi-square
    history, fresh = rng.chisquare(degrees, 2_000) / 1_000, rng.chisquare(degrees, 2_000_000) / 1_000
    (proposal,) = calibrate.propose(records(history), rate=0.001)
    assert proposal.warning is not None and proposal.critical is not None
    crossed = np.mean(fresh >= proposal.warning)
    assert 0.0001 <= crossed <= 0.003            # the target is 0.001: within a factor of 3 or so
    assert np.mean(fresh >= proposal.critical) <= 0.0001


def test_fold_changes_are_calibrated_above_their_floor_of_one() -> None:
    rng = np.random.default_rng(3)
    history = 1 + np.abs(rng.normal(0, 0.05, 500))
    (proposal,) = calibrate.propose(records(history, "volume", "events_fold_change"), rate=0.001)
    assert proposal.warning is not None and 1.1 < proposal.warning < 1.3


def test_a_check_that_never_moved_gets_no_proposal_and_says_why() -> None:
    (proposal,) = calibrate.propose(records(np.zeros(100), "missing_rate", "missing_rate_increase"), rate=0.001)
    assert proposal.warning is None and proposal.note == "never moved off its floor in this history; keep the defaults"


def test_a_check_evaluated_but_never_computed_is_listed_with_the_reason() -> None:
    not_ready = [{"monitor": "m", "check": "numeric_drift", "metric": "psi", "value": None,
                  "summary": f"amount: PSI not computed: reference not ready ({k} of 3 windows)."} for k in range(3)]
    (proposal,) = calibrate.with_never_computed(calibrate.propose(not_ready, rate=0.001), not_ready)
    assert (proposal.check, proposal.values, proposal.warning) == ("numeric_drift", 0, None)
    assert proposal.note == "no value in this history: reference not ready (2 of 3 windows)"
    assert calibrate.as_yaml([proposal], "train.jsonl", 3, 0.001).splitlines()[-1] == \
        "      # numeric_drift: no proposal: no value in this history: reference not ready (2 of 3 windows)"


def test_too_few_values_say_how_many_are_needed_once() -> None:
    (proposal,) = calibrate.propose(records(np.full(19, 1.0), "volume", "events_fold_change"), rate=0.001)
    assert calibrate.as_yaml([proposal], "e.jsonl", 19, 0.001).splitlines()[-1] == \
        "      # volume: no proposal: need 30 values at least (windows × features) (19 values, largest seen 1)"


def test_an_estimated_performance_proposal_names_the_metric_as_the_check_takes_it() -> None:
    rng = np.random.default_rng(4)
    history = records(np.abs(rng.normal(0, 0.01, 500)), "estimated_performance", "estimated_recall")
    text = calibrate.as_yaml(calibrate.propose(history, rate=0.001), "h.jsonl", 500, 0.001)
    proposed = yaml.safe_load(text)["monitors"][0]["checks"]["estimated_performance"]
    assert proposed["metric"] == "recall" and 0.03 < proposed["warning"] < proposed["critical"]


def test_calibrate_prints_yaml_that_pastes_into_the_topology(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    topology = tmp_path / "t.yaml"
    topology.write_text(TOPOLOGY)
    events = stream(tmp_path / "clean.jsonl", faults=False)
    assert main(["calibrate", str(topology), str(events)]) == 0
    out = capsys.readouterr().out
    proposed = yaml.safe_load(out)["monitors"][0]
    assert proposed["name"] == "m"
    assert set(proposed["checks"]) == {"numeric_drift", "categorical_drift", "mean_shift", "outside_reference",
                                       "slow_drift"}
    assert proposed["checks"]["numeric_drift"]["metric"] == "psi"
    # pasted under the monitor, the file stays valid and carries the new thresholds
    checks = "    checks:\n" + "".join(f"      {name}: {value}\n".replace("'", "") for name, value in
                                      ((n, _flow(v)) for n, v in proposed["checks"].items()))
    topology.write_text(TOPOLOGY + checks)
    monitor = load_topology(topology).monitors[0]
    assert monitor.checks.mean_shift.warning == proposed["checks"]["mean_shift"]["warning"]
    assert monitor.checks.numeric_drift.warning < 0.1    # tighter than the default on this quiet history


def test_calibrate_refuses_a_rate_that_is_no_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topology = tmp_path / "t.yaml"
    topology.write_text(TOPOLOGY)
    assert main(["calibrate", str(topology), str(tmp_path / "x.jsonl"), "--rate", "2"]) == 1
    assert capsys.readouterr().err == "stream-guard: --rate 2.0 must be between 0 and 0.5, e.g. 0.001\n"


def _flow(mapping: dict[str, object]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def test_calibrate_proposes_cusum_thresholds_that_paste_back_switched_on(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    topology = tmp_path / "t.yaml"
    topology.write_text(TOPOLOGY + "    checks:\n      cusum: {enabled: true, allowance: 0.1}\n")
    events = stream(tmp_path / "clean.jsonl", faults=False)
    assert main(["calibrate", str(topology), str(events)]) == 0
    cusum = yaml.safe_load(capsys.readouterr().out)["monitors"][0]["checks"]["cusum"]
    assert cusum["enabled"] is True and cusum["allowance"] == 0.1 and 0 < cusum["warning"] < cusum["critical"]
    topology.write_text(TOPOLOGY + f"    checks:\n      cusum: {_flow(cusum)}\n".replace("'", ""))
    pasted = load_topology(topology).monitors[0].checks.cusum
    assert (pasted.enabled, pasted.allowance, pasted.warning) == (True, 0.1, cusum["warning"])
