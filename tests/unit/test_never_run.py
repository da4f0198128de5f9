"""`stream-guard validate` on checks their monitor can never run, and on snapshot reference files that do not
exist: each said at the line of its key, as an error (exit 2) or a warning (exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.cli.main import main

from .test_topology_file import MINIMAL

NUMERIC_PAIR = MINIMAL.replace("channel: {type: categorical}", "items: {type: integer}")


def validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """Exit code, standard output and standard error lines (the file's path written F)."""
    path = tmp_path / "t.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    return code, out.out.replace(str(path), "F"), out.err.replace(str(path), "F").splitlines()


def test_performance_thresholds_on_a_monitor_without_labels_are_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(tmp_path, MINIMAL + "    checks:\n      performance: {warning: 0.02, critical: 0.05}\n",
                              capsys)
    assert (code, out) == (2, "")
    assert err == ["F:11: monitors[0].checks.performance: these settings are never used: the performance check "
                   "runs only on a monitor that declares labels: (and model:) to judge its predictions against; "
                   "add them (see docs/checks.md), or remove checks.performance"]


def test_performance_named_without_settings_on_a_monitor_without_labels_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(tmp_path, MINIMAL + "    checks:\n      performance: {}\n", capsys)
    assert (code, out) == (0, "F: ok (1 monitor, 2 features)\n")
    assert err == ["F:11: warning: monitors[0].checks.performance: never runs: the monitor declares no labels: to "
                   "judge its predictions against; add labels: and model: (see docs/checks.md), or remove the check"]


def test_performance_switched_off_or_left_out_says_nothing(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    off = MINIMAL + "    checks:\n      performance: {enabled: false, warning: 0.02}\n"
    assert validate(tmp_path, off, capsys) == (0, "F: ok (1 monitor, 2 features)\n", [])
    assert validate(tmp_path, MINIMAL, capsys) == (0, "F: ok (1 monitor, 2 features)\n", [])


def test_performance_with_labels_but_no_model_stays_an_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    labelled = MINIMAL + ("    labels: {topic: l, id: rid, field: y, timestamp: ts, max_delay: 1h}\n"
                          "    checks:\n      performance: {warning: 0.02}\n")
    code, _, err = validate(tmp_path, labelled, capsys)
    assert code == 2
    assert err == ["F:10: monitors[0].labels: labels need a model: add model: {task: binary} (or multiclass, "
                   "regression)"]


def test_multivariate_under_a_rolling_reference_is_a_warning(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(tmp_path, NUMERIC_PAIR + "    checks:\n      multivariate: {warning: 0.2}\n", capsys)
    assert (code, out) == (0, "F: ok (1 monitor, 2 features)\n")
    assert err == ["F:11: warning: monitors[0].checks.multivariate: never runs under a rolling reference: it "
                   "compares the window with the PCA that a snapshot reference holds (reference: {kind: snapshot, "
                   "name: ...}, built by `stream-guard reference build`); use one, or remove the check"]


def test_multivariate_under_a_snapshot_of_one_numeric_feature_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MINIMAL.replace("    features:\n", "    reference: {kind: snapshot, name: train}\n    features:\n", 1)
    code, out, err = validate(tmp_path, text + "    checks:\n      multivariate: {critical: 0.3}\n", capsys)
    assert (code, out) == (0, "F: ok (1 monitor, 2 features)\n")
    assert err == ["F:12: warning: monitors[0].checks.multivariate: never runs: a snapshot holds a PCA only of two "
                   "numeric features or more (type numeric or integer, prediction fields left out), and this "
                   "monitor has one (basket_value)"]


def test_multivariate_under_a_snapshot_of_two_numeric_features_says_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = NUMERIC_PAIR.replace("    features:\n", "    reference: {kind: snapshot, name: train}\n    features:\n", 1)
    assert validate(tmp_path, text + "    checks:\n      multivariate: {critical: 0.3}\n", capsys) == (
        0, "F: ok (1 monitor, 2 features)\n", [])


def test_estimated_performance_without_a_binary_model_is_an_error(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = validate(tmp_path, MINIMAL + "    checks:\n      estimated_performance: {metric: accuracy}\n",
                            capsys)
    assert code == 2
    assert err == ["F:11: monitors[0].checks.estimated_performance: estimated performance is for binary "
                   "classifiers and this monitor has no model: add model: {task: binary, threshold: 0.5} or remove "
                   "the check"]


def test_a_snapshot_file_that_does_not_exist_is_an_error_at_its_key(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    text = MINIMAL.replace("    features:\n", "    reference: {kind: snapshot, file: nope.csv}\n    features:\n", 1)
    code, out, err = validate(tmp_path, text, capsys)
    assert (code, out) == (2, "")
    assert err == [f"F:7: reference file nope.csv does not exist (relative to the current folder and to {tmp_path}, "
                   "the topology file's folder)"]


def test_a_snapshot_file_beside_the_topology_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.csv").write_text("basket_value,channel\n1,web\n")
    text = MINIMAL.replace("    features:\n", "    reference: {kind: snapshot, file: train.csv}\n    features:\n", 1)
    assert validate(tmp_path, text, capsys) == (0, "F: ok (1 monitor, 2 features)\n", [])


def test_a_snapshot_file_of_no_known_type_is_an_error_at_its_key(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.txt").write_text("1\n")
    text = MINIMAL.replace("    features:\n", "    reference: {kind: snapshot, file: train.txt}\n    features:\n", 1)
    code, _, err = validate(tmp_path, text, capsys)
    assert code == 2
    assert err == ["F:7: reference file train.txt is of no known type; reference files are .jsonl, .jsonl.gz, "
                   ".ndjson, .csv, .parquet"]


def test_replay_refuses_a_missing_snapshot_file_with_the_same_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL.replace("    features:\n", "    reference: {kind: snapshot, file: nope.csv}\n"
                                                       "    features:\n", 1))
    events = tmp_path / "e.jsonl"
    events.write_text('{"ts": 1, "basket_value": 1, "channel": "web"}\n')
    assert main(["replay", str(path), str(events)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"stream-guard: {path}:7: reference file nope.csv does not exist (relative to the current folder and to "
        f"{tmp_path}, the topology file's folder)")


def test_the_worker_refuses_a_missing_snapshot_file_before_it_reaches_for_the_services(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL.replace("    features:\n", "    reference: {kind: snapshot, file: nope.csv}\n"
                                                       "    features:\n", 1))
    assert main(["worker", str(path), "--broker", "kafka://127.0.0.1:1", "--redis", "redis://127.0.0.1:1"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"stream-guard: {path}:7: reference file nope.csv does not exist (relative to the current folder and to "
        f"{tmp_path}, the topology file's folder)")
