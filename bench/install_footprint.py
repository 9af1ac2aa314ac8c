"""What an installed operator costs: memory per replica with many GoBuildConfigs and injected Pods.

Starts the local cluster, installs the chart as users do (make run's path), creates CONFIGS
GoBuildConfigs over ten namespaces and PODS opted-in Pods (kept from the kubelet by a scheduling
gate, so only the operator's side is measured), and prints each operator Pod's memory as the
kubelet measures it (working set, from the node's stats summary) before and after. Bounded: it
creates exactly that many objects and stops.

    .venv/bin/python bench/install_footprint.py [--configs 100] [--pods 1000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from localcluster.cluster import running
from localcluster.install import install
from localcluster.kubectl import kubectl

NS = "gobuild-system"


def memory(kubeconfig: Path) -> dict[str, float]:
    """MiB of working set per operator Pod (the kubelet's own measurement)."""
    summary = json.loads(
        kubectl(kubeconfig, "get", "--raw", "/api/v1/nodes/gobuild-node/proxy/stats/summary")
    )
    out = {}
    for pod in summary["pods"]:
        if pod["podRef"]["namespace"] == NS:
            for container in pod.get("containers") or []:
                out[pod["podRef"]["name"]] = container["memory"]["workingSetBytes"] / 2**20
    return out


def pod(name: str, config: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": config}},
        "spec": {
            "restartPolicy": "Never",
            "schedulingGates": [{"name": "gobuild.dev/bench"}],
            "containers": [{"name": "build", "image": "golang:1.26", "command": ["go", "build", "./..."]}],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=100)
    parser.add_argument("--pods", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "cluster") as cluster:
        config = cluster.kubeconfig
        install(config, state_dir=cluster.state_dir)
        time.sleep(10)  # let the fresh replicas settle before the first reading
        before = memory(config)
        namespaces = [f"footprint-{i}" for i in range(10)]
        documents = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in namespaces]
        for i in range(args.configs):
            documents.append(
                {
                    "apiVersion": "gobuild.dev/v1alpha1",
                    "kind": "GoBuildConfig",
                    "metadata": {"name": f"go-{i}", "namespace": namespaces[i % 10]},
                    "spec": {
                        "goproxy": ["http://goproxy.gobuild-demo.svc.cluster.local", "direct"],
                        "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
                        "reporting": {"enabled": False},
                    },
                }
            )
        kubectl(config, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in documents))

        def create(i: int) -> None:
            j = i % args.configs  # config go-j lives in namespaces[j % 10]
            kubectl(
                config,
                "create",
                "-n",
                namespaces[j % 10],
                "-f",
                "-",
                stdin=json.dumps(pod(f"b-{i}", f"go-{j}")),
            )

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.pods)))
        took = time.monotonic() - started
        print(f"created {args.configs} GoBuildConfigs and {args.pods} injected Pods in {took:.0f}s")
        time.sleep(30)  # the leader counts them and writes status
        after = memory(config)
        leader = json.loads(
            kubectl(config, "get", "lease", "-n", NS, "gobuild-operator-leader", "-o", "json")
        )
        holder = leader["spec"]["holderIdentity"]
        print("\n| operator Pod | role | MiB at start | MiB with the objects |")
        print("| --- | --- | --- | --- |")
        for name in sorted(after):
            role = "leader" if name == holder else "standby"
            print(f"| {name} | {role} | {before.get(name, 0):.0f} | {after[name]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
