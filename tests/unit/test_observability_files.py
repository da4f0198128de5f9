"""deploy/prometheus/rules.yml and deploy/grafana/stream-guard.json, checked statically.

Every PromQL expression goes through a real PromQL parser (promql-parser, the parser of GreptimeDB's
Rust crate), and every series it selects, with every label it matches or groups by, must be one the
worker exports (tests/metrics_contract.py).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.metrics_contract import METRICS, TARGET_LABELS, series

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "stream-guard.json"
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
# Grafana fills these in before the query reaches Prometheus
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


# helpers ----------------------------------------------------------------------------------------

@functools.cache
def rule_file() -> dict[str, Any]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_file()["groups"] for rule in group["rules"]]


@functools.cache
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def panel_exprs() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard()["panels"] for target in panel["targets"]]


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "[$" not in expr, f"an unknown Grafana range variable in {expr!r}"
    return expr


def problems(expr: str) -> list[str]:
    """Why `expr` is not valid PromQL over the worker's metrics (empty when it is)."""
    try:
        tree = promql_parser.parse(expr)
    except ValueError as exc:
        return [f"does not parse: {exc}"]
    found: list[str] = []
    labels_seen: set[str] = set(TARGET_LABELS)
    grouped: list[str] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            metric = series(node.name)
            if metric is None:
                found.append(f"unknown metric {node.name}")
                return True
            labels_seen.update(metric.labels)
            for matcher in node.matchers.matchers:
                if matcher.name not in metric.labels | TARGET_LABELS:
                    found.append(f"{node.name} has no label {matcher.name}")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouped.extend(node.modifier.labels)
        return True

    promql_parser.walk(tree, visit)
    found.extend(f"groups by {label}, which no selected series has" for label in grouped if label not in labels_seen)
    return found


# the expression check itself --------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "problem"), [
    ("sum(rate(stream_guard_events_folded_total[5m])", "does not parse"),
    ("rate(stream_guard_events_fold_total[5m])", "unknown metric stream_guard_events_fold_total"),
    ("stream_guard_flush_duration_seconds", "unknown metric stream_guard_flush_duration_seconds"),
    ("stream_guard_consumer_lag{reason='late'}", "stream_guard_consumer_lag has no label reason"),
    ("sum by (reason) (stream_guard_consumer_lag)", "groups by reason"),
])
def test_the_expression_check_catches(expr: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in problems(expr)), problems(expr)


def test_histograms_are_queried_through_their_series() -> None:
    assert problems("histogram_quantile(0.99, sum by (le, monitor) "
                    "(rate(stream_guard_flush_duration_seconds_bucket[5m])))") == []
    assert series("stream_guard_windows_evaluated_total_count") is None


# prometheus rules -------------------------------------------------------------------------------

def test_the_rule_file_has_the_prometheus_structure() -> None:
    assert set(rule_file()) == {"groups"}
    names = [group["name"] for group in rule_file()["groups"]]
    assert len(names) == len(set(names))
    for group in rule_file()["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert group["rules"], group["name"]
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS, rule.get("alert")
            assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule)
            assert DURATION.match(rule["for"]), rule["for"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert {"summary", "description"} <= set(rule["annotations"])


def test_the_rules_cover_the_failures_the_deployment_must_page_on() -> None:
    assert [rule["alert"] for rule in rules()] == [
        "StreamGuardWorkerDown", "StreamGuardNoEventsFolded", "StreamGuardDeadLetterRateHigh",
        "StreamGuardConsumerLagGrowing", "StreamGuardEventsStale", "StreamGuardRedisErrors",
        "StreamGuardNoWindowEvaluated"]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_rule_expression_is_valid_promql_over_known_metrics(rule: dict[str, Any]) -> None:
    assert problems(rule["expr"]) == []


def test_annotations_template_only_labels_their_expression_keeps() -> None:
    for rule in rules():
        kept = {"instance", "job"} | set(re.findall(r"by \(([^)]*)\)", rule["expr"])[0].replace(" ", "").split(",")
                                         if "by (" in rule["expr"] else set())
        for text in rule["annotations"].values():
            for label in re.findall(r"\$labels\.(\w+)", text):
                assert label in kept, f"{rule['alert']}: {{{{ $labels.{label} }}}} is dropped by the aggregation"


def test_every_rule_is_a_worker_health_alert_that_carries_its_app() -> None:
    for rule in rules():
        assert rule["labels"]["kind"] == "worker-health", rule["alert"]
        assert "group_left (app) " in rule["expr"] and "stream_guard_worker_info" in rule["expr"], rule["alert"]
        assert all("app" in by for by in re.findall(r"by \(([^)]*)\)", rule["expr"])), rule["alert"]


def test_no_rule_relays_data_alerts_which_forward_sends_to_alertmanager_where_silences_apply() -> None:
    assert not [rule["alert"] for rule in rules() if "stream_guard_firing_alerts" in rule["expr"]]


# grafana dashboard ------------------------------------------------------------------------------

def test_the_dashboard_has_a_prometheus_datasource_variable_used_by_every_panel() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard()["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
    assert problems(variables["monitor"]["definition"].removeprefix("label_values(").split(",")[0]) == []


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        xs, ys = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        mine = {(x, y) for x in xs for y in ys}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


@pytest.mark.parametrize(("title", "expr"), panel_exprs(), ids=[t for t, _ in panel_exprs()])
def test_every_panel_query_is_valid_promql_over_known_metrics(title: str, expr: str) -> None:
    assert problems(grafana_to_promql(expr)) == []


def test_target_ref_ids_are_unique_within_a_panel() -> None:
    for panel in dashboard()["panels"]:
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_dashboard_shows_what_an_operator_asks_first() -> None:
    used = " ".join(expr for _, expr in panel_exprs())
    for wanted in ("rate(stream_guard_events_folded_total", "sum by (monitor, reason) (rate(stream_guard_dead_letters",
                   "stream_guard_consumer_lag", "histogram_quantile(0.99, sum by (monitor, le) (rate("
                   "stream_guard_flush_duration_seconds_bucket", "stream_guard_evaluation_duration_seconds_bucket",
                   "stream_guard_alerts_total", "stream_guard_firing_alerts", "stream_guard_seconds_since_last_event"):
        assert wanted in used, wanted


def test_every_exported_metric_is_used_by_the_rules_or_the_dashboard() -> None:
    used = " ".join(expr for _, expr in panel_exprs()) + " ".join(rule["expr"] for rule in rules())
    assert [name for name in METRICS if name not in used] == []
