"""Prometheus in the local cluster: the platform team's view of the operator, for real.

Prometheus (built from its Go module with Kubernetes service discovery only, see binaries.py) runs
as a Pod in the namespace `monitoring`, from an image that wraps the binary (images.py). It is not
told where the operator is: it discovers it as any Prometheus without prometheus-operator would,
with the scrape configuration the chart renders from the same values as its ServiceMonitor
(`monitoring.prometheusConfig.enabled`: the ConfigMap `<release>-prometheus`, keys `scrape.yaml`
and `alerts.yaml`), and it evaluates the chart's alerts from that ConfigMap too. So what the tests
and `make run WITH_MONITORING=1` see is what a user's Prometheus sees.

The host reaches Services of the local cluster (the switch routes the Service range), so Prometheus
answers at http://<ClusterIP>:9090 on this machine; nothing outside the machine can reach it.
"""

from __future__ import annotations

from localcluster.binaries import PROMETHEUS, LogFn, _stderr, ensure_binaries
from localcluster.images import ImageArchive, image_from_files

NAMESPACE = "monitoring"
NAME = "prometheus"
PORT = 9090
IMAGE = f"gobuild.dev/local/prometheus:{PROMETHEUS.version}"
#: nobody: Prometheus needs no privilege, and writes only its data volume.
USER = "65534:65534"


def image(*, log: LogFn = _stderr) -> ImageArchive:
    """An image of prometheus and promtool (built once, cached by content)."""
    binaries = ensure_binaries((PROMETHEUS,), log=log)
    return image_from_files(
        IMAGE,
        files={"/bin/prometheus": binaries["prometheus"], "/bin/promtool": binaries["promtool"]},
        entrypoint=["/bin/prometheus"],
        user=USER,
        workdir="/prometheus",
        log=log,
    )
