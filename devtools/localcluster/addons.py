"""What every cluster runs on its node besides the kubelet: cluster DNS and a storage provisioner.

* CoreDNS, built from its Go module, answers the cluster's names (Services, Pods) and nothing
  else: the Corefile has no `forward`, so no query ever leaves the cluster, and a build that asks
  for a public name gets an answer at once (SERVFAIL) instead of waiting on an unreachable server.
* rancher's local-path-provisioner, built from its Go module, provisions PersistentVolumes as
  directories on a node; its StorageClass is the default.
  - One node: its shared-filesystem mode supports ReadWriteMany (on one node every path is
    shared) and binds at once, so a claim is Bound before its first Pod.
  - Several nodes: node-local mode, as the default classes of managed clusters are: ReadWriteOnce
    only (a ReadWriteMany claim is refused and stays Pending), bound when its first Pod is
    scheduled, in a directory of that Pod's node, with a PersistentVolume whose node affinity
    names that node, so a Pod on another node that needs the claim is not scheduled (the
    scheduler says the node "didn't match PersistentVolume's node affinity"). Each node's
    directory is its own (node.py overlays /var/lib per node).

Both run as Pods from images that wrap the binaries (images.py), applied with kubectl like any
manifest, and `apply` returns once they are available.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from localcluster.binaries import COREDNS, LOCAL_PATH_PROVISIONER, LogFn
from localcluster.kubectl import kubectl
from localcluster.node import CLUSTER_DOMAIN

if TYPE_CHECKING:
    from localcluster.cluster import LocalCluster

COREDNS_IMAGE = f"gobuild.dev/local/coredns:{COREDNS.version}"
LOCAL_PATH_IMAGE = f"gobuild.dev/local/local-path-provisioner:{LOCAL_PATH_PROVISIONER.version}"
#: The provisioner's helper Pods create and remove volume directories with a shell.
HELPER_IMAGE = "docker.io/library/debian:bookworm-slim"
STORAGE_CLASS = "local-path"
#: Volumes live here on the node (below an overlay whose upper layer is the cluster's state dir).
VOLUME_ROOT = "/var/lib/gobuild-local-path"

COREFILE = f"""\
.:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
"""


def images(*, binaries: Mapping[str, Path], log: LogFn) -> list[Path]:
    """The archives the addons' Pods run (built once, cached by content)."""
    from localcluster.images import ensure_images, image_from_files

    coredns = image_from_files(
        COREDNS_IMAGE,
        files={"/coredns": binaries["coredns"]},
        entrypoint=["/coredns"],
        log=log,
    )
    provisioner = image_from_files(
        LOCAL_PATH_IMAGE,
        files={"/usr/bin/local-path-provisioner": binaries["local-path-provisioner"]},
        entrypoint=["/usr/bin/local-path-provisioner"],
        log=log,
    )
    helper = ensure_images(["debian"], log=log)["debian"]
    return [coredns.path, provisioner.path, helper.path]


def manifests(*, dns_ip: str, node_local: bool = False) -> list[dict[str, Any]]:
    return [*_coredns(dns_ip), *_local_path(node_local=node_local)]


def apply(cluster: LocalCluster, *, timeout: float) -> None:
    assert cluster.slot is not None
    documents = manifests(dns_ip=cluster.slot.dns_ip, node_local=len(cluster.nodes) > 1)
    kubectl(cluster.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    deadline = time.monotonic() + timeout
    expected = set(cluster.node_names)
    while set(kubectl(cluster.kubeconfig, "get", "nodes", "-o", "name").split()) != {  # the kubelets register
        f"node/{name}" for name in expected
    }:
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the nodes {sorted(expected)} did not all register in {timeout:.0f}s")
        time.sleep(0.2)
    kubectl(
        cluster.kubeconfig, "wait", "--for=condition=Ready", "node", "--all", f"--timeout={int(timeout)}s"
    )
    for namespace, deployment in (
        ("kube-system", "coredns"),
        ("local-path-storage", "local-path-provisioner"),
    ):
        kubectl(
            cluster.kubeconfig, "rollout", "status", "-n", namespace, f"deployment/{deployment}",
            f"--timeout={int(timeout)}s",
        )  # fmt: skip


# --- CoreDNS ---------------------------------------------------------------------------------------


def _coredns(dns_ip: str) -> list[dict[str, Any]]:
    labels = {"k8s-app": "kube-dns"}
    meta = {"name": "coredns", "namespace": "kube-system"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"Corefile": COREFILE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "priorityClassName": "system-cluster-critical",
                        "dnsPolicy": "Default",
                        "containers": [
                            {
                                "name": "coredns",
                                "image": COREDNS_IMAGE,
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                ],
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                                "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                                },
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "clusterIP": dns_ip,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
    ]


# --- storage ---------------------------------------------------------------------------------------


def _local_path(*, node_local: bool) -> list[dict[str, Any]]:
    namespace = "local-path-storage"
    name = "local-path-provisioner"
    labels = {"app": name}
    helper_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "containers": [{"name": "helper-pod", "image": HELPER_IMAGE, "imagePullPolicy": "IfNotPresent"}],
        },
    }
    config: dict[str, Any] = (
        {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [VOLUME_ROOT]}]}
        if node_local
        else {"nodePathMap": [], "sharedFileSystemPath": VOLUME_ROOT}
    )
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["persistentvolumes"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
                {
                    "apiGroups": ["storage.k8s.io"],
                    "resources": ["storageclasses"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "local-path-config", "namespace": namespace},
            "data": {
                "config.json": json.dumps(config),
                "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
                "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
                "helperPod.yaml": yaml.safe_dump(helper_pod),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [
                            {
                                "name": name,
                                "image": LOCAL_PATH_IMAGE,
                                "args": [
                                    "start",
                                    "--config=/etc/config/config.json",
                                    f"--service-account-name={name}",
                                    f"--helper-image={HELPER_IMAGE}",
                                ],
                                "env": [
                                    {
                                        "name": "POD_NAMESPACE",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                    },
                                    {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"},
                                ],
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/config/"}],
                                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "local-path-config"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            # Node-local volumes need the node first: the one of the first Pod that uses the claim.
            "volumeBindingMode": "WaitForFirstConsumer" if node_local else "Immediate",
            "reclaimPolicy": "Delete",
        },
    ]
