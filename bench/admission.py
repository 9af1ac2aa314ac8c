"""How much the admission webhook adds to creating a Pod, in figures.

Two measurements:
1. in-process: `admit()` (selection + plan + mutate) for a typical build Pod, a Job and a
   CronJob, with a realistic index of GoBuildConfigs in the namespace;
2. over the wire: AdmissionReview POSTs to a running operator's webhook over TLS, the way the
   API server sends them (the operator is started here against the local control plane).

Run: make bench   (or .venv/bin/python bench/admission.py --requests 500)
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "operator"), str(REPO / "devtools"), str(REPO / "tests")]

from gobuild_operator.api import parse_spec  # noqa: E402
from gobuild_operator.handlers.admission import admit  # noqa: E402
from gobuild_operator.settings import Settings  # noqa: E402
from gobuild_operator.store import Store  # noqa: E402

SPEC = {
    "goproxy": ["https://goproxy.cn", "https://goproxy.io", "direct"],
    "gosumdb": "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org",
    "goprivate": ["git.corp.example/*"],
    "goflags": ["-mod=mod"],
    "env": [{"name": "CGO_ENABLED", "value": "0"}],
    "corporateProxy": {"httpsProxy": "http://proxy.corp.example:3128", "noProxy": [".corp.example"]},
    "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
    "caBundle": {"configMapName": "corp-ca"},
    "cache": {"enabled": True, "buildCache": True},
}


def _pod_spec() -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "build",
                "image": "golang:1.26",
                "command": ["go", "build", "./..."],
                "env": [
                    {"name": "GOPROXY", "value": "https://mine.example"},
                    {"name": "CI", "value": "true"},
                ],
                "volumeMounts": [{"name": "src", "mountPath": "/src"}],
            },
            {"name": "sidecar", "image": "busybox", "command": ["sleep", "3600"]},
        ],
        "volumes": [{"name": "src", "emptyDir": {}}],
    }


def _objects() -> dict[str, dict[str, Any]]:
    annotations = {"gobuild.dev/config": "corp"}
    template = {"metadata": {"annotations": annotations, "labels": {"app": "build"}}, "spec": _pod_spec()}
    return {
        "Pod": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "b", "namespace": "ci", "annotations": annotations},
            "spec": _pod_spec(),
        },
        "Job": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "b", "namespace": "ci"},
            "spec": {"template": template},
        },
        "CronJob": {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "b", "namespace": "ci"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}},
        },
    }


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"p50 {at(0.50):7.3f} ms  p90 {at(0.90):7.3f} ms  p99 {at(0.99):7.3f} ms  "
        f"mean {statistics.fmean(ordered) * 1000:7.3f} ms  (n={len(ordered)})"
    )


def _time(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def bench_in_process(n: int) -> None:
    parse_spec(SPEC)  # a bad SPEC fails here, not inside the timing
    store = Store()
    store.put_config(
        {"metadata": {"namespace": "ci", "name": "corp", "uid": "u", "generation": 1}, "spec": SPEC}
    )
    for i in range(20):
        metadata = {"namespace": "ci", "name": f"team-{i}", "uid": f"u{i}", "generation": 1}
        store.put_config({"metadata": metadata, "spec": {"goproxy": ["https://goproxy.cn", "direct"]}})
    store.put_namespace("ci", {"kubernetes.io/metadata.name": "ci"})
    settings = Settings()
    print(f"in-process admit() with 21 GoBuildConfigs in the namespace, {n} runs each:")
    for kind, obj in _objects().items():
        result = admit(obj, kind=kind, namespace="ci", settings=settings, store=store)
        assert result.outcome == "injected", (kind, result.outcome, result.warnings)
        samples = _time(
            lambda obj=obj, kind=kind: admit(obj, kind=kind, namespace="ci", settings=settings, store=store),
            n,
        )
        print(f"  {kind:8s} {_percentiles(samples)}")
    untouched = _untouched_pod()
    samples = _time(lambda: admit(untouched, kind="Pod", namespace="ci", settings=settings, store=store), n)
    print(f"  {'Pod (not opted in)':8s} {_percentiles(samples)}")


def bench_over_the_wire(n: int) -> None:
    from conftest import Cluster
    from localcluster.cluster import running
    from support.operator_process import OperatorProcess

    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "cluster", log=lambda _: None) as local:
        cluster = Cluster(kubeconfig=local.kubeconfig)
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/gobuildconfigs.gobuild.dev")
        cluster.kubectl("create", "namespace", "ci")
        gbc = {"apiVersion": "gobuild.dev/v1alpha1", "kind": "GoBuildConfig", "metadata": {"name": "corp"}}
        cluster.kubectl("apply", "-n", "ci", "-f", "-", input=json.dumps({**gbc, "spec": SPEC}))
        operator = OperatorProcess(
            kubeconfig=local.kubeconfig, workdir=Path(tmp), extra_args=("--namespace=ci",)
        )
        operator.start()
        try:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            injected = _objects()["Pod"]
            for _ in range(100):  # until the store has the config; also warms TLS and caches
                if _review(operator.webhook_port, context, injected):
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the webhook never injected the benchmark Pod")
            print(f"\nover HTTPS to the webhook (a new TLS connection per request), {n} requests:")
            for label, pod in (("Pod (injected)", injected), ("Pod (not opted in)", _untouched_pod())):
                samples = _time(lambda pod=pod: _review(operator.webhook_port, context, pod), n)
                print(f"  {label:18s} {_percentiles(samples)}")
        finally:
            operator.stop()


def _untouched_pod() -> dict[str, Any]:
    pod = _objects()["Pod"]
    pod["metadata"]["annotations"] = {}
    return pod


def _review(port: int, context: ssl.SSLContext, pod: dict[str, Any]) -> bool:
    """One AdmissionReview round trip, as the API server sends it; True when a patch came back."""
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "ci",
            "operation": "CREATE",
            "userInfo": {"username": "bench"},
            "object": pod,
            "dryRun": False,
        },
    }
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/inject-pods",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=5) as response:  # noqa: S310
        answer = json.load(response)["response"]
    assert answer["allowed"] is True
    return "patch" in answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000, help="in-process runs per kind")
    parser.add_argument("--requests", type=int, default=300, help="webhook requests over the wire")
    parser.add_argument("--no-wire", action="store_true", help="skip the over-the-wire measurement")
    args = parser.parse_args()
    bench_in_process(args.runs)
    if not args.no_wire:
        bench_over_the_wire(args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
