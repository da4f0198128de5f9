"""The command line as a user meets it: exit codes, messages, and the files it writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from stream_guard.cli.main import main
from stream_guard.core.alerting.alerts import iso
from stream_guard.offline import scenario
from stream_guard.views.console import digest_line

from .test_topology_file import MINIMAL, REPO

DEMO = REPO / "topologies" / "demo.yaml"
START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000


def write_events(path: Path, events: list[object], extra_lines: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + b"".join(line + b"\n" for line in extra_lines))
    return path


def jsonl(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_validate_exits_0_and_says_ok_for_a_valid_topology(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEMO)]) == 0
    assert capsys.readouterr().out == f"{DEMO}: ok (1 monitor, 6 features)\n"


def test_validate_counts_monitors_and_features_in_singular_and_plural(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(MINIMAL.replace("      channel: {type: categorical}\n", ""))
    two = tmp_path / "two.yaml"
    two.write_text(MINIMAL + MINIMAL.split("monitors:\n")[1].replace("checkout", "refunds"))
    assert main(["validate", str(one), str(two)]) == 0
    assert capsys.readouterr().out == f"{one}: ok (1 monitor, 1 feature)\n{two}: ok (2 monitors, 4 features)\n"


def test_replay_summary_counts_one_line_event_and_window_in_the_singular(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topology = tmp_path / "t.yaml"
    topology.write_text(MINIMAL)
    events = write_events(tmp_path / "e.jsonl", [{"ts": START // 1000, "basket_value": 3, "channel": "web"}])
    assert main(["replay", str(topology), str(events)]) == 0
    assert capsys.readouterr().err.splitlines()[-3:] == [
        "1 line: 1 event read, 1 folded, 0 dead letters",
        "0 windows evaluated (0 checks, 0 events); alerts: none; 0 window digests",
        "1 window still open at the end of the file, not evaluated (1 event; their end plus grace was not reached)"]


def test_validate_exits_2_with_file_and_line_of_each_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("grace: 30s", "grase: 30s").replace("min: 0", "min: zero"))
    assert main(["validate", str(bad), str(DEMO)]) == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [
        f"{bad}:6: unknown key monitors[0].window.grase; did you mean 'grace'? (allowed here: grace, hop, size)",
        f"{bad}:8: monitors[0].features.basket_value.min: Input should be a valid number, unable to parse "
        "string as a number (got 'zero')",
    ]
    assert out.out == f"{DEMO}: ok (1 monitor, 6 features)\n"


def test_validate_reports_every_file_even_after_ones_that_cannot_be_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {"bad.yaml": MINIMAL.replace("min: 0", "min: zero"), "recursive.yaml": "x: &r [*r]\n",
             "deep.yaml": "a: " + "[" * 500 + "]" * 500 + "\n", "last.yaml": MINIMAL.replace("5m", "5 minutes")}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["validate", *(str(tmp_path / name) for name in files), str(DEMO)]) == 2
    out = capsys.readouterr()
    assert [line.split(":")[0] for line in out.err.splitlines()] == [str(tmp_path / name) for name in files]
    assert "Traceback" not in out.err
    assert out.out == f"{DEMO}: ok (1 monitor, 6 features)\n"


def test_validate_of_a_missing_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    missing = tmp_path / "nope.yaml"
    assert capsys.readouterr().err == f"{missing}: cannot read the topology file: No such file or directory\n"


def test_replay_writes_alerts_evaluations_dead_letters_and_digests(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    events = write_events(tmp_path / "e.jsonl", list(scenario.stream(8, START, 1200)),
                          [b"{broken", b"", b'{"features": {}}'])
    args = ["replay", str(DEMO), str(events), "--alerts-out", str(tmp_path / "a.jsonl"),
            "--evaluations-out", str(tmp_path / "v.jsonl"), "--dead-letters-out", str(tmp_path / "d.jsonl"),
            "--digests-out", str(tmp_path / "g.jsonl")]
    assert main(args) == 0
    alerts, evaluations, dead, digests = (jsonl(tmp_path / n) for n in ("a.jsonl", "v.jsonl", "d.jsonl", "g.jsonl"))
    assert [(a["feature"], a["check"], a["severity"], a["status"]) for a in alerts] == [
        ("amount", "numeric_drift", "critical", "firing"),
        ("amount", "mean_shift", "critical", "firing"),
        ("amount", "outside_reference", "warning", "firing"),      # ×2.5 puts 2% beyond any value seen
        ("amount", "numeric_drift", "critical", "resolved"),
        ("amount", "mean_shift", "critical", "resolved"),
        ("amount", "outside_reference", "warning", "resolved"),
        ("age", "missing_rate", "critical", "firing")]
    # 7 windows x (4 numeric features x 6 default checks + 2 categorical x 4 + the monitor's volume and
    # schema drift + the slo check of the 4 features that declare a range)
    assert len(evaluations) == 7 * 38 and {e["schema"] for e in evaluations} == {"stream_guard.evaluation/v1"}
    # amount's drift and mean are critical in windows 4 and 5 (one alert each: they stay firing), its
    # values outside the reference's a warning in both, age in 6
    assert sum(e["severity"] == "ok" for e in evaluations) == 7 * 38 - 7
    assert [(d["offset"], d["reason"]) for d in dead] == [
        (9600, "invalid_json"), (9601, "empty"), (9602, "missing_timestamp")]
    assert [(d["window"]["start"], [e["feature"] for e in d["firing"]]) for d in digests] == [
        (iso(START + w * 60_000), features)
        for w, features in ((4, ["amount"] * 3), (5, ["amount"] * 3), (6, ["age"]))]
    err = capsys.readouterr().err
    assert ("9,603 lines: 9,603 events read, 9,600 folded, 3 dead letters "
            "(empty 1, invalid_json 1, missing_timestamp 1)") in err
    assert ("7 windows evaluated (266 checks, 8,400 events); alerts: 3 critical firing, 1 warning firing, "
            "2 critical resolved, 1 warning resolved; 3 window digests") in err


def test_a_digest_prints_as_one_line_ranking_what_fires() -> None:
    digest = {"schema": "stream_guard.digest/v1", "monitor": "fraud-model",
              "window": {"start": "2026-01-01T00:04:00Z", "end": "2026-01-01T00:05:00Z"},
              "firing": [{"feature": "amount", "check": "numeric_drift", "severity": "critical", "value": 2.16},
                         {"feature": "age", "check": "missing_rate", "severity": "warning", "value": None}]}
    assert digest_line(digest).plain == ("00:04–00:05  digest    2 firing  fraud-model  "
                                         "amount numeric_drift critical 2.16 · age missing_rate warning n/a")


def test_replay_reads_gzip_and_gives_the_same_alert_ids(tmp_path: Path) -> None:
    import gzip
    events = list(scenario.stream(7, START, 600))
    plain = write_events(tmp_path / "e.jsonl", events)
    zipped = tmp_path / "e.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for source, out in ((plain, "a1.jsonl"), (zipped, "a2.jsonl")):
        assert main(["replay", str(DEMO), str(source), "--alerts-out", str(tmp_path / out), "--quiet"]) == 0
    ids = [[a["id"] for a in jsonl(tmp_path / out)] for out in ("a1.jsonl", "a2.jsonl")]
    assert ids[0] == ids[1] and len(ids[0]) == 3


def test_replay_of_a_missing_events_file_is_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(DEMO), str(tmp_path / "none.jsonl")]) == 1
    assert capsys.readouterr().err == f"stream-guard: {tmp_path / 'none.jsonl'}: no such events file\n"


def test_worker_with_unreachable_broker_names_the_url_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", str(DEMO), "--broker", "kafka://127.0.0.1:1", "--redis", "redis://127.0.0.1:1/0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stream-guard: cannot reach the Kafka broker at kafka://127.0.0.1:1 (")
    assert "stream-guard local up" in err


def test_the_console_script_is_installed_and_its_help_lists_every_command() -> None:
    out = subprocess.run([Path(sys.executable).parent / "stream-guard", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("validate", "replay", "worker", "local", "demo", "produce", "alerts"):
        assert f"    {command} " in out


def test_replay_says_when_most_windows_are_thinner_than_min_samples(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    events = write_events(tmp_path / "e.jsonl", list(scenario.stream(4, START, 50)))
    assert main(["replay", str(DEMO), str(events)]) == 0
    err = capsys.readouterr().err
    assert ("monitor fraud-model: 3 of 3 windows held fewer than min_samples (200) events, so their checks grade "
            "info at most; a window of 4m would hold about 200 at this rate") in err


@pytest.mark.parametrize("files", [[], ["a.csv", "--from", "b.csv"]])
def test_reference_build_takes_its_file_as_FILE_or_as_from_but_not_neither_or_both(
        files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    demo = str(REPO / "topologies" / "demo.yaml")
    assert main(["reference", "build", demo, *files, "--name", "n"]) == 1
    assert capsys.readouterr().err == ("stream-guard: reference build needs the file to profile, as FILE or "
                                       "--from EVENTS (one of them)\n")
