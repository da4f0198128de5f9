"""deploy/alertmanager/alertmanager.yml (the routes docs/alerting.md shows) and deploy/prometheus/rules.yml,
checked with the real tools: `promtool check rules`, `amtool check-config` and `amtool config routes test`.
Every alert, a forwarded data alert at each severity or a worker-health rule, reaches exactly one receiver.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stream_guard.core.alerting.forwarding import labels

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
RECORD = {"monitor": "fraud-model", "segment": "all", "feature": "amount", "check": "numeric_drift"}


def routed(alert: dict[str, str]) -> list[str]:
    """The receivers Alertmanager routes an alert with these labels to."""
    run = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={CONFIG}",
                          *(f"{k}={v}" for k, v in alert.items())], capture_output=True, text=True, check=True)
    return run.stdout.split()


def health_rules() -> list[tuple[str, dict[str, str]]]:
    data = yaml.safe_load(RULES.read_text())
    return [(rule["alert"], {"alertname": rule["alert"], "app": "demo-guard", **rule["labels"]})
            for group in data["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    run = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_amtool_accepts_the_config() -> None:
    run = subprocess.run(["amtool", "check-config", str(CONFIG)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(("severity", "receiver"), [
    ("critical", "ml-oncall-pager"), ("warning", "ml-platform"), ("info", "ml-platform")])
def test_a_forwarded_data_alert_reaches_only_its_owners_receiver(severity: str, receiver: str) -> None:
    assert routed(labels(RECORD, "demo-guard", severity)) == [receiver]


@pytest.mark.parametrize(("name", "alert"), health_rules(), ids=[name for name, _ in health_rules()])
def test_a_worker_health_rule_reaches_only_the_platform_receivers(name: str, alert: dict[str, str]) -> None:
    expected = "platform-pager" if alert["severity"] == "critical" else "platform-chat"
    assert routed(alert) == [expected]


def test_the_data_quality_inhibition_compares_labels_every_forwarded_alert_carries() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    (rule,) = [r for r in config["inhibit_rules"] if 'kind="data-quality"' in r["source_matchers"]]
    assert set(rule["equal"]) <= set(labels(RECORD, "demo-guard", "warning"))


def test_docs_show_the_tested_config_verbatim() -> None:
    docs = (REPO / "docs" / "alerting.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.S)
    assert CONFIG.read_text() in blocks
