"""Topology files: valid ones load into frozen models; every mistake is reported as FILE:LINE: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.core.topology.file import load_topology, with_overrides
from stream_guard.core.topology.monitor import AlertingSpec
from stream_guard.errors import TopologyError

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
version: 1
app: shop
monitors:
  - name: checkout
    source: {topic: checkout.events, timestamp: ts}
    window: {size: 5m, grace: 30s}
    features:
      basket_value: {type: numeric, min: 0}
      channel: {type: categorical}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return [p.replace(str(path), "F") for p in caught.value.problems]


def test_the_demo_topology_loads_with_durations_in_milliseconds() -> None:
    topology = load_topology(REPO / "topologies" / "demo.yaml")
    monitor = topology.monitor("fraud-model")
    assert (monitor.window.size, monitor.window.grace) == (60_000, 5_000)
    assert set(monitor.all_features()) == {"amount", "age", "tenure_days", "country", "device", "score"}
    assert monitor.checks.numeric_drift.critical == 0.25


def test_defaults_fill_what_a_minimal_topology_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL)
    monitor = load_topology(path).monitors[0]
    assert monitor.reference.kind == "rolling" and monitor.reference.window_count() == 10
    assert monitor.reference.needed_windows() == 3
    assert (monitor.checks.missing_rate.warning, monitor.checks.missing_rate.critical) == (0.05, 0.2)


def test_misspelt_key_and_wrong_type_are_each_reported_with_their_line_in_order(tmp_path: Path) -> None:
    text = MINIMAL.replace("    window:", "    windw:").replace(
        "      channel: {type: categorical}",
        "      channel: {type: categorical}\n    checks:\n      missing_rate: {warning: lots}")
    assert problems_of(tmp_path, text) == [
        "F:4: monitors[0].window is required but missing",
        "F:6: unknown key monitors[0].windw; did you mean 'window'? (allowed here: alerting, checks, features, "
        "labels, max_segments, max_window_bytes, min_samples, model, multiple_testing, name, prediction, reference, "
        "rules, segment_by, source, uses, window)",
        "F:11: monitors[0].checks.missing_rate.warning: Input should be a valid number, unable to parse "
        "string as a number (got 'lots')",
    ]


def test_warning_above_critical_names_both_thresholds(tmp_path: Path) -> None:
    text = MINIMAL + "    checks:\n      numeric_drift: {warning: 0.5, critical: 0.2}\n"
    assert problems_of(tmp_path, text) == [
        "F:11: monitors[0].checks.numeric_drift: warning threshold 0.5 is above critical threshold 0.2; "
        "warning must be the lower one"]


def test_a_bad_duration_says_how_to_write_one(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL.replace("size: 5m", "size: 5 minutes")) == [
        "F:6: monitors[0].window.size: '5 minutes' is not a duration; write it like 500ms, 30s, 5m, 1h or 1d"]


@pytest.mark.parametrize(("reference", "problem"), [
    ("{kind: seasonal}", "monitors[0].reference: a seasonal reference needs a period, e.g. period: 1d"),
    ("{kind: rolling, period: 1d}", "monitors[0].reference: period applies to seasonal references, not rolling"),
    ("{kind: snapshot}",
     "monitors[0].reference: a snapshot reference needs exactly one of name (stored) or file (replay)"),
    ("{kind: fixed, start: 2026-11-01T00:00:00Z, end: yesterday}",
     "monitors[0].reference.end: 'yesterday' is not an ISO-8601 time such as 2026-11-01T00:00:00Z"),
    ("{kind: seasonal, period: 7m}", "monitors[0]: reference period 7m is not a multiple of the window size 5m"),
    ("{kind: weekly}", "monitors[0].reference.kind: Input should be 'rolling', 'seasonal', 'fixed' or 'snapshot' "
                       "(got 'weekly')"),
])
def test_a_reference_that_cannot_work_is_refused_with_what_it_needs(tmp_path: Path, reference: str,
                                                                     problem: str) -> None:
    line = 4 if problem.startswith("monitors[0]:") else 10   # a monitor-wide problem points at the monitor
    assert problems_of(tmp_path, MINIMAL + f"    reference: {reference}\n") == [f"F:{line}: {problem}"]


def test_a_fixed_reference_reads_unquoted_iso_times(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL + "    reference: {kind: fixed, start: 2026-11-01T00:00:00Z, end: 2026-11-02}\n")
    assert load_topology(path).monitors[0].reference.range() == (1_793_491_200_000, 1_793_577_600_000)


def test_alerting_defaults_to_firing_at_once_and_reads_for_as_a_window_count(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL)
    assert load_topology(path).monitors[0].alerting == AlertingSpec.model_validate(
        {"for": 1, "keep_firing_for": 0, "cooldown": 0, "repeat": 0, "digest": True})
    path.write_text(MINIMAL + "    alerting: {for: 3, keep_firing_for: 2, cooldown: 5, repeat: 10, digest: false}\n")
    alerting = load_topology(path).monitors[0].alerting
    assert (alerting.for_, alerting.keep_firing_for, alerting.cooldown, alerting.repeat, alerting.digest) == (
        3, 2, 5, 10, False)


def test_alerting_counts_windows_and_says_so_when_given_a_duration(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL + "    alerting:\n      for: 5m\n") == [
        "F:11: monitors[0].alerting.for: counts monitor windows, not time: write a whole number such as 3 (got '5m')"]


def test_a_misspelt_alerting_key_is_named_with_the_keys_allowed(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL + "    alerting: {keep_firing: 2}\n") == [
        "F:10: unknown key monitors[0].alerting.keep_firing; did you mean 'keep_firing_for'? "
        "(allowed here: cooldown, digest, for, keep_firing_for, repeat)"]


def test_importance_must_be_positive_and_source_a_plain_name(tmp_path: Path) -> None:
    text = MINIMAL.replace("{type: numeric, min: 0}", "{type: numeric, min: 0, importance: 0, source: 'etl job'}")
    assert problems_of(tmp_path, text) == [
        "F:8: monitors[0].features.basket_value.importance: Input should be greater than 0 (got 0)",
        "F:8: monitors[0].features.basket_value.source: String should match pattern '^[A-Za-z0-9_.\\-]+$' "
        "(got 'etl job')",
    ]


def test_invalid_yaml_reports_the_line_of_the_syntax_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL.replace("grace: 30s}", "grace: 30s")) == [
        "F:7: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'"]


def test_a_key_given_twice_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL.replace("app: shop", "app: shop\napp: other")) == [
        "F:3: key 'app' appears twice"]


def test_python_object_tags_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("app: shop", "app: !!python/object/apply:os.system ['true']")
    [problem] = problems_of(tmp_path, text)
    assert problem == ("F:2: the YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed; "
                       "a topology holds plain mappings, lists and values")


def test_an_alias_bomb_is_stopped_before_it_expands(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg"))
    [problem] = problems_of(tmp_path, bomb)
    assert "expands to more than 100000 values" in problem


def test_an_empty_file_says_how_a_topology_starts(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "") == ["F:1: the file is empty; a topology starts with `version: 1`"]


def test_flags_override_environment_which_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL)
    topology = load_topology(path)
    monkeypatch.setenv("SG_BROKER", "kafka://env:1")
    monkeypatch.setenv("SG_REDIS", "redis://env:2/0")
    assert with_overrides(topology).kafka.broker == "kafka://env:1"
    assert with_overrides(topology, broker="kafka://flag:3").kafka.broker == "kafka://flag:3"
    assert with_overrides(topology).redis.url == "redis://env:2/0"


def test_bad_input_limits_have_defaults_and_can_be_set_on_the_source(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL)
    source = load_topology(path).monitors[0].source
    assert (source.max_message_bytes, source.max_future, source.max_age) == (1024 * 1024, 3_600_000, None)
    path.write_text(MINIMAL.replace("timestamp: ts}", "timestamp: ts, max_message_bytes: 4096, max_future: 5m, "
                                                      "max_age: 2d}"))
    monitor = load_topology(path).monitors[0]
    assert (monitor.source.max_message_bytes, monitor.source.max_future, monitor.max_event_age()) == (
        4096, 300_000, 2 * 86_400_000)


def test_bad_input_limits_that_make_no_sense_are_reported_with_their_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("    source: {topic: checkout.events, timestamp: ts}",
                           "    source:\n      topic: checkout.events\n      timestamp: ts\n"
                           "      max_message_bytes: 0\n      max_future: 0s")
    assert problems_of(tmp_path, text) == [
        "F:8: monitors[0].source.max_message_bytes: Input should be greater than or equal to 1 (got 0)",
        "F:9: monitors[0].source.max_future: Input should be greater than 0 (got 0)"]
    text = MINIMAL.replace("timestamp: ts}", "timestamp: ts, max_age: 1m}")
    assert problems_of(tmp_path, text) == [
        "F:6: monitors[0].window: the window plus its grace (5m30s) is longer than source.max_age (1m): "
        "events still on time would count as too old; raise source.max_age or leave it out"]


def test_an_idle_timeout_shorter_than_two_flushes_is_reported_on_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("timestamp: ts}", "timestamp: ts, idle_timeout: 1500ms}")
    assert problems_of(tmp_path, text) == [
        "F:5: monitors[0].source.idle_timeout: 1s500ms is shorter than twice state.flush_interval (1s): a silent "
        "partition counts as idle only when its worker, which says it is alive once per flush, has been heard "
        "from within it; raise source.idle_timeout to 2s or more, or lower state.flush_interval"]
    text = MINIMAL.replace("monitors:", "state: {flush_interval: 5s}\nmonitors:")   # the 10s default: enough
    assert load_topology(write(tmp_path, text)).monitors[0].source.idle_timeout == 10_000
    text = MINIMAL.replace("monitors:", "state: {flush_interval: 6s}\nmonitors:")
    assert problems_of(tmp_path, text)[0].startswith(
        "F:6: monitors[0].source.idle_timeout: 10s is shorter than twice state.flush_interval (6s)")


def test_freshness_is_on_by_default_with_thresholds_read_as_durations(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL)
    freshness = load_topology(path).monitors[0].checks.freshness
    assert (freshness.enabled, freshness.info, freshness.warning, freshness.critical) == (True, None, 120_000, 600_000)
    path.write_text(MINIMAL + "    checks:\n      freshness: {warning: 30s, critical: 1h30m, enabled: false}\n")
    freshness = load_topology(path).monitors[0].checks.freshness
    assert (freshness.enabled, freshness.warning, freshness.critical) == (False, 30_000, 5_400_000)


def test_freshness_thresholds_that_make_no_sense_are_reported_with_their_line(tmp_path: Path) -> None:
    text = MINIMAL + "    checks:\n      freshness: {warning: 120, critical: 0s, info: soon}\n"
    assert problems_of(tmp_path, text) == [
        "F:11: monitors[0].checks.freshness.info: 'soon' is not a duration; write it like 500ms, 30s, 5m, 1h or 1d",
        "F:11: monitors[0].checks.freshness.warning: a duration needs its unit, such as 30s or 2m; a bare number "
        "would be milliseconds (got 120)",
        "F:11: monitors[0].checks.freshness.critical: Input should be greater than 0 (got '0s')",
    ]
    text = MINIMAL + "    checks:\n      freshness:\n        warning: 10m\n        critical: 2m\n"
    assert problems_of(tmp_path, text) == [
        "F:11: monitors[0].checks.freshness: warning 10m is above critical 2m; warning must be the shorter one"]


def test_freshness_is_a_monitor_check_and_not_allowed_on_a_feature(tmp_path: Path) -> None:
    text = MINIMAL.replace("{type: categorical}", "{type: categorical, checks: {freshness: {warning: 1m}}}")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith("F:9: unknown key monitors[0].features.channel.checks.freshness (allowed here: ")


def test_a_recursive_alias_is_refused_at_its_line(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, MINIMAL.replace("app: shop", "app: shop\nx: &r [*r]"))
    assert problem.startswith("F:3: ") and "recursive alias" in problem


@pytest.mark.parametrize("text", ["a: " + "[" * 500 + "]" * 500 + "\n", "a:\n" + "".join(
    f"{'  ' * i}- \n" for i in range(1, 500)), "a: " + "{b: " * 2000 + "1" + "}" * 2000 + "\n"])
def test_nesting_deeper_than_a_topology_needs_is_refused_at_its_line(tmp_path: Path, text: str) -> None:
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith("F:") and "levels deep" in problem and "at most 32" in problem


def test_a_large_topology_without_aliases_is_not_taken_for_an_alias_bomb(tmp_path: Path) -> None:
    labels = ", ".join(f"c{i}" for i in range(120_000))
    path = write(tmp_path, MINIMAL.replace("{type: categorical}", f"{{type: categorical, allowed: [{labels}]}}"))
    assert len(load_topology(path).monitors[0].features["channel"].allowed or ()) == 120_000


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    text = MINIMAL + "# padding\n" * 500_000
    assert problems_of(tmp_path, text) == [
        f"F:1: the file is {len(text) / 2**20:.1f} MB; a topology file may be at most 4 MB "
        "(a topology of thousands of features is a few hundred kB)"]


def test_merge_keys_copy_a_mapping_and_keys_given_beside_them_win(tmp_path: Path) -> None:
    text = MINIMAL.replace("{type: numeric, min: 0}", "&amount {type: numeric, min: 0, max: 100}") + \
        "      refund_value: {<<: *amount, max: 50}\n      tip: {<<: [*amount, {importance: 2}]}\n"
    features = load_topology(write(tmp_path, text)).monitors[0].features
    assert (features["refund_value"].min, features["refund_value"].max) == (0, 50)
    assert (features["tip"].max, features["tip"].importance) == (100, 2)


def test_a_merge_key_that_merges_no_mapping_says_what_it_takes(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL + "    reference: {<<: 3}\n") == [
        "F:10: a merge key (<<) takes a mapping or a list of mappings, such as <<: *defaults"]


@pytest.mark.parametrize("value", ["-0.1", ".nan", ".inf", "-.inf", "yes", "true"])
def test_a_threshold_must_be_a_finite_number_not_below_zero(tmp_path: Path, value: str) -> None:
    [problem] = problems_of(tmp_path, MINIMAL + f"    checks:\n      missing_rate: {{critical: {value}}}\n")
    assert problem.startswith("F:11: monitors[0].checks.missing_rate.critical: ")
    assert "a threshold is a finite number of 0 or more, such as 0.2" in problem


def test_a_zero_threshold_and_the_shipped_topologies_stay_valid(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    checks:\n      missing_rate: {warning: 0, critical: 0.5}\n")
    assert load_topology(path).monitors[0].checks.missing_rate.warning == 0
    for shipped in [*(REPO / "topologies").glob("*.yaml"), REPO / "deploy" / "topology.yaml"]:
        load_topology(shipped)


@pytest.mark.parametrize("topic", ["'checkout events'", "'..'", "'.'", "t" * 250, "'topic/é'", "''"])
def test_a_topic_name_kafka_refuses_is_refused_with_what_kafka_allows(tmp_path: Path, topic: str) -> None:
    [problem] = problems_of(tmp_path, MINIMAL.replace("topic: checkout.events", f"topic: {topic}"))
    assert problem.startswith("F:5: monitors[0].source.topic: ")
    assert "a Kafka topic name is 1 to 249 characters of A-Z, a-z, 0-9, '.', '_' and '-', other than '.' and '..'" \
        in problem
    assert len(problem) < 300


def test_alert_topics_are_kafka_topic_names_too(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, MINIMAL.replace("app: shop", "app: shop\nalerts: {topic: 'my alerts'}"))
    assert problem.startswith("F:3: alerts.topic: ")


def test_an_overlong_app_is_refused_without_echoing_all_of_it(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, MINIMAL.replace("app: shop", "app: " + "a" * 100_000))
    assert problem.startswith("F:2: app: ") and "1 to 200 characters" in problem
    assert len(problem) < 300
