"""What the operator runs for a GoBuildConfig's Proxy cache: its settings and its objects.

One cache per GoBuildConfig, in the config's namespace, owned by the config (deleted with it): a
ConfigMap with the cache's settings (CacheSettings as JSON, from the config's GOPROXY list, GOSUMDB,
GONOSUMDB/GOPRIVATE and corporate proxy), a Deployment of one replica on the config's claim
(ReadWriteOnce is enough: only the cache mounts it), a Service the builds reach, and a
PodDisruptionBudget that lets a drain move it (builds fall through to the config's own list while
it is away), and unless the admin turned it off a NetworkPolicy that admits to the cache only the
Pods of the config's own namespace, the operator's and the namespaces the admin names (Prometheus'):
a cache holds what the config's credentials fetched, so a Pod of another namespace must not read
it (where the CNI enforces NetworkPolicy). The cache runs the operator's own image, as any non-root
user, with a read-only root filesystem, no ServiceAccount token and no capabilities, reading the
config's netrc Secret and CA bundle only where the config names them.

Pure: the reconciler (reconciler/cache.py) applies what this returns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.fields.values import bytes_of
from gobuild_operator.core.plan import cache_claim_name, cache_service_name
from gobuild_operator.core.proxycache.settings import CacheSettings

#: Where the cache Pod finds its files.
CONFIG_DIR: Final = "/etc/gomodcache"
CONFIG_FILE: Final = "config.json"
STORAGE_DIR: Final = "/var/cache/gomodcache"
NETRC_DIR: Final = f"{CONFIG_DIR}/netrc"
CA_DIR: Final = f"{CONFIG_DIR}/ca"
#: maxBytes is this share of the claim: room for files being downloaded (at most one per file in
#: flight) and the filesystem's own overhead.
STORAGE_SHARE: Final = 0.85
#: The numeric non-root user of the operator's image.
USER: Final = 65532
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
#: The label the API server gives every namespace, its name (what a NetworkPolicy can select by).
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class CacheAccess:
    """Who besides the Pods of the config's namespace may reach a cache: the operator (it reads the
    cache's /metrics) and `namespaces` (e.g. Prometheus'), by namespace name."""

    operator_namespace: str
    namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheImage:
    """The image the cache runs: the operator's own (it carries `python -m gobuild_operator.modcache`)."""

    image: str
    pull_policy: str = "IfNotPresent"


def cache_settings(spec: GoBuildConfigSpec, *, claim_bytes: int | None) -> CacheSettings:
    """The cache's settings for `spec`: its upstreams are the config's GOPROXY list."""
    separator = "," if spec.proxy_fallback == "OnNotFound" else "|"
    proxy = spec.corporate_proxy
    return CacheSettings(
        storage_dir=STORAGE_DIR,
        max_bytes=int(claim_bytes * STORAGE_SHARE) if claim_bytes else CacheSettings.max_bytes,
        goproxy=separator.join(spec.goproxy),
        gosumdb=spec.gosumdb or "sum.golang.org",
        gonosumdb=tuple(spec.gonosumdb),
        goprivate=tuple(spec.goprivate),
        http_proxy=proxy.http_proxy,
        https_proxy=proxy.https_proxy,
        no_proxy=tuple(proxy.no_proxy),
        ca_file=f"{CA_DIR}/{c.CA_FILE}" if spec.ca_bundle is not None else "",
        netrc_file=f"{NETRC_DIR}/{c.NETRC_FILE}" if spec.private_modules.netrc is not None else "",
    )


def cache_objects(
    *,
    config_name: str,
    namespace: str,
    config_uid: str,
    spec: GoBuildConfigSpec,
    image: CacheImage,
    access: CacheAccess | None = None,
) -> list[dict[str, Any]]:
    """The ConfigMap, Deployment, Service and PodDisruptionBudget of the config's Proxy cache, and
    its NetworkPolicy when `access` says who may reach it."""
    name = cache_service_name(config_name)
    size = None if spec.cache.existing_claim else int(bytes_of(spec.cache.claim_size))
    settings = json.dumps(cache_settings(spec, claim_bytes=size).to_mapping(), indent=2, sort_keys=True)
    selector = {LABEL_NAME: c.CACHE_COMPONENT, LABEL_INSTANCE: config_name}
    labels = {
        **selector,
        "app.kubernetes.io/component": c.CACHE_COMPONENT,
        "app.kubernetes.io/managed-by": c.FIELD_MANAGER,
    }

    def meta() -> dict[str, Any]:
        return {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "ownerReferences": [
                {
                    "apiVersion": c.API_VERSION,
                    "kind": c.KIND,
                    "name": config_name,
                    "uid": config_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }

    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(),
        "data": {CONFIG_FILE: settings},
    }
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": name}},
        {"name": "storage", "persistentVolumeClaim": {"claimName": cache_claim_name(config_name, spec)}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "storage", "mountPath": STORAGE_DIR},
    ]
    netrc = spec.private_modules.netrc
    if netrc is not None:
        items = [{"key": c.SECRET_KEY_NETRC, "path": c.NETRC_FILE}]
        volumes.append({"name": "netrc", "secret": {"secretName": netrc.secret_name, "items": items}})
        mounts.append({"name": "netrc", "mountPath": NETRC_DIR, "readOnly": True})
    bundle = spec.ca_bundle
    if bundle is not None:
        items = [{"key": bundle.key, "path": c.CA_FILE}]
        source = (
            {"configMap": {"name": bundle.config_map_name, "items": items}}
            if bundle.config_map_name
            else {"secret": {"secretName": bundle.secret_name, "items": items}}
        )
        volumes.append({"name": "ca", **source})
        mounts.append({"name": "ca", "mountPath": CA_DIR, "readOnly": True})
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    container = {
        "name": "gomodcache",
        "image": image.image,
        "imagePullPolicy": image.pull_policy,
        "command": ["python", "-m", "gobuild_operator.modcache", "--config", f"{CONFIG_DIR}/{CONFIG_FILE}"],
        "ports": [{"name": "http", "containerPort": c.CACHE_PORT}],
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}},
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(),
        "spec": {
            "replicas": 1,
            # One Pod on a ReadWriteOnce claim: the old one goes before the new one mounts it.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    # A change of the settings rolls the Pod; the webhook never injects the cache.
                    "annotations": {
                        "gobuild.dev/settings": hashlib.sha256(settings.encode()).hexdigest()[:16],
                        c.ANNOTATION_INJECT: "false",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER,
                        "runAsGroup": USER,
                        "fsGroup": USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(),
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": c.CACHE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    objects = [config_map, deployment, service, budget]
    if access is not None:
        objects.append(_network_policy(meta(), selector, namespace=namespace, access=access))
    return objects


def _network_policy(
    metadata: dict[str, Any], selector: dict[str, str], *, namespace: str, access: CacheAccess
) -> dict[str, Any]:
    """Ingress to the cache's port from its namespace's Pods (the builds), the operator's namespace and
    the admin's; nothing else (its egress, to the upstreams, is left to the cluster's policies)."""
    others = sorted({access.operator_namespace, *access.namespaces} - {namespace})
    peers: list[dict[str, Any]] = [{"podSelector": {}}]
    peers += [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: other}}} for other in others]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": dict(selector)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"port": c.CACHE_PORT, "protocol": "TCP"}]}],
        },
    }
