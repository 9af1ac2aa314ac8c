"""The chart's alerts, as the chart renders them, pass `promtool test rules`: every alert fires where a
platform team wants to be told and stays quiet where it would not (testdata/alert_rules_test.yaml).

promtool is built from the pinned Prometheus module (devtools/monitoring/prometheus). The rules are
taken from `helm template` of the PrometheusRule, so the thresholds are the chart's values; the
alerts of the plain-Prometheus ConfigMap are the same rules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import chart
from localcluster.binaries import PROMETHEUS, ensure_binaries
from monitoring import alerts, dashboard
from monitoring.generate import DASHBOARD_FILE
from monitoring.queries import substitute

TESTS = Path(__file__).parent / "testdata" / "alert_rules_test.yaml"
MONITORING_VALUES = {
    "monitoring.prometheusRule.enabled": "true",
    "monitoring.prometheusConfig.enabled": "true",
}


def _rendered(values: dict[str, str] | None = None, *, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    text = chart.template(values={**MONITORING_VALUES, **(values or {})}, extra=extra)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _rule_groups(
    values: dict[str, str] | None = None, *, extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    (rule,) = [doc for doc in _rendered(values, extra=extra) if doc["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def _promtool() -> Path:
    return ensure_binaries((PROMETHEUS,))["promtool"]


def _run_tests(groups: list[dict[str, Any]], directory: Path) -> subprocess.CompletedProcess[str]:
    """promtool test rules against `groups`. The tests name labels, not annotations (promtool would
    compare every annotation's expanded text), so the annotations are left out here; `promtool
    check rules` checks their templates on the full rules."""
    bare = [{**group, "rules": [_without_annotations(r) for r in group["rules"]]} for group in groups]
    (directory / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}))
    shutil.copy(TESTS, directory / TESTS.name)
    return subprocess.run(
        [str(_promtool()), "test", "rules", TESTS.name],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )


def _without_annotations(rule: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in rule.items() if key != "annotations"}


def test_the_rendered_rules_are_valid_prometheus_rules(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": _rule_groups()}))
    result = subprocess.run(
        [str(_promtool()), "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts.ALERTS)} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_promtool_tests_say(tmp_path: Path) -> None:
    result = _run_tests(_rule_groups(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {alert.name for alert in alerts.ALERTS}
    assert names - firing == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"


def test_the_tests_fail_when_a_threshold_moves(tmp_path: Path) -> None:
    """The promtool run above can fail: with a failure ratio of 60% half the builds failing no longer
    fires, and promtool says so."""
    result = _run_tests(_rule_groups(extra=("--set-json=monitoring.thresholds.failureRatio=0.6",)), tmp_path)
    assert result.returncode != 0
    assert "GoBuildFailureRateHigh" in result.stdout + result.stderr


def test_disabled_alerts_and_extra_labels_reach_the_rendered_rules() -> None:
    groups = _rule_groups(
        {
            "monitoring.alerts.disabled[0]": "GoBuildModuleCacheHitRatioLow",
            "monitoring.alerts.labels.team": "platform",
        }
    )
    rules = [rule for group in groups for rule in group["rules"]]
    assert "GoBuildModuleCacheHitRatioLow" not in {rule["alert"] for rule in rules}
    assert len(rules) == len(alerts.ALERTS) - 1
    assert all(rule["labels"]["team"] == "platform" and rule["labels"]["severity"] for rule in rules)


def test_the_plain_prometheus_configmap_carries_the_same_alerts() -> None:
    documents = _rendered()
    (config,) = [
        doc
        for doc in documents
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-prometheus")
    ]
    assert yaml.safe_load(config["data"]["alerts.yaml"])["groups"] == _rule_groups()
    scrape = yaml.safe_load(config["data"]["scrape.yaml"])["scrape_configs"]
    assert [job["job_name"] for job in scrape] == ["gobuild-operator-metrics", "gomodcache"]


@pytest.mark.parametrize("alert", alerts.ALERTS, ids=lambda a: a.name)
def test_each_rendered_expression_is_the_signal_and_its_condition(alert: alerts.Alert) -> None:
    """What the install tests ask a real Prometheus for (the signal) is what the shipped rule reads."""
    (rule,) = [r for group in _rule_groups() for r in group["rules"] if r["alert"] == alert.name]
    signal = alert.signal.replace("{{ .Release.Namespace }}", chart.NAMESPACE)
    assert rule["expr"].startswith(f"(\n  {signal}\n) ")
    assert "{{" not in rule["expr"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """Each query of the shipped dashboard, its Grafana variables given values, parses as PromQL
    (checked by promtool as a recording rule); tests/install asks a real Prometheus for each."""
    model = json.loads((chart.CHART.parents[1] / DASHBOARD_FILE).read_text())
    rules = [
        {"record": f"dashboard:query{index}", "expr": substitute(expr)}
        for index, (_, expr) in enumerate(dashboard.queries(model))
    ]
    assert len(rules) >= 15
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    command = [str(_promtool()), "check", "rules", "queries.yaml"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
