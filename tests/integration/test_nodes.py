"""A cluster of two real nodes behaves as a managed cluster's nodes do.

Pods on one node reach Pods and Services on the other by address and by name, this machine (where
the API server runs, which calls webhooks) reaches both, neither node has a way out, and a
ReadWriteOnce volume lives on the node where its first Pod ran: a Pod on the other node that needs
it is not scheduled. That last one is the world a shared build cache meets on a real cluster.
"""

from __future__ import annotations

import json
import textwrap
import urllib.request
from typing import Any

import pytest

from conftest import Cluster
from support.waiting import wait_for

#: A Python program for client Pods: GET http://TARGET:8080/ for each argument, one line each. It
#: retries for a while: the client node's kube-proxy and CoreDNS learn of a new Service a moment
#: after its endpoint exists, as any client in a cluster sees.
FETCH = textwrap.dedent(
    """\
    import sys, time, urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    for target in sys.argv[1:]:
        while True:
            try:
                with opener.open(f"http://{target}:8080/", timeout=5) as response:
                    print(target, response.read().decode().strip())
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    print(target, error)
                    break
                time.sleep(0.2)
    """
)


@pytest.fixture(scope="module")
def images(two_node_cluster: Cluster) -> dict[str, str]:
    if two_node_cluster.local is None:
        pytest.skip("the node's images are only made for the local cluster")
    return two_node_cluster.load_images("python-3.11", "debian")


def _pod(name: str, node: str, image: str, command: list[str]) -> dict[str, Any]:
    """A Pod of one container `main`, pinned to `node` the way users pin (through the scheduler)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": image, "command": command}],
        },
    }


def _run(cluster: Cluster, namespace: str, pod: dict[str, Any]) -> tuple[str, str]:
    """Create `pod` (restartPolicy Never) and wait until it ends: (phase, logs)."""
    pod["spec"]["restartPolicy"] = "Never"
    name = pod["metadata"]["name"]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))

    def finished() -> str | None:
        out = cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
        return out if out in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout=120, interval=0.5, what=f"Pod {name} to finish")
    return phase, cluster.kubectl("logs", name, "-n", namespace).stdout


def _get(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    )
    return result


def _serve(cluster: Cluster, namespace: str, node: str, image: str) -> tuple[str, str]:
    """An HTTP server Pod on `node` answering its node's name, and a Service for it: (Pod IP, ClusterIP)."""
    script = (
        'mkdir /srv/www && echo "$NODE" > /srv/www/index.html'
        " && exec python3 -u -m http.server -d /srv/www 8080"
    )
    pod = _pod("web", node, image, ["sh", "-c", script])
    container = pod["spec"]["containers"][0]
    container["env"] = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    container["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080}]},
    }
    both = {"apiVersion": "v1", "kind": "List", "items": [pod, service]}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(both))
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "pod/web", "--timeout=120s", timeout=130
    )
    wait_for(
        lambda: cluster.kubectl(
            "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=web",
            "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}",
        ).stdout.strip(),
        timeout=30,
        what="the Service's endpoint",
    )  # fmt: skip
    pod_ip: str = _get(cluster, namespace, "pod", "web")["status"]["podIP"]
    return pod_ip, _get(cluster, namespace, "service", "web")["spec"]["clusterIP"]


