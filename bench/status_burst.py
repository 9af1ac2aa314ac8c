"""What a burst of finished build Pods costs in GoBuildConfig status writes, and how long it takes.

Starts the local control plane and the operator, creates N injected Pods (carrying the marker the
webhook sets), waits until their injection is counted, then finishes all of them at once the way a
kubelet would (half fail with a recorded `go` failure) and measures:

- status writes: updates of the GoBuildConfig that changed status.downloads, seen by a watch;
- time until every outcome is on the status, and until `pending` is empty again;
- the other writes the burst causes (one annotation and, for failures, one Event per Pod).

Run: .venv/bin/python bench/status_burst.py --pods 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "operator"), str(REPO / "devtools"), str(REPO / "tests")]

NAMESPACE = "ci"
CONFIG = "go"
FAILURE_LOG = (REPO / "tests" / "fixtures" / "gofailures" / "proxy_404.txt").read_text()


def _pod(name: str) -> dict[str, Any]:
    """A Pod as the webhook leaves it (marker annotation and label), so admission is a no-op."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"gobuild.dev/config": CONFIG},
            "annotations": {"gobuild.dev/config": CONFIG, "gobuild.dev/injected": CONFIG},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "build",
                    "image": "golang:1.26",
                    "command": ["go", "build", "./..."],
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ],
        },
    }


class StatusWrites:
    """Counts GoBuildConfig updates that change status.downloads (a watch in a thread)."""

    def __init__(self, api: Any) -> None:
        from kubernetes import client, watch

        self.count = 0
        self._watch = watch.Watch()
        self._custom = client.CustomObjectsApi(api)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._watch.stop()

    def _run(self) -> None:
        previous: Any = None
        try:
            for event in self._watch.stream(
                self._custom.list_namespaced_custom_object,
                "gobuild.dev",
                "v1alpha1",
                NAMESPACE,
                "gobuildconfigs",
                field_selector=f"metadata.name={CONFIG}",
                timeout_seconds=3600,
            ):
                current = (event["object"].get("status") or {}).get("downloads")
                if event["type"] == "MODIFIED" and current != previous:
                    self.count += 1
                previous = current
        except Exception:  # noqa: S110 - cut when the bench ends
            pass


def _downloads(api: Any) -> dict[str, Any]:
    from kubernetes import client

    obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "gobuild.dev", "v1alpha1", NAMESPACE, "gobuildconfigs", CONFIG
    )
    result: dict[str, Any] = (obj.get("status") or {}).get("downloads") or {}
    return result


def _wait(api: Any, predicate: Any, *, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate(_downloads(api)):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out waiting for {what}: {_downloads(api)}")
        time.sleep(0.05)
    return time.monotonic()


def bench(pods: int, flush_interval: float, workers: int) -> None:
    from kubernetes import client, config

    from conftest import Cluster
    from localcluster.cluster import running
    from support.kubelet import finish_pod
    from support.operator_process import OperatorProcess

    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "cluster", log=lambda _: None) as local:
        cluster = Cluster(kubeconfig=local.kubeconfig)
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/gobuildconfigs.gobuild.dev")
        cluster.kubectl("create", "namespace", NAMESPACE)
        for _ in range(600):
            if cluster.kubectl("get", "sa", "default", "-n", NAMESPACE, check=False).returncode == 0:
                break
            time.sleep(0.1)
        gbc = {"apiVersion": "gobuild.dev/v1alpha1", "kind": "GoBuildConfig", "metadata": {"name": CONFIG}}
        cluster.kubectl(
            "apply", "-n", NAMESPACE, "-f", "-", input=json.dumps({**gbc, "spec": {"goproxy": ["direct"]}})
        )
        operator = OperatorProcess(
            kubeconfig=local.kubeconfig,
            workdir=Path(tmp),
            extra_args=(f"--namespace={NAMESPACE}", f"--status-flush-interval={flush_interval}"),
        )
        operator.start()
        api = config.new_client_from_config(config_file=str(local.kubeconfig))
        api.configuration.connection_pool_maxsize = workers
        core = client.CoreV1Api(api)
        names = [f"build-{i:05d}" for i in range(pods)]
        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda n: core.create_namespaced_pod(NAMESPACE, _pod(n)), names))
            _wait(
                api,
                lambda d: (
                    d.get("injected") == pods
                    and all(e.get("stage") == "injected" for e in d.get("pending") or [])
                ),
                timeout=600,
                what="the injections",
            )
            writes = StatusWrites(api)
            writes.start()
            time.sleep(1)  # the watch's initial ADDED event, before the burst
            before = writes.count

            started = time.monotonic()
            with ThreadPoolExecutor(workers) as pool:
                list(
                    pool.map(
                        lambda item: finish_pod(
                            api,
                            NAMESPACE,
                            item[1],
                            exit_code=item[0] % 2,
                            message=FAILURE_LOG if item[0] % 2 else "",
                        ),
                        enumerate(names),
                    )
                )
            finished = time.monotonic()
            counted = _wait(
                api,
                lambda d: d.get("succeeded", 0) + d.get("failed", 0) == pods,
                timeout=600,
                what="the outcomes",
            )
            settled = _wait(api, lambda d: not d.get("pending"), timeout=600, what="pending to settle")
            time.sleep(2 * flush_interval)  # any straggling write is still a write of this burst
            burst_writes = writes.count - before
            writes.stop()
            final = _downloads(api)
            events = len(
                core.list_namespaced_event(NAMESPACE, field_selector="involvedObject.kind=Pod").items
            )
            config_events = len(
                core.list_namespaced_event(
                    NAMESPACE, field_selector="involvedObject.kind=GoBuildConfig"
                ).items
            )
        finally:
            operator.stop()

        assert final["succeeded"] + final["failed"] == pods, final
        print(f"\n{pods} injected Pods finishing at once (flush interval {flush_interval}s):")
        print(f"  status writes (status.downloads changed):     {burst_writes}")
        print(f"  writing the {pods} Pod statuses (the 'kubelet'):   {finished - started:.2f}s")
        print(f"  first Pod status -> all outcomes on status:    {counted - started:.2f}s")
        print(f"  first Pod status -> pending empty again:       {settled - started:.2f}s")
        print(
            f"  counts: succeeded {final['succeeded']}, failed {final['failed']}, "
            f"byReason {final['byReason']}"
        )
        print(
            f"  other writes: {pods} Pod annotations, {events} Pod Events, "
            f"{config_events} GoBuildConfig Events"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument(
        "--flush-interval", type=float, default=0.5, help="the operator's --status-flush-interval"
    )
    parser.add_argument("--workers", type=int, default=32, help="client threads creating and finishing Pods")
    args = parser.parse_args()
    bench(args.pods, args.flush_interval, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
