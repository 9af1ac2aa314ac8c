"""The operator's alerts and dashboard, written as code: the single source of what the chart ships.

* alerts.py: each alert as the quantity it watches (`signal`), the comparison that fires it, how
  long, how bad, and what to tell the person paged. generate.py writes them as a Prometheus rules
  file into the chart (helm/gobuild-operator/monitoring/alerts.yaml), where the thresholds are
  chart values; the chart renders it as a PrometheusRule and, for a Prometheus without
  prometheus-operator, in a ConfigMap beside a scrape configuration equivalent to the ServiceMonitor.
* dashboard.py: the Grafana dashboard, built with grafana-foundation-sdk (Apache-2.0; Grafana itself
  is neither used nor run), written as JSON into the chart's dashboard ConfigMap.
* render.py: a picture of the dashboard's panels from a real Prometheus' answers (matplotlib), for
  docs/monitoring.md.

`make generate` runs generate.py; tests/unit/test_monitoring.py fails when the chart's copies are
stale, `promtool test rules` checks every alert firing and not firing, and the install tests run
Prometheus in the local cluster and ask it every dashboard query and every alert's signal.
"""
