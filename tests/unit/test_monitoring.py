"""The chart's alerts and dashboard are what devtools/monitoring generates, and say what they should.

The alerts' behaviour is tested by promtool (tests/integration/test_alert_rules.py) and against the
real operator in the local cluster (tests/install/test_prometheus_scrapes_the_install.py); here,
without a cluster: the committed copies are current, every alert has its runbook, and the
dashboard queries only metrics the operator and the module cache export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from gobuild_operator.metrics import Metrics
from gobuild_operator.modcache.metrics import CacheMetrics
from monitoring import alerts, dashboard, generate

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "monitoring.md"


def test_the_charts_copies_are_what_make_generate_writes() -> None:
    assert generate.stale(ROOT) == [], "run `make generate` and commit the result"


def test_a_hand_edit_of_the_dashboard_is_detected(tmp_path: Path) -> None:
    for path, text in generate.outputs().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert generate.stale(tmp_path) == []
    board = tmp_path / generate.DASHBOARD_FILE
    board.write_text(board.read_text().replace("Admission latency", "Latency"))
    assert generate.stale(tmp_path) == [generate.DASHBOARD_FILE]
    assert generate.main(["--root", str(tmp_path), "--check"]) == 1


def _exported_names() -> set[str]:
    """Every series name /metrics of the operator and of the module cache can show."""
    names: set[str] = set()
    for registry in (Metrics().registry, CacheMetrics().registry):
        for family in registry.collect():
            kind = family.type
            base = family.name
            if kind == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
            else:
                names.add(base)
    assert b"gobuild_leader" in generate_latest(Metrics().registry)
    return names


_METRIC = re.compile(r"\b((?:gobuild|gomodcache)_[a-z_]+)\b")


def test_the_dashboard_queries_only_exported_metrics() -> None:
    exported = _exported_names()
    model = json.loads((ROOT / generate.DASHBOARD_FILE).read_text())
    used = {name for _, expr in dashboard.queries(model) for name in _METRIC.findall(expr)}
    assert used, "no query found"
    assert used - exported == set()


@pytest.mark.parametrize("alert", alerts.ALERTS, ids=lambda a: a.name)
def test_each_alert_reads_exported_metrics_and_has_a_runbook(alert: alerts.Alert) -> None:
    used = set(_METRIC.findall(alert.expr))
    assert used, "the alert reads no metric of the operator or the cache"
    assert used - _exported_names() == set()
    headings = [line for line in DOCS.read_text().splitlines() if line.startswith("### ")]
    assert f"### {alert.name}" in headings, f"docs/monitoring.md has no runbook for {alert.name}"


def test_every_operator_metric_is_documented() -> None:
    text = DOCS.read_text()
    for family in Metrics().registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"`{name}" in text, f"docs/monitoring.md does not explain {name}"


def test_the_dashboard_has_the_panels_a_person_looks_at_first() -> None:
    titles = [panel["title"] for panel in dashboard.build()["panels"]]
    for wanted in (
        "Injected Pods per minute, by namespace",
        "Failed builds per minute, by namespace and reason",
        "Admission latency",
        "GOPROXY reachable",
        "Hit ratio (last hour), by cache",
    ):
        assert wanted in titles
    assert titles[0] == "Builds"  # the first row
