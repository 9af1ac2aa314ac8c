"""Install the operator the way users do: its image, then `helm upgrade --install` of the chart.

On the local cluster the images are built here (the operator's from the Dockerfile with BuildKit;
the node has no registry to pull from) and imported into the node, and the quick start's module
mirror (demo.py) is deployed beside it. On any other cluster the chart's default image must be
pullable there.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from localcluster import chart, demo
from localcluster.binaries import LogFn, _stderr
from localcluster.images import ensure_images
from localcluster.kubectl import kubectl
from localcluster.node import NODE_PID_FILE, import_images
from localcluster.operator_image import ensure_operator_image


def install(
    kubeconfig: Path,
    *,
    state_dir: Path | None,
    log: LogFn = _stderr,
    timeout: float = 300,
    with_monitoring: bool = False,
    values: tuple[str, ...] = (),
) -> str | None:
    """Build and load the images (local cluster), install the chart, and deploy the module mirror.

    `with_monitoring`: the chart renders its Prometheus configuration and dashboard, and on the local
    cluster Prometheus runs beside the operator (prometheus.py); returns Prometheus' URL then.
    `values` are extra helm arguments (--set=...)."""
    started = time.monotonic()
    local = state_dir is not None and (state_dir / NODE_PID_FILE).exists()
    values_args: list[str] = []
    if with_monitoring:
        from localcluster import prometheus

        values_args += prometheus.chart_values()
    values_args += values  # after ours: the caller's win
    if local:
        assert state_dir is not None
        operator = ensure_operator_image(log=log)
        archives = [
            operator.path,
            demo.goproxy_image(log=log).path,
            ensure_images(["golang-1.26"], log=log)["golang-1.26"].path,  # what the example builds with
        ]
        import_images(state_dir, archives, log=log)
        # The local image keeps the chart's tag whatever its content: name the build in the Pod
        # template so that a rebuilt image rolls the Deployment.
        values_args.append(f"--set-string=podAnnotations.gobuild\\.dev/local-image={operator.path.stem}")
    log("installing the chart (helm upgrade --install)")
    chart.helm(
        "upgrade", "--install", chart.RELEASE, str(chart.CHART),
        f"--namespace={chart.NAMESPACE}", "--create-namespace",
        "--wait", f"--timeout={int(timeout)}s", *values_args,
        kubeconfig=kubeconfig, log=log,
    )  # fmt: skip
    if local:
        kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(demo.manifests()))
        kubectl(
            kubeconfig,
            "rollout",
            "status",
            "-n",
            demo.NAMESPACE,
            "deployment/goproxy",
            f"--timeout={int(timeout)}s",
        )
    prometheus_url = None
    if with_monitoring and local:
        from localcluster import prometheus

        assert state_dir is not None
        prometheus_url = prometheus.deploy(
            kubeconfig, state_dir=state_dir, release=chart.RELEASE, release_namespace=chart.NAMESPACE, log=log
        )
    log(f"gobuild-operator installed in {time.monotonic() - started:.0f}s")
    return prometheus_url


def uninstall(kubeconfig: Path, *, log: LogFn = _stderr) -> None:
    chart.helm(
        "uninstall", chart.RELEASE, f"--namespace={chart.NAMESPACE}", "--wait", kubeconfig=kubeconfig, log=log
    )