def test_both_nodes_are_ready_with_their_own_addresses(two_node_cluster: Cluster) -> None:
    nodes = json.loads(two_node_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(two_node_cluster.node_names)
    assert len(nodes) == 2
    for node in nodes:
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True", node["metadata"]["name"]
    internal = {a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
    assert len(internal) == 2


@pytest.mark.parametrize(("server", "client"), [(1, 0), (0, 1)], ids=["server-on-node-2", "server-on-node-1"])
def test_a_pod_reaches_a_pod_and_its_service_on_the_other_node(
    two_node_cluster: Cluster, two_node_namespace: str, images: dict[str, str], server: int, client: int
) -> None:
    cluster, namespace = two_node_cluster, two_node_namespace
    server_node, client_node = cluster.node_names[server], cluster.node_names[client]
    pod_ip, cluster_ip = _serve(cluster, namespace, server_node, images["python-3.11"])
    targets = [pod_ip, cluster_ip, "web", f"web.{namespace}.svc.cluster.local"]
    client_pod = _pod("client", client_node, images["python-3.11"], ["python3", "-c", FETCH, *targets])

    phase, logs = _run(cluster, namespace, client_pod)

    assert phase == "Succeeded", logs
    assert logs.splitlines() == [f"{target} {server_node}" for target in targets]
    assert _get(cluster, namespace, "pod", "client")["spec"]["nodeName"] == client_node


@pytest.mark.parametrize("server", [0, 1], ids=["node-1", "node-2"])
def test_this_machine_reaches_pods_and_services_on_every_node(
    two_node_cluster: Cluster, two_node_namespace: str, images: dict[str, str], server: int
) -> None:
    # The API server runs here: it calls webhooks by Service, and the kubelets by their node address.
    cluster, namespace = two_node_cluster, two_node_namespace
    node = cluster.node_names[server]
    pod_ip, cluster_ip = _serve(cluster, namespace, node, images["python-3.11"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def answer(target: str) -> str:
        with opener.open(f"http://{target}:8080/", timeout=5) as response:
            return str(response.read().decode().strip())

    for target in (pod_ip, cluster_ip):  # kube-proxy programs the Service a moment after its endpoint
        assert wait_for(lambda t=target: answer(t), timeout=30, what=f"an answer from {target}") == node
    assert "Serving HTTP" in cluster.kubectl("logs", "web", "-n", namespace).stdout  # API server -> kubelet


@pytest.mark.parametrize("node", [0, 1], ids=["node-1", "node-2"])
def test_nothing_leaves_the_machine_from_either_node(
    two_node_cluster: Cluster, two_node_namespace: str, images: dict[str, str], node: int
) -> None:
    program = textwrap.dedent(
        """\
        import socket
        try:
            socket.getaddrinfo("proxy.golang.org", 443)
            print("resolved")
        except OSError as error:
            print("lookup failed")
        try:
            socket.create_connection(("192.0.2.123", 443), timeout=5)
            print("connected")
        except OSError as error:
            print(error.strerror)
        """
    )
    pod = _pod("out", two_node_cluster.node_names[node], images["python-3.11"], ["python3", "-c", program])
    phase, logs = _run(two_node_cluster, two_node_namespace, pod)
    assert (phase, logs.splitlines()) == ("Succeeded", ["lookup failed", "Network is unreachable"])


def _claim(name: str, access_mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": [access_mode], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _with_claim(pod: dict[str, Any], claim: str) -> dict[str, Any]:
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return pod


def test_a_read_write_once_volume_stays_on_the_node_of_its_first_pod(
    two_node_cluster: Cluster, two_node_namespace: str, images: dict[str, str]
) -> None:
    cluster, namespace = two_node_cluster, two_node_namespace
    first, second = cluster.node_names[:2]
    debian = images["debian"]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_claim("cache", "ReadWriteOnce")))

    writer = _with_claim(_pod("writer", first, debian, ["sh", "-c", "echo cached > /data/file"]), "cache")
    assert _run(cluster, namespace, writer)[0] == "Succeeded"
    claim = _get(cluster, namespace, "pvc", "cache")
    assert claim["status"]["phase"] == "Bound"
    volume = json.loads(cluster.kubectl("get", "pv", claim["spec"]["volumeName"], "-o", "json").stdout)
    terms = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert [e["values"] for t in terms for e in t["matchExpressions"]] == [[first]]

    # A Pod pinned to the other node: the scheduler cannot place it, and says why.
    elsewhere = _with_claim(_pod("elsewhere", second, debian, ["cat", "/data/file"]), "cache")
    elsewhere["spec"]["restartPolicy"] = "Never"
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(elsewhere))

    def unschedulable() -> str | None:
        conditions = _get(cluster, namespace, "pod", "elsewhere")["status"].get("conditions", [])
        scheduled = [c for c in conditions if c["type"] == "PodScheduled"]
        if scheduled and scheduled[0]["status"] == "False" and scheduled[0].get("reason") == "Unschedulable":
            return str(scheduled[0]["message"])
        return None

    message = wait_for(unschedulable, timeout=60, interval=0.5, what="the scheduler to refuse the Pod")
    assert "didn't match PersistentVolume's node affinity" in message
    assert _get(cluster, namespace, "pod", "elsewhere")["status"]["phase"] == "Pending"

    # On its own node the data is there.
    reader = _with_claim(_pod("reader", first, debian, ["cat", "/data/file"]), "cache")
    assert _run(cluster, namespace, reader) == ("Succeeded", "cached\n")


def test_a_read_write_many_claim_is_not_provisioned(
    two_node_cluster: Cluster, two_node_namespace: str, images: dict[str, str]
) -> None:
    # As on the default StorageClass of managed clusters: no volume that several nodes share.
    cluster, namespace = two_node_cluster, two_node_namespace
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_claim("shared", "ReadWriteMany")))
    pod = _with_claim(_pod("user", cluster.node_names[0], images["debian"], ["true"]), "shared")
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))

    def refused() -> str | None:
        events = json.loads(
            cluster.kubectl(
                "get", "events", "-n", namespace, "--field-selector",
                "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=shared,reason=ProvisioningFailed",
                "-o", "json",
            ).stdout
        )["items"]  # fmt: skip
        return events[0]["message"] if events else None

    message = wait_for(refused, timeout=60, interval=0.5, what="the provisioner to refuse the claim")
    assert "ReadWriteOnce" in message
    assert _get(cluster, namespace, "pvc", "shared")["status"]["phase"] == "Pending"
    assert _get(cluster, namespace, "pod", "user")["status"]["phase"] == "Pending"
