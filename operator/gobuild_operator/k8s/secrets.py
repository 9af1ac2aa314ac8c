"""The webhook's TLS Secret (self-managed mode): one Secret in the operator's namespace holding the
CA (certificate and key) and the serving certificate and key, the only Secret the operator reads
unless it is allowed to check the Secrets GoBuildConfigs reference."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes_asyncio import client

from gobuild_operator.k8s.client import ApiClient, ApiException
from gobuild_operator.k8s.metawatch import watch_objects

#: Keys of the Secret (the kubernetes.io/tls keys plus the CA's pair).
KEYS = ("ca.crt", "ca.key", "tls.crt", "tls.key")
#: An annotation an admin puts on the Secret to have the serving certificate renewed at once; it
#: goes away with the renewal. Reported among the data under this key.
RENEW_ANNOTATION = "gobuild.dev/renew"


def _decode(obj: dict[str, Any]) -> dict[str, bytes]:
    data = obj.get("data") or {}
    decoded = {key: base64.b64decode(value) for key, value in data.items() if key in KEYS}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if RENEW_ANNOTATION in annotations:
        decoded[RENEW_ANNOTATION] = str(annotations[RENEW_ANNOTATION]).encode()
    return decoded


async def read_tls_secret(
    api: ApiClient, *, namespace: str, name: str
) -> tuple[dict[str, bytes] | None, str]:
    """(the decoded keys, resourceVersion), or (None, "") when the Secret does not exist."""
    try:
        secret = await client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None, ""
        raise
    obj: dict[str, Any] = api.sanitize_for_serialization(secret)
    return _decode(obj), str(obj["metadata"]["resourceVersion"])


async def write_tls_secret(
    api: ApiClient, *, namespace: str, name: str, data: dict[str, bytes], resource_version: str
) -> bool:
    """Create (resource_version "") or replace the Secret; False when another writer got there first."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "gobuild-operator"},
        },
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    }
    secrets = client.CoreV1Api(api)
    try:
        if not resource_version:
            await secrets.create_namespaced_secret(namespace, body)  # type: ignore[arg-type]
        else:
            body["metadata"]["resourceVersion"] = resource_version
            await secrets.replace_namespaced_secret(name, namespace, body)  # type: ignore[arg-type]
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True


async def follow_tls_secret(
    api: ApiClient, *, namespace: str, name: str, on_change: Callable[[dict[str, bytes]], None]
) -> None:
    """Call `on_change` with the Secret's keys as it is listed, added or changed, forever (a field
    selector keeps the watch to it); raises metawatch.Forbidden when RBAC refuses the watch."""

    def changed(kind: str, obj: Mapping[str, Any]) -> None:
        if kind in ("LISTED", "ADDED", "MODIFIED"):
            on_change(_decode(dict(obj)))

    await watch_objects(
        api,
        path=f"/api/v1/namespaces/{namespace}/secrets",
        field_selector=f"metadata.name={name}",
        callback=changed,
        metadata_only=False,
    )
